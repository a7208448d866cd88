// Package platformtest replays the sample events in events/ through the handlers, as Lambda
// delivers them (platform.StartHTTP adapts handlers with platform.ProxyHTTP; queue consumers
// get the SQS event as it is).
package platformtest

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/platform"
)

// ReplayHTTP reads an API Gateway v2 event file, applies edits to it, and passes it through
// the Lambda adapter into h. It fails the test when the file or the adapter fails.
func ReplayHTTP(t testing.TB, h http.Handler, file string, edits ...func(*events.APIGatewayV2HTTPRequest)) events.APIGatewayV2HTTPResponse {
	t.Helper()
	ev := HTTPEvent(t, file)
	for _, edit := range edits {
		edit(&ev)
	}
	resp, err := platform.ProxyHTTP(h)(context.Background(), ev)
	if err != nil {
		t.Fatalf("event %s: %v", file, err)
	}
	return resp
}

// ReplayJSON is ReplayHTTP for a JSON API: it also decodes the answer's body, and fails
// the test on one that is not a JSON object.
func ReplayJSON(t testing.TB, h http.Handler, file string, edits ...func(*events.APIGatewayV2HTTPRequest)) (events.APIGatewayV2HTTPResponse, map[string]any) {
	t.Helper()
	resp := ReplayHTTP(t, h, file, edits...)
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("event %s: answer %d with a body that is not a JSON object: %q", file, resp.StatusCode, resp.Body)
	}
	return resp, body
}

// HTTPEvent reads an API Gateway v2 event file as Lambda delivers it to an HTTP function.
// It fails the test when the file cannot be read or decoded.
func HTTPEvent(t testing.TB, file string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("event %s: %v", file, err)
	}
	return ev
}

// SQSEvent reads an SQS event file as Lambda delivers it to a queue consumer. It fails the
// test when the file cannot be read or decoded.
func SQSEvent(t testing.TB, file string) events.SQSEvent {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("event %s: %v", file, err)
	}
	return ev
}

// FailedIDs lists the message ids a consumer's batch response reports as failed, in order.
func FailedIDs(resp events.SQSEventResponse) []string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

// EachEvent runs a subtest per sample event in dir (its *.json files), named after the
// file and given the expectation keyed by that name. Files and expectations must match one
// to one, so a new sample event cannot go untested and a removed one cannot leave a dead
// expectation behind.
func EachEvent[W any](t *testing.T, dir string, expect map[string]W, run func(t *testing.T, file string, want W)) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events in %s (%v)", dir, err)
	}
	if len(files) != len(expect) {
		t.Fatalf("%d event files in %s, %d expectations: keep them in step", len(files), dir, len(expect))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			w, ok := expect[filepath.Base(file)]
			if !ok {
				t.Fatal("no expectation for this event")
			}
			run(t, file, w)
		})
	}
}

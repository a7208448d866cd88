// Package platformtest replays the sample events in events/ through the handlers, as Lambda
// delivers them (platform.StartHTTP adapts handlers with httpadapter.NewV2).
package platformtest

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// ReplayHTTP reads an API Gateway v2 event file, applies edits to it, and passes it through
// the Lambda adapter into h. It fails the test when the file or the adapter fails.
func ReplayHTTP(t testing.TB, h http.Handler, file string, edits ...func(*events.APIGatewayV2HTTPRequest)) events.APIGatewayV2HTTPResponse {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("event %s: %v", file, err)
	}
	for _, edit := range edits {
		edit(&ev)
	}
	resp, err := httpadapter.NewV2(h).ProxyWithContext(context.Background(), ev)
	if err != nil {
		t.Fatalf("event %s: %v", file, err)
	}
	return resp
}

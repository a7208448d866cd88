package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
)

// lambdaResponseLimit is Lambda's limit on a synchronous invocation's response payload.
const lambdaResponseLimit = 6 << 20

// largestJob asks for a job as large as the API accepts, in the character that grows most
// on its way out: a quote is escaped in the JSON body (\") and again in the Lambda
// response that carries the body as a string (\\\").
func largestJob(i int) job.NewJob {
	fill := func(n int) string { return strings.Repeat(`"`, n) }
	classes := make([]string, job.MaxClasses)
	for c := range classes {
		classes[c] = fill(job.MaxClassLen-2) + fmt.Sprintf("%02d", c)
	}
	question, names := map[string]string{}, map[string][]string{}
	for _, l := range job.Locales {
		question[l] = fill(job.MaxQuestionLen-len(job.ClassPlaceholder)) + job.ClassPlaceholder
		names[l] = make([]string, len(classes))
		for c := range classes {
			names[l][c] = fill(job.MaxClassLen)
		}
	}
	minA, maxA, prio, target := job.MaxAnswersLimit, job.MaxAnswersLimit, job.MaxPriority, 0.123456789012345
	expires := time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC).Add(time.Duration(i) * time.Second)
	return job.NewJob{
		Name: fill(job.MaxNameLen), Kind: job.KindMultipleChoice, Question: question, Classes: classes, ClassNames: names,
		MinAnswers: &minA, MaxAnswers: &maxA, Target: &target, Priority: &prio, ExpiresAt: &expires,
	}
}

// listJobs sends GET /v1/jobs with query through the Lambda adapter, as API Gateway
// delivers it, and returns the answer's status and body and the size of the response
// payload the Lambda runtime writes (it encodes without HTML escaping, as here).
func listJobs(t *testing.T, f *fix, query string) (int, map[string]any, int) {
	t.Helper()
	resp, body := platformtest.ReplayJSON(t, f.h, "../../../events/jobs/jobs-list.json", func(ev *events.APIGatewayV2HTTPRequest) {
		ev.RawQueryString = query
		ev.QueryStringParameters = map[string]string{}
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		for k := range q {
			ev.QueryStringParameters[k] = q.Get(k)
		}
	})
	var payload bytes.Buffer
	enc := json.NewEncoder(&payload)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body, payload.Len()
}

// A customer with a thousand of the largest jobs the API accepts still gets an answer from
// GET /v1/jobs, sent as before without parameters: the first page, well inside Lambda's
// 6 MB response, with a cursor to the rest. A page of the largest size asked for fits too.
// (A listing of every job in one answer passed the limit, and the call failed.)
func TestJobListingOfManyLargeJobsFitsALambdaResponse(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	for i := range 1000 {
		if _, err := f.svc.Create(ctx, evCustomerA, largestJob(i)); err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
	}
	for _, query := range []string{"", fmt.Sprint("limit=", job.MaxJobPage)} {
		status, body, size := listJobs(t, f, query)
		jobs, _ := body["jobs"].([]any)
		next, _ := body["next_cursor"].(string)
		if status != 200 || len(jobs) == 0 || next == "" {
			t.Fatalf("GET /v1/jobs?%s: %d, %d jobs, next_cursor %q", query, status, len(jobs), next)
		}
		t.Logf("GET /v1/jobs?%s: %d jobs, response payload %d bytes", query, len(jobs), size)
		if size > lambdaResponseLimit*3/4 {
			t.Errorf("GET /v1/jobs?%s: a response payload of %d bytes (%d jobs) is not well inside Lambda's %d", query, size, len(jobs), lambdaResponseLimit)
		}
	}
}

// The job listing pages like the item listing: without parameters the first page (up to
// 100 jobs) oldest first, next_cursor null when that is all; limit and next_cursor walk
// the same listing in the same order; a cursor of another customer or made by hand, and a
// limit out of range, are 400 bad_request.
func TestJobListingPages(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	for range 4 {
		if _, err := f.svc.Create(ctx, evCustomerA, job.NewJob{Name: "More", Kind: job.KindBinary, Question: map[string]string{"en": "Yes?"}}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(body map[string]any) []string {
		var out []string
		for _, x := range body["jobs"].([]any) {
			out = append(out, x.(map[string]any)["id"].(string))
		}
		return out
	}
	status, whole, _ := listJobs(t, f, "")
	if status != 200 || len(ids(whole)) != 5 || ids(whole)[0] != evJobA || whole["next_cursor"] != nil {
		t.Fatalf("without parameters: %d %v", status, whole)
	}
	var paged []string
	query := "limit=2"
	for range 4 {
		status, body, _ := listJobs(t, f, query)
		if status != 200 {
			t.Fatalf("%s: %d %v", query, status, body)
		}
		paged = append(paged, ids(body)...)
		next, _ := body["next_cursor"].(string)
		if next == "" {
			break
		}
		query = "limit=2&cursor=" + url.QueryEscape(next)
	}
	if fmt.Sprint(paged) != fmt.Sprint(ids(whole)) {
		t.Fatalf("pages of 2 list %v; the whole listing is %v", paged, ids(whole))
	}

	// Customer B's cursor, followed with customer A's key.
	for range 2 {
		if _, err := f.svc.Create(ctx, evCustomerB, job.NewJob{Name: "B", Kind: job.KindBinary, Question: map[string]string{"en": "Yes?"}}); err != nil {
			t.Fatal(err)
		}
	}
	theirs, err := f.svc.List(ctx, evCustomerB, "", 1)
	if err != nil || theirs.Next == "" {
		t.Fatalf("customer B's first page: %+v, %v", theirs, err)
	}
	for _, query := range []string{
		"cursor=" + url.QueryEscape(theirs.Next), "cursor=not-a-cursor", "cursor=" + evJobA,
		"limit=0", "limit=-1", "limit=lots", fmt.Sprint("limit=", job.MaxJobPage+1),
	} {
		if status, body, _ := listJobs(t, f, query); status != 400 || errCode(body) != "bad_request" {
			t.Errorf("%s: %d %v, want 400 bad_request", query, status, body)
		}
	}
}

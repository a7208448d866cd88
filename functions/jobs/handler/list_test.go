package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
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
	return replayListing(t, f, "jobs-list.json", query, nil)
}

// replayListing replays events/jobs/<file> with query as its query string (and edit, if
// any, applied first) and measures the Lambda payload, for listJobs and listItems.
func replayListing(t *testing.T, f *fix, file, query string, edit func(*events.APIGatewayV2HTTPRequest)) (int, map[string]any, int) {
	t.Helper()
	resp, body := platformtest.ReplayJSON(t, f.h, "../../../events/jobs/"+file, func(ev *events.APIGatewayV2HTTPRequest) {
		if edit != nil {
			edit(ev)
		}
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

// listItems sends GET /v1/jobs/{id}/items with query through the Lambda adapter, as
// listJobs does the job listing, and returns the answer's status and body and the size of
// the response payload the Lambda runtime writes.
func listItems(t *testing.T, f *fix, jobID, query string) (int, map[string]any, int) {
	t.Helper()
	return replayListing(t, f, "jobs-list-items.json", query, func(ev *events.APIGatewayV2HTTPRequest) {
		ev.RawPath, ev.RequestContext.HTTP.Path = "/v1/jobs/"+jobID+"/items", "/v1/jobs/"+jobID+"/items"
		ev.PathParameters = map[string]string{"id": jobID}
	})
}

// A page of the most items the item listing gives (limit=1000), each as large as the API
// accepts, still fits a Lambda response with room to spare: texts of 1000 bytes in the
// character that grows most on its way out (a quote: \" in the JSON body, \\\" in the
// Lambda response that carries the body as a string; a backslash grows alike, a line
// break or a U+2028 less, and <>& are not escaped by either encoder), ids of 128
// characters, and a holdout answer and a consensus label that are the job's longest
// classes, likewise all quotes.
func TestItemListingOfTheLargestItemsFitsALambdaResponse(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	big := largestJob(0)
	quotes := strings.Repeat(`"`, job.MaxClassLen)
	big.Classes[0] = quotes
	j, err := f.svc.Create(ctx, evCustomerA, big)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat(`"`, job.MaxTextLen)
	const items = job.MaxPage + 1 // one more, so that the page is full and has a next_cursor
	for start := 0; start < items; start += job.MaxBatch {
		batch := make([]job.NewItem, 0, job.MaxBatch)
		for i := start; i < min(start+job.MaxBatch, items); i++ {
			batch = append(batch, job.NewItem{ID: fmt.Sprintf("%0*d", job.MaxIDLen, i), Text: text, Gold: quotes, Holdout: true})
		}
		added, err := f.svc.AddItems(ctx, evCustomerA, j.ID, batch)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range added {
			if err := f.store.SetResult(j.ID, a.Entry.ID, job.ItemDone, job.MaxAnswersLimit, quotes, 0.12345678901234567); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, query := range []string{"", fmt.Sprint("limit=", job.MaxPage)} {
		status, body, size := listItems(t, f, j.ID, query)
		got, _ := body["items"].([]any)
		next, _ := body["next_cursor"].(string)
		if status != 200 || len(got) == 0 || next == "" {
			t.Fatalf("GET /v1/jobs/{id}/items?%s: %d, %d items, next_cursor %q", query, status, len(got), next)
		}
		if first := got[0].(map[string]any); first["text"] != text || first["gold"] != quotes || first["label"] != quotes {
			t.Fatalf("GET /v1/jobs/{id}/items?%s: the first item is not one of the largest: %v", query, first)
		}
		t.Logf("GET /v1/jobs/{id}/items?%s: %d items, response payload %d bytes", query, len(got), size)
		if size > lambdaResponseLimit*3/4 {
			t.Errorf("GET /v1/jobs/{id}/items?%s: a response payload of %d bytes (%d items) is not well inside Lambda's %d", query, size, len(got), lambdaResponseLimit)
		}
	}

	// A page cut short by size continues where it ended: following the cursors lists every
	// item once, in id order.
	var listed []string
	query := fmt.Sprint("limit=", job.MaxPage)
	for range items {
		status, body, _ := listItems(t, f, j.ID, query)
		if status != 200 {
			t.Fatalf("%s: %d %v", query, status, body)
		}
		for _, it := range body["items"].([]any) {
			listed = append(listed, it.(map[string]any)["id"].(string))
		}
		next, _ := body["next_cursor"].(string)
		if next == "" {
			break
		}
		query = fmt.Sprint("limit=", job.MaxPage, "&cursor=", url.QueryEscape(next))
	}
	if len(listed) != items || !slices.IsSorted(listed) || len(slices.Compact(slices.Clone(listed))) != items {
		t.Fatalf("following the cursors listed %d items (sorted %v), want each of the %d once", len(listed), slices.IsSorted(listed), items)
	}
}

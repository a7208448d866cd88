package api_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/crowdgate/crowdgate/functions/export/api"
	"github.com/crowdgate/crowdgate/functions/export/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
)

type endpoints map[string]string

func (e endpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	u, ok := e[sdkID]
	return u, ok, nil
}

// A customer asks for an export, the export function writes it to S3, and the link the
// API hands out downloads it: the export API and the consumer as Wire builds them, over
// DynamoDB Local and gofakes3.
func TestExportRoundTripOnDynamoDBAndS3(t *testing.T) {
	ctx := context.Background()
	db := dynamotest.Client(t)
	tables := dynamotest.Tables(t, db)
	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(s3srv.Close)
	q := &queueBox{}
	env := &platform.Env{
		Config: config.Config{Tables: tables, Queues: map[string]string{schema.QueueExports: "local://exports"},
			Buckets: map[string]string{schema.BucketExports: "exports-test", schema.BucketMedia: "media-test"}},
		AWS: aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
			ConfigSources: []any{endpoints{"DynamoDB": dynamotest.Endpoint(t), "S3": s3srv.URL}}},
		Now: time.Now, LocalS3: true,
		Queues: func(string) (platform.Sender, error) { return q, nil },
	}
	for _, b := range []string{"exports-test", "media-test"} {
		if _, err := env.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}

	customers := account.NewCustomerService(dynamo.NewAccounts(db, tables[schema.TableAccounts]), time.Now)
	cust, err := customers.CreateCustomer(ctx, account.NewCustomer{Name: "Label Buyer", Email: "data@buyer.example", Country: "NL"})
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := customers.CreateAPIKey(ctx, cust.ID, "export test")
	if err != nil {
		t.Fatal(err)
	}

	labels := tables[schema.TableLabels]
	jobs := dynamo.NewJobs(db, labels)
	j := job.Job{ID: "reviews", CustomerID: cust.ID, Name: "Reviews", Kind: job.KindBinary, Question: map[string]string{"en": "Positive?"},
		Classes: []string{"yes", "no"}, Status: job.StatusActive, MinAnswers: 2, MaxAnswers: 5, Target: 0.9, CreatedAt: time.Now().UTC()}
	if err := jobs.PutJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	items := []job.Item{
		{JobID: j.ID, ID: "r-1", Text: "loved it, \"really\""}, {JobID: j.ID, ID: "r-2", Text: "meh"}, {JobID: j.ID, ID: "r-3", Text: "open"},
		{JobID: j.ID, ID: "g-1", Text: "gold", Gold: true, GoldLabel: "yes"},
	}
	if err := jobs.PutItems(ctx, j, items...); err != nil {
		t.Fatal(err)
	}
	done := time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC)
	store := dynamo.NewConsensus(db, labels)
	for id, res := range map[string]job.Result{
		"r-1": {Status: job.ItemDone, Answers: 3, Label: "yes", Confidence: 0.97},
		"r-2": {Status: job.ItemDone, Answers: 5, Label: "no", Confidence: 0.81},
	} {
		it := dynamo.ConsensusItem{ID: id, Questions: map[string]consensus.ItemState{"yes": consensus.NewItem(id+"#yes", 2)}, Result: res, CompletedAt: done}
		if err := store.PutItem(ctx, j.ID, it); err != nil {
			t.Fatal(err)
		}
	}

	exportAPI, err := api.Wire(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := handler.Wire(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) map[string]any {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		exportAPI.ServeHTTP(w, r)
		var out map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		if w.Code >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body.String())
		}
		return out
	}
	deliver := func(body string) {
		t.Helper()
		resp, err := consumer(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: body,
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}}}})
		if err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatalf("consumer: %v %v", err, resp.BatchItemFailures)
		}
	}

	created := call("POST", "/v1/jobs/reviews/exports", `{"format":"csv"}`)
	id := created["id"].(string)
	if len(q.msgs) != 1 {
		t.Fatalf("queued %v", q.msgs)
	}
	deliver(q.msgs[0])
	got := call("GET", "/v1/exports/"+id, "")
	if got["status"] != "done" || got["rows"] != float64(2) {
		t.Fatalf("export after the consumer ran: %v", got)
	}
	// A browser saves the file as "<job>-<export>.<ext>" with the format's type.
	download := func(url, filename, contentType string) string {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("download: %d %s", resp.StatusCode, b)
		}
		if got, want := resp.Header.Get("Content-Disposition"), `attachment; filename="`+filename+`"`; got != want {
			t.Errorf("download Content-Disposition %q, want %q", got, want)
		}
		if got := resp.Header.Get("Content-Type"); got != contentType {
			t.Errorf("download Content-Type %q, want %q", got, contentType)
		}
		return string(b)
	}
	recs, err := csv.NewReader(strings.NewReader(download(got["url"].(string), "reviews-"+id+".csv", "text/csv; charset=utf-8"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"item_id", "source_ref", "source", "label", "class_name", "confidence", "answer_count", "completed_at"},
		{"r-1", "", "loved it, \"really\"", "0", "yes", "0.97", "3", "2026-11-30T21:00:00Z"},
		{"r-2", "", "meh", "1", "no", "0.81", "5", "2026-11-30T21:00:00Z"},
	}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Errorf("downloaded\n%q\nwant\n%q", recs, want)
	}

	// A redelivery of a finished export changes nothing.
	deliver(q.msgs[0])
	if again := call("GET", "/v1/exports/"+id, ""); again["rows"] != float64(2) || again["status"] != "done" {
		t.Errorf("after redelivery: %v", again)
	}

	// A run that died half-way is taken over by the redelivery and writes the same key.
	second := call("POST", "/v1/jobs/reviews/exports", `{"format":"manifest"}`)
	sid := second["id"].(string)
	exports := dynamo.NewExports(db, labels)
	if _, err := exports.Start(ctx, sid, time.Now()); err != nil { // the run that died
		t.Fatal(err)
	}
	deliver(q.msgs[1])
	e, err := exports.Get(ctx, sid)
	if err != nil || e.Status != export.StatusDone || e.Attempt != 2 || e.Rows != 2 {
		t.Fatalf("taken-over export %+v %v", e, err)
	}
	lines := strings.Split(strings.TrimSpace(download(call("GET", "/v1/exports/"+sid, "")["url"].(string), "reviews-"+sid+".jsonl", "application/jsonl")), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"source":"loved it, \"really\""`) || !strings.Contains(lines[0], `"type":"groundtruth/text-classification"`) {
		t.Errorf("manifest:\n%s", strings.Join(lines, "\n"))
	}
}

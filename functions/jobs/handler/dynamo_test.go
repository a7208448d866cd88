package handler_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/crowdgate/crowdgate/functions/jobs/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/queue"
	"github.com/crowdgate/crowdgate/shared/schema"
)

func exportsQueue(t *testing.T) *queue.Broker {
	b := queue.NewBroker(slog.New(slog.DiscardHandler))
	b.Declare(schema.Queue{Name: schema.QueueExports, MaxReceives: 3, VisibilitySeconds: 900})
	t.Cleanup(b.Close)
	return b
}

// endpoints names a base endpoint per service, as the local stack does.
type endpoints map[string]string

func (e endpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	u, ok := e[sdkID]
	return u, ok, nil
}

// The jobs function built by Wire over DynamoDB Local and gofakes3: a key made through the
// customer service opens the API, an upload committed through it lands in the pool the
// challenge function draws from, and pausing takes it out.
func TestWireOnDynamoDBAndS3(t *testing.T) {
	ddb := dynamotest.Endpoint(t)
	c := dynamotest.Client(t)
	tables := dynamotest.Tables(t, c)
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	env := &platform.Env{
		Config: config.Config{Tables: tables, Buckets: map[string]string{schema.BucketMedia: "media", schema.BucketExports: "exports"}},
		AWS: aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
			ConfigSources: []any{endpoints{"DynamoDB": ddb, "S3": srv.URL}}},
		Now:     time.Now,
		LocalS3: true,
		// Export requests go to an in-process queue (this test does not consume it).
		Queues: exportsQueue(t).Sender,
	}
	ctx := context.Background()
	if _, err := env.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("media")}); err != nil {
		t.Fatal(err)
	}
	h, err := handler.Wire(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	keys := account.NewCustomerService(dynamo.NewAccounts(c, tables[schema.TableAccounts]), time.Now)
	cust, err := keys.CreateCustomer(ctx, account.NewCustomer{Name: "Buyer", Email: "data@buyer.example", Country: "GB"})
	if err != nil {
		t.Fatal(err)
	}
	k, key, err := keys.CreateAPIKey(ctx, cust.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	api := customerAPI{t: t, h: h, key: key}

	j := api.call("POST", "/v1/jobs", map[string]any{"name": "Pets", "type": "multiple_choice", "classes": []string{"cat", "dog"}}, 201)
	id := j["id"].(string)

	// A create sent twice with its Idempotency-Key makes one job.
	var created []string
	for range 2 {
		r := httptest.NewRequest("POST", "/v1/jobs", strings.NewReader(`{"name":" Reviews ","type":"multiple_choice","classes":["pos","neg"],"class_names":{"de":["positiv",""],"fr":["",""]},"min_answers":2,"confidence_target":0.9,"priority":7,"expires_at":"2099-01-01T00:00:00.5Z"}`))
		r.Header.Set("Authorization", "Bearer "+key)
		r.Header.Set("Idempotency-Key", "nightly-2026-12-02")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var m map[string]any
		if w.Code != 201 || json.Unmarshal(w.Body.Bytes(), &m) != nil {
			t.Fatalf("create with a key: %d %s", w.Code, w.Body.String())
		}
		created = append(created, m["id"].(string))
	}
	if jobs := api.call("GET", "/v1/jobs", nil, 200)["jobs"].([]any); created[0] != created[1] || len(jobs) != 2 {
		t.Fatalf("a create sent twice with its key made %v; the customer has %d jobs, want 2", created, len(jobs))
	}
	// The listing in pages of one, from DynamoDB's index: the same jobs in the same order,
	// next_cursor null on the last page; another customer's cursor is refused.
	whole := api.call("GET", "/v1/jobs", nil, 200)
	first := api.call("GET", "/v1/jobs?limit=1", nil, 200)
	next, _ := first["next_cursor"].(string)
	second := api.call("GET", "/v1/jobs?limit=1&cursor="+url.QueryEscape(next), nil, 200)
	jobID := func(page map[string]any) string {
		jobs := page["jobs"].([]any)
		if len(jobs) != 1 {
			t.Fatalf("a page of one: %v", page)
		}
		return jobs[0].(map[string]any)["id"].(string)
	}
	if listed := whole["jobs"].([]any); whole["next_cursor"] != nil || second["next_cursor"] != nil || next == "" ||
		jobID(first) != listed[0].(map[string]any)["id"] || jobID(second) != listed[1].(map[string]any)["id"] {
		t.Fatalf("pages %v then %v; whole listing %v", first, second, whole)
	}
	other, err := keys.CreateCustomer(ctx, account.NewCustomer{Name: "Other", Email: "data@other.example", Country: "GB"})
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := keys.CreateAPIKey(ctx, other.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	customerAPI{t: t, h: h, key: otherKey}.call("GET", "/v1/jobs?cursor="+url.QueryEscape(next), nil, 400)
	good := pngBytes(t, 16, 16)
	added := api.call("POST", "/v1/jobs/"+id+"/items", map[string]any{"items": []any{
		map[string]any{"id": "g", "image": map[string]any{"content_type": "image/png", "size": len(good)}, "gold": "dog"},
		map[string]any{"id": "t", "text": "a small dog barking"},
	}}, 201)
	// The same batch again (a retry after a timeout) answers the stored items, with a link
	// to the same object; the same id with other content is taken.
	again := api.call("POST", "/v1/jobs/"+id+"/items", map[string]any{"items": []any{
		map[string]any{"id": "g", "image": map[string]any{"content_type": "image/png", "size": len(good)}, "gold": "dog"},
		map[string]any{"id": "t", "text": "a small dog barking"},
	}}, 201)
	if g := again["items"].([]any)[0].(map[string]any); g["status"] != "pending" || mediaKeyOf(t, g, "media") != mediaKeyOf(t, added["items"].([]any)[0].(map[string]any), "media") {
		t.Fatalf("the batch again: %v", again)
	}
	api.call("POST", "/v1/jobs/"+id+"/items", map[string]any{"items": []any{map[string]any{"id": "t", "text": "a big dog"}}}, 409)
	if status := upload(t, added["items"].([]any)[0].(map[string]any), good); status != 200 {
		t.Fatalf("PUT: %d", status)
	}
	res := api.call("POST", "/v1/jobs/"+id+"/items/commit", map[string]any{"items": []string{"g"}}, 200)
	if it := res["items"].([]any)[0].(map[string]any); it["status"] != "open" {
		t.Fatalf("commit %v", it)
	}

	pool := dynamo.NewJobPool(dynamo.NewJobs(c, tables[schema.TableLabels]))
	yesNo := job.Request{Kinds: []job.Kind{job.KindMultipleChoice}, Size: 1}
	d, err := pool.Draw(ctx, yesNo)
	if err != nil || d.Job.ID != id || len(d.Gold) != 1 || d.Gold[0].MediaKey != mediaKeyOf(t, added["items"].([]any)[0].(map[string]any), "media") {
		t.Fatalf("draw %+v, %v", d, err)
	}
	api.call("POST", "/v1/jobs/"+id+"/pause", nil, 200)
	pool.Invalidate()
	if _, err := pool.Draw(ctx, yesNo); err == nil {
		t.Fatal("a paused job is drawn")
	}
	p := api.call("GET", "/v1/jobs/"+id+"/progress", nil, 200)
	if p["status"] != "paused" || p["items"].(map[string]any)["open"] != 1.0 || p["gold"].(map[string]any)["items"] != 1.0 {
		t.Fatalf("progress %v", p)
	}

	// A revoked key stops working at once.
	if _, err := keys.RevokeAPIKey(ctx, cust.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	api.call("GET", "/v1/jobs", nil, 401)
}

package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/functions/jobs/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/job/jobtest"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
)

// The material the events/jobs files use.
const (
	evCustomerA  = "5b1e0c2d-3a4f-4e6d-9c8b-0a1b2c3d4e5f"
	evCustomerB  = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
	evKeyA       = "cgk_0a1b2c3d4e5f6a7b_3c9e1f7a5b2d8c4e6f0a1b3c5d7e9f2a4b6c8d0e1f3a5b7c9d2e4f6a8b0c1d3e"
	evKeyB       = "cgk_1122334455667788_0000000000000000000000000000000000000000000000000000000000000001"
	evKeyRevoked = "cgk_7f6e5d4c3b2a1908_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"
	evJobA       = "job_5f1c0e2a9b7d4c3e8a6f1b2d"
	evJobB       = "job_b0b0b0b0b0b0b0b0b0b0b0b0"
)

var evNow = time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC)

type fix struct {
	h     http.Handler
	keys  *account.CustomerService
	store *jobtest.Store
	media *jobtest.Media
	svc   *job.Service
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newFix(t *testing.T) *fix {
	t.Helper()
	ctx := context.Background()
	clock := func() time.Time { return evNow }
	accounts := &accounttest.Store{}
	f := &fix{keys: account.NewCustomerService(accounts, clock), store: &jobtest.Store{Now: clock}, media: &jobtest.Media{}}
	f.svc = job.NewService(f.store, f.media, clock)
	for _, c := range []struct{ id, key string }{{evCustomerA, evKeyA}, {evCustomerB, evKeyB}, {evCustomerA, evKeyRevoked}} {
		if _, err := accounts.GetCustomer(ctx, c.id); err != nil {
			if err := accounts.CreateCustomer(ctx, account.Customer{ID: c.id, Name: "Buyer", Email: "data@buyer.example", Country: "GB", CreatedAt: evNow}); err != nil {
				t.Fatal(err)
			}
		}
		id, _ := account.ParseAPIKey(c.key)
		if err := accounts.CreateAPIKey(ctx, account.APIKey{ID: id, CustomerID: c.id, Hash: account.HashAPIKey(c.key), CreatedAt: evNow}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := accounts.RevokeAPIKey(ctx, evCustomerA, "7f6e5d4c3b2a1908", evNow); err != nil {
		t.Fatal(err)
	}

	pets := job.Job{
		ID: evJobA, CustomerID: evCustomerA, Name: "Pet photos", Kind: job.KindMultipleChoice,
		Question: map[string]string{"en": "Does this show a {class}?"}, Classes: []string{"cat", "dog", "bird"},
		Priority: 1, Status: job.StatusActive, MinAnswers: 3, MaxAnswers: 9, Target: 0.95, CreatedAt: evNow.Add(-time.Hour),
	}
	other := pets
	other.ID, other.CustomerID, other.Name = evJobB, evCustomerB, "Someone else's"
	for _, j := range []job.Job{pets, other} {
		if err := f.store.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	img := func(id string, status job.ItemStatus) job.Entry {
		e := job.Entry{Item: job.Item{JobID: evJobA, ID: id, MediaKey: job.MediaKey(evJobA, id), Status: status}, ContentType: "image/png", Size: 67, CreatedAt: evNow.Add(-time.Hour)}
		if status == job.ItemPending {
			e.ExpiresAt = evNow.Add(time.Hour)
		}
		return e
	}
	gold := img("photo-0001", job.ItemOpen)
	gold.Gold, gold.GoldLabel = true, "cat"
	done := img("photo-0003", job.ItemDone)
	done.AnswerCount, done.Label, done.Confidence = 4, "dog", 0.97
	good := pngBytes(t, 3, 3)
	up1 := img("upload-001", job.ItemPending)
	up1.Size = int64(len(good))
	up2 := img("upload-002", job.ItemPending)
	up2.Size = 11
	if err := f.store.AddEntries(ctx, pets, []job.Entry{gold, img("photo-0002", job.ItemOpen), done, up1, up2, img("upload-003", job.ItemPending)}); err != nil {
		t.Fatal(err)
	}
	f.media.Upload(job.MediaKey(evJobA, "photo-0001"), good)
	f.media.Upload(job.MediaKey(evJobA, "upload-001"), good)
	f.media.Upload(job.MediaKey(evJobA, "upload-002"), []byte("hello world"))
	f.h = handler.New(handler.Deps{Keys: f.keys, Jobs: f.svc})
	return f
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// TestEvents replays every events/jobs file through the Lambda adapter.
func TestEvents(t *testing.T) {
	type want struct {
		status int
		code   string // error code, or "" for success
		check  func(t *testing.T, f *fix, body map[string]any)
	}
	ctx := context.Background()
	expect := map[string]want{
		"jobs-create.json": {201, "", func(t *testing.T, f *fix, b map[string]any) {
			id, _ := b["id"].(string)
			if !strings.HasPrefix(id, "job_") || b["type"] != "multiple_choice" || b["status"] != "active" || b["max_answers"] != 7.0 ||
				b["confidence_target"] != 0.9 || b["priority"] != 5.0 || b["created_at"] != "2026-11-30T19:30:00Z" {
				t.Fatalf("job %v", b)
			}
			j, err := f.svc.Get(ctx, evCustomerA, id)
			if err != nil || j.QuestionFor("de", "dog") != "Zeigt dies: Hund?" {
				t.Fatalf("stored %+v, %v", j, err)
			}
		}},
		"jobs-create-binary.json": {201, "", func(t *testing.T, _ *fix, b map[string]any) {
			if fmt.Sprint(b["classes"]) != "[yes no]" || b["min_answers"] != 3.0 || b["max_answers"] != 9.0 || b["confidence_target"] != 0.95 {
				t.Fatalf("binary job defaults %v", b)
			}
		}},
		"jobs-create-invalid.json":       {400, "invalid_job", nil},
		"jobs-create-unknown-field.json": {400, "invalid_json", nil},
		"jobs-create-no-key.json":        {401, "unauthorized", nil},
		"jobs-create-revoked-key.json":   {401, "unauthorized", nil},
		"jobs-list.json": {200, "", func(t *testing.T, _ *fix, b map[string]any) {
			jobs, _ := b["jobs"].([]any)
			if len(jobs) != 1 || jobs[0].(map[string]any)["id"] != evJobA {
				t.Fatalf("listed %v", b)
			}
		}},
		"jobs-get.json": {200, "", func(t *testing.T, _ *fix, b map[string]any) {
			if b["id"] != evJobA || b["name"] != "Pet photos" {
				t.Fatalf("job %v", b)
			}
		}},
		"jobs-get-other-customer.json": {404, "job_not_found", nil},
		"jobs-pause.json": {200, "", func(t *testing.T, f *fix, b map[string]any) {
			if b["status"] != "paused" || len(f.store.Stocks()) != 1 {
				t.Fatalf("after pause %v, pool %d jobs", b["status"], len(f.store.Stocks()))
			}
		}},
		"jobs-resume.json": {200, "", func(t *testing.T, _ *fix, b map[string]any) {
			if b["status"] != "active" {
				t.Fatalf("after resume %v", b)
			}
		}},
		"jobs-progress.json": {200, "", func(t *testing.T, _ *fix, b map[string]any) {
			want := `{"answers":4,"gold":{"accuracy":null,"holdout":0,"holdout_scored":0,"items":1},"items":{"done":1,"open":1,"pending":3},"job_id":"` + evJobA + `","status":"active"}`
			if got, _ := json.Marshal(b); string(got) != want {
				t.Fatalf("progress\n got %s\nwant %s", got, want)
			}
		}},
		"jobs-add-items.json": {201, "", func(t *testing.T, f *fix, b map[string]any) {
			items, _ := b["items"].([]any)
			if len(items) != 4 {
				t.Fatalf("items %v", b)
			}
			for _, x := range items {
				it := x.(map[string]any)
				up, _ := it["upload"].(map[string]any)
				hdr, _ := up["headers"].(map[string]any)
				img, _ := it["image"].(map[string]any)
				if it["status"] != "pending" || up["method"] != "PUT" || !strings.HasPrefix(up["url"].(string), "https://media.test/jobs/"+evJobA+"/") ||
					hdr["Content-Type"] != img["content_type"] || hdr["Content-Length"] != fmt.Sprint(img["size"]) || up["expires_at"] != "2026-11-30T19:45:00Z" {
					t.Fatalf("item %v", it)
				}
			}
			if it := items[2].(map[string]any); it["gold"] != "bird" || it["holdout"] != true {
				t.Fatalf("holdout item %v", it)
			}
			if id := items[3].(map[string]any)["id"].(string); !strings.HasPrefix(id, "item_") {
				t.Fatalf("generated id %q", id)
			}
			if e, err := f.store.GetEntry(ctx, evJobA, "photo-0102"); err != nil || !e.Gold || e.Status != job.ItemPending {
				t.Fatalf("stored %+v, %v", e, err)
			}
		}},
		"jobs-add-items-invalid.json":     {400, "invalid_items", nil},
		"jobs-add-items-existing-id.json": {409, "item_exists", nil},
		"jobs-list-items.json": {200, "", func(t *testing.T, f *fix, b map[string]any) {
			items, _ := b["items"].([]any)
			next, _ := b["next_cursor"].(string)
			if len(items) != 2 || next == "" || items[0].(map[string]any)["id"] != "photo-0001" || items[0].(map[string]any)["gold"] != "cat" {
				t.Fatalf("page %v", b)
			}
			page, err := f.svc.Items(ctx, evCustomerA, evJobA, next, 2)
			if err != nil || len(page.Items) != 2 || page.Items[0].ID != "photo-0003" || page.Items[0].Label != "dog" {
				t.Fatalf("next page %+v, %v", page, err)
			}
		}},
		"jobs-list-items-bad-limit.json": {400, "bad_request", nil},
		"jobs-commit.json": {200, "", func(t *testing.T, f *fix, b map[string]any) {
			got := map[string]string{}
			for _, x := range b["items"].([]any) {
				it := x.(map[string]any)
				got[it["id"].(string)] = fmt.Sprint(it["status"], " ", errCode(map[string]any{"error": it["error"]}))
			}
			want := map[string]string{"upload-001": "open ", "upload-002": "rejected not_an_image", "upload-003": "pending not_uploaded", "no-such-item": "<nil> item_not_found"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("commit %v, want %v", got, want)
			}
			if f.media.Has(job.MediaKey(evJobA, "upload-002")) {
				t.Fatal("the rejected upload was kept")
			}
		}},
		"jobs-delete.json": {200, "", func(t *testing.T, f *fix, b map[string]any) {
			if b["done"] != true || b["items_removed"] != 6.0 || b["objects_removed"] != 3.0 {
				t.Fatalf("delete %v", b)
			}
			if _, err := f.svc.Get(ctx, evCustomerA, evJobA); !errors.Is(err, job.ErrNotFound) {
				t.Fatalf("job after delete: %v", err)
			}
		}},
		"jobs-delete-other-customer.json": {404, "job_not_found", func(t *testing.T, f *fix, _ map[string]any) {
			if _, err := f.svc.Get(ctx, evCustomerB, evJobB); err != nil {
				t.Fatalf("another customer deleted the job: %v", err)
			}
		}},
	}
	platformtest.EachEvent(t, "../../../events/jobs", expect, func(t *testing.T, file string, w want) {
		f := newFix(t)
		resp, body := platformtest.ReplayJSON(t, f.h, file)
		if resp.StatusCode != w.status || errCode(body) != w.code {
			t.Fatalf("got %d %s; want %d %q", resp.StatusCode, resp.Body, w.status, w.code)
		}
		if w.status == 401 && http.Header(resp.MultiValueHeaders).Get("WWW-Authenticate") == "" && resp.Headers["Www-Authenticate"] == "" {
			t.Fatalf("401 without WWW-Authenticate: %v %v", resp.Headers, resp.MultiValueHeaders)
		}
		if w.check != nil {
			w.check(t, f, body)
		}
	})
}

func (f *fix) do(t *testing.T, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %q", method, path, w.Body.String())
	}
	return w.Code, m
}

func TestAuthentication(t *testing.T) {
	f := newFix(t)
	for _, h := range []string{"", "Bearer", "Basic " + evKeyA, "Bearer cgk_short", "Bearer " + evKeyA + "x", "Bearer " + evKeyRevoked} {
		r := httptest.NewRequest("GET", "/v1/jobs", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" || strings.Contains(w.Body.String(), evKeyA[:24]) {
			t.Errorf("Authorization %q: %d %s", h, w.Code, w.Body.String())
		}
	}
	r := httptest.NewRequest("GET", "/v1/jobs", nil)
	r.Header.Set("Authorization", "bearer  "+evKeyB)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Code != 200 || !strings.Contains(w.Body.String(), evJobB) || strings.Contains(w.Body.String(), evJobA) {
		t.Fatalf("customer B lists %d %s", w.Code, w.Body.String())
	}
}

// Pause and resume take no body (or {}): a body with a field is refused under the jobs
// API's unknown-field rule (a customer who sent a setting here learns it was not applied),
// and the job's status stays as it was.
func TestPauseAndResumeRefuseABody(t *testing.T) {
	f := newFix(t)
	status := func() job.Status {
		t.Helper()
		j, err := f.svc.Get(context.Background(), evCustomerA, evJobA)
		if err != nil {
			t.Fatal(err)
		}
		return j.Status
	}
	for _, step := range []struct{ verb, after string }{{"pause", "paused"}, {"resume", "active"}} {
		before := status()
		for _, c := range []struct {
			body   string
			status int
			code   string
		}{
			{`{"priority":5}`, 400, "invalid_json"},
			{`{"until":"2027-01-01T00:00:00Z"}`, 400, "invalid_json"},
			{`not json`, 400, "invalid_json"},
			{`[]`, 400, "invalid_json"},
			{strings.Repeat(" ", handler.MaxBody+1), 413, "body_too_large"},
		} {
			if got, m := f.do(t, "POST", "/v1/jobs/"+evJobA+"/"+step.verb, evKeyA, c.body); got != c.status || errCode(m) != c.code {
				t.Errorf("%s with body %.40q: %d %v, want %d %s", step.verb, c.body, got, m, c.status, c.code)
			}
		}
		if s := status(); s != before {
			t.Fatalf("a refused %s changed the job from %s to %s", step.verb, before, s)
		}
		for _, body := range []string{"{}", " {} \n", ""} {
			if got, m := f.do(t, "POST", "/v1/jobs/"+evJobA+"/"+step.verb, evKeyA, body); got != 200 || m["status"] != step.after {
				t.Errorf("%s with body %q: %d %v, want 200 %s", step.verb, body, got, m, step.after)
			}
		}
	}
}

// Deleting a job takes no body (or {}): one with a field is refused and deletes nothing.
func TestDeleteRefusesABody(t *testing.T) {
	f := newFix(t)
	for _, body := range []string{`{"keep_exports":true}`, `not json`, `[]`} {
		if got, m := f.do(t, "DELETE", "/v1/jobs/"+evJobA, evKeyA, body); got != 400 || errCode(m) != "invalid_json" {
			t.Errorf("delete with body %q: %d %v, want 400 invalid_json", body, got, m)
		}
	}
	if _, err := f.svc.Get(context.Background(), evCustomerA, evJobA); err != nil {
		t.Fatalf("a refused delete removed the job: %v", err)
	}
	if got, m := f.do(t, "DELETE", "/v1/jobs/"+evJobA, evKeyA, "{}"); got/100 != 2 || m["id"] != evJobA {
		t.Fatalf("delete with {}: %d %v", got, m)
	}
}

// Every route that names a job answers 404 for another customer's job and changes nothing.
func TestOtherCustomersJobsAreInvisible(t *testing.T) {
	f := newFix(t)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/jobs/" + evJobA, ""},
		{"DELETE", "/v1/jobs/" + evJobA, ""},
		{"POST", "/v1/jobs/" + evJobA + "/pause", ""},
		{"POST", "/v1/jobs/" + evJobA + "/resume", ""},
		{"GET", "/v1/jobs/" + evJobA + "/progress", ""},
		{"POST", "/v1/jobs/" + evJobA + "/items", `{"items":[{"text":"x"}]}`},
		{"GET", "/v1/jobs/" + evJobA + "/items", ""},
		{"POST", "/v1/jobs/" + evJobA + "/items/commit", `{"items":["upload-001"]}`},
	} {
		if status, m := f.do(t, c.method, c.path, evKeyB, c.body); status != 404 || errCode(m) != "job_not_found" {
			t.Errorf("%s %s with another customer's key: %d %v", c.method, c.path, status, m)
		}
	}
	j, err := f.svc.Get(context.Background(), evCustomerA, evJobA)
	if err != nil || j.Status != job.StatusActive {
		t.Fatalf("job after foreign calls %+v, %v", j, err)
	}
	if e, _ := f.store.GetEntry(context.Background(), evJobA, "upload-001"); e.Status != job.ItemPending {
		t.Fatalf("a foreign commit changed an item: %+v", e)
	}
}

// A customer's whole session: create a binary text job, add gold and open texts, see the
// pool serve them to the challenge's yes/no task, follow progress, pause, resume, delete.
func TestTextJobSession(t *testing.T) {
	f := newFix(t)
	// Only the new job is in the pool.
	if _, err := f.svc.Pause(context.Background(), evCustomerA, evJobA); err != nil {
		t.Fatal(err)
	}
	status, j := f.do(t, "POST", "/v1/jobs", evKeyA, `{"name":"Sentiment","type":"binary","question":{"en":"Is this review positive?"}}`)
	if status != 201 {
		t.Fatalf("create %d %v", status, j)
	}
	id := j["id"].(string)
	status, added := f.do(t, "POST", "/v1/jobs/"+id+"/items", evKeyA, `{"items":[
		{"id":"g1","text":"Love it","gold":"yes"},{"id":"g2","text":"Broke at once","gold":"no"},
		{"id":"o1","text":"Arrived on Tuesday"},{"id":"h1","text":"Best buy ever","gold":"yes","holdout":true}]}`)
	if status != 201 {
		t.Fatalf("add %d %v", status, added)
	}
	for _, x := range added["items"].([]any) {
		if it := x.(map[string]any); it["status"] != "open" || it["upload"] != nil || it["label"] != nil {
			t.Fatalf("text item %v", it)
		}
	}
	draw := func() (job.Draw, error) {
		return job.NewCatalog(f.store.Stocks()).Draw(context.Background(), job.Request{Kinds: []job.Kind{job.KindBinary, job.KindMultipleChoice}, Size: 1})
	}
	d, err := draw()
	if err != nil || d.Job.ID != id || d.Class != "yes" || len(d.Gold) != 1 || d.Gold[0].Text == "" {
		t.Fatalf("yes/no draw from the new job: %+v, %v", d, err)
	}
	if status, _ := f.do(t, "POST", "/v1/jobs/"+id+"/pause", evKeyA, ""); status != 200 {
		t.Fatal("pause")
	}
	if _, err := draw(); !errors.Is(err, job.ErrNoMaterial) {
		t.Fatalf("draw after pause: %v, want ErrNoMaterial", err)
	}
	if status, _ := f.do(t, "POST", "/v1/jobs/"+id+"/resume", evKeyA, ""); status != 200 {
		t.Fatal("resume")
	}
	if err := f.store.SetResult(id, "h1", job.ItemDone, 3, "yes", 0.96); err != nil {
		t.Fatal(err)
	}
	status, p := f.do(t, "GET", "/v1/jobs/"+id+"/progress", evKeyA, "")
	g, _ := p["gold"].(map[string]any)
	if status != 200 || g["accuracy"] != 1.0 || g["items"] != 2.0 || g["holdout"] != 1.0 || p["answers"] != 3.0 {
		t.Fatalf("progress %d %v", status, p)
	}
	status, page := f.do(t, "GET", "/v1/jobs/"+id+"/items?limit=10", evKeyA, "")
	if status != 200 || page["next_cursor"] != nil || len(page["items"].([]any)) != 4 {
		t.Fatalf("items %d %v", status, page)
	}
	for _, x := range page["items"].([]any) {
		if it := x.(map[string]any); it["id"] == "h1" && (it["label"] != "yes" || it["confidence"] != 0.96 || it["status"] != "done") {
			t.Fatalf("consensus not shown: %v", it)
		}
	}
	status, del := f.do(t, "DELETE", "/v1/jobs/"+id, evKeyA, "")
	if status != 200 || del["done"] != true {
		t.Fatalf("delete %d %v", status, del)
	}
	if status, m := f.do(t, "GET", "/v1/jobs/"+id, evKeyA, ""); status != 404 || errCode(m) != "job_not_found" {
		t.Fatalf("after delete %d %v", status, m)
	}
}

// Deleting a job larger than one request's budget answers 202 until it is gone; meanwhile
// the job is out of the pool and refuses new items.
func TestDeleteTakesSeveralCalls(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	j, err := f.svc.Create(ctx, evCustomerA, job.NewJob{Name: "Big", Kind: job.KindBinary, Question: map[string]string{"en": "?"}})
	if err != nil {
		t.Fatal(err)
	}
	for b := range 6 {
		items := make([]job.NewItem, job.MaxBatch)
		for i := range items {
			items[i] = job.NewItem{ID: fmt.Sprintf("t%d-%d", b, i), Text: "x"}
		}
		if _, err := f.svc.AddItems(ctx, evCustomerA, j.ID, items); err != nil {
			t.Fatal(err)
		}
	}
	status, d := f.do(t, "DELETE", "/v1/jobs/"+j.ID, evKeyA, "")
	if status != 202 || d["done"] != false || d["items_removed"] != float64(job.DeleteBatch) {
		t.Fatalf("first DELETE %d %v", status, d)
	}
	if status, m := f.do(t, "GET", "/v1/jobs/"+j.ID, evKeyA, ""); status != 200 || m["status"] != "deleting" {
		t.Fatalf("during deletion %d %v", status, m)
	}
	if status, m := f.do(t, "POST", "/v1/jobs/"+j.ID+"/items", evKeyA, `{"items":[{"text":"late"}]}`); status != 409 || errCode(m) != "job_deleting" {
		t.Fatalf("add during deletion %d %v", status, m)
	}
	for _, st := range f.store.Stocks() {
		if st.Job.ID == j.ID {
			t.Fatal("the job is still in the pool")
		}
	}
	if status, d := f.do(t, "DELETE", "/v1/jobs/"+j.ID, evKeyA, ""); status != 200 || d["done"] != true || d["items_removed"] != 100.0 {
		t.Fatalf("second DELETE %d %v", status, d)
	}
}

func TestBodyLimitsAndBadInput(t *testing.T) {
	f := newFix(t)
	if status, m := f.do(t, "POST", "/v1/jobs", evKeyA, `{"name":"`+strings.Repeat("x", handler.MaxBody)+`"}`); status != 413 || errCode(m) != "body_too_large" {
		t.Errorf("oversized body: %d %v", status, m)
	}
	for _, c := range []struct{ method, path, body, code string }{
		{"POST", "/v1/jobs", `not json`, "invalid_json"},
		{"POST", "/v1/jobs", `{"name":"x","type":"binary","question":{"it":"?"}}`, "invalid_job"},
		{"POST", "/v1/jobs", `{"name":"x","type":"multiple_choice","classes":["a","b"],"expires_at":"yesterday"}`, "invalid_json"},
		{"POST", "/v1/jobs/" + evJobA + "/items", `{"items":[]}`, "invalid_items"},
		{"POST", "/v1/jobs/" + evJobA + "/items", `{"items":[{"image":{"content_type":"image/png","size":-1}}]}`, "invalid_items"},
		{"POST", "/v1/jobs/" + evJobA + "/items/commit", `{"items":[]}`, "invalid_items"},
		{"GET", "/v1/jobs/" + evJobA + "/items?cursor=%21%21", "", "bad_request"},
		{"GET", "/v1/jobs/" + evJobA + "/items?limit=5000", "", "bad_request"},
		{"GET", "/v1/jobs/" + evJobA + "/items?limit=0", "", "bad_request"},
		{"GET", "/v1/jobs/..%2Fetc", "", "job_not_found"},
	} {
		status, m := f.do(t, c.method, c.path, evKeyA, c.body)
		if status/100 != 4 || errCode(m) != c.code {
			t.Errorf("%s %s %s: %d %v, want %s", c.method, c.path, c.body, status, m, c.code)
		}
	}
}

// failingJobs fails with an error the handler cannot name.
type failingJobs struct{ handler.Jobs }

func (failingJobs) List(context.Context, string, string, int) (job.JobPage, error) {
	return job.JobPage{}, errors.New("table labels-prod unreachable")
}

type failingKeys struct{}

func (failingKeys) Authenticate(context.Context, string) (account.APIKey, error) {
	return account.APIKey{}, errors.New("table accounts-prod unreachable")
}

func TestInternalErrorsAreNotShown(t *testing.T) {
	f := newFix(t)
	for name, h := range map[string]http.Handler{
		"jobs store": handler.New(handler.Deps{Keys: f.keys, Jobs: failingJobs{}}),
		"key store":  handler.New(handler.Deps{Keys: failingKeys{}, Jobs: f.svc}),
	} {
		r := httptest.NewRequest("GET", "/v1/jobs", nil)
		r.Header.Set("Authorization", "Bearer "+evKeyA)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 500 || strings.Contains(w.Body.String(), "unreachable") || !strings.Contains(w.Body.String(), `"internal_error"`) {
			t.Errorf("%s failing: %d %s", name, w.Code, w.Body.String())
		}
	}
}

// A field sent as 0 is a value outside its documented range, not a request for the
// default: a customer who asks for confidence_target 0 must not silently get 0.95. Only an
// absent field (or null) takes the default.
func TestCreateRefusesExplicitZeroSettings(t *testing.T) {
	f := newFix(t)
	const base = `"name":"x","type":"binary","question":{"en":"Is it?"}`
	for _, field := range []string{"min_answers", "max_answers", "confidence_target", "priority"} {
		body := `{` + base + `,"` + field + `":0}`
		if status, m := f.do(t, "POST", "/v1/jobs", evKeyA, body); status != 400 || errCode(m) != "invalid_job" {
			t.Errorf("%s: %d %v, want 400 invalid_job", body, status, m)
		}
	}
	status, m := f.do(t, "POST", "/v1/jobs", evKeyA, `{`+base+`,"min_answers":null,"max_answers":null,"confidence_target":null,"priority":null}`)
	if status != 201 || m["min_answers"] != 3.0 || m["max_answers"] != 9.0 || m["confidence_target"] != 0.95 || m["priority"] != 1.0 {
		t.Errorf("null settings: %d %v, want 201 with the defaults", status, m)
	}
}

// An expires_at that is sent is checked as sent: the earliest time JSON can carry (Go's
// zero time, which the service reads as "no expiry") is in the past like any other, not a
// job kept until it is deleted.
func TestCreateRefusesTheEarliestExpiry(t *testing.T) {
	f := newFix(t)
	for _, at := range []string{"0001-01-01T00:00:00Z", "0001-01-01T01:00:00+01:00"} {
		body := `{"name":"x","type":"binary","question":{"en":"Is it?"},"expires_at":"` + at + `"}`
		if status, m := f.do(t, "POST", "/v1/jobs", evKeyA, body); status != 400 || errCode(m) != "invalid_job" {
			t.Errorf("expires_at %s: %d %v, want 400 invalid_job", at, status, m)
		}
	}
	before := len(f.store.Stocks())
	if page, _ := f.svc.List(context.Background(), evCustomerA, "", 0); len(page.Jobs) != 1 || len(f.store.Stocks()) != before {
		t.Errorf("a refused create stored a job: %d jobs", len(page.Jobs))
	}
}

// A customer whose add request timed out cannot know whether it was stored. Sending the
// same batch again (every item with its id) is safe: when every item exists already as
// sent, the answer is the 201 the first request would have given, with the items as they
// are now and a fresh link to the same object for an image not yet uploaded, and nothing
// is added twice. A batch that only shares ids with stored items is still 409.
func TestRetryingAnAddedBatchAnswersItsItems(t *testing.T) {
	f := newFix(t)
	_, j := f.do(t, "POST", "/v1/jobs", evKeyA, `{"name":"Pets","type":"multiple_choice","classes":["cat","dog"]}`)
	id := j["id"].(string)
	img := pngBytes(t, 2, 2)
	batch := `{"items":[
		{"id":"t1","text":"a small dog, barking\nloudly"},
		{"id":"p1","image":{"content_type":"image/png","size":` + fmt.Sprint(len(img)) + `}},
		{"id":"g1","text":"a cat","gold":"cat"},
		{"id":"h1","text":"a dog","gold":"dog","holdout":true}]}`
	status, first := f.do(t, "POST", "/v1/jobs/"+id+"/items", evKeyA, batch)
	if status != 201 {
		t.Fatalf("add %d %v", status, first)
	}
	keyOf := func(m map[string]any) string {
		u := m["items"].([]any)[1].(map[string]any)["upload"].(map[string]any)["url"].(string)
		return strings.SplitN(u, "?", 2)[0]
	}
	status, again := f.do(t, "POST", "/v1/jobs/"+id+"/items", evKeyA, batch)
	if status != 201 || len(again["items"].([]any)) != 4 || keyOf(again) != keyOf(first) {
		t.Fatalf("the same batch again: %d %v, want 201 with the items and a link to the same object", status, again)
	}
	for i, x := range again["items"].([]any) {
		want := first["items"].([]any)[i].(map[string]any)
		got := x.(map[string]any)
		for _, field := range []string{"id", "status", "text", "gold", "holdout", "created_at"} {
			if fmt.Sprint(got[field]) != fmt.Sprint(want[field]) {
				t.Errorf("item %d %s: %v, first answer %v", i, field, got[field], want[field])
			}
		}
	}
	if n := f.store.Items(id); n != 4 {
		t.Fatalf("%d items stored, want 4", n)
	}

	// Once the image is uploaded and committed, a retry shows it open and signs no link.
	f.media.Upload(strings.TrimPrefix(keyOf(first), "https://media.test/"), img)
	if status, c := f.do(t, "POST", "/v1/jobs/"+id+"/items/commit", evKeyA, `{"items":["p1"]}`); status != 200 || !strings.Contains(fmt.Sprint(c), "status:open") {
		t.Fatalf("commit %d %v", status, c)
	}
	status, again = f.do(t, "POST", "/v1/jobs/"+id+"/items", evKeyA, batch)
	if p1 := again["items"].([]any)[1].(map[string]any); status != 201 || p1["status"] != "open" || p1["upload"] != nil {
		t.Fatalf("the batch again after the commit: %d %v", status, again)
	}

	// Same ids, other content: not a retry.
	for _, other := range []string{
		`{"items":[{"id":"t1","text":"a small dog, barking loudly"}]}`,
		`{"items":[{"id":"t1","text":"a small dog, barking\nloudly","gold":"dog"}]}`,
		`{"items":[{"id":"g1","text":"a cat","gold":"cat","holdout":true}]}`,
		`{"items":[{"id":"h1","text":"a dog","gold":"dog"}]}`,
		`{"items":[{"id":"p1","image":{"content_type":"image/png","size":` + fmt.Sprint(len(img)+1) + `}}]}`,
		`{"items":[{"id":"p1","image":{"content_type":"image/gif","size":` + fmt.Sprint(len(img)) + `}}]}`,
		`{"items":[{"id":"p1","text":"a picture"}]}`,
		`{"items":[{"id":"t1","text":"a small dog, barking\nloudly"},{"id":"new","text":"a bird"}]}`,
	} {
		if status, m := f.do(t, "POST", "/v1/jobs/"+id+"/items", evKeyA, other); status != 409 || errCode(m) != "item_exists" {
			t.Errorf("%s: %d %v, want 409 item_exists", other, status, m)
		}
	}
	if n := f.store.Items(id); n != 4 {
		t.Fatalf("%d items stored, want 4", n)
	}
}

func (f *fix) create(t *testing.T, key, idem, body string) (int, map[string]any, http.Header) {
	t.Helper()
	r := httptest.NewRequest("POST", "/v1/jobs", strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+key)
	if idem != "" {
		r.Header.Set("Idempotency-Key", idem)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("answer is not JSON: %q", w.Body.String())
	}
	return w.Code, m, w.Header()
}

// A create sent again with its Idempotency-Key (a retry after a timeout) answers the job
// the first one made instead of making a second active job; the same key with another
// body is refused, and another customer's same key is theirs alone.
func TestRetryingACreateWithItsIdempotencyKeyAnswersTheSameJob(t *testing.T) {
	f := newFix(t)
	body := `{"name":"Reviews","type":"binary","question":{"en":"Is this review positive?"},"expires_at":"2027-01-01T00:00:00Z"}`
	status, first, h := f.create(t, evKeyA, "c0ffee-2026-11-30.1", body)
	if status != 201 || h.Get("Idempotent-Replayed") != "" {
		t.Fatalf("create %d %v", status, first)
	}
	status, again, h := f.create(t, evKeyA, "c0ffee-2026-11-30.1", body)
	if status != 201 || again["id"] != first["id"] || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the same create again: %d %v (replayed %q), want 201 with job %v", status, again, h.Get("Idempotent-Replayed"), first["id"])
	}
	if page, _ := f.svc.List(context.Background(), evCustomerA, "", 0); len(page.Jobs) != 2 {
		t.Fatalf("customer A has %d jobs, want the fixture's and one new", len(page.Jobs))
	}

	other := strings.Replace(body, "Reviews", "Reviews 2", 1)
	if status, m, _ := f.create(t, evKeyA, "c0ffee-2026-11-30.1", other); status != 409 || errCode(m) != "idempotency_key_reused" {
		t.Errorf("the key with another body: %d %v, want 409 idempotency_key_reused", status, m)
	}
	if status, m, _ := f.create(t, evKeyB, "c0ffee-2026-11-30.1", body); status != 201 || m["id"] == first["id"] {
		t.Errorf("customer B with A's key: %d %v, want a job of their own", status, m)
	}
	for _, bad := range []string{strings.Repeat("k", 256), "with space", "tab\tkey", "ü"} {
		if status, m, _ := f.create(t, evKeyA, bad, body); status != 400 || errCode(m) != "bad_request" {
			t.Errorf("Idempotency-Key %q: %d %v, want 400 bad_request", bad, status, m)
		}
	}
	// A bad body is refused as without a key.
	if status, m, _ := f.create(t, evKeyA, "c0ffee-2026-11-30.1", `{"name":"x"}`); status != 400 || errCode(m) != "invalid_job" {
		t.Errorf("bad body with a used key: %d %v", status, m)
	}

	// Once the job is deleted, its key answers 409 rather than making it again.
	id := first["id"].(string)
	for {
		d, err := f.svc.Delete(context.Background(), evCustomerA, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Done {
			break
		}
	}
	if status, m, _ := f.create(t, evKeyA, "c0ffee-2026-11-30.1", body); status != 409 || errCode(m) != "idempotency_key_reused" {
		t.Errorf("the key of a deleted job: %d %v, want 409 idempotency_key_reused", status, m)
	}
	if page, _ := f.svc.List(context.Background(), evCustomerA, "", 0); len(page.Jobs) != 1 {
		t.Errorf("customer A has %d jobs, want the fixture's", len(page.Jobs))
	}
}

// jpegWithMetadata is a valid JPEG whose APP1 segments (XMP, say: phones put depth maps
// there) hold about meta bytes before the frame header, as cameras write them.
func jpegWithMetadata(t *testing.T, meta int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 3)), nil); err != nil {
		t.Fatal(err)
	}
	plain := buf.Bytes()
	out := append([]byte{}, plain[:2]...) // SOI
	for meta > 0 {
		n := min(meta, 65533)
		seg := append([]byte{0xFF, 0xE1, byte((n + 2) >> 8), byte(n + 2)}, bytes.Repeat([]byte{'x'}, n)...)
		out = append(out, seg...)
		meta -= n
	}
	out = append(out, plain[2:]...)
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(out)); err != nil || cfg.Width != 4 {
		t.Fatalf("test image: %+v, %v", cfg, err)
	}
	return out
}

// A valid JPEG is accepted whatever its metadata: one whose frame header lies beyond the
// first MiB (long APP segments before it) is an image like any other, not "not_an_image".
func TestCommitAcceptsAJPEGWithLongMetadata(t *testing.T) {
	f := newFix(t)
	img := jpegWithMetadata(t, 1300<<10)
	status, added := f.do(t, "POST", "/v1/jobs/"+evJobA+"/items", evKeyA,
		fmt.Sprintf(`{"items":[{"id":"portrait","image":{"content_type":"image/jpeg","size":%d}}]}`, len(img)))
	if status != 201 {
		t.Fatalf("add %d %v", status, added)
	}
	u := added["items"].([]any)[0].(map[string]any)["upload"].(map[string]any)["url"].(string)
	f.media.Upload(strings.TrimPrefix(strings.SplitN(u, "?", 2)[0], "https://media.test/"), img)
	status, res := f.do(t, "POST", "/v1/jobs/"+evJobA+"/items/commit", evKeyA, `{"items":["portrait"]}`)
	if it := res["items"].([]any)[0].(map[string]any); status != 200 || it["status"] != "open" {
		t.Fatalf("commit: %d %v, want the item open", status, it)
	}
}

// A binary job with an empty German question is 400 invalid_job, as a multiple_choice one
// is, and nothing is stored.
func TestCreateRefusesAnEmptyQuestion(t *testing.T) {
	f := newFix(t)
	for _, body := range []string{
		`{"name":"x","type":"binary","question":{"en":"Is it?","de":""}}`,
		`{"name":"x","type":"multiple_choice","classes":["a","b"],"question":{"en":"A {class}?","de":""}}`,
	} {
		if status, m := f.do(t, "POST", "/v1/jobs", evKeyA, body); status != 400 || errCode(m) != "invalid_job" {
			t.Errorf("%s: %d %v, want 400 invalid_job", body, status, m)
		}
	}
	if page, _ := f.svc.List(context.Background(), evCustomerA, "", 0); len(page.Jobs) != 1 {
		t.Errorf("a refused create stored a job: %d jobs", len(page.Jobs))
	}
}

// Committing an id twice in one request is 400 invalid_items and checks nothing: the
// rejected upload of the fixture is neither removed nor reported twice.
func TestCommitRefusesAnIDListedTwice(t *testing.T) {
	f := newFix(t)
	status, m := f.do(t, "POST", "/v1/jobs/"+evJobA+"/items/commit", evKeyA, `{"items":["upload-002","upload-001","upload-002"]}`)
	if status != 400 || errCode(m) != "invalid_items" {
		t.Fatalf("commit with an id twice: %d %v, want 400 invalid_items", status, m)
	}
	for _, id := range []string{"upload-001", "upload-002"} {
		if e, err := f.store.GetEntry(context.Background(), evJobA, id); err != nil || e.Status != job.ItemPending || !f.media.Has(e.MediaKey) {
			t.Errorf("%s after the refused commit: %+v, %v; want pending with its upload", id, e, err)
		}
	}
}

// A job's item_lang (the language its text items are written in) is kept in its canonical
// form and shown with the job by create, get and list; a job without one shows none. A
// malformed or unknown tag is 400 invalid_job and stores nothing, and a retried create
// that asks for another item language is another job's settings.
func TestCreateKeepsTheItemLanguage(t *testing.T) {
	f := newFix(t)
	body := `{"name":"Rezensionen","type":"binary","question":{"en":"Is this review positive?","de":"Ist diese Rezension positiv?"},"item_lang":"de-ch"}`
	status, created, _ := f.create(t, evKeyA, "item-lang-1", body)
	if status != 201 || created["item_lang"] != "de-CH" {
		t.Fatalf("create: %d %v, want 201 with item_lang de-CH", status, created)
	}
	id, _ := created["id"].(string)
	if status, got := f.do(t, "GET", "/v1/jobs/"+id, evKeyA, ""); status != 200 || got["item_lang"] != "de-CH" {
		t.Errorf("get: %d %v, want item_lang de-CH", status, got)
	}
	status, list := f.do(t, "GET", "/v1/jobs", evKeyA, "")
	jobs, _ := list["jobs"].([]any)
	if status != 200 || len(jobs) != 2 {
		t.Fatalf("list: %d %v", status, list)
	}
	for _, j := range jobs {
		j := j.(map[string]any)
		lang, ok := j["item_lang"]
		if j["id"] == id && lang != "de-CH" || j["id"] != id && ok {
			t.Errorf("list: job %v has item_lang %v (present %v)", j["id"], lang, ok)
		}
	}
	other := strings.Replace(body, `"de-ch"`, `"fr-CH"`, 1)
	if status, m, _ := f.create(t, evKeyA, "item-lang-1", other); status != 409 || errCode(m) != "idempotency_key_reused" {
		t.Errorf("the key with another item_lang: %d %v, want 409 idempotency_key_reused", status, m)
	}
	for lang, code := range map[string]string{`"german"`: "invalid_job", `"zz"`: "invalid_job", `"und"`: "invalid_job",
		`"en_US"`: "invalid_job", `"de-"`: "invalid_job", `"x-private"`: "invalid_job", `""`: "invalid_job",
		`"` + strings.Repeat("a", 40) + `"`: "invalid_job", `7`: "invalid_json"} {
		bad := strings.Replace(body, `"de-ch"`, lang, 1)
		if status, m := f.do(t, "POST", "/v1/jobs", evKeyA, bad); status != 400 || errCode(m) != code {
			t.Errorf("item_lang %s: %d %v, want 400 %s", lang, status, m, code)
		}
	}
	if page, _ := f.svc.List(context.Background(), evCustomerA, "", 0); len(page.Jobs) != 2 {
		t.Errorf("refused creates stored jobs: %d jobs, want the fixture's and one new", len(page.Jobs))
	}
}

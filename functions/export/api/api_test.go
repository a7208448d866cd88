package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/functions/export/api"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

const (
	keyAlice = "cgk_00000000000000a1_" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	keyBob   = "cgk_00000000000000b0_" + "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

var now = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

type fakeAuth map[string]string // key → customer

func (f fakeAuth) Authenticate(_ context.Context, key string) (account.APIKey, error) {
	if c, ok := f[key]; ok {
		return account.APIKey{CustomerID: c}, nil
	}
	return account.APIKey{}, account.ErrInvalidKey
}

type fakeJobs map[string]job.Job

func (f fakeJobs) GetJob(_ context.Context, id string) (job.Job, error) {
	if j, ok := f[id]; ok {
		return j, nil
	}
	return job.Job{}, job.ErrNotFound
}

type memStore struct {
	mu      sync.Mutex
	exports map[string]export.Export
}

func (s *memStore) Create(_ context.Context, e export.Export) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exports == nil {
		s.exports = map[string]export.Export{}
	}
	s.exports[e.ID] = e
	return nil
}

func (s *memStore) Get(_ context.Context, id string) (export.Export, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.exports[id]; ok {
		return e, nil
	}
	return export.Export{}, export.ErrNotFound
}

type queueBox struct {
	mu   sync.Mutex
	msgs []string
	err  error
}

func (q *queueBox) SendJSON(_ context.Context, msgs ...any) error {
	if q.err != nil {
		return q.err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		b, _ := json.Marshal(m)
		q.msgs = append(q.msgs, string(b))
	}
	return nil
}

// signer returns a new link on every call, as presigning does.
type signer struct {
	mu       sync.Mutex
	calls    int
	ttl      time.Duration
	download blob.Download
}

func (s *signer) PresignDownload(_ context.Context, key string, d blob.Download, ttl time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.ttl, s.download = ttl, d
	return fmt.Sprintf("https://exports.example/%s?sig=%d", key, s.calls), nil
}

type fixture struct {
	h     http.Handler
	store *memStore
	queue *queueBox
	links *signer
}

func newFixture() *fixture {
	f := &fixture{store: &memStore{}, queue: &queueBox{}, links: &signer{}}
	deleting := job.Job{ID: "old", CustomerID: "alice", Status: job.StatusDeleting, Classes: []string{"a", "b"}}
	f.h = api.New(api.Deps{
		Auth:    fakeAuth{keyAlice: "alice", keyBob: "bob"},
		Jobs:    fakeJobs{"shapes": {ID: "shapes", CustomerID: "alice", Status: job.StatusActive, Classes: []string{"circle", "square"}}, "old": deleting},
		Exports: f.store, Queue: f.queue, Links: f.links, MediaBucket: "media-bucket", Now: func() time.Time { return now },
	})
	return f
}

func (f *fixture) do(method, path, key, body string) (*httptest.ResponseRecorder, map[string]any) {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	var out map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return w, out
}

func code(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestRequestsWithoutAWorkingKeyAreUnauthorized(t *testing.T) {
	f := newFixture()
	for _, key := range []string{"", "cgk_wrong"} {
		for _, req := range [][2]string{{"POST", "/v1/jobs/shapes/exports"}, {"GET", "/v1/exports/exp_x"}} {
			w, body := f.do(req[0], req[1], key, `{"format":"csv"}`)
			if w.Code != http.StatusUnauthorized || code(body) != "unauthorized" || w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s with key %q: %d %v", req[0], req[1], key, w.Code, body)
			}
		}
	}
	if len(f.store.exports) != 0 || len(f.queue.msgs) != 0 {
		t.Error("an unauthorized request created an export")
	}
}

func TestCreateQueuesAnExport(t *testing.T) {
	f := newFixture()
	w, body := f.do("POST", "/v1/jobs/shapes/exports", keyAlice, `{"format":"manifest"}`)
	if w.Code != http.StatusAccepted {
		t.Fatalf("%d %v", w.Code, body)
	}
	id, _ := body["id"].(string)
	if body["status"] != "queued" || body["format"] != "manifest" || body["job_id"] != "shapes" || w.Header().Get("Location") != "/v1/exports/"+id {
		t.Errorf("answer %v, location %q", body, w.Header().Get("Location"))
	}
	e := f.store.exports[id]
	if e.CustomerID != "alice" || e.MediaBucket != "media-bucket" || e.Status != export.StatusQueued || e.Key != "jobs/shapes/"+id+".jsonl" {
		t.Errorf("record %+v", e)
	}
	if len(f.queue.msgs) != 1 || f.queue.msgs[0] != `{"v":1,"export_id":"`+id+`"}` {
		t.Errorf("queued %q", f.queue.msgs)
	}
}

func TestCreateRefusesBadRequests(t *testing.T) {
	f := newFixture()
	for _, tc := range []struct {
		path, key, body string
		status          int
		code            string
	}{
		{"/v1/jobs/shapes/exports", keyAlice, `{"format":"coco"}`, 400, api.CodeInvalidFormat},
		{"/v1/jobs/shapes/exports", keyAlice, `{}`, 400, api.CodeInvalidFormat},
		{"/v1/jobs/shapes/exports", keyAlice, `{"format":"csv","label":"x"}`, 400, "invalid_json"},
		{"/v1/jobs/shapes/exports", keyAlice, `{"format":"csv"` + strings.Repeat(" ", 2000) + `}`, 413, "body_too_large"},
		{"/v1/jobs/shapes/exports", keyBob, `{"format":"csv"}`, 404, api.CodeJobNotFound}, // alice's job
		{"/v1/jobs/nope/exports", keyAlice, `{"format":"csv"}`, 404, api.CodeJobNotFound},
		{"/v1/jobs/bad%20id/exports", keyAlice, `{"format":"csv"}`, 404, api.CodeJobNotFound},
		{"/v1/jobs/old/exports", keyAlice, `{"format":"csv"}`, 409, api.CodeJobDeleting},
	} {
		w, body := f.do("POST", tc.path, tc.key, tc.body)
		if w.Code != tc.status || code(body) != tc.code {
			t.Errorf("POST %s %s: %d %v, want %d %s", tc.path, tc.body[:min(len(tc.body), 30)], w.Code, body, tc.status, tc.code)
		}
	}
	if len(f.store.exports) != 0 {
		t.Error("a refused request created an export")
	}
}

func TestCreateReportsAQueueFailure(t *testing.T) {
	f := newFixture()
	f.queue.err = errors.New("sqs down")
	w, body := f.do("POST", "/v1/jobs/shapes/exports", keyAlice, `{"format":"csv"}`)
	if w.Code != http.StatusServiceUnavailable || code(body) != "unavailable" {
		t.Errorf("%d %v", w.Code, body)
	}
}

func TestGetShowsStatusAndAFreshShortLivedLinkOnceDone(t *testing.T) {
	f := newFixture()
	_, created := f.do("POST", "/v1/jobs/shapes/exports", keyAlice, `{"format":"csv"}`)
	id := created["id"].(string)

	w, body := f.do("GET", "/v1/exports/"+id, keyAlice, "")
	if w.Code != 200 || body["status"] != "queued" || body["url"] != nil || body["rows"] != nil {
		t.Fatalf("queued export: %d %v", w.Code, body)
	}
	if w, body := f.do("GET", "/v1/exports/"+id, keyBob, ""); w.Code != 404 || code(body) != api.CodeExportNotFound {
		t.Errorf("another customer's export: %d %v", w.Code, body)
	}
	if w, _ := f.do("GET", "/v1/exports/exp_nope", keyAlice, ""); w.Code != 404 {
		t.Errorf("unknown export: %d", w.Code)
	}

	e := f.store.exports[id]
	e.Status, e.Rows, e.CompletedAt = export.StatusDone, 1234, now.Add(time.Minute+123456789*time.Nanosecond)
	f.store.exports[id] = e
	_, first := f.do("GET", "/v1/exports/"+id, keyAlice, "")
	_, second := f.do("GET", "/v1/exports/"+id, keyAlice, "")
	if first["status"] != "done" || first["rows"] != float64(1234) || first["url"] == nil || first["url"] == second["url"] {
		t.Errorf("done export: %v then %v (want a link, fresh each time)", first, second)
	}
	if want := now.Add(time.Minute).UTC().Format(time.RFC3339); first["completed_at"] != want {
		t.Errorf("completed_at %v, want %s: whole seconds like every other time", first["completed_at"], want)
	}
	until, err := time.Parse(time.RFC3339, first["url_expires_at"].(string))
	if err != nil || until.After(now.Add(15*time.Minute)) || f.links.ttl > 15*time.Minute {
		t.Errorf("link valid until %v (signed for %v), want at most 15 minutes", until, f.links.ttl)
	}
}

// A browser that follows the link saves a file named after the job and the export, with
// the format's type, not the key's last segment with whatever type was stored.
func TestDownloadLinkNamesTheFile(t *testing.T) {
	f := newFixture()
	for _, tc := range []struct{ format, name, contentType string }{
		{"csv", "shapes-%s.csv", "text/csv; charset=utf-8"},
		{"manifest", "shapes-%s.jsonl", "application/jsonl"},
	} {
		_, created := f.do("POST", "/v1/jobs/shapes/exports", keyAlice, `{"format":"`+tc.format+`"}`)
		id := created["id"].(string)
		e := f.store.exports[id]
		e.Status, e.Rows, e.CompletedAt = export.StatusDone, 1, now
		f.store.exports[id] = e
		if w, body := f.do("GET", "/v1/exports/"+id, keyAlice, ""); w.Code != 200 || body["url"] == nil {
			t.Fatalf("done export: %d %v", w.Code, body)
		}
		want := blob.Download{Filename: fmt.Sprintf(tc.name, id), ContentType: tc.contentType}
		if f.links.download != want {
			t.Errorf("%s export signed as %+v, want %+v", tc.format, f.links.download, want)
		}
	}
}

// clockSigner signs like SigV4: the link works LinkTTL from the whole second it was signed
// in (X-Amz-Date), and signing takes a while on a clock that moves.
type clockSigner struct {
	clock    *time.Time
	takes    time.Duration
	worksTil time.Time
}

func (s *clockSigner) PresignDownload(_ context.Context, key string, _ blob.Download, ttl time.Duration) (string, error) {
	s.worksTil = s.clock.Truncate(time.Second).Add(ttl)
	*s.clock = s.clock.Add(s.takes)
	return "https://exports.example/" + key, nil
}

// url_expires_at is never later than the link really stops working, even when signing
// crosses a second boundary.
func TestLinkExpiryIsNeverLaterThanTheLinks(t *testing.T) {
	clock := now.Add(700 * time.Millisecond)
	links := &clockSigner{clock: &clock, takes: 500 * time.Millisecond}
	store := &memStore{}
	h := api.New(api.Deps{
		Auth:    fakeAuth{keyAlice: "alice"},
		Jobs:    fakeJobs{"shapes": {ID: "shapes", CustomerID: "alice", Status: job.StatusActive, Classes: []string{"circle", "square"}}},
		Exports: store, Queue: &queueBox{}, Links: links, MediaBucket: "media-bucket", Now: func() time.Time { return clock },
	})
	e, err := export.New("alice", "shapes", export.FormatCSV, "media-bucket", now)
	if err != nil {
		t.Fatal(err)
	}
	e.Status, e.Rows, e.CompletedAt = export.StatusDone, 1, now
	_ = store.Create(context.Background(), e)
	r := httptest.NewRequest("GET", "/v1/exports/"+e.ID, nil)
	r.Header.Set("Authorization", "Bearer "+keyAlice)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	until, err := time.Parse(time.RFC3339, fmt.Sprint(body["url_expires_at"]))
	if w.Code != 200 || err != nil || until.After(links.worksTil) {
		t.Errorf("url_expires_at %v, but the link works until %v (%d %v)", body["url_expires_at"], links.worksTil, w.Code, body)
	}
}

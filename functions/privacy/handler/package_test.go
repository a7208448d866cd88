package handler_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/functions/privacy/handler"
	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
)

// Links is a fake handler.PackageLinks that signs predictable links; a nil ExistsFunc
// finds every file.
// Downloads records how each key's last link downloads.
type Links struct {
	PresignGetFunc func(ctx context.Context, key string, ttl time.Duration) (string, error)
	ExistsFunc     func(ctx context.Context, key string) (bool, error)

	mu        sync.Mutex
	Downloads map[string]blob.Download
}

var _ handler.PackageLinks = (*Links)(nil)

func (l *Links) PresignDownload(ctx context.Context, key string, d blob.Download, ttl time.Duration) (string, error) {
	l.mu.Lock()
	if l.Downloads == nil {
		l.Downloads = map[string]blob.Download{}
	}
	l.Downloads[key] = d
	l.mu.Unlock()
	return l.PresignGetFunc(ctx, key, ttl)
}

func (l *Links) Exists(ctx context.Context, key string) (bool, error) {
	if l.ExistsFunc == nil {
		return true, nil
	}
	return l.ExistsFunc(ctx, key)
}

// The package route: only the subject (status secret) of a completed access request gets
// links, each call signs fresh ones that live at most 15 minutes, and nothing else does.
func TestAccessPackageLinks(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	var signed []string
	links := &Links{PresignGetFunc: func(_ context.Context, key string, ttl time.Duration) (string, error) {
		if ttl > 15*time.Minute {
			t.Errorf("link lifetime %v", ttl)
		}
		signed = append(signed, key)
		return "https://privacy-bucket.example/" + key + "?sig=" + f.clock.Now().Format(time.RFC3339Nano), nil
	}}
	h := handler.New(handler.Deps{Privacy: f.svc, Now: f.clock.Now, Packages: links})
	get := func(id, secret string) (int, map[string]any) {
		req := httptest.NewRequest(http.MethodGet, "/v1/privacy/requests/"+id+"/package", nil)
		if secret != "" {
			req.Header.Set("Authorization", "Bearer "+secret)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code == http.StatusOK && rec.Header().Get("Cache-Control") != "no-store" {
			t.Error("links may be cached")
		}
		return rec.Code, body
	}
	// B: Bob's access request, verified, approved, not yet carried out.
	_, secretB, err := f.svc.Verify(ctx, evB, evCodeB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Approve(ctx, evB, privacy.Actor{Kind: privacy.ActorOperator}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id, secret string
		status     int
		code       string
	}{
		{evB, "", 401, "unauthorized"},
		{evB, evSecretA, 404, "request_not_found"}, // another request's secret
		{"pr_x%27%20OR%201%3D1", secretB, 404, "request_not_found"},
		{evB, secretB, 409, "package_not_ready"},
		{evA, evSecretA, 409, "no_package"}, // a delete request has none
	} {
		if status, body := get(c.id, c.secret); status != c.status || errCode(body) != c.code {
			t.Errorf("GET package of %s: %d %v, want %d %s", c.id, status, body, c.status, c.code)
		}
	}
	if len(signed) != 0 {
		t.Fatalf("links signed for refused calls: %v", signed)
	}
	if _, err := f.svc.Run(ctx, evB, nil); err != nil {
		t.Fatal(err)
	}
	status, first := get(evB, secretB)
	l, _ := first["links"].(map[string]any)
	if status != 200 || first["expires_in"] != 900.0 || l["json"] != "https://privacy-bucket.example/access/"+evB+"/package.json"+l["json"].(string)[len("https://privacy-bucket.example/access/"+evB+"/package.json"):] ||
		!strings.Contains(l["csv"].(string), "/access/"+evB+"/package.csv") {
		t.Fatalf("package links: %d %v", status, first)
	}
	// A browser saves each file under a name that says what it is and whose, with its
	// format's type.
	for key, want := range map[string]blob.Download{
		"access/" + evB + "/package.json": {Filename: "crowdgate-access-" + evB + ".json", ContentType: "application/json"},
		"access/" + evB + "/package.csv":  {Filename: "crowdgate-access-" + evB + ".csv", ContentType: "text/csv; charset=utf-8"},
	} {
		if got := links.Downloads[key]; got != want {
			t.Errorf("link to %s downloads as %+v, want %+v", key, got, want)
		}
	}
	f.clock.Add(time.Minute)
	_, second := get(evB, secretB)
	if second["links"].(map[string]any)["json"] == l["json"] {
		t.Error("asking again did not give a fresh link")
	}
	f.clock.Add(privacy.PackageKeepDays * 24 * time.Hour)
	if status, body := get(evB, secretB); status != 410 || errCode(body) != "package_expired" {
		t.Errorf("after %d days: %d %v", privacy.PackageKeepDays, status, body)
	}
}

// An erasure of the same subject deletes an earlier access package before its 30 days are
// up: from then on, even part way through the erasure, the route says the package is gone
// (410 package_expired) instead of handing out links that fail at S3.
func TestAccessPackageGoneAfterErasure(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	bucket := &privacytest.Bucket{}
	var signed []string
	links := &Links{
		PresignGetFunc: func(_ context.Context, key string, _ time.Duration) (string, error) {
			signed = append(signed, key)
			return "https://privacy-bucket.example/" + key, nil
		},
		ExistsFunc: func(_ context.Context, key string) (bool, error) {
			_, ok := bucket.Object(key)
			return ok, nil
		},
	}
	h := handler.New(handler.Deps{Privacy: f.svc, Now: f.clock.Now, Packages: links})
	get := func(secret string) (int, map[string]any) {
		req := httptest.NewRequest(http.MethodGet, "/v1/privacy/requests/"+evB+"/package", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body
	}
	_, secretB, err := f.svc.Verify(ctx, evB, evCodeB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Approve(ctx, evB, privacy.Actor{Kind: privacy.ActorOperator}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Run(ctx, evB, nil); err != nil {
		t.Fatal(err)
	}
	for _, pf := range privacy.PackageFormats {
		if err := bucket.Put(ctx, privacy.PackageKey(evB, pf), "", []byte("package")); err != nil {
			t.Fatal(err)
		}
	}
	if status, body := get(secretB); status != 200 {
		t.Fatalf("package before the erasure: %d %v", status, body)
	}
	signed = nil
	// The erasure deletes the package under access/<request>/, one object at a time here.
	for range privacy.PackageFormats {
		if _, _, err := bucket.DeletePrefix(ctx, "access/"+evB+"/", 1); err != nil {
			t.Fatal(err)
		}
		if status, body := get(secretB); status != 410 || errCode(body) != "package_expired" {
			t.Errorf("package after erasing %v: %d %v, want 410 package_expired", bucket.Keys("access/"), status, body)
		}
	}
	if len(signed) != 0 {
		t.Errorf("links signed to erased files: %v", signed)
	}
}

package handler_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/functions/admin/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
)

// The ids the events/admin files use.
const (
	evIntegrator = "7d2c1f0e-4b3a-4c5d-8e9f-0a1b2c3d4e5f"
	evSitekey    = "4f0e1c2a-7b1d-4a9e-9c3f-2d8e6b5a1f00"
	evSecret     = "0x6c1f0e4a9b2d7c3e8f5a0b1c2d3e4f5a6b7c8d9e"
)

var evNow = time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC)

type fix struct {
	h     http.Handler
	store *accounttest.Store
	svc   *account.Service
	clock atomic.Int64
}

func newFix(t *testing.T) *fix {
	t.Helper()
	f := &fix{store: &accounttest.Store{}}
	f.clock.Store(evNow.Unix())
	f.svc = account.NewService(f.store, func() time.Time { return time.Unix(f.clock.Load(), 0) })
	ctx := context.Background()
	if err := f.store.CreateIntegrator(ctx, account.Integrator{ID: evIntegrator, Name: "Example Shop GmbH", Email: "ops@shop.example", Country: "DE", CreatedAt: evNow}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateSite(ctx, account.Site{Sitekey: evSitekey, IntegratorID: evIntegrator, Name: "checkout", Hostnames: []string{"shop.example"},
		SecretHash: account.HashSecret(evSecret), CreatedAt: evNow, SecretRotatedAt: evNow}); err != nil {
		t.Fatal(err)
	}
	f.h = handler.New(handler.Deps{Accounts: f.svc})
	return f
}

func (f *fix) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %q", method, path, w.Body.String())
	}
	return w.Code, m
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// TestEvents replays every events/admin file through the Lambda adapter.
func TestEvents(t *testing.T) {
	type want struct {
		status int
		code   string // error code, or "" for success
		check  func(t *testing.T, f *fix, body map[string]any)
	}
	expect := map[string]want{
		"admin-create-integrator.json": {201, "", func(t *testing.T, f *fix, b map[string]any) {
			id, _ := b["id"].(string)
			if !account.IsUUID(id) || b["name"] != "Example Shop GmbH" || b["email"] != "ops@shop.example" || b["country"] != "DE" || b["created_at"] != "2026-11-30T19:30:00Z" {
				t.Fatalf("integrator %v", b)
			}
			if _, err := f.svc.GetIntegrator(context.Background(), id); err != nil {
				t.Fatalf("not stored: %v", err)
			}
		}},
		"admin-create-integrator-invalid-email.json":   {400, "invalid_email", nil},
		"admin-create-integrator-invalid-country.json": {400, "invalid_country", nil},
		"admin-create-integrator-unknown-field.json":   {400, "invalid_json", nil},
		"admin-get-integrator.json": {200, "", func(t *testing.T, _ *fix, b map[string]any) {
			if b["id"] != evIntegrator || b["email"] != "ops@shop.example" {
				t.Fatalf("integrator %v", b)
			}
		}},
		"admin-get-integrator-unknown.json": {404, "integrator_not_found", nil},
		"admin-create-site.json": {201, "", func(t *testing.T, f *fix, b map[string]any) {
			secret, _ := b["secret"].(string)
			sitekey, _ := b["sitekey"].(string)
			if !account.IsSecret(secret) || !account.IsUUID(sitekey) || b["integrator_id"] != evIntegrator || b["require_remoteip"] != false {
				t.Fatalf("site %v", b)
			}
			if hs := asStrings(b["hostnames"]); strings.Join(hs, ",") != "shop.example,www.shop.example" {
				t.Fatalf("hostnames %v", hs)
			}
			if _, ok := b["secret_hash"]; ok {
				t.Fatal("answer exposes the secret hash")
			}
			if s, err := f.svc.SiteBySecret(context.Background(), secret); err != nil || s.Sitekey != sitekey {
				t.Fatalf("returned secret does not verify: %v", err)
			}
		}},
		"admin-create-site-invalid-hostnames.json":  {400, "invalid_hostnames", nil},
		"admin-create-site-unknown-integrator.json": {404, "integrator_not_found", nil},
		"admin-get-site.json": {200, "", func(t *testing.T, _ *fix, b map[string]any) {
			if b["sitekey"] != evSitekey || b["name"] != "checkout" {
				t.Fatalf("site %v", b)
			}
			if _, ok := b["secret"]; ok {
				t.Fatal("GET shows a secret")
			}
		}},
		"admin-get-site-unknown.json": {404, "site_not_found", nil},
		"admin-update-site.json": {200, "", func(t *testing.T, f *fix, b map[string]any) {
			s, _ := f.svc.GetSite(context.Background(), evSitekey)
			if strings.Join(s.Hostnames, ",") != "shop.example,203.0.113.7" || !s.RequireRemoteIP || s.Name != "checkout" || b["require_remoteip"] != true {
				t.Fatalf("after update %+v / %v", s, b)
			}
		}},
		"admin-update-site-empty.json": {400, "bad_request", nil},
		"admin-rotate-secret.json": {200, "", func(t *testing.T, f *fix, b map[string]any) {
			secret, _ := b["secret"].(string)
			if !account.IsSecret(secret) || secret == evSecret {
				t.Fatalf("rotation answer %v", b)
			}
			if _, err := f.svc.SiteBySecret(context.Background(), evSecret); err == nil {
				t.Fatal("old secret still works")
			}
			if _, err := f.svc.SiteBySecret(context.Background(), secret); err != nil {
				t.Fatalf("new secret: %v", err)
			}
		}},
	}
	platformtest.EachEvent(t, "../../../events/admin", expect, func(t *testing.T, file string, w want) {
		f := newFix(t)
		resp, body := platformtest.ReplayJSON(t, f.h, file)
		if resp.StatusCode != w.status || errCode(body) != w.code {
			t.Fatalf("got %d %s; want %d %q", resp.StatusCode, resp.Body, w.status, w.code)
		}
		if w.check != nil {
			w.check(t, f, body)
		}
	})
}

func asStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestSiteLifecycle(t *testing.T) {
	f := newFix(t)
	status, it := f.do(t, "POST", "/admin/integrators", `{"name":"Blog","email":"me@blog.example","country":"nz"}`)
	if status != 201 || it["country"] != "NZ" {
		t.Fatalf("create integrator %d %v", status, it)
	}
	id := it["id"].(string)
	status, site := f.do(t, "POST", "/admin/integrators/"+id+"/sites", `{"name":"blog","hostnames":["blog.example"],"require_remoteip":true}`)
	if status != 201 || site["require_remoteip"] != true {
		t.Fatalf("create site %d %v", status, site)
	}
	sitekey, first := site["sitekey"].(string), site["secret"].(string)

	f.clock.Add(3600)
	status, rot := f.do(t, "POST", "/admin/sites/"+sitekey+"/secret", "")
	if status != 200 || rot["secret"] == first || rot["secret_rotated_at"] != "2026-11-30T20:30:00Z" || rot["created_at"] != "2026-11-30T19:30:00Z" {
		t.Fatalf("rotate %d %v", status, rot)
	}
	status, got := f.do(t, "GET", "/admin/sites/"+sitekey, "")
	if status != 200 || got["secret_rotated_at"] != "2026-11-30T20:30:00Z" {
		t.Fatalf("get after rotate %d %v", status, got)
	}

	status, upd := f.do(t, "PATCH", "/admin/sites/"+sitekey, `{"name":"  Blog  "}`)
	if status != 200 || upd["name"] != "Blog" || upd["require_remoteip"] != true || strings.Join(asStrings(upd["hostnames"]), ",") != "blog.example" {
		t.Fatalf("patch name %d %v", status, upd)
	}
	for _, c := range []struct{ body, code string }{
		{`{"hostnames":[]}`, "invalid_hostnames"},
		{`{"name":""}`, "invalid_name"},
		{`{"require_remoteip":"yes"}`, "invalid_json"},
		{`not json`, "invalid_json"},
	} {
		if status, m := f.do(t, "PATCH", "/admin/sites/"+sitekey, c.body); status != 400 || errCode(m) != c.code {
			t.Errorf("PATCH %s: %d %v, want 400 %s", c.body, status, m, c.code)
		}
	}
	if status, m := f.do(t, "POST", "/admin/integrators", strings.Repeat(" ", handler.MaxBody+1)); status != 413 || errCode(m) != "body_too_large" {
		t.Errorf("oversized body: %d %v", status, m)
	}
	if status, m := f.do(t, "POST", "/admin/sites/not-a-sitekey/secret", ""); status != 404 || errCode(m) != "site_not_found" {
		t.Errorf("rotate unknown: %d %v", status, m)
	}
	if status, m := f.do(t, "PATCH", "/admin/sites/00000000-0000-4000-8000-000000000000", `{"name":"x"}`); status != 404 || errCode(m) != "site_not_found" {
		t.Errorf("patch unknown: %d %v", status, m)
	}
}

// Rotation takes no body (or {}), like approving a privacy request: a body with any field
// is refused under the admin API's unknown-field rule, and the old secret keeps working.
func TestRotateSecretRefusesABody(t *testing.T) {
	f := newFix(t)
	path := "/admin/sites/" + evSitekey + "/secret"
	for _, c := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"secret":"0x` + strings.Repeat("ab", 20) + `"}`, 400, "invalid_json"},
		{`{"dry_run":true}`, 400, "invalid_json"},
		{`not json`, 400, "invalid_json"},
		{`[]`, 400, "invalid_json"},
		{strings.Repeat(" ", handler.MaxBody+1), 413, "body_too_large"},
	} {
		if status, m := f.do(t, "POST", path, c.body); status != c.status || errCode(m) != c.code {
			t.Errorf("rotate with body %.40q: %d %v, want %d %s", c.body, status, m, c.status, c.code)
		}
	}
	if site, err := f.svc.SiteBySecret(context.Background(), evSecret); err != nil || site.Sitekey != evSitekey {
		t.Fatalf("a refused rotation changed the secret: %v", err)
	}
	for _, body := range []string{"", "{}", " {} \n"} {
		if status, m := f.do(t, "POST", path, body); status != 200 || m["secret"] == nil {
			t.Errorf("rotate with body %q: %d %v, want 200 with a secret", body, status, m)
		}
	}
}

// fakeAccounts fails on a store error the handler cannot name.
type fakeAccounts struct {
	handler.Accounts
	getSite func(string) (account.Site, error)
}

var _ handler.Accounts = (*fakeAccounts)(nil)

func (f *fakeAccounts) GetSite(_ context.Context, s string) (account.Site, error) {
	return f.getSite(s)
}

func TestInternalErrorsAreNotShown(t *testing.T) {
	h := handler.New(handler.Deps{Accounts: &fakeAccounts{getSite: func(string) (account.Site, error) {
		return account.Site{}, errFake("table accounts-prod unreachable")
	}}})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/admin/sites/"+evSitekey, nil))
	if w.Code != 500 || strings.Contains(w.Body.String(), "unreachable") || !strings.Contains(w.Body.String(), `"internal_error"`) {
		t.Fatalf("got %d %s", w.Code, w.Body.String())
	}
}

type errFake string

func (e errFake) Error() string { return string(e) }

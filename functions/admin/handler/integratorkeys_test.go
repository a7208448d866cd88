package handler_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/functions/admin/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
)

// The material the events/admin/integratorkeys files use.
const (
	evKeyIntegrator = "3c2b1a09-8f7e-4d6c-9b5a-493827160504"
	evIntKeyID      = "5e4d3c2b1a0f9e8d"
)

// fakeIntegratorKeys is the IntegratorKeys port as func fields.
type fakeIntegratorKeys struct {
	create func(ctx context.Context, integratorID, name string) (account.IntegratorKey, string, error)
	revoke func(ctx context.Context, integratorID, keyID string) (account.IntegratorKey, error)
}

var _ handler.IntegratorKeys = (*fakeIntegratorKeys)(nil)

func (f *fakeIntegratorKeys) CreateKey(ctx context.Context, integratorID, name string) (account.IntegratorKey, string, error) {
	return f.create(ctx, integratorID, name)
}

func (f *fakeIntegratorKeys) RevokeKey(ctx context.Context, integratorID, keyID string) (account.IntegratorKey, error) {
	return f.revoke(ctx, integratorID, keyID)
}

// newIntKeyFix knows one integrator (evKeyIntegrator) owning one key (evIntKeyID) and records
// the revocations it is asked for.
func newIntKeyFix(revoked *[]string) *fakeIntegratorKeys {
	return &fakeIntegratorKeys{
		create: func(_ context.Context, integratorID, name string) (account.IntegratorKey, string, error) {
			if integratorID != evKeyIntegrator {
				return account.IntegratorKey{}, "", account.ErrNotFound
			}
			if len(name) > 100 {
				return account.IntegratorKey{}, "", &account.ValidationError{Field: "name", Reason: "is too long"}
			}
			key := "cgi_0f1e2d3c4b5a6978_" + strings.Repeat("ab", 32)
			return account.IntegratorKey{ID: "0f1e2d3c4b5a6978", IntegratorID: integratorID, Name: name, Hash: account.HashAPIKey(key), CreatedAt: evNow}, key, nil
		},
		revoke: func(_ context.Context, integratorID, keyID string) (account.IntegratorKey, error) {
			if integratorID != evKeyIntegrator || keyID != evIntKeyID {
				return account.IntegratorKey{}, account.ErrNotFound
			}
			*revoked = append(*revoked, keyID)
			return account.IntegratorKey{ID: keyID, IntegratorID: integratorID, Hash: "h", CreatedAt: evNow.Add(-time.Hour), RevokedAt: evNow}, nil
		},
	}
}

// TestIntegratorKeyEvents replays every events/admin/integratorkeys file through the Lambda
// adapter.
func TestIntegratorKeyEvents(t *testing.T) {
	type want struct {
		status  int
		code    string
		revoked int
		check   func(t *testing.T, b map[string]any)
	}
	expect := map[string]want{
		"admin-create-integrator-key.json": {201, "", 0, func(t *testing.T, b map[string]any) {
			key, _ := b["key"].(string)
			if !account.IsIntegratorKey(key) || b["integrator_id"] != evKeyIntegrator || b["name"] != "risk lookups" ||
				b["prefix"] != "cgi_0f1e2d3c4b5a6978_" || !strings.HasPrefix(key, b["prefix"].(string)) || b["revoked_at"] != nil {
				t.Fatalf("new key %v", b)
			}
			if _, ok := b["hash"]; ok {
				t.Fatal("the answer shows the hash")
			}
		}},
		"admin-create-integrator-key-unknown-integrator.json": {404, "integrator_not_found", 0, nil},
		"admin-revoke-integrator-key.json": {200, "", 1, func(t *testing.T, b map[string]any) {
			if b["revoked_at"] != "2026-11-30T19:30:00Z" || b["id"] != evIntKeyID {
				t.Fatalf("revoked %v", b)
			}
			if _, ok := b["key"]; ok {
				t.Fatal("a revocation shows a key")
			}
		}},
		"admin-revoke-integrator-key-other-integrator.json": {404, "key_not_found", 0, nil},
	}
	platformtest.EachEvent(t, "../../../events/admin/integratorkeys", expect, func(t *testing.T, file string, w want) {
		var revoked []string
		h := handler.New(handler.Deps{Accounts: account.NewService(&accounttest.Store{}, nil),
			Customers: account.NewCustomerService(&accounttest.Store{}, nil), IntegratorKeys: newIntKeyFix(&revoked)})
		resp, body := platformtest.ReplayJSON(t, h, file)
		if resp.StatusCode != w.status || errCode(body) != w.code || len(revoked) != w.revoked {
			t.Fatalf("got %d %s, %d revocations; want %d %q, %d", resp.StatusCode, resp.Body, len(revoked), w.status, w.code, w.revoked)
		}
		if w.check != nil {
			w.check(t, body)
		}
	})
}

func TestIntegratorKeyRoutesRefuseBadInput(t *testing.T) {
	var revoked []string
	h := handler.New(handler.Deps{Accounts: account.NewService(&accounttest.Store{}, nil),
		Customers: account.NewCustomerService(&accounttest.Store{}, nil), IntegratorKeys: newIntKeyFix(&revoked)})
	for _, c := range []struct{ method, path, body, code string }{
		{"POST", "/admin/integrators/" + evKeyIntegrator + "/keys", `{"name":"` + strings.Repeat("n", 101) + `"}`, "invalid_name"},
		{"POST", "/admin/integrators/" + evKeyIntegrator + "/keys", `{"label":"x"}`, "invalid_json"},
		{"POST", "/admin/integrators/" + evKeyIntegrator + "/keys", strings.Repeat(" ", handler.MaxBody) + "{}", "body_too_large"},
		{"DELETE", "/admin/integrators/" + evKeyIntegrator + "/keys/ffffffffffffffff", "", "key_not_found"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(c.method, c.path, strings.NewReader(c.body)))
		var m map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		if w.Code/100 != 4 || errCode(m) != c.code {
			t.Errorf("%s %s: %d %s, want %s", c.method, c.path, w.Code, w.Body.String(), c.code)
		}
	}
	if len(revoked) != 0 {
		t.Fatalf("revoked %v", revoked)
	}
}

// Revoking a key takes no body (or {}): one with a field is refused and revokes nothing.
func TestKeyRevocationsRefuseABody(t *testing.T) {
	f := newCustFix(t)
	var revoked []string
	h := handler.New(handler.Deps{Accounts: account.NewService(&accounttest.Store{}, nil), Customers: f.svc, IntegratorKeys: newIntKeyFix(&revoked)})
	custKeyID := strings.Split(evKey, "_")[1]
	live := func() bool {
		t.Helper()
		keys, err := f.svc.ListAPIKeys(context.Background(), evCustomer)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.ID == custKeyID {
				return !k.Revoked()
			}
		}
		t.Fatalf("customer key %s not found", custKeyID)
		return false
	}
	if !live() {
		t.Fatal("the customer key starts revoked")
	}
	do := func(path, body string) (int, map[string]any) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("DELETE", path, strings.NewReader(body)))
		var m map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		return w.Code, m
	}
	paths := []string{"/admin/customers/" + evCustomer + "/keys/" + custKeyID, "/admin/integrators/" + evKeyIntegrator + "/keys/" + evIntKeyID}
	for _, path := range paths {
		for _, body := range []string{`{"reason":"leaked"}`, `not json`, `[]`} {
			if status, m := do(path, body); status != 400 || errCode(m) != "invalid_json" {
				t.Errorf("DELETE %s with %q: %d %v, want 400 invalid_json", path, body, status, m)
			}
		}
	}
	if len(revoked) != 0 || !live() {
		t.Fatalf("a refused revocation revoked: integrator %v, customer key live %v", revoked, live())
	}
	for _, path := range paths {
		if status, m := do(path, "{}"); status != 200 || m["revoked_at"] == nil {
			t.Errorf("DELETE %s with {}: %d %v, want 200 with revoked_at", path, status, m)
		}
	}
}

package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/crowdgate/crowdgate/functions/admin/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
)

// The material the events/admin/customers files use.
const (
	evCustomer      = "5b1e0c2d-3a4f-4e6d-9c8b-0a1b2c3d4e5f"
	evOtherCustomer = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
	evKey           = "cgk_0a1b2c3d4e5f6a7b_3c9e1f7a5b2d8c4e6f0a1b3c5d7e9f2a4b6c8d0e1f3a5b7c9d2e4f6a8b0c1d3e"
	evRevokedKey    = "cgk_7f6e5d4c3b2a1908_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"
	evOtherKey      = "cgk_1122334455667788_0000000000000000000000000000000000000000000000000000000000000001"
)

type custFix struct {
	h     *httpadapter.HandlerAdapterV2
	svc   *account.CustomerService
	store *accounttest.Store
}

func newCustFix(t *testing.T) *custFix {
	t.Helper()
	ctx := context.Background()
	f := &custFix{store: &accounttest.Store{}}
	f.svc = account.NewCustomerService(f.store, func() time.Time { return evNow })
	for _, c := range []string{evCustomer, evOtherCustomer} {
		if err := f.store.CreateCustomer(ctx, account.Customer{ID: c, Name: "Label Buyer Ltd", Email: "data@buyer.example", Country: "GB", CreatedAt: evNow.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range []struct{ customer, key, name string }{{evCustomer, evKey, "ci"}, {evCustomer, evRevokedKey, ""}, {evOtherCustomer, evOtherKey, ""}} {
		id, _ := account.ParseAPIKey(k.key)
		if err := f.store.CreateAPIKey(ctx, account.APIKey{ID: id, CustomerID: k.customer, Name: k.name, Hash: account.HashAPIKey(k.key), CreatedAt: evNow.Add(time.Duration(i-60) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.store.RevokeAPIKey(ctx, evCustomer, "7f6e5d4c3b2a1908", evNow.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	h := handler.New(handler.Deps{Accounts: account.NewService(&accounttest.Store{}, nil), Customers: f.svc})
	f.h = httpadapter.NewV2(h)
	return f
}

// TestCustomerEvents replays every events/admin/customers file through the Lambda adapter.
func TestCustomerEvents(t *testing.T) {
	ctx := context.Background()
	type want struct {
		status int
		code   string
		check  func(t *testing.T, f *custFix, b map[string]any)
	}
	expect := map[string]want{
		"admin-create-customer.json": {201, "", func(t *testing.T, f *custFix, b map[string]any) {
			id, _ := b["id"].(string)
			if !account.IsUUID(id) || b["country"] != "GB" || b["email"] != "data@buyer.example" || b["created_at"] != "2026-11-30T19:30:00Z" {
				t.Fatalf("customer %v", b)
			}
			if _, err := f.svc.GetCustomer(ctx, id); err != nil {
				t.Fatalf("not stored: %v", err)
			}
		}},
		"admin-create-customer-invalid-email.json": {400, "invalid_email", nil},
		"admin-get-customer.json": {200, "", func(t *testing.T, _ *custFix, b map[string]any) {
			keys, _ := b["keys"].([]any)
			if b["id"] != evCustomer || len(keys) != 2 {
				t.Fatalf("customer %v", b)
			}
			first, second := keys[0].(map[string]any), keys[1].(map[string]any)
			if first["id"] != "0a1b2c3d4e5f6a7b" || first["prefix"] != "cgk_0a1b2c3d4e5f6a7b_" || first["revoked_at"] != nil || first["name"] != "ci" ||
				second["revoked_at"] != "2026-11-30T19:29:00Z" {
				t.Fatalf("keys %v", keys)
			}
			for _, k := range keys {
				if _, ok := k.(map[string]any)["key"]; ok {
					t.Fatal("GET shows a key")
				}
				if _, ok := k.(map[string]any)["hash"]; ok {
					t.Fatal("GET shows a key hash")
				}
			}
		}},
		"admin-get-customer-unknown.json": {404, "customer_not_found", nil},
		"admin-create-key.json": {201, "", func(t *testing.T, f *custFix, b map[string]any) {
			key, _ := b["key"].(string)
			got, err := f.svc.Authenticate(ctx, key)
			if err != nil || got.CustomerID != evCustomer || b["name"] != "nightly export job" || b["customer_id"] != evCustomer ||
				!strings.HasPrefix(key, b["prefix"].(string)) {
				t.Fatalf("new key %v does not authenticate: %+v, %v", b, got, err)
			}
		}},
		"admin-create-key-no-body.json": {201, "", func(t *testing.T, f *custFix, b map[string]any) {
			if _, err := f.svc.Authenticate(ctx, b["key"].(string)); err != nil || b["name"] != nil {
				t.Fatalf("key without a name %v: %v", b, err)
			}
		}},
		"admin-create-key-unknown-customer.json": {404, "customer_not_found", nil},
		"admin-revoke-key.json": {200, "", func(t *testing.T, f *custFix, b map[string]any) {
			if b["revoked_at"] != "2026-11-30T19:30:00Z" {
				t.Fatalf("revoked %v", b)
			}
			if _, err := f.svc.Authenticate(ctx, evKey); !errors.Is(err, account.ErrInvalidKey) {
				t.Fatalf("revoked key still works: %v", err)
			}
		}},
		"admin-revoke-key-other-customer.json": {404, "key_not_found", func(t *testing.T, f *custFix, _ map[string]any) {
			if _, err := f.svc.Authenticate(ctx, evKey); err != nil {
				t.Fatalf("another customer's revocation stopped the key: %v", err)
			}
		}},
	}
	platformtest.EachEvent(t, "../../../events/admin/customers", expect, func(t *testing.T, file string, w want) {
		ev := platformtest.HTTPEvent(t, file)
		f := newCustFix(t)
		resp, err := f.h.ProxyWithContext(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("body %q", resp.Body)
		}
		if resp.StatusCode != w.status || errCode(body) != w.code {
			t.Fatalf("got %d %s; want %d %q", resp.StatusCode, resp.Body, w.status, w.code)
		}
		if w.check != nil {
			w.check(t, f, body)
		}
	})
}

func TestCustomerRoutesRefuseBadInput(t *testing.T) {
	f := newCustFix(t)
	h := handler.New(handler.Deps{Accounts: account.NewService(&accounttest.Store{}, nil), Customers: f.svc})
	for _, c := range []struct{ method, path, body, code string }{
		{"POST", "/admin/customers", `{"name":"x","email":"a@b.example","country":"ZZ"}`, "invalid_country"},
		{"POST", "/admin/customers", `{"name":"x","email":"a@b.example","country":"DE","vip":true}`, "invalid_json"},
		{"POST", "/admin/customers/" + evCustomer + "/keys", `{"name":"` + strings.Repeat("n", 101) + `"}`, "invalid_name"},
		{"POST", "/admin/customers/" + evCustomer + "/keys", `{"label":"x"}`, "invalid_json"},
		{"POST", "/admin/customers/" + evCustomer + "/keys", strings.Repeat(" ", handler.MaxBody) + "{}", "body_too_large"},
		{"GET", "/admin/customers/not-a-uuid", "", "customer_not_found"},
		{"DELETE", "/admin/customers/" + evCustomer + "/keys/NOTHEX", "", "key_not_found"},
		{"DELETE", "/admin/customers/" + evCustomer + "/keys/ffffffffffffffff", "", "key_not_found"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(c.method, c.path, strings.NewReader(c.body)))
		var m map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		if w.Code/100 != 4 || errCode(m) != c.code {
			t.Errorf("%s %s: %d %s, want %s", c.method, c.path, w.Code, w.Body.String(), c.code)
		}
	}
}

// A blank body makes a key without a name, but one over the limit is refused like any other
// body (413 body_too_large, docs/API.md) instead of making a key.
func TestKeyCreationRefusesOversizedBlankBody(t *testing.T) {
	f := newCustFix(t)
	var revoked []string
	h := handler.New(handler.Deps{Accounts: account.NewService(&accounttest.Store{}, nil), Customers: f.svc, IntegratorKeys: newIntKeyFix(&revoked)})
	before, err := f.svc.ListAPIKeys(context.Background(), evCustomer)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/admin/customers/" + evCustomer + "/keys", "/admin/integrators/" + evKeyIntegrator + "/keys"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", path, strings.NewReader(strings.Repeat(" ", handler.MaxBody+1))))
		var m map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		if w.Code != 413 || errCode(m) != "body_too_large" {
			t.Errorf("POST %s with %d blank bytes: %d %s, want 413 body_too_large", path, handler.MaxBody+1, w.Code, w.Body.String())
		}
	}
	if after, _ := f.svc.ListAPIKeys(context.Background(), evCustomer); len(after) != len(before) {
		t.Fatalf("the refused request made a key: %d keys, had %d", len(after), len(before))
	}
}

// A customer without keys is shown with "keys": [] (docs/API.md), not without the field.
func TestGetCustomerWithoutKeysListsNone(t *testing.T) {
	store := &accounttest.Store{}
	svc := account.NewCustomerService(store, func() time.Time { return evNow })
	c, err := svc.CreateCustomer(context.Background(), account.NewCustomer{Name: "New Buyer", Email: "new@buyer.example", Country: "GB"})
	if err != nil {
		t.Fatal(err)
	}
	h := handler.New(handler.Deps{Accounts: account.NewService(&accounttest.Store{}, nil), Customers: svc})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/admin/customers/"+c.ID, nil))
	var b map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body.String())
	}
	if keys, ok := b["keys"].([]any); !ok || len(keys) != 0 {
		t.Fatalf("keys of a customer without keys: %#v, want []", b["keys"])
	}
}

package handler_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/functions/admin/handler"
	"github.com/crowdgate/crowdgate/shared/account"
)

// erasingAccounts is an account holder whose erasure has begun: the stores refuse every
// creation with account.ErrErasing (as the services pass it on, wrapped).
type erasingAccounts struct {
	handler.Accounts
	handler.Customers
	refuse func(what string) error
}

func (f erasingAccounts) CreateSite(context.Context, string, account.NewSite) (account.Site, string, error) {
	return account.Site{}, "", f.refuse("create site")
}

func (f erasingAccounts) RotateSecret(context.Context, string) (account.Site, string, error) {
	return account.Site{}, "", f.refuse("rotate secret")
}

func (f erasingAccounts) CreateAPIKey(context.Context, string, string) (account.APIKey, string, error) {
	return account.APIKey{}, "", f.refuse("create API key")
}

// Creating a site, a secret or an API key for an account being erased is a 409 with its
// own code, so the operator learns why (not a 500, not "not found").
func TestCreationsForAnAccountBeingErasedAreRefused(t *testing.T) {
	refuse := func(what string) error { return fmt.Errorf("%s: %w", what, account.ErrErasing) }
	f := erasingAccounts{refuse: refuse}
	h := handler.New(handler.Deps{Accounts: f, Customers: f, IntegratorKeys: &fakeIntegratorKeys{
		create: func(context.Context, string, string) (account.IntegratorKey, string, error) {
			return account.IntegratorKey{}, "", refuse("create integrator key")
		},
	}})
	for _, path := range []string{
		"/admin/integrators/" + evIntegrator + "/sites",
		"/admin/sites/" + evSitekey + "/secret",
		"/admin/integrators/" + evIntegrator + "/keys",
		"/admin/customers/" + evIntegrator + "/keys",
	} {
		body := ""
		if strings.HasSuffix(path, "/sites") {
			body = `{"name":"late","hostnames":["late.example"]}`
		}
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 409 || !strings.Contains(w.Body.String(), `"code":"`+handler.CodeAccountBeingErased+`"`) {
			t.Errorf("POST %s: %d %s, want 409 %s", path, w.Code, w.Body.String(), handler.CodeAccountBeingErased)
		}
	}
}

// Package handler is the admin function: operators create integrators and sites, rotate
// site secrets, and create customers and their API keys (customers.go). On AWS API Gateway
// authorises these routes with IAM and the local stack asks for its admin token, so the
// handler does not authenticate callers itself.
package handler

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// MaxBody caps admin request bodies.
const MaxBody = 16 << 10

// Error codes of the admin API besides web's common ones (docs/API.md).
const (
	CodeIntegratorNotFound = "integrator_not_found"
	CodeSiteNotFound       = "site_not_found"
	// CodeAccountBeingErased: an erasure of the account holder has begun, so nothing new
	// (site, secret, API key) is created for it; the account is about to be gone.
	CodeAccountBeingErased = "account_being_erased"
)

// Accounts is what the admin API needs from the account service.
type Accounts interface {
	CreateIntegrator(ctx context.Context, in account.NewIntegrator) (account.Integrator, error)
	GetIntegrator(ctx context.Context, id string) (account.Integrator, error)
	CreateSite(ctx context.Context, integratorID string, in account.NewSite) (account.Site, string, error)
	GetSite(ctx context.Context, sitekey string) (account.Site, error)
	UpdateSite(ctx context.Context, sitekey string, u account.SiteUpdate) (account.Site, error)
	RotateSecret(ctx context.Context, sitekey string) (account.Site, string, error)
}

var _ Accounts = (*account.Service)(nil)

// Deps are the admin function's ports.
type Deps struct {
	Accounts Accounts
	// Customers serves the /admin/customers routes (customers.go); required.
	Customers Customers
	// IntegratorKeys serves the /admin/integrators/{id}/keys routes (integratorkeys.go);
	// required.
	IntegratorKeys IntegratorKeys
}

// New returns the admin function's handler.
func New(d Deps) http.Handler {
	a := &api{accounts: d.Accounts, customers: d.Customers, integratorKeys: d.IntegratorKeys}
	handlers := map[string]http.HandlerFunc{
		"POST /admin/integrators":            a.createIntegrator,
		"GET /admin/integrators/{id}":        a.getIntegrator,
		"POST /admin/integrators/{id}/sites": a.createSite,
		"GET /admin/sites/{sitekey}":         a.getSite,
		"PATCH /admin/sites/{sitekey}":       a.updateSite,
		"POST /admin/sites/{sitekey}/secret": a.rotateSecret,
	}
	for pattern, h := range a.customerHandlers() {
		handlers[pattern] = h
	}
	for pattern, h := range a.integratorKeyHandlers() {
		handlers[pattern] = h
	}
	return web.Mount(routes.FunctionAdmin, handlers)
}

// Wire builds the handler over the accounts table.
func Wire(_ context.Context, env *platform.Env) (http.Handler, error) {
	table, err := env.Config.Table(schema.TableAccounts)
	if err != nil {
		return nil, err
	}
	store := dynamo.NewAccounts(env.DynamoDB(), table)
	return New(Deps{Accounts: account.NewService(store, env.Now), Customers: account.NewCustomerService(store, env.Now),
		IntegratorKeys: account.NewIntegratorKeyService(store, env.Now)}), nil
}

type api struct {
	accounts       Accounts
	customers      Customers
	integratorKeys IntegratorKeys
}

// integratorJSON is an integrator as the admin API shows it.
type integratorJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Country   string    `json:"country"`
	CreatedAt time.Time `json:"created_at"`
}

func toIntegratorJSON(it account.Integrator) integratorJSON {
	return integratorJSON{ID: it.ID, Name: it.Name, Email: it.Email, Country: it.Country, CreatedAt: it.CreatedAt.UTC()}
}

// siteJSON is a site as the admin API shows it: never the secret's hash; the secret itself
// only in the answers of create and rotate.
type siteJSON struct {
	Sitekey         string    `json:"sitekey"`
	IntegratorID    string    `json:"integrator_id"`
	Name            string    `json:"name"`
	Hostnames       []string  `json:"hostnames"`
	RequireRemoteIP bool      `json:"require_remoteip"`
	CreatedAt       time.Time `json:"created_at"`
	SecretRotatedAt time.Time `json:"secret_rotated_at"`
	Secret          string    `json:"secret,omitempty"`
}

func toSiteJSON(s account.Site, secret string) siteJSON {
	return siteJSON{
		Sitekey: s.Sitekey, IntegratorID: s.IntegratorID, Name: s.Name, Hostnames: s.Hostnames,
		RequireRemoteIP: s.RequireRemoteIP, CreatedAt: s.CreatedAt.UTC(), SecretRotatedAt: s.SecretRotatedAt.UTC(), Secret: secret,
	}
}

func (a *api) createIntegrator(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name    string `json:"name"`
		Email   string `json:"email"`
		Country string `json:"country"`
	}
	if err := web.DecodeJSON(r, MaxBody, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	it, err := a.accounts.CreateIntegrator(r.Context(), account.NewIntegrator{Name: body.Name, Email: body.Email, Country: body.Country})
	if err != nil {
		web.WriteError(w, r, domainError(err, CodeIntegratorNotFound))
		return
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "integrator created", "integrator_id", it.ID)
	web.WriteJSON(w, http.StatusCreated, toIntegratorJSON(it))
}

func (a *api) getIntegrator(w http.ResponseWriter, r *http.Request) {
	it, err := a.accounts.GetIntegrator(r.Context(), r.PathValue("id"))
	if err != nil {
		web.WriteError(w, r, domainError(err, CodeIntegratorNotFound))
		return
	}
	web.WriteJSON(w, http.StatusOK, toIntegratorJSON(it))
}

func (a *api) createSite(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name            string   `json:"name"`
		Hostnames       []string `json:"hostnames"`
		RequireRemoteIP bool     `json:"require_remoteip"`
	}
	if err := web.DecodeJSON(r, MaxBody, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	site, secret, err := a.accounts.CreateSite(r.Context(), r.PathValue("id"), account.NewSite{Name: body.Name, Hostnames: body.Hostnames, RequireRemoteIP: body.RequireRemoteIP})
	if err != nil {
		web.WriteError(w, r, domainError(err, CodeIntegratorNotFound))
		return
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "site created", "integrator_id", site.IntegratorID, "sitekey", site.Sitekey)
	web.WriteJSON(w, http.StatusCreated, toSiteJSON(site, secret))
}

func (a *api) getSite(w http.ResponseWriter, r *http.Request) {
	site, err := a.accounts.GetSite(r.Context(), r.PathValue("sitekey"))
	if err != nil {
		web.WriteError(w, r, domainError(err, CodeSiteNotFound))
		return
	}
	web.WriteJSON(w, http.StatusOK, toSiteJSON(site, ""))
}

func (a *api) updateSite(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name            *string   `json:"name"`
		Hostnames       *[]string `json:"hostnames"`
		RequireRemoteIP *bool     `json:"require_remoteip"`
	}
	if err := web.DecodeJSON(r, MaxBody, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	if body.Name == nil && body.Hostnames == nil && body.RequireRemoteIP == nil {
		web.WriteError(w, r, web.Errorf(http.StatusBadRequest, web.CodeBadRequest, "give at least one of name, hostnames, require_remoteip"))
		return
	}
	site, err := a.accounts.UpdateSite(r.Context(), r.PathValue("sitekey"), account.SiteUpdate{Name: body.Name, Hostnames: body.Hostnames, RequireRemoteIP: body.RequireRemoteIP})
	if err != nil {
		web.WriteError(w, r, domainError(err, CodeSiteNotFound))
		return
	}
	web.WriteJSON(w, http.StatusOK, toSiteJSON(site, ""))
}

func (a *api) rotateSecret(w http.ResponseWriter, r *http.Request) {
	if !web.NoBody(w, r, MaxBody) { // before the old secret is thrown away
		return
	}
	site, secret, err := a.accounts.RotateSecret(r.Context(), r.PathValue("sitekey"))
	if err != nil {
		web.WriteError(w, r, domainError(err, CodeSiteNotFound))
		return
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "site secret rotated", "sitekey", site.Sitekey)
	web.WriteJSON(w, http.StatusOK, toSiteJSON(site, secret))
}

// domainError maps account errors to the documented status and code; notFound names what
// was missing for this route. Anything else is an internal error (logged, not shown).
func domainError(err error, notFound string) error {
	var v *account.ValidationError
	switch {
	case errors.As(err, &v):
		return &web.Error{Status: http.StatusBadRequest, Code: "invalid_" + v.Field, Message: v.Field + " " + v.Reason, Err: err}
	case errors.Is(err, account.ErrNotFound):
		msg := "no such site"
		if notFound == CodeIntegratorNotFound {
			msg = "no such integrator"
		}
		return &web.Error{Status: http.StatusNotFound, Code: notFound, Message: msg, Err: err}
	case errors.Is(err, account.ErrErasing):
		return &web.Error{Status: http.StatusConflict, Code: CodeAccountBeingErased, Message: "the account is being erased (a privacy request); nothing new can be created for it", Err: err}
	case errors.Is(err, account.ErrConflict):
		return &web.Error{Status: http.StatusConflict, Code: web.CodeConflict, Message: "a concurrent change won; retry", Err: err}
	}
	return err
}

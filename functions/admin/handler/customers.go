package handler

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/web"
)

// Error codes of the customer admin routes (docs/API.md).
const (
	CodeCustomerNotFound = "customer_not_found"
	CodeKeyNotFound      = "key_not_found"
)

// Customers is what the customer admin routes need (account.CustomerService).
type Customers interface {
	CreateCustomer(ctx context.Context, in account.NewCustomer) (account.Customer, error)
	GetCustomer(ctx context.Context, id string) (account.Customer, error)
	ListAPIKeys(ctx context.Context, customerID string) ([]account.APIKey, error)
	CreateAPIKey(ctx context.Context, customerID, name string) (account.APIKey, string, error)
	RevokeAPIKey(ctx context.Context, customerID, keyID string) (account.APIKey, error)
}

var _ Customers = (*account.CustomerService)(nil)

func (a *api) customerHandlers() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /admin/customers":                     a.createCustomer,
		"GET /admin/customers/{id}":                 a.getCustomer,
		"POST /admin/customers/{id}/keys":           a.createKey,
		"DELETE /admin/customers/{id}/keys/{keyId}": a.revokeKey,
	}
}

// customerJSON is a customer as the admin API shows it, with its keys on GET. Keys is a
// pointer so that GET shows a customer without keys as "keys": [], and create leaves it out.
type customerJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Email     string     `json:"email"`
	Country   string     `json:"country"`
	CreatedAt time.Time  `json:"created_at"`
	Keys      *[]keyJSON `json:"keys,omitempty"`
}

// keyJSON is an API key as the admin API shows it: never the hash; the key itself only in
// the answer that creates it.
type keyJSON struct {
	ID         string     `json:"id"`
	CustomerID string     `json:"customer_id"`
	Name       string     `json:"name,omitempty"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	Key        string     `json:"key,omitempty"`
}

func toKeyJSON(k account.APIKey, key string) keyJSON {
	out := keyJSON{ID: k.ID, CustomerID: k.CustomerID, Name: k.Name, Prefix: account.APIKeyPrefix + k.ID + "_", CreatedAt: k.CreatedAt.UTC(), Key: key}
	if k.Revoked() {
		t := k.RevokedAt.UTC()
		out.RevokedAt = &t
	}
	return out
}

func (a *api) createCustomer(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name    string `json:"name"`
		Email   string `json:"email"`
		Country string `json:"country"`
	}
	if err := web.DecodeJSON(r, MaxBody, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	c, err := a.customers.CreateCustomer(r.Context(), account.NewCustomer{Name: body.Name, Email: body.Email, Country: body.Country})
	if err != nil {
		web.WriteError(w, r, customerError(err, CodeCustomerNotFound))
		return
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "customer created", "customer_id", c.ID)
	web.WriteJSON(w, http.StatusCreated, customerJSON{ID: c.ID, Name: c.Name, Email: c.Email, Country: c.Country, CreatedAt: c.CreatedAt.UTC()})
}

func (a *api) getCustomer(w http.ResponseWriter, r *http.Request) {
	c, err := a.customers.GetCustomer(r.Context(), r.PathValue("id"))
	if err != nil {
		web.WriteError(w, r, customerError(err, CodeCustomerNotFound))
		return
	}
	keys, err := a.customers.ListAPIKeys(r.Context(), c.ID)
	if err != nil {
		web.WriteError(w, r, err)
		return
	}
	list := []keyJSON{}
	for _, k := range keys {
		list = append(list, toKeyJSON(k, ""))
	}
	out := customerJSON{ID: c.ID, Name: c.Name, Email: c.Email, Country: c.Country, CreatedAt: c.CreatedAt.UTC(), Keys: &list}
	web.WriteJSON(w, http.StatusOK, out)
}

func (a *api) createKey(w http.ResponseWriter, r *http.Request) {
	name, err := keyName(r)
	if err != nil {
		web.WriteError(w, r, err)
		return
	}
	k, key, err := a.customers.CreateAPIKey(r.Context(), r.PathValue("id"), name)
	if err != nil {
		web.WriteError(w, r, customerError(err, CodeCustomerNotFound))
		return
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "API key created", "customer_id", k.CustomerID, "key_id", k.ID)
	web.WriteJSON(w, http.StatusCreated, toKeyJSON(k, key))
}

func (a *api) revokeKey(w http.ResponseWriter, r *http.Request) {
	if !web.NoBody(w, r, MaxBody) {
		return
	}
	k, err := a.customers.RevokeAPIKey(r.Context(), r.PathValue("id"), r.PathValue("keyId"))
	if err != nil {
		web.WriteError(w, r, customerError(err, CodeKeyNotFound))
		return
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "API key revoked", "customer_id", k.CustomerID, "key_id", k.ID)
	web.WriteJSON(w, http.StatusOK, toKeyJSON(k, ""))
}

// customerError maps account errors of the customer routes to status and code.
func customerError(err error, notFound string) error {
	if errors.Is(err, account.ErrNotFound) {
		msg := "no such customer"
		if notFound == CodeKeyNotFound {
			msg = "the customer has no such API key"
		}
		return &web.Error{Status: http.StatusNotFound, Code: notFound, Message: msg, Err: err}
	}
	return domainError(err, notFound)
}

// keyName reads the optional body of a key creation, {"name": …}: no body (or a blank one)
// makes a key without a name.
func keyName(r *http.Request) (string, error) {
	var body struct {
		Name string `json:"name"`
	}
	err := web.DecodeOptionalJSON(r, MaxBody, &body)
	return body.Name, err
}

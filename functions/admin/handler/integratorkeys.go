package handler

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/web"
)

// IntegratorKeys is what the integrator key admin routes need (account.IntegratorKeyService).
type IntegratorKeys interface {
	CreateKey(ctx context.Context, integratorID, name string) (account.IntegratorKey, string, error)
	RevokeKey(ctx context.Context, integratorID, keyID string) (account.IntegratorKey, error)
}

var _ IntegratorKeys = (*account.IntegratorKeyService)(nil)

func (a *api) integratorKeyHandlers() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /admin/integrators/{id}/keys":           a.createIntegratorKey,
		"DELETE /admin/integrators/{id}/keys/{keyId}": a.revokeIntegratorKey,
	}
}

// integratorKeyJSON is an integrator API key as the admin API shows it: never the hash;
// the key itself only in the answer that creates it.
type integratorKeyJSON struct {
	ID           string     `json:"id"`
	IntegratorID string     `json:"integrator_id"`
	Name         string     `json:"name,omitempty"`
	Prefix       string     `json:"prefix"`
	CreatedAt    time.Time  `json:"created_at"`
	RevokedAt    *time.Time `json:"revoked_at"`
	Key          string     `json:"key,omitempty"`
}

func toIntegratorKeyJSON(k account.IntegratorKey, key string) integratorKeyJSON {
	out := integratorKeyJSON{ID: k.ID, IntegratorID: k.IntegratorID, Name: k.Name, Prefix: account.IntegratorKeyPrefix + k.ID + "_",
		CreatedAt: k.CreatedAt.UTC(), Key: key}
	if k.Revoked() {
		t := k.RevokedAt.UTC()
		out.RevokedAt = &t
	}
	return out
}

func (a *api) createIntegratorKey(w http.ResponseWriter, r *http.Request) {
	name, err := keyName(r)
	if err != nil {
		web.WriteError(w, r, err)
		return
	}
	k, key, err := a.integratorKeys.CreateKey(r.Context(), r.PathValue("id"), name)
	if err != nil {
		web.WriteError(w, r, domainError(err, CodeIntegratorNotFound))
		return
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "integrator key created", "integrator_id", k.IntegratorID, "key_id", k.ID)
	web.WriteJSON(w, http.StatusCreated, toIntegratorKeyJSON(k, key))
}

func (a *api) revokeIntegratorKey(w http.ResponseWriter, r *http.Request) {
	if !web.NoBody(w, r, MaxBody) {
		return
	}
	k, err := a.integratorKeys.RevokeKey(r.Context(), r.PathValue("id"), r.PathValue("keyId"))
	if errors.Is(err, account.ErrNotFound) {
		web.WriteError(w, r, &web.Error{Status: http.StatusNotFound, Code: CodeKeyNotFound, Message: "the integrator has no such API key", Err: err})
		return
	}
	if err != nil {
		web.WriteError(w, r, domainError(err, CodeIntegratorNotFound))
		return
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "integrator key revoked", "integrator_id", k.IntegratorID, "key_id", k.ID)
	web.WriteJSON(w, http.StatusOK, toIntegratorKeyJSON(k, ""))
}

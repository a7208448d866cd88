package handler

import (
	"net/http"
	"time"

	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/web"
)

// accessPackage answers with fresh download links to the package of a completed access
// request (docs/API.md): the subject proves the request is theirs with the status secret.
// Each call signs new links; nothing is stored.
func (a *api) accessPackage(w http.ResponseWriter, r *http.Request) {
	secret, ok := statusSecret(w, r)
	if !ok {
		return
	}
	req, err := a.svc.Status(r.Context(), r.PathValue("id"), secret)
	if err != nil {
		web.WriteError(w, r, mapError(err))
		return
	}
	keys, err := privacy.PackageKeys(req, a.now())
	if err != nil {
		web.WriteError(w, r, mapError(err))
		return
	}
	if a.packages == nil {
		web.WriteError(w, r, web.Errorf(http.StatusServiceUnavailable, web.CodeUnavailable, "access packages are not configured"))
		return
	}
	links := map[string]string{}
	for f, key := range keys {
		url, err := a.packages.PresignGet(r.Context(), key, privacy.PackageLinkTTL)
		if err != nil {
			web.WriteError(w, r, err)
			return
		}
		links[string(f)] = url
	}
	w.Header().Set("Cache-Control", "no-store")
	web.WriteJSON(w, http.StatusOK, map[string]any{
		"links":           links,
		"expires_in":      int(privacy.PackageLinkTTL / time.Second),
		"available_until": privacy.PackageUntil(req).UTC(),
	})
}

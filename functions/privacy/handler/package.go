package handler

import (
	"net/http"
	"time"

	"github.com/crowdgate/crowdgate/shared/blob"
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
	// The date alone does not prove the files are there: an erasure of the same subject
	// (shared/privacy eraseRequests) deletes earlier access packages before their 30 days
	// are up, and the request record keeps no sign of it. So look at every file before
	// linking it: one ranged GET of a byte per file (two per call, on a route a subject
	// calls a handful of times) is cheaper than a marker in the request table, which the
	// erasure would have to write and every other path to deletion (the lifecycle rule, an
	// operator) would miss. Checking each file, not one, also covers an erasure caught
	// between its deletes.
	for _, f := range privacy.PackageFormats {
		ok, err := a.packages.Exists(r.Context(), keys[f])
		if err != nil {
			web.WriteError(w, r, err)
			return
		}
		if !ok {
			web.WriteError(w, r, web.Errorf(http.StatusGone, CodePackageExpired, "the package was deleted; file a new access request"))
			return
		}
	}
	links := map[string]string{}
	for f, key := range keys {
		// Saved as a file named after the request, not as the key's "package.json".
		d := blob.Download{Filename: privacy.PackageFilename(req.ID, f), ContentType: f.ContentType()}
		url, err := a.packages.PresignDownload(r.Context(), key, d, privacy.PackageLinkTTL)
		if err != nil {
			web.WriteError(w, r, err)
			return
		}
		links[string(f)] = url
	}
	w.Header().Set("Cache-Control", "no-store")
	// available_until in whole seconds like closed_at, so it reads as closed_at plus the
	// days kept.
	web.WriteJSON(w, http.StatusOK, map[string]any{
		"links":           links,
		"expires_in":      int(privacy.PackageLinkTTL / time.Second),
		"available_until": privacy.PackageUntil(req).UTC().Truncate(time.Second),
	})
}

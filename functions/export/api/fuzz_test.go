package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/functions/export/api"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/web"
	"github.com/crowdgate/crowdgate/shared/web/webtest"
)

// exportCodes are the error codes docs/API.md lists for the export routes, with their status.
var exportCodes = webtest.Codes{"invalid_format": 400, "invalid_json": 400, "unauthorized": 401, "job_not_found": 404,
	"export_not_found": 404, "not_found": 404, "job_deleting": 409, "body_too_large": 413}

// bodyLimit is the create route's documented body limit (1 KiB; 413 above it).
const bodyLimit = 1 << 10

// exportRoutes are the two export routes, from the function's own route list.
var exportRoutes = webtest.RoutesOf(api.Routes, map[string]int{"POST /v1/jobs/{id}/exports": bodyLimit})

// doneExport is a finished export of alice's, so GET reaches the link-signing path.
const doneExport = "exp_00000000000000000000d0e0"

// FuzzExportAPI sends arbitrary bodies, ids and Authorization headers to both export routes
// (authz "" is alice's working key). Bad input must get a documented 4xx with the error
// envelope and neither store nor queue an export; never a 500 or a panic.
func FuzzExportAPI(f *testing.F) {
	codes := webtest.Documented(f, exportCodes)
	for _, body := range []string{
		`{"format":"manifest"}`, `{"format":"csv"}`, ``, `{}`, `null`, `[]`, `"csv"`, `{"format":null}`, `{"format":1}`,
		`{"format":"CSV"}`, `{"format":"csv "}`, `{"format":"coco"}`, `{"format":"csv","label":"x"}`, `{"format":"csv"}{}`,
		`{"format":"csv"` + strings.Repeat(" ", 1100) + `}`, `{"format":"\u0063sv"}`, `{"format":"csv\u0000"}`, `{"format":["csv"]}`,
	} {
		f.Add(true, "shapes", []byte(body), "")
	}
	for _, id := range []string{"shapes", "old", "nope", "bad id", "/", "a/", "a/b", "..%2F", "%00", strings.Repeat("j", 200), "sh\u00e4pes"} {
		f.Add(true, id, []byte(`{"format":"csv"}`), "")
	}
	for _, id := range []string{doneExport, "exp_", "exp_nope", "EXP_x", "exp_" + strings.Repeat("0", 61), "exp_\u00e9/..", "x"} {
		f.Add(false, id, []byte(nil), "")
	}
	for _, authz := range []string{"Bearer " + keyBob, "Bearer", "Basic " + keyAlice, "bearer   " + keyAlice, "Bearer cgk_wrong", "Bearer " + keyAlice + " x"} {
		f.Add(true, "shapes", []byte(`{"format":"csv"}`), authz)
		f.Add(false, doneExport, []byte(nil), authz)
	}

	f.Fuzz(func(t *testing.T, create bool, id string, body []byte, authz string) {
		if authz == "" {
			authz = "Bearer " + keyAlice
		}
		rt := exportRoutes[exportRoutes.Index("GET", "/v1/exports/{id}")]
		if create {
			rt = exportRoutes[exportRoutes.Index("POST", "/v1/jobs/{id}/exports")]
		}
		r := rt.Request(body, id)
		r.Header.Set("Authorization", authz)
		fx := newFixture()
		if err := fx.store.Create(t.Context(), export.Export{ID: doneExport, CustomerID: "alice", JobID: "shapes", Format: export.FormatCSV,
			Status: export.StatusDone, Key: "jobs/shapes/" + doneExport + ".csv", Rows: 3, CreatedAt: now, CompletedAt: now, ExpiresAt: now.Add(export.Retention)}); err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		mountedAsJobs(fx.h).ServeHTTP(w, r)
		code := webtest.CheckAnswer(t, w, codes)
		// A bad key and a path no route takes are refused before the body is read.
		if rt.OverLimit(len(body)) && w.Code != http.StatusRequestEntityTooLarge && w.Code != http.StatusUnauthorized && code != web.CodeNotFound {
			t.Fatalf("%s %s: answered %d to a body over the limit, want 413: %.300s", rt.Method, r.URL, w.Code, w.Body.String())
		}
		if stored, queued := fx.counts(); w.Code >= 400 && (stored != 1 || queued != 0) {
			t.Fatalf("%s %s answered %d but left %d exports and %d messages", rt.Method, r.URL, w.Code, stored, queued)
		}
	})
}

// counts reports how many exports are stored and queued.
func (f *fixture) counts() (stored, queued int) {
	f.store.mu.Lock()
	stored = len(f.store.exports)
	f.store.mu.Unlock()
	f.queue.mu.Lock()
	defer f.queue.mu.Unlock()
	return stored, len(f.queue.msgs)
}

// mountedAsJobs serves h as the jobs function serves the export routes, through web.Mount:
// a path no route takes, or one with an empty or dot segment, gets the 404 envelope before
// api.New's own mux could redirect it. The target sends only export routes, so h standing
// in for the jobs routes too is never reached through them.
func mountedAsJobs(h http.Handler) http.Handler {
	handlers := map[string]http.Handler{}
	for _, r := range routes.For(routes.FunctionJobs) {
		handlers[r.Pattern()] = h
	}
	return web.Mount(routes.FunctionJobs, handlers)
}

package stack

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/web"
)

// NewRouter stands in for API Gateway: it mounts every route of routes.Table on one mux,
// sending each to its function's handler (fns, keyed by routes.Function*). Operator routes
// need `Authorization: Bearer <adminToken>` (IAM on AWS); browser routes answer CORS
// preflights as API Gateway's CORS configuration does. pages adds the local-only pages
// (pattern → handler: the demo site). Anything else is a JSON not_found.
func NewRouter(fns map[string]http.Handler, adminToken string, pages map[string]http.Handler) (http.Handler, error) {
	if adminToken == "" {
		return nil, fmt.Errorf("router: empty admin token")
	}
	mux := http.NewServeMux()
	preflight := map[string]bool{}
	for _, r := range routes.Table {
		h, ok := fns[r.Function]
		if !ok || h == nil {
			return nil, fmt.Errorf("router: no handler for function %q (route %s)", r.Function, r.Pattern())
		}
		if r.Auth == routes.Operator {
			h = requireToken(adminToken, h)
		}
		mux.Handle(r.Pattern(), h)
		if r.Browser && !preflight[r.Path] {
			// As on API Gateway (infra: one OPTIONS route per browser path), the function
			// answers its own preflights: credentialed CORS must name the caller's origin.
			preflight[r.Path] = true
			mux.Handle("OPTIONS "+r.Path, h)
		}
	}
	for pattern, h := range pages {
		mux.Handle(pattern, h)
	}
	mux.Handle("/", web.NotFound())
	return web.CanonicalPathsOnly(mux), nil
}

// requireToken is the local stand-in for API Gateway's IAM authoriser.
func requireToken(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(strings.TrimSpace(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crowdgate-admin"`)
			web.WriteError(w, r, web.Errorf(http.StatusUnauthorized, web.CodeUnauthorized,
				"operator routes need Authorization: Bearer <admin token> (printed by crowdgate serve, also in demo.json)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

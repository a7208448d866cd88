package web

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/crowdgate/crowdgate/shared/routes"
)

// Mount serves one function's routes from the route table, each with the handler keyed by
// its pattern ("POST /v1/jobs"). Browser routes get CORS — credentialed when the route says
// so — and their OPTIONS preflight, once per path. The table and the handlers must agree
// both ways: a route without a handler, or a handler without a route, is a build bug that
// would otherwise surface as a 404 in production, so Mount panics when the function's
// handler is built, which every function's tests do. A request no route takes, or whose path
// is not in canonical form, gets the 404 envelope (NotFound).
func Mount[H http.Handler](function string, handlers map[string]H) http.Handler {
	mux := http.NewServeMux()
	preflight := map[string]bool{}
	mounted := map[string]bool{}
	for _, r := range routes.For(function) {
		h, ok := handlers[r.Pattern()]
		if !ok {
			panic(function + ": no handler for route " + r.Pattern())
		}
		mounted[r.Pattern()] = true
		var served http.Handler = h
		if r.Browser {
			if r.Credentials {
				served = CORSWithCredentials(served)
			} else {
				served = CORS(served)
			}
			if !preflight[r.Path] {
				preflight[r.Path] = true
				mux.Handle("OPTIONS "+r.Path, served)
			}
		}
		mux.Handle(r.Pattern(), served)
	}
	var extra []string
	for pattern := range handlers {
		if !mounted[pattern] {
			extra = append(extra, pattern)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		panic(function + ": handlers without a route in the table: " + extra[0])
	}
	mux.Handle("/", NotFound())
	return CanonicalPathsOnly(mux)
}

// NotFound answers every request with 404 not_found in the error envelope; ServeMux's own
// answer is a plain-text page that an API client cannot parse.
func NotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, Errorf(http.StatusNotFound, CodeNotFound, "no route for %s %s", r.Method, r.URL.EscapedPath()))
	})
}

// CanonicalPathsOnly answers a path with an empty or dot segment (//, /./, /%2E%2E/) with
// NotFound. API Gateway hands such a path to the function as it came, and ServeMux would
// answer it with a redirect to another route. A segment that merely holds an escaped slash
// (an id of "a%2Fb") is left to the route, which refuses the id in its own terms.
func CanonicalPathsOnly(next http.Handler) http.Handler {
	notFound := NotFound()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !canonical(r.URL.EscapedPath()) {
			notFound.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func canonical(escaped string) bool {
	if escaped == "/" {
		return true
	}
	segments := strings.Split(escaped, "/")
	if len(segments) < 2 || segments[0] != "" { // "" or no leading slash
		return false
	}
	for _, s := range segments[1:] {
		if u, err := url.PathUnescape(s); err != nil || u == "" || u == "." || u == ".." {
			return false
		}
	}
	return true
}

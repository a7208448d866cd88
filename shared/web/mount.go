package web

import (
	"net/http"
	"sort"

	"github.com/crowdgate/crowdgate/shared/routes"
)

// Mount serves one function's routes from the route table, each with the handler keyed by
// its pattern ("POST /v1/jobs"). Browser routes get CORS — credentialed when the route says
// so — and their OPTIONS preflight, once per path. The table and the handlers must agree
// both ways: a route without a handler, or a handler without a route, is a build bug that
// would otherwise surface as a 404 in production, so Mount panics when the function's
// handler is built, which every function's tests do.
func Mount[H http.Handler](function string, handlers map[string]H) *http.ServeMux {
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
	return mux
}

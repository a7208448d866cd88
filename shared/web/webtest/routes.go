package webtest

import (
	"bytes"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"

	"github.com/crowdgate/crowdgate/shared/routes"
)

// Route is a route a fuzz target drives: its method, its pattern, whose {name} segments
// take fuzzed values, and the body limit above which it answers 413 (0: it reads no body).
type Route struct {
	Method, Path string
	Limit        int
}

// Routes are a fuzz target's routes, picked by a fuzzed index.
type Routes []Route

// RoutesOf turns route-table entries (routes.For(function)) into a target's routes, so a
// target drives every route its function serves, one added later included. limits holds
// the body limit of each route that reads a body, by pattern; skip leaves out routes that
// another target drives. A pattern in either that table does not have is a mistake in the
// target, so it panics.
func RoutesOf(table []routes.Route, limits map[string]int, skip ...string) Routes {
	var rs Routes
	known := map[string]bool{}
	for _, r := range table {
		known[r.Pattern()] = true
		if !slices.Contains(skip, r.Pattern()) {
			rs = append(rs, Route{Method: r.Method, Path: r.Path, Limit: limits[r.Pattern()]})
		}
	}
	for _, p := range append(slices.Collect(maps.Keys(limits)), skip...) {
		if !known[p] {
			panic("webtest: no route " + p + " in the table")
		}
	}
	return rs
}

// Index is the position of the route method path, for seeding a target with it. A route
// not in rs is a mistake in the target, so it panics.
func (rs Routes) Index(method, path string) uint8 {
	for i, r := range rs {
		if r.Method == method && r.Path == path {
			return uint8(i)
		}
	}
	panic("webtest: no route " + method + " " + path)
}

// Request builds a request for the route with its {name} segments filled, in order, from
// values (missing ones empty), as the Lambda adapter builds it from the gateway's raw path:
// values escaped in RawPath, decoded in Path. httptest.NewRequest would panic on the URLs
// fuzzing makes.
func (r Route) Request(body []byte, values ...string) *http.Request {
	segments := strings.Split(r.Path, "/")
	escaped := slices.Clone(segments)
	for i, seg := range segments {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			v := ""
			if len(values) > 0 {
				v, values = values[0], values[1:]
			}
			segments[i], escaped[i] = v, url.PathEscape(v)
		}
	}
	req := httptest.NewRequest(r.Method, "/", bytes.NewReader(body))
	req.URL.Path = strings.Join(segments, "/")
	req.URL.RawPath = strings.Join(escaped, "/")
	return req
}

// Wild reports whether the route has {name} segments for a target to fill.
func (r Route) Wild() bool { return strings.Contains(r.Path, "{") }

// OverLimit reports whether a body of n bytes is over the route's limit.
func (r Route) OverLimit(n int) bool {
	return r.Limit > 0 && n > r.Limit
}

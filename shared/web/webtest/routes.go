package webtest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
)

// Route is a route a fuzz target drives: its method, its pattern, whose {name} segments
// take fuzzed values, and the body limit above which it answers 413 (0: it reads no body).
type Route struct {
	Method, Path string
	Limit        int
}

// Routes are a fuzz target's routes, picked by a fuzzed index.
type Routes []Route

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

// Request builds a request for the route with each {name} segment replaced by its value
// (pairs: "{id}", id), as the Lambda adapter builds it from the gateway's raw path: values
// escaped in RawPath, decoded in Path. httptest.NewRequest would panic on the URLs fuzzing
// makes.
func (r Route) Request(body []byte, segments ...string) *http.Request {
	escaped := make([]string, len(segments))
	for i, s := range segments {
		if i%2 == 1 {
			s = url.PathEscape(s)
		}
		escaped[i] = s
	}
	req := httptest.NewRequest(r.Method, "/", bytes.NewReader(body))
	req.URL.Path = strings.NewReplacer(segments...).Replace(r.Path)
	req.URL.RawPath = strings.NewReplacer(escaped...).Replace(r.Path)
	return req
}

// OverLimit reports whether a body of n bytes is over the route's limit.
func (r Route) OverLimit(n int) bool {
	return r.Limit > 0 && n > r.Limit
}

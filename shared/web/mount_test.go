package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/web"
)

// withTable swaps the route table for one test.
func withTable(t *testing.T, table []routes.Route) {
	t.Helper()
	saved := routes.Table
	routes.Table = table
	t.Cleanup(func() { routes.Table = saved })
}

func ok(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(name)) }
}

func TestMountServesRoutesWithCORSWhereTheTableSays(t *testing.T) {
	withTable(t, []routes.Route{
		{Method: "GET", Path: "/open", Function: "fn"},
		{Method: "POST", Path: "/widget", Function: "fn", Browser: true},
		{Method: "GET", Path: "/widget", Function: "fn", Browser: true}, // a second method: one preflight
		{Method: "POST", Path: "/cookie", Function: "fn", Browser: true, Credentials: true},
		{Method: "GET", Path: "/other", Function: "another"},
	})
	mux := web.Mount("fn", map[string]http.HandlerFunc{
		"GET /open": ok("open"), "POST /widget": ok("widget-post"), "GET /widget": ok("widget-get"), "POST /cookie": ok("cookie"),
	})
	do := func(method, path, origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}

	if w := do("GET", "/open", "https://shop.example"); w.Body.String() != "open" || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET /open: body %q, CORS %q; want the handler and no CORS on a server route", w.Body, w.Header().Get("Access-Control-Allow-Origin"))
	}
	if w := do("GET", "/widget", "https://shop.example"); w.Body.String() != "widget-get" || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("GET /widget: body %q, CORS %q; want the handler with CORS *", w.Body, w.Header().Get("Access-Control-Allow-Origin"))
	}
	if w := do("OPTIONS", "/widget", "https://shop.example"); w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight /widget: %d, CORS %q; want 204 with CORS *", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	w := do("OPTIONS", "/cookie", "https://shop.example")
	if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "https://shop.example" || w.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("preflight /cookie: %d, headers %v; want 204 naming the origin, with credentials", w.Code, w.Header())
	}
	if w := do("GET", "/other", ""); w.Code != http.StatusNotFound {
		t.Errorf("another function's route answered %d; want 404", w.Code)
	}
	if w := do("OPTIONS", "/open", "https://shop.example"); w.Code == http.StatusNoContent {
		t.Error("a server route answered a preflight")
	}
}

func TestMountRefusesATableAndHandlersThatDisagree(t *testing.T) {
	withTable(t, []routes.Route{{Method: "GET", Path: "/a", Function: "fn"}, {Method: "GET", Path: "/b", Function: "fn"}})
	for name, handlers := range map[string]map[string]http.HandlerFunc{
		"GET /b":           {"GET /a": ok("a")},
		"handlers without": {"GET /a": ok("a"), "GET /b": ok("b"), "POST /a": ok("typo")},
	} {
		func() {
			defer func() {
				if msg, _ := recover().(string); !strings.Contains(msg, name) {
					t.Errorf("panic %q; want one naming %q", msg, name)
				}
			}()
			web.Mount("fn", handlers)
		}()
	}
}

// What no route takes gets the JSON envelope, never ServeMux's plain-text 404 or a redirect:
// an id that decodes to "/" or a dot segment reaches the function as is through API Gateway.
func TestMountAnswersUnroutedAndUncleanPathsWithTheEnvelope(t *testing.T) {
	withTable(t, []routes.Route{{Method: "POST", Path: "/v1/things/{id}/go", Function: "fn"}})
	h := web.Mount("fn", map[string]http.HandlerFunc{"POST /v1/things/{id}/go": ok("went")})
	for _, c := range []struct{ method, rawPath string }{
		{"POST", "/v1/things/%2F/go"},
		{"POST", "/v1/things/%2E/go"},
		{"POST", "/v1/things/%2E%2E/go"},
		{"POST", "/v1/things/a/../b/go"},
		{"POST", "/v1/things//go"},
		{"POST", "/v1/things/x/go/"},
		{"GET", "/nowhere"},
		{"GET", ""},
		{"GET", "/v1/things/x/go"}, // a method no route has
	} {
		r := httptest.NewRequest(c.method, "/", nil)
		var err error
		if r.URL, err = url.Parse(c.rawPath); err != nil { // as the adapter builds it: dots kept
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNotFound || decodeErr(t, w).Error.Code != web.CodeNotFound {
			t.Errorf("%s %s: %d %q, want 404 %s in the envelope", c.method, c.rawPath, w.Code, w.Body, web.CodeNotFound)
		}
	}
	for _, id := range []string{"a%2Fb", "..%2Fetc", "%2E%2E%2F", "%2E.x"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/v1/things/"+id+"/go", nil))
		if w.Body.String() != "went" {
			t.Errorf("id %s: %d %q, want the route (which judges the id)", id, w.Code, w.Body)
		}
	}
}

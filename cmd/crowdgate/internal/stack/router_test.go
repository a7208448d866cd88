package stack

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/routes"
)

// echo answers with the function's name, so a test sees which function got a request.
func echo(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, name)
	})
}

func fakeFunctions() map[string]http.Handler {
	fns := map[string]http.Handler{}
	for _, f := range routes.Functions() {
		fns[f] = echo(f)
	}
	return fns
}

var placeholder = regexp.MustCompile(`\{[^}]+\}`)

func do(t *testing.T, h http.Handler, method, path, auth string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader("{}"))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("answer is not the JSON error envelope: %q", rec.Body.String())
	}
	return body.Error.Code
}

func TestEveryRouteReachesItsFunction(t *testing.T) {
	h, err := NewRouter(fakeFunctions(), "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes.Table {
		path := placeholder.ReplaceAllString(r.Path, "x1")
		auth := ""
		if r.Auth == routes.Operator {
			auth = "Bearer tok"
		}
		rec := do(t, h, r.Method, path, auth)
		if rec.Code != 200 || rec.Body.String() != r.Function {
			t.Errorf("%s %s: %d %q, want 200 from %s", r.Method, path, rec.Code, rec.Body.String(), r.Function)
		}
	}
}

func TestOperatorRoutesNeedTheAdminToken(t *testing.T) {
	h, _ := NewRouter(fakeFunctions(), "tok", nil)
	n := 0
	for _, r := range routes.Table {
		path := placeholder.ReplaceAllString(r.Path, "x1")
		for _, auth := range []string{"", "Bearer wrong", "tok", "Basic dG9r", "Bearer tokx"} {
			rec := do(t, h, r.Method, path, auth)
			if r.Auth != routes.Operator {
				if rec.Code != 200 {
					t.Errorf("public %s %s with %q: %d", r.Method, path, auth, rec.Code)
				}
				continue
			}
			n++
			if rec.Code != http.StatusUnauthorized || errorCode(t, rec) != "unauthorized" {
				t.Errorf("%s %s with %q: %d %s, want 401 unauthorized", r.Method, path, auth, rec.Code, rec.Body.String())
			}
		}
	}
	if n == 0 {
		t.Fatal("route table has no operator routes to check")
	}
}

func TestBrowserRoutesAnswerPreflights(t *testing.T) {
	h, _ := NewRouter(fakeFunctions(), "tok", nil)
	for _, r := range routes.Table {
		if !r.Browser {
			continue
		}
		path := placeholder.ReplaceAllString(r.Path, "x1")
		rec := do(t, h, http.MethodOptions, path, "")
		// The function answers its own preflights, as behind API Gateway.
		if rec.Code != http.StatusOK || rec.Body.String() != r.Function {
			t.Errorf("OPTIONS %s: %d %q, want the %s function", path, rec.Code, rec.Body.String(), r.Function)
		}
	}
}

func TestUnknownPathsAreJSONNotFound(t *testing.T) {
	h, _ := NewRouter(fakeFunctions(), "tok", map[string]http.Handler{"GET /demo": echo("demo")})
	rec := do(t, h, "GET", "/nope", "")
	if rec.Code != 404 || errorCode(t, rec) != "not_found" {
		t.Errorf("GET /nope: %d %s", rec.Code, rec.Body.String())
	}
	if rec := do(t, h, "GET", "/demo", ""); rec.Body.String() != "demo" {
		t.Errorf("page not mounted: %d %q", rec.Code, rec.Body.String())
	}
	h, _ = NewRouter(fakeFunctions(), "tok", map[string]http.Handler{"GET /{$}": echo("root")})
	if rec := do(t, h, "GET", "/", ""); rec.Body.String() != "root" {
		t.Errorf("GET /: %d %q, want the root page (the root path is canonical)", rec.Code, rec.Body.String())
	}
	if rec := do(t, h, "GET", "//", ""); rec.Code != 404 || errorCode(t, rec) != "not_found" {
		t.Errorf("GET //: %d %s, want 404 not_found", rec.Code, rec.Body.String())
	}
}

func TestRouterRefusesMissingFunctionsOrToken(t *testing.T) {
	fns := fakeFunctions()
	delete(fns, routes.FunctionVerify)
	if _, err := NewRouter(fns, "tok", nil); err == nil || !strings.Contains(err.Error(), "verify") {
		t.Errorf("missing verify handler: err = %v", err)
	}
	if _, err := NewRouter(fakeFunctions(), "", nil); err == nil {
		t.Error("empty admin token accepted")
	}
}

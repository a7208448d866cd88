package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crowdgate/crowdgate/shared/web"
)

// A credentialed CORS answer names the caller's origin (browsers refuse "*" with
// credentials), varies by Origin, and answers preflights without calling the handler.
func TestCORSWithCredentialsNamesTheOrigin(t *testing.T) {
	called := 0
	h := web.CORSWithCredentials(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called++ }))
	for _, c := range []struct {
		method, origin string
		status, calls  int
	}{
		{http.MethodOptions, "https://shop.example.com", http.StatusNoContent, 0},
		{http.MethodPost, "https://shop.example.com", http.StatusOK, 1},
		{http.MethodPost, "", http.StatusOK, 2},
	} {
		req := httptest.NewRequest(c.method, "/x", nil)
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		hd := rec.Header()
		if rec.Code != c.status || called != c.calls || hd.Get("Vary") != "Origin" {
			t.Fatalf("%s from %q: %d, %d calls, Vary %q", c.method, c.origin, rec.Code, called, hd.Get("Vary"))
		}
		wantCred := ""
		if c.origin != "" {
			wantCred = "true"
		}
		if hd.Get("Access-Control-Allow-Origin") != c.origin || hd.Get("Access-Control-Allow-Credentials") != wantCred {
			t.Errorf("%s from %q: ACAO %q ACAC %q", c.method, c.origin, hd.Get("Access-Control-Allow-Origin"), hd.Get("Access-Control-Allow-Credentials"))
		}
	}
}

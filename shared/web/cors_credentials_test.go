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
		// "null" is every sandboxed frame's and file's origin: never granted credentials.
		{http.MethodOptions, "null", http.StatusNoContent, 2},
		{http.MethodPost, "null", http.StatusOK, 3},
		{http.MethodPost, "https://shop.example.com/path", http.StatusOK, 4},
		{http.MethodPost, "chrome-extension://abc", http.StatusOK, 5},
		{http.MethodPost, "http://localhost:8080", http.StatusOK, 6},
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
		wantOrigin, wantCred := "", ""
		if web.IsWebOrigin(c.origin) {
			wantOrigin, wantCred = c.origin, "true"
		}
		if hd.Get("Access-Control-Allow-Origin") != wantOrigin || hd.Get("Access-Control-Allow-Credentials") != wantCred {
			t.Errorf("%s from %q: ACAO %q ACAC %q", c.method, c.origin, hd.Get("Access-Control-Allow-Origin"), hd.Get("Access-Control-Allow-Credentials"))
		}
	}
}

func TestIsWebOrigin(t *testing.T) {
	for origin, want := range map[string]bool{
		"https://shop.example.com": true, "http://localhost:8080": true, "https://[::1]:8443": true,
		"": false, "null": false, "https://": false, "shop.example.com": false, "file://": false,
		"https://shop.example.com/": false, "https://a@shop.example.com": false, "https://shop.example.com?": false,
		"chrome-extension://abc": false, "https://shop.example.com#x": false,
	} {
		if got := web.IsWebOrigin(origin); got != want {
			t.Errorf("IsWebOrigin(%q) = %v, want %v", origin, got, want)
		}
	}
}

package handler_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkSiteverify is one successful /siteverify through the handler: body parsing, MAC
// check, secret lookup and redemption on the in-memory stores, JSON answer. Each iteration
// verifies a token of its own (tokens are single use), issued before the timer starts.
func BenchmarkSiteverify(b *testing.B) {
	f := newFix(b)
	bodies := make([]string, b.N)
	for i := range bodies {
		bodies[i] = url.Values{"secret": {evSecret}, "response": {f.pass(evSitekey)}}.Encode()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r := httptest.NewRequest(http.MethodPost, "/siteverify", strings.NewReader(bodies[i]))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"success":true`) {
			b.Fatalf("answer %d %s", w.Code, w.Body.String())
		}
	}
}

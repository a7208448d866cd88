package handler_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var formTag = regexp.MustCompile(`<form method="([a-z]+)" action="([^"]*)">`)

// The page after "Remove" offers to sign up again: its button must lead to the sign-up
// page, not to a method the route table does not have.
func TestRevokedPageLeadsBackToSignup(t *testing.T) {
	f := newFix(t)
	resp := f.event(t, "revoke.json")
	checkPage(t, resp, 200, "en", "Removed")
	m := formTag.FindStringSubmatch(resp.Body)
	if m == nil {
		t.Fatalf("no form on the revoked page: %s", resp.Body)
	}
	method, action := strings.ToUpper(m[1]), m[2]
	target := action
	if method == http.MethodGet {
		target += "?" + url.Values{"hl": {"en"}}.Encode()
	}
	req := httptest.NewRequest(method, target, strings.NewReader(url.Values{"hl": {"en"}}.Encode()))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `name="email"`) {
		t.Fatalf("%s %s: %d %s, want the sign-up page", method, action, rec.Code, rec.Body.String())
	}
}

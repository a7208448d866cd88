package handler_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/accessibility"
)

// The page language: a supported hl wins; an unsupported one leaves the choice to
// Accept-Language, whose best-weighted supported entry wins (q=0: not acceptable).
func TestPageLanguageFromHLThenWeightedAcceptLanguage(t *testing.T) {
	f := newFix(t)
	for _, c := range []struct{ hl, accept, want string }{
		{"de", "en", "de"},
		{"en", "de", "en"},
		{"fr", "de-DE,de;q=0.9", "de"},
		{"", "en;q=0.2,de;q=0.8", "de"},
		{"", "de;q=0,en;q=0.1", "en"},
		{"fr", "fr", "en"},
	} {
		target := "/accessibility"
		if c.hl != "" {
			target += "?" + url.Values{"hl": {c.hl}}.Encode()
		}
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Accept-Language", c.accept)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		if got := htmlLang.FindStringSubmatch(rec.Body.String()); got == nil || got[1] != c.want {
			t.Errorf("hl=%q, Accept-Language %q: page %v, want lang %s", c.hl, c.accept, got, c.want)
		}
	}
}

// The sign-up page tells a browser it can already pass only when its token works: a
// cookie shaped like a token that is unknown, revoked or expired gets the plain page.
func TestSignupPageSaysSignedUpOnlyForAWorkingToken(t *testing.T) {
	f := newFix(t)
	const unknown = "cga_BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"
	resp := f.event(t, "signup-page.json", withCookie("cg_a11y="+unknown))
	checkPage(t, resp, 200, "de", `name="email"`)
	if strings.Contains(resp.Body, "/accessibility/revoke") || strings.Contains(resp.Body, "bereits") {
		t.Errorf("an unknown token is announced as a pass: %s", resp.Body)
	}
	// The events' token works until it expires.
	if resp := f.event(t, "signup-page.json", withCookie("cg_a11y="+evToken)); !strings.Contains(resp.Body, "/accessibility/revoke") {
		t.Fatalf("a working token is not offered Remove: %s", resp.Body)
	}
	f.clock.Advance(accessibility.TokenTTL + time.Second)
	if resp := f.event(t, "signup-page.json", withCookie("cg_a11y="+evToken)); strings.Contains(resp.Body, "/accessibility/revoke") {
		t.Errorf("an expired token is announced as a pass: %s", resp.Body)
	}
}

var signupLink = regexp.MustCompile(`<a href="(/accessibility(?:\?[^"]*)?)">`)

var htmlLang = regexp.MustCompile(`<html lang="([a-z]+)">`)

// Every error page leads onward, to the sign-up page in the same language, so no one is
// left on a dead end (an expired link, a refused address, a limit, a failure).
func TestErrorPagesLinkToTheSignupPage(t *testing.T) {
	for _, c := range []struct {
		event  string
		status int
		edit   func(*events.APIGatewayV2HTTPRequest)
	}{
		{"confirm-unknown-code.json", 400, nil},
		{"confirm-page-no-code.json", 400, nil},
		{"signup-bad-email.json", 400, nil},
		{"signup-too-large.json", 413, nil},
		{"signup-foreign-origin.json", 403, nil},
		{"confirm-unknown-code.json", 400, func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Body = strings.Replace(ev.Body, "hl=en", "hl=de", 1)
		}},
	} {
		f := newFix(t)
		var edits []func(*events.APIGatewayV2HTTPRequest)
		if c.edit != nil {
			edits = append(edits, c.edit)
		}
		resp := f.event(t, c.event, edits...)
		if resp.StatusCode != c.status {
			t.Fatalf("%s: %d, want %d: %s", c.event, resp.StatusCode, c.status, resp.Body)
		}
		m := signupLink.FindStringSubmatch(resp.Body)
		if m == nil {
			t.Errorf("%s: error page without a link to the sign-up page: %s", c.event, resp.Body)
			continue
		}
		lang := htmlLang.FindStringSubmatch(resp.Body)[1]
		req := httptest.NewRequest(http.MethodGet, m[1], nil)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `name="email"`) || !strings.Contains(rec.Body.String(), `<html lang="`+lang+`">`) {
			t.Errorf("%s: the link %s leads to %d %s, want the sign-up page in %s", c.event, m[1], rec.Code, rec.Body, lang)
		}
	}
}

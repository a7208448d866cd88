package handler_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/accessibility"
)

// A sign-up or Remove form whose body cannot be read is not "a link": the page says the
// form could not be read, in the page's language.
func TestAnUnreadableFormIsNotCalledALink(t *testing.T) {
	for _, c := range []struct{ event, body, contentType, lang, want string }{
		{"signup.json", "email=%zz&hl=en", "application/x-www-form-urlencoded", "en", "form could not be read"},
		{"signup.json", "email=a%40b.example", "multipart/form-data; boundary=x", "en", "form could not be read"},
		{"revoke.json", "hl=de&x=%zz", "application/x-www-form-urlencoded", "de", "Formular konnte nicht gelesen werden"},
	} {
		f := newFix(t)
		resp := f.event(t, c.event, func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Body = c.body
			ev.Headers["content-type"] = c.contentType
			ev.Headers["content-length"] = strconv.Itoa(len(c.body))
		})
		checkPage(t, resp, http.StatusBadRequest, c.lang, c.want)
		if strings.Contains(resp.Body, "link is incomplete") || strings.Contains(resp.Body, "Link ist unvollständig") {
			t.Errorf("%s %q: the form is called a link: %s", c.event, c.body, resp.Body)
		}
	}
}

// The wait on a 429 page is written out in the page's language: a screen reader reads
// "23 Stunden und 50 Minuten", not "23 h 50 min".
func TestTheWaitIsWrittenInThePagesLanguage(t *testing.T) {
	for _, c := range []struct {
		hl      string
		elapsed time.Duration
		want    string
	}{
		{"en", 0, "Try again in 24 hours."},
		{"de", 0, "Versuchen Sie es in 24 Stunden erneut."},
		{"en", 10 * time.Minute, "Try again in 23 hours and 50 minutes."},
		{"de", 10 * time.Minute, "Versuchen Sie es in 23 Stunden und 50 Minuten erneut."},
		{"de", 24*time.Hour - 61*time.Second, "Versuchen Sie es in 2 Minuten erneut."},
		{"en", 24*time.Hour - 30*time.Second, "Try again in 1 minute."},
		{"de", 23 * time.Hour, "Versuchen Sie es in 1 Stunde erneut."},
	} {
		f := newFix(t)
		signup := func() events.APIGatewayV2HTTPResponse {
			return f.event(t, "signup.json", func(ev *events.APIGatewayV2HTTPRequest) {
				ev.Body = strings.Replace(ev.Body, "hl=en", "hl="+c.hl, 1)
			})
		}
		for range accessibility.MailsPerAddress {
			if resp := signup(); resp.StatusCode != 200 {
				t.Fatalf("sign-up %d: %s", resp.StatusCode, resp.Body)
			}
		}
		f.clock.Advance(c.elapsed)
		resp := signup()
		checkPage(t, resp, http.StatusTooManyRequests, c.hl, c.want)
	}
}

// The sign-up page expires a cg_a11y cookie whose token no longer works (revoked, erased,
// expired, or not a token at all), with the attributes it was set with, so the browser
// stops sending a useless identifier. A working token, or a failed check, keeps it.
func TestSignupPageClearsADeadCookie(t *testing.T) {
	const unknown = "cga_BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"
	for _, value := range []string{unknown, "garbage"} {
		f := newFix(t)
		resp := f.event(t, "signup-page.json", withCookie("cg_a11y="+value))
		checkPage(t, resp, 200, "de", `name="email"`)
		c := cookieOf(t, resp)
		if c == nil || c.Value != "" || c.MaxAge >= 0 || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteNoneMode || c.Path != "/" {
			t.Errorf("cookie %q: Set-Cookie %v, want cg_a11y cleared with Max-Age=0 and the attributes it was set with", value, resp.Cookies)
		}
	}
	f := newFix(t)
	if resp := f.event(t, "signup-page.json", withCookie("cg_a11y="+evToken)); len(resp.Cookies) != 0 {
		t.Errorf("a working token's cookie is touched: %v", resp.Cookies)
	}
	f.clock.Advance(accessibility.TokenTTL)
	if resp := f.event(t, "signup-page.json", withCookie("cg_a11y="+evToken)); cookieOf(t, resp) == nil {
		t.Errorf("an expired token's cookie is kept")
	}
	if resp := f.event(t, "signup-page.json"); len(resp.Cookies) != 0 {
		t.Errorf("no cookie sent, yet Set-Cookie %v", resp.Cookies)
	}
	// The store cannot tell: the token may well work, so the cookie stays.
	f = newFix(t)
	f.store.TokenFunc = func(context.Context, string, time.Time) (accessibility.Token, error) {
		return accessibility.Token{}, errors.New("dynamodb: throttled")
	}
	if resp := f.event(t, "signup-page.json", withCookie("cg_a11y="+evToken)); resp.StatusCode != 200 || len(resp.Cookies) != 0 {
		t.Errorf("a failed check: %d, Set-Cookie %v", resp.StatusCode, resp.Cookies)
	}
}

// "*" in Accept-Language stands for every language the other entries do not name
// (RFC 9110 §12.5.4): "de;q=0.5, *" prefers any other language, English included, to German.
func TestPageLanguageWithAWildcard(t *testing.T) {
	f := newFix(t)
	for accept, want := range map[string]string{"de;q=0.5, *": "en", "en;q=0, *": "de", "de, *;q=0.5": "de", "*": "en"} {
		resp := f.event(t, "signup-page.json", func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Headers["accept-language"] = accept
		})
		checkPage(t, resp, 200, want, `name="email"`)
	}
	// An hl of "*" names none of ours: the browser's German stands.
	resp := f.event(t, "signup-page.json", func(ev *events.APIGatewayV2HTTPRequest) { ev.RawQueryString = "hl=*" })
	checkPage(t, resp, 200, "de", `name="email"`)
}

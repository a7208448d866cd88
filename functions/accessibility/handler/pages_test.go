package handler_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
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

// Someone who closed the page after confirming can still end their pass: the sign-up page
// offers Remove whenever the browser holds the cookie, and the button works.
func TestSignupPageOffersRemoveToABrowserWithAPass(t *testing.T) {
	f := newFix(t)
	forms := func(resp string) string {
		var actions []string
		for _, m := range formTag.FindAllStringSubmatch(resp, -1) {
			actions = append(actions, m[1]+" "+m[2])
		}
		return strings.Join(actions, ", ")
	}
	if got := forms(f.event(t, "signup-page.json").Body); got != "post /accessibility/signup" {
		t.Fatalf("without a pass the page has forms %q", got)
	}
	resp := f.event(t, "signup-page.json", withCookie("cg_a11y="+evToken))
	if got := forms(resp.Body); got != "post /accessibility/signup, post /accessibility/revoke" {
		t.Fatalf("with a pass the page has forms %q", got)
	}
	checkPage(t, resp, 200, "de", "Entfernen")
	if resp := f.event(t, "revoke.json"); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if resp := f.event(t, "issue.json"); resp.StatusCode != 401 {
		t.Fatalf("issue after revoke: %d", resp.StatusCode)
	}
}

// The German sign-up page explains a refused address in German, not with the English
// validation reason.
func TestABadAddressIsExplainedInThePagesLanguage(t *testing.T) {
	f := newFix(t)
	resp := f.event(t, "signup-bad-email.json", func(ev *events.APIGatewayV2HTTPRequest) {
		ev.Body = "email=not-an-address&hl=de"
		ev.Headers["content-length"] = strconv.Itoa(len(ev.Body))
	})
	checkPage(t, resp, 400, "de", "name@example.com")
	if strings.Contains(resp.Body, " it ") || strings.Contains(resp.Body, "must be") {
		t.Errorf("English reason on the German page: %s", resp.Body)
	}
}

// countingReader counts the bytes a handler reads from a request body.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// The GET pages take hl from the query only: a body sent with one (form fields in
// multipart, far over the forms' 4 KiB) is neither read nor obeyed.
func TestGetPagesReadNoBody(t *testing.T) {
	f := newFix(t)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("hl", "de")
	_ = mw.WriteField("c", "from-the-body")
	_ = mw.WriteField("pad", strings.Repeat("x", 64<<10))
	_ = mw.Close()
	for _, target := range []string{"/accessibility?hl=en", "/accessibility/confirm?c=abc&hl=en"} {
		in := &countingReader{r: bytes.NewReader(body.Bytes())}
		req := httptest.NewRequest(http.MethodGet, target, in)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `<html lang="en">`) || strings.Contains(rec.Body.String(), "from-the-body") {
			t.Errorf("GET %s with a body: %d %s, want the English page", target, rec.Code, rec.Body.String())
		}
		if in.n != 0 {
			t.Errorf("GET %s read %d bytes of its body", target, in.n)
		}
	}
}

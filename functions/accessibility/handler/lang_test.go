package handler_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The German mail says to press „Bestätigen“: the page its link opens must be German too,
// even when the browser or mail client that opens it asks for English.
func TestConfirmLinkOpensInTheSignupLanguage(t *testing.T) {
	f := newFix(t)
	req := httptest.NewRequest(http.MethodPost, "/accessibility/signup", strings.NewReader(url.Values{"email": {"leser@example.org"}, "hl": {"de"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "de-DE,de;q=0.9")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	mails := f.mailbox.All()
	if rec.Code != http.StatusOK || len(mails) != 1 {
		t.Fatalf("sign-up: %d, %d mails", rec.Code, len(mails))
	}
	_, link, ok := strings.Cut(mails[0].Text, evBase)
	if !ok {
		t.Fatalf("no link in %q", mails[0].Text)
	}
	link, _, _ = strings.Cut(link, "\n")
	req = httptest.NewRequest(http.MethodGet, link, nil)
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	rec = httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if body := rec.Body.String(); rec.Code != http.StatusOK || !strings.Contains(body, `lang="de"`) || !strings.Contains(body, "Bestätigen") {
		t.Fatalf("GET %s: %d %s, want the German confirm page", link, rec.Code, body)
	}
}

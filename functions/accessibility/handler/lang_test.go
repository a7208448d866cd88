package handler_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
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

// The text question follows the same language rule as the pages: a widget set to a
// language we have no questions in ("fr") does not override a browser that asks for one we
// have; a supported hl wins over the browser; with neither, English. The answer names the
// question's language (lang), which the widget marks the question with for screen readers.
func TestTextQuestionLanguage(t *testing.T) {
	german := []string{"Was ist ", "Welches Wort ", "Geben Sie "}
	english := []string{"What is ", "Which word ", "Type the first "}
	for _, tc := range []struct {
		hl, acceptLanguage string
		want               []string
	}{
		{"fr", "fr-FR,fr;q=0.9,de;q=0.8,en;q=0.5", german},
		{"fr", "de-DE", german},
		{"", "de-AT,en;q=0.5", german},
		{"de", "en-US,en;q=0.9", german},
		{"en", "de-DE", english},
		{"fr", "fr-FR,fr;q=0.9", english},
		{"fr", "de;q=0.5, *", english},
	} {
		f := newFix(t)
		body := `{"sitekey": "6f1c7d4e-2a3b-4c5d-8e9f-0a1b2c3d4e5f", "host": "shop.example.com", "hl": "` + tc.hl + `"}`
		resp := f.event(t, "issue.json", func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Body = body
			ev.Headers["content-length"] = strconv.Itoa(len(body))
			ev.Headers["accept-language"] = tc.acceptLanguage
		})
		var is struct {
			Question string `json:"question"`
			Lang     string `json:"lang"`
		}
		if err := json.Unmarshal([]byte(resp.Body), &is); resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("hl %q, Accept-Language %q: %d %s", tc.hl, tc.acceptLanguage, resp.StatusCode, resp.Body)
		}
		if !slices.ContainsFunc(tc.want, func(p string) bool { return strings.HasPrefix(is.Question, p) }) {
			t.Errorf("hl %q, Accept-Language %q: question %q, want one starting with one of %q", tc.hl, tc.acceptLanguage, is.Question, tc.want)
		}
		if wantLang := map[bool]string{true: "de", false: "en"}[tc.want[0] == german[0]]; is.Lang != wantLang {
			t.Errorf("hl %q, Accept-Language %q: lang %q, want %q", tc.hl, tc.acceptLanguage, is.Lang, wantLang)
		}
	}
}

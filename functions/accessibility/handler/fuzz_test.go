package handler_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/web"
	"github.com/crowdgate/crowdgate/shared/web/webtest"
)

// The documented error codes of the JSON routes with their status (docs/API.md).
var (
	textIssueErrors = webtest.Codes{
		"invalid_json": 400, "bad_request": 400, "accessibility_token_required": 401, "hostname_not_allowed": 403,
		"unknown_sitekey": 404, "body_too_large": 413, "try_later": 429,
	}
	textAnswerErrors = webtest.Codes{
		"invalid_json": 400, "invalid_answer": 400, "accessibility_token_required": 401, "sitekey_mismatch": 403,
		"challenge_not_found": 404, "not_found": 404, "challenge_used": 409, "challenge_expired": 410, "body_too_large": 413,
	}
)

const evCookie = accessibility.CookieName + "=" + evToken

// serve sends one request; empty header values are left out.
func (f *fix) serve(method, path, rawQuery, body string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.URL.RawQuery = rawQuery
	for k, v := range header {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// checkJSON is webtest.CheckAnswer with what the widget routes promise besides:
// credentialed CORS for the request's origin, the sign-up page with a 401, and never the
// token in an error. It returns the error code.
func checkJSON(t *testing.T, rec *httptest.ResponseRecorder, origin string, codes webtest.Codes) string {
	t.Helper()
	code := webtest.CheckAnswer(t, rec, codes)
	// The request's Origin, as sent (a browser never sends "*"), when it is a web page's;
	// nothing for "null" or without one. The 404 for a path no route takes (an id of "",
	// "." or "%2F") comes from web.Mount before any route's CORS; the widget never builds
	// such a path.
	want := ""
	if web.IsWebOrigin(origin) {
		want = origin
	}
	if acao := rec.Header().Get("Access-Control-Allow-Origin"); acao != want && code != web.CodeNotFound {
		t.Fatalf("Access-Control-Allow-Origin %q for origin %q", acao, origin)
	}
	if code == "" {
		return ""
	}
	var e errBody
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	if code == "accessibility_token_required" && e.Error.SignupURL != evBase+"/accessibility" {
		t.Fatalf("401 without the sign-up page: %s", rec.Body)
	}
	if strings.Contains(rec.Body.String(), evToken) {
		t.Fatal("the answer echoes the token")
	}
	return code
}

// FuzzTextChallengeIssue drives POST /1/accessibility/challenges with any body, cookie and
// Origin. A refusal stores nothing and does not count against the token's allowance.
func FuzzTextChallengeIssue(f *testing.F) {
	codes := webtest.Documented(f, textIssueErrors)
	site := `"sitekey":"` + challengetest.DemoSitekey + `","host":"` + challengetest.DemoHostname + `"`
	const origin = "https://shop.example.com"
	for _, body := range []string{
		`{` + site + `,"hl":"en"}`, `{` + site + `,"hl":"de-AT"}`, `{` + site + `}`,
		`{"sitekey":"10000000-ffff-ffff-ffff-000000000001","host":"shop.example.com"}`,
		`{"sitekey":"10000000-2222-4333-8444-555555555555","host":"shop.example.com"}`,
		`{"sitekey":"` + challengetest.DemoSitekey + `","host":"evil.example"}`,
		`{"sitekey":"` + challengetest.DemoSitekey + `","host":"SHOP.EXAMPLE.COM."}`,
		`{"sitekey":"` + challengetest.DemoSitekey + `"}`, `{"host":"shop.example.com"}`,
		``, `{}`, `null`, `[]`, `[{}]`, `"s"`, `{`, `{}{}`, `{"sitekey":5,"host":["shop.example.com"]}`,
		`{` + site + `,"sitekey":"x"}`, `{` + site + `,"extra":true}`, `{` + site + `,"hl":null}`,
		`{` + site + `,"hl":"` + strings.Repeat("日本", 600) + `"}`,
		`{` + site + `,"hl":"` + strings.Repeat("x", 5000) + `"}`,
		`{"sitekey":"` + challengetest.DemoSitekey + `","host":"shop.example.com\u0000"}`,
	} {
		f.Add(body, evCookie, origin)
	}
	for _, c := range []struct{ cookie, origin string }{
		{"", origin}, {evCookie, ""}, {"cg_a11y=P1_abc", origin}, {evCookie + "x", origin}, {"cg_a11y=", origin},
		{"other=1; " + evCookie, origin}, {evCookie + "; " + evCookie, origin}, {`cg_a11y="` + evToken + `"`, origin},
		{evCookie, "null"}, {evCookie, "https://evil.example"}, {evCookie, "https://shop.example.com:8443"},
		{evCookie, "shop.example.com"}, {evCookie, "https://[::1"}, {evCookie, "https://SHOP.example.com."},
		{evCookie, "%zz"}, {evCookie, "https://user@shop.example.com"}, {evCookie, "*"},
	} {
		f.Add(`{`+site+`}`, c.cookie, c.origin)
	}
	f.Fuzz(func(t *testing.T, body, cookie, origin string) {
		if !webtest.HeaderSafe(cookie, origin) {
			t.Skip("not a value an HTTP header can carry")
		}
		fx := newFix(t)
		records := fx.mem.Len()
		rec := fx.serve(http.MethodPost, "/1/accessibility/challenges", "", body, map[string]string{
			"Content-Type": "application/json", "Cookie": cookie, "Origin": origin,
		})
		code := checkJSON(t, rec, origin, codes)
		if code != "" && code != "try_later" && (fx.mem.Len() != records || len(fx.chals.All()) != 1) {
			t.Fatalf("refusal (%s) stored a challenge or counted against the token", code)
		}
	})
}

// FuzzTextChallengeAnswer drives POST /1/accessibility/challenges/{id}/answers with any id,
// body and cookie. A refused answer does not use the question up.
func FuzzTextChallengeAnswer(f *testing.F) {
	codes := webtest.Documented(f, textAnswerErrors)
	for _, c := range []struct{ id, body string }{
		{evChal, `{"answer":" Eleven "}`}, {evChal, `{"answer":"11"}`}, {evChal, `{"answer":"12"}`},
		{evChal, `{"answer":"11","sitekey":"` + challengetest.DemoSitekey + `"}`},
		{evChal, `{"answer":"11","sitekey":"10000000-2222-4333-8444-555555555555"}`},
		{evChal, `{"answer":"   "}`}, {evChal, `{"answer":"?!."}`}, {evChal, `{"answer":""}`},
		{evChal, `{"answer":"` + strings.Repeat("1", 101) + `"}`}, {evChal, `{"answer":"` + strings.Repeat("ß", 100) + `"}`},
		{evChal, `{"answer":"` + strings.Repeat("x", 5000) + `"}`},
		{evChal, `{"answer":11}`}, {evChal, `{"answer":null}`}, {evChal, `{"answer":["11"]}`},
		{evChal, `{"answer":"11","answer":"12"}`}, {evChal, `{"answer":"11","extra":1}`}, {evChal, `{"answer":"\u0000\ud800"}`},
		{evChal, ``}, {evChal, `{}`}, {evChal, `null`}, {evChal, `[]`}, {evChal, `{`}, {evChal, `{"answer":"11"} x`},
		{"a_ffffffffffffffffffffffffffffffff", `{"answer":"11"}`}, {"c_0123456789abcdef0123456789abcdef", `{"answer":"11"}`},
		{"A_0123456789ABCDEF0123456789ABCDEF", `{"answer":"11"}`}, {"a_", `{"answer":"11"}`}, {"ä_日本", `{"answer":"11"}`},
		{evChal + "/", `{"answer":"11"}`}, {"/", `{"answer":"11"}`}, {strings.Repeat("a_", 3000), `{"answer":"11"}`},
	} {
		f.Add(c.id, c.body, evCookie)
	}
	f.Add(evChal, `{"answer":"11"}`, "")
	f.Add(evChal, `{"answer":"11"}`, "cg_a11y=cga_ZWZnaGlqa2xtbm9wcXJzdHV2d3h5ent8fX5_gIGCg4Q")
	f.Add(evChal, `{"answer":"11"}`, "cg_a11y=;;;"+evCookie)
	f.Fuzz(func(t *testing.T, id, body, cookie string) {
		if !webtest.HeaderSafe(cookie) {
			t.Skip("not a value an HTTP header can carry")
		}
		fx := newFix(t)
		const origin = "https://shop.example.com"
		rec := fx.serve(http.MethodPost, "/1/accessibility/challenges/"+url.PathEscape(id)+"/answers", "", body, map[string]string{
			"Content-Type": "application/json", "Cookie": cookie, "Origin": origin,
		})
		code := checkJSON(t, rec, origin, codes)
		if ch, _ := fx.chals.Get(evChal); code != "" && ch.Used {
			t.Fatalf("refused answer (%s) used the question up", code)
		}
	})
}

// pages are the first-party HTML routes.
var pages = []struct{ method, path string }{
	{http.MethodGet, "/accessibility"},
	{http.MethodPost, "/accessibility/signup"},
	{http.MethodGet, "/accessibility/confirm"},
	{http.MethodPost, "/accessibility/confirm"},
	{http.MethodPost, "/accessibility/revoke"},
}

// pageStatuses are the documented statuses of the pages; 503 (mail down) cannot happen
// with the in-memory mailer.
var pageStatuses = map[int]bool{200: true, 400: true, 403: true, 413: true, 429: true}

// FuzzPages drives the sign-up pages with any query, form body, content type, Origin and
// cookie, after a sign-up whose confirm code is evCode. Every answer is a page with the
// strict headers; an error page announces itself and changes nothing.
func FuzzPages(f *testing.F) {
	const form, self = "application/x-www-form-urlencoded", "https://api.crowdgate.example"
	for _, c := range []struct {
		route               uint8
		query, body, ct, or string
	}{
		{0, "", "", "", ""}, {0, "hl=de", "", "", ""}, {0, "hl=%zz", "", "", ""}, {0, "hl=de&hl=en", "", "", ""},
		{1, "", "email=Reader%40example.org&hl=en", form, self}, {1, "", "email=reader%40example.org", form, ""},
		{1, "", "email=not-an-address&hl=de", form, self}, {1, "", "email=Reader%40example.org", form, "https://evil.example"},
		{1, "", "email=Reader%40example.org", form, "null"}, {1, "", "email=" + strings.Repeat("a", 5000), form, self},
		{1, "", "email=a%40b.c&email=x", form, self}, {1, "", "email=%zz", form, self}, {1, "", "email=\xff%40example.org", form, self},
		{1, "", `{"email":"a@b.example"}`, "application/json", self}, {1, "", "email=a%40b.example", "multipart/form-data; boundary=x", self},
		{1, "", "--x\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nReader@example.org\r\n--x--\r\n", "multipart/form-data; boundary=x", self},
		{1, "email=a%40b.example", "", form, self},
		{2, "c=" + evCode, "", "", ""}, {2, "", "", "", ""}, {2, "c=" + strings.Repeat("A", 101), "", "", ""}, {2, "c=%22%3E%3Cscript%3E", "", "", ""},
		{3, "", "c=" + evCode + "&hl=en", form, self}, {3, "", "c=" + evCode, form, "https://evil.example"},
		{3, "", "c=CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk", form, self}, {3, "", "c=", form, self},
		{3, "", "c=" + evCode + "&c=x", form, self}, {3, "c=" + evCode, "", form, self},
		{4, "", "hl=en", form, self}, {4, "", "hl=en", form, "https://evil.example"}, {4, "", "", "", ""},
	} {
		f.Add(c.route, c.query, c.body, c.ct, c.or, "")
	}
	f.Add(uint8(4), "", "hl=en", form, self, evCookie)
	f.Add(uint8(4), "", "hl=en", form, self, "cg_a11y=garbage")
	f.Add(uint8(0), "", "", "", "", "cg_a11y=garbage")
	f.Add(uint8(0), "", "", "", "", evCookie)
	f.Add(uint8(3), "", "c="+evCode, form, "http://example.com", "")
	f.Fuzz(func(t *testing.T, route uint8, rawQuery, body, contentType, origin, cookie string) {
		if !webtest.HeaderSafe(contentType, origin, cookie) {
			t.Skip("not a value an HTTP header can carry")
		}
		fx := newFix(t)
		if rec := fx.serve(http.MethodPost, "/accessibility/signup", "", "email=Reader%40example.org", map[string]string{"Content-Type": form}); rec.Code != 200 {
			t.Fatalf("sign-up before the fuzzed request: %d", rec.Code)
		}
		records, mails := fx.mem.Len(), len(fx.mailbox.All())
		p := pages[int(route)%len(pages)]
		rec := fx.serve(p.method, p.path, rawQuery, body, map[string]string{"Content-Type": contentType, "Origin": origin, "Cookie": cookie})
		if !pageStatuses[rec.Code] {
			t.Fatalf("%s %s: status %d: %s", p.method, p.path, rec.Code, rec.Body)
		}
		h := rec.Header()
		if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'none'") || h.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s %s: page headers %v", p.method, p.path, h)
		}
		if strings.Contains(strings.ToLower(rec.Body.String()), "<script") {
			t.Fatalf("%s %s: page with a script: %s", p.method, p.path, rec.Body)
		}
		setsCookie := h.Get("Set-Cookie") != ""
		if rec.Code == 200 {
			if p.path == "/accessibility" {
				// The sign-up page may only expire a cookie whose token does not work.
				for _, c := range rec.Result().Cookies() {
					if c.MaxAge >= 0 || c.Value != "" {
						t.Fatalf("GET /accessibility sets %v", c)
					}
				}
				return
			}
			if setsCookie != (p.method == http.MethodPost && p.path != "/accessibility/signup") {
				t.Fatalf("%s %s: Set-Cookie %q", p.method, p.path, h.Get("Set-Cookie"))
			}
			return
		}
		if !strings.Contains(rec.Body.String(), `role="alert"`) {
			t.Fatalf("%s %s: error page %d not announced: %s", p.method, p.path, rec.Code, rec.Body)
		}
		if setsCookie || fx.mem.Len() != records || len(fx.mailbox.All()) != mails {
			t.Fatalf("%s %s: error page %d changed something (cookie %q)", p.method, p.path, rec.Code, h.Get("Set-Cookie"))
		}
	})
}

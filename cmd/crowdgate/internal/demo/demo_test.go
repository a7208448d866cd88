package demo

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/token"
)

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

func TestPageCarriesTheWidgetAndNoInlineScript(t *testing.T) {
	h := New(Config{Sitekey: "sk-demo", Secret: "s", VerifyURL: "http://127.0.0.1:1/siteverify"})
	rec := get(t, h, "/demo")
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`<script src="/1/api.js" async defer></script>`,
		`<div class="h-captcha" data-sitekey="sk-demo"`,
		`<form id="demo-form" method="post" action="/demo/submit">`,
		`name="name"`,
		`type="submit"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// The widget container sits inside the form, so its hidden field is submitted.
	form := body[strings.Index(body, "<form"):strings.Index(body, "</form>")]
	if !strings.Contains(form, `class="h-captcha"`) {
		t.Error("widget container is outside the form")
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
		if !strings.Contains(tag, `src="/`) {
			t.Errorf("inline or foreign script %s breaks script-src 'self'", tag)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	js := get(t, h, "/demo/demo.js")
	if js.Code != 200 || !strings.Contains(js.Header().Get("Content-Type"), "javascript") || !strings.Contains(js.Body.String(), "crowdgateDemoSolved") {
		t.Errorf("demo.js: %d %q", js.Code, js.Header().Get("Content-Type"))
	}
}

func TestTestKeysMode(t *testing.T) {
	h := New(Config{Sitekey: "sk-demo", Secret: "s"})
	body := get(t, h, "/demo?keys=test").Body.String()
	if !strings.Contains(body, `data-sitekey="`+token.TestSitekey+`"`) || !strings.Contains(body, `name="keys" value="test"`) {
		t.Error("test-keys page does not use the test sitekey")
	}
}

func TestRootRedirectsToDemo(t *testing.T) {
	rec := get(t, New(Config{}), "/")
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/demo" {
		t.Fatalf("GET / = %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

// fakeVerify records what the demo backend sends and answers with answer.
func fakeVerify(t *testing.T, answer string) (*httptest.Server, *url.Values) {
	t.Helper()
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("siteverify content type %q", r.Header.Get("Content-Type"))
		}
		_ = r.ParseForm()
		got = r.PostForm
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func submit(t *testing.T, h http.Handler, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/demo/submit", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "127.0.0.1:50000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestSubmitVerifiesTheTokenWithSiteverify(t *testing.T) {
	srv, got := fakeVerify(t, `{"success":true,"challenge_ts":"2026-11-30T19:30:00Z","hostname":"localhost"}`)
	h := New(Config{Sitekey: "sk-demo", Secret: "0xsecret", VerifyURL: srv.URL + "/siteverify"})
	rec := submit(t, h, url.Values{"name": {"<b>Ada</b>"}, "h-captcha-response": {"P1_tok"}})
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `<h1 id="verify-heading" class="ok">Verified</h1>`) {
		t.Fatalf("status %d, body:\n%s", rec.Code, body)
	}
	if !regexp.MustCompile(`(?s)<pre id="verify-result">\{.*&#34;success&#34;: true.*\}</pre>`).MatchString(body) {
		t.Errorf("verify-result does not hold the siteverify JSON:\n%s", body)
	}
	if strings.Contains(body, "<b>Ada</b>") {
		t.Error("name echoed without escaping")
	}
	if got.Get("secret") != "0xsecret" || got.Get("response") != "P1_tok" || got.Get("sitekey") != "sk-demo" || got.Get("remoteip") != "127.0.0.1" {
		t.Errorf("siteverify got %v", *got)
	}
}

func TestSubmitShowsFailure(t *testing.T) {
	srv, got := fakeVerify(t, `{"success":false,"error-codes":["missing-input-response"]}`)
	h := New(Config{Sitekey: "sk-demo", Secret: "0xsecret", VerifyURL: srv.URL})
	rec := submit(t, h, url.Values{"name": {"x"}})
	body := rec.Body.String()
	if !strings.Contains(body, `class="fail">Failed</h1>`) || !strings.Contains(body, "missing-input-response") {
		t.Fatalf("body:\n%s", body)
	}
	if got.Get("response") != "" {
		t.Errorf("sent response %q for an empty form", got.Get("response"))
	}
}

func TestSubmitWithTestKeysUsesTheTestSecretAndRecaptchaField(t *testing.T) {
	srv, got := fakeVerify(t, `{"success":true}`)
	h := New(Config{Sitekey: "sk-demo", Secret: "0xsecret", VerifyURL: srv.URL})
	rec := submit(t, h, url.Values{"keys": {"test"}, "g-recaptcha-response": {token.TestResponse}})
	if !strings.Contains(rec.Body.String(), "Verified") {
		t.Fatalf("body:\n%s", rec.Body.String())
	}
	if got.Get("secret") != token.TestSecret || got.Get("response") != token.TestResponse || got.Get("sitekey") != token.TestSitekey {
		t.Errorf("siteverify got %v", *got)
	}
}

// The demo backend is a model integrator: when it loses siteverify's answer (the connection
// drops after the call was made), it retries once with the same idempotency key, and the
// visitor who passed is not turned away.
func TestSubmitRetriesALostAnswerWithTheSameIdempotencyKey(t *testing.T) {
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		keys = append(keys, r.PostForm.Get("idempotency_key"))
		if len(keys) == 1 {
			// The call arrived and was acted on; its answer is lost on the way back.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"success":true,"hostname":"localhost"}`)
	}))
	t.Cleanup(srv.Close)
	rec := submit(t, New(Config{Sitekey: "sk", Secret: "0xsecret", VerifyURL: srv.URL}), url.Values{"h-captcha-response": {"P1_tok"}})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Verified") {
		t.Fatalf("status %d body:\n%s", rec.Code, rec.Body.String())
	}
	if len(keys) != 2 || !account.IsUUID(keys[0]) || keys[1] != keys[0] {
		t.Fatalf("idempotency keys sent %q: want one UUID, sent twice", keys)
	}
	// Every submission has a key of its own.
	_ = submit(t, New(Config{Sitekey: "sk", Secret: "0xsecret", VerifyURL: srv.URL}), url.Values{"h-captcha-response": {"P1_tok"}})
	if len(keys) != 3 || keys[2] == keys[0] {
		t.Fatalf("idempotency keys %q: want a new one for a new submission", keys)
	}
}

func TestSubmitWhenSiteverifyIsDown(t *testing.T) {
	srv, _ := fakeVerify(t, `{}`)
	srv.Close()
	rec := submit(t, New(Config{Sitekey: "sk", Secret: "s", VerifyURL: srv.URL}), url.Values{"h-captcha-response": {"t"}})
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "Failed") {
		t.Fatalf("status %d body:\n%s", rec.Code, rec.Body.String())
	}
}

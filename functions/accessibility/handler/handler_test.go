package handler_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/functions/accessibility/handler"
	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/accessibility/accessibilitytest"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
	"github.com/crowdgate/crowdgate/shared/verify/verifytest"
)

// The events/ files use these fixed values.
const (
	evToken = "cga_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"
	evCode  = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"
	evChal  = "a_0123456789abcdef0123456789abcdef"
	evBase  = "https://api.crowdgate.example"
)

var key = []byte("crowdgate-test-privacy-key-32-bytes!")

// sevens yields 32 bytes of 7 (the events' confirm code), then real randomness.
type sevens struct {
	mu   sync.Mutex
	left int
}

func (s *sevens) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(p) && s.left > 0 {
		p[n] = 7
		n++
		s.left--
	}
	if n < len(p) {
		m, err := rand.Read(p[n:])
		return n + m, err
	}
	return n, nil
}

type fix struct {
	h       http.Handler
	store   *accessibilitytest.Store
	mem     *accessibilitytest.Memory
	chals   *accessibilitytest.ChallengeMemory
	mailbox *accessibilitytest.Mailbox
	tokens  *verifytest.Tokens
	clock   *challengetest.Clock
	visual  *challengetest.Store
	risk    *challengetest.Risk
	// recorded is what the risk hook was given.
	recorded []challenge.RiskRecord
}

func newFix(t testing.TB) *fix {
	t.Helper()
	f := &fix{mailbox: &accessibilitytest.Mailbox{}, tokens: &verifytest.Tokens{}, clock: challengetest.NewClock(time.Now().UTC().Truncate(time.Hour))}
	f.store, f.mem = accessibilitytest.NewStore()
	f.visual = challengetest.NewStore()
	f.risk = &challengetest.Risk{RecordFunc: func(_ context.Context, r challenge.RiskRecord) error {
		f.recorded = append(f.recorded, r)
		return nil
	}}
	chals, mem := accessibilitytest.NewChallenges()
	f.chals = mem
	ctx := context.Background()
	now := f.clock.Now()
	if err := f.store.PutToken(ctx, accessibility.Token{Hash: accessibility.TokenHash(evToken), Subject: "subject-of-the-events", CreatedAt: now, ExpiresAt: now.Add(accessibility.TokenTTL)}); err != nil {
		t.Fatal(err)
	}
	if err := chals.Put(ctx, accessibility.TextChallenge{ID: evChal, Sitekey: challengetest.DemoSitekey, Host: challengetest.DemoHostname,
		Answers: []string{"11", "eleven"}, IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	f.h = handler.New(handler.Deps{Deps: accessibility.Deps{
		Store: f.store, Challenges: chals, Mailer: accessibilitytest.NewMailer(f.mailbox),
		Sites:  challengetest.NewSites(challenge.SiteInfo{Sitekey: challengetest.DemoSitekey, Hostnames: []string{challengetest.DemoHostname}}),
		Signer: challengetest.Signer(), Tokens: f.tokens, Visual: f.visual, Risk: f.risk, Key: key, BaseURL: evBase, Now: f.clock.Now, Rand: &sevens{left: 32},
	}})
	return f
}

func (f *fix) event(t *testing.T, name string, edit ...func(*events.APIGatewayV2HTTPRequest)) events.APIGatewayV2HTTPResponse {
	t.Helper()
	return platformtest.ReplayHTTP(t, f.h, filepath.Join("..", "..", "..", "events", "accessibility", name), edit...)
}

func withCookie(c string) func(*events.APIGatewayV2HTTPRequest) {
	return func(ev *events.APIGatewayV2HTTPRequest) { ev.Cookies = []string{c} }
}

type errBody struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		SignupURL  string `json:"signup_url"`
		RetryAfter int    `json:"retry_after"`
	} `json:"error"`
}

func code(t *testing.T, resp events.APIGatewayV2HTTPResponse) string {
	t.Helper()
	var b errBody
	if err := json.Unmarshal([]byte(resp.Body), &b); err != nil {
		t.Fatalf("not a JSON error envelope: %q", resp.Body)
	}
	return b.Error.Code
}

// Every documented error of the JSON routes, and hostile input, from the events/ files.
func TestJSONRouteErrors(t *testing.T) {
	for _, c := range []struct {
		event  string
		status int
		code   string
	}{
		{"issue-no-cookie.json", 401, "accessibility_token_required"},
		{"issue-unknown-token.json", 401, "accessibility_token_required"},
		{"issue-unknown-sitekey.json", 404, "unknown_sitekey"},
		{"issue-hostname-not-allowed.json", 403, "hostname_not_allowed"},
		{"issue-origin-mismatch.json", 403, "hostname_not_allowed"},
		{"issue-wrong-types.json", 400, "invalid_json"},
		{"issue-too-large.json", 413, "body_too_large"},
		{"issue-missing-host.json", 400, "bad_request"},
		{"answer-unknown-challenge.json", 404, "challenge_not_found"},
		{"answer-visual-challenge.json", 404, "challenge_not_found"},
		{"answer-no-cookie.json", 401, "accessibility_token_required"},
		{"answer-wrong-types.json", 400, "invalid_json"},
		{"answer-empty.json", 400, "invalid_answer"},
		{"answer-foreign-site.json", 403, "sitekey_mismatch"},
		{"answer-bad-set-aside.json", 400, "bad_request"},
	} {
		t.Run(c.event, func(t *testing.T) {
			f := newFix(t)
			resp := f.event(t, c.event)
			if resp.StatusCode != c.status || code(t, resp) != c.code {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, resp.Body, c.status, c.code)
			}
			if c.status == 401 {
				var b errBody
				_ = json.Unmarshal([]byte(resp.Body), &b)
				if b.Error.SignupURL != evBase+"/accessibility" {
					t.Errorf("signup_url %q", b.Error.SignupURL)
				}
			}
			if strings.Contains(resp.Body, evToken) {
				t.Errorf("the answer echoes the token")
			}
			// A refused answer does not use the challenge up.
			if strings.HasPrefix(c.event, "answer-") {
				if ch, _ := f.chals.Get(evChal); ch.Used {
					t.Errorf("%s used the challenge up", c.event)
				}
			}
		})
	}
	// A token in a malformed cookie value (wrong prefix, too long) is no token.
	for _, bad := range []string{"cg_a11y=P1_abc", "cg_a11y=" + evToken + "x", "cg_a11y=", "other=" + evToken} {
		f := newFix(t)
		if resp := f.event(t, "issue.json", withCookie(bad)); resp.StatusCode != 401 || code(t, resp) != "accessibility_token_required" {
			t.Errorf("cookie %q: %d %s", bad, resp.StatusCode, resp.Body)
		}
	}
}

func TestIssueAndAnswerWithCredentialedCORS(t *testing.T) {
	f := newFix(t)
	pre := f.event(t, "preflight.json")
	if pre.StatusCode != 204 || pre.Headers["Access-Control-Allow-Origin"] != "https://shop.example.com" ||
		pre.Headers["Access-Control-Allow-Credentials"] != "true" || !strings.Contains(pre.Headers["Access-Control-Allow-Headers"], "Content-Type") {
		t.Fatalf("preflight %d %v", pre.StatusCode, pre.Headers)
	}
	resp := f.event(t, "issue.json")
	if resp.StatusCode != 200 {
		t.Fatalf("issue %d %s", resp.StatusCode, resp.Body)
	}
	h := resp.Headers
	if h["Access-Control-Allow-Origin"] != "https://shop.example.com" || h["Access-Control-Allow-Credentials"] != "true" || !strings.Contains(h["Vary"], "Origin") {
		t.Fatalf("CORS headers %v", h)
	}
	var is struct {
		ID        string `json:"id"`
		Question  string `json:"question"`
		ExpiresIn int    `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &is); err != nil || !accessibility.ValidChallengeID(is.ID) || is.Question == "" || is.ExpiresIn != 300 {
		t.Fatalf("issue body %s", resp.Body)
	}

	pass := f.event(t, "answer.json")
	var res struct {
		Pass      bool   `json:"pass"`
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(pass.Body), &res); err != nil || pass.StatusCode != 200 || !res.Pass || !strings.HasPrefix(res.Token, "P1_") || res.ExpiresIn != 120 {
		t.Fatalf("answer %d %s", pass.StatusCode, pass.Body)
	}
	if pass.Headers["Access-Control-Allow-Origin"] == "*" {
		t.Fatal("credentialed route answered with a wildcard origin")
	}
	if f.tokens.Len() != 1 {
		t.Fatalf("%d pass tokens stored", f.tokens.Len())
	}
	if again := f.event(t, "answer.json"); again.StatusCode != 409 || code(t, again) != "challenge_used" {
		t.Fatalf("second answer %d %s", again.StatusCode, again.Body)
	}
}

// The widget names the visual challenge it set aside (set_aside): a pass uses it up and
// records its pass with the visitor's address, as a visual pass would be recorded, so a
// risk lookup of the response key does not find it issued and never answered.
func TestTextPassEndsTheSetAsideVisualChallenge(t *testing.T) {
	f := newFix(t)
	const setAside = "c_0123456789abcdef0123456789abcdef" // events/accessibility/answer.json
	now := f.clock.Now()
	if err := f.visual.Put(context.Background(), challenge.Record{ID: setAside, Sitekey: challengetest.DemoSitekey,
		Host: challengetest.DemoHostname, IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute), Tasks: []challenge.TaskRecord{{ID: "t0"}}}); err != nil {
		t.Fatal(err)
	}
	if resp := f.event(t, "answer.json"); resp.StatusCode != 200 || !strings.Contains(resp.Body, `"pass":true`) {
		t.Fatalf("answer %d %s", resp.StatusCode, resp.Body)
	}
	if r, _ := f.visual.Record(setAside); !r.Used {
		t.Error("the set-aside challenge is still open")
	}
	if len(f.recorded) != 1 || f.recorded[0].ChallengeID != setAside || f.recorded[0].Outcome != challenge.OutcomePassed ||
		!f.recorded[0].IP.Equal(net.ParseIP("203.0.113.77")) {
		t.Fatalf("recorded %+v, want the set-aside challenge's pass from 203.0.113.77", f.recorded)
	}
}

func TestWrongAnswerExpiryAndRateLimit(t *testing.T) {
	f := newFix(t)
	resp := f.event(t, "answer-wrong.json")
	if resp.StatusCode != 200 || strings.TrimSpace(resp.Body) != `{"pass":false}` {
		t.Fatalf("wrong answer %d %s", resp.StatusCode, resp.Body)
	}
	if again := f.event(t, "answer.json"); again.StatusCode != 409 {
		t.Fatalf("right answer after a wrong one: %d %s", again.StatusCode, again.Body)
	}

	f = newFix(t)
	f.clock.Advance(5 * time.Minute)
	if resp := f.event(t, "answer.json"); resp.StatusCode != 410 || code(t, resp) != "challenge_expired" {
		t.Fatalf("expired %d %s", resp.StatusCode, resp.Body)
	}

	f = newFix(t)
	for i := range accessibility.ChallengesPerToken {
		if resp := f.event(t, "issue.json"); resp.StatusCode != 200 {
			t.Fatalf("issue %d: %d %s", i+1, resp.StatusCode, resp.Body)
		}
	}
	resp = f.event(t, "issue.json")
	var b errBody
	_ = json.Unmarshal([]byte(resp.Body), &b)
	if resp.StatusCode != 429 || b.Error.Code != "try_later" || b.Error.RetryAfter != 3600 || resp.Headers["Retry-After"] != "3600" {
		t.Fatalf("over the limit: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
}

func cookieOf(t *testing.T, resp events.APIGatewayV2HTTPResponse) *http.Cookie {
	t.Helper()
	h := http.Header{}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == accessibility.CookieName {
			return c
		}
	}
	return nil
}

func checkPage(t *testing.T, resp events.APIGatewayV2HTTPResponse, status int, lang, contains string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("page %d, want %d: %s", resp.StatusCode, status, resp.Body)
	}
	if !strings.HasPrefix(resp.Headers["Content-Type"], "text/html") || !strings.Contains(resp.Headers["Content-Security-Policy"], "default-src 'none'") ||
		resp.Headers["Cache-Control"] != "no-store" {
		t.Errorf("page headers %v", resp.Headers)
	}
	body := strings.ToLower(resp.Body)
	if strings.Contains(body, "<script") || strings.Contains(body, "<style") || strings.Contains(body, "style=") || strings.Contains(body, " on") && strings.Contains(body, "onclick") {
		t.Errorf("page has inline script or style: %s", resp.Body)
	}
	if !strings.Contains(resp.Body, `<html lang="`+lang+`">`) || !strings.Contains(resp.Body, contains) {
		t.Errorf("page lang %s with %q: %s", lang, contains, resp.Body)
	}
}

// Sign up, open the mailed link (GET: nothing consumed), confirm (POST: the cookie), use
// the new token, revoke it.
func TestSignupConfirmRevokePages(t *testing.T) {
	f := newFix(t)
	checkPage(t, f.event(t, "signup-page.json"), 200, "de", `name="email"`)
	checkPage(t, f.event(t, "signup.json"), 200, "en", "Check your inbox")
	mails := f.mailbox.All()
	if len(mails) != 1 || mails[0].To != "Reader@example.org" || !strings.Contains(mails[0].Text, evBase+"/accessibility/confirm?c="+evCode) {
		t.Fatalf("mails %+v", mails)
	}
	for range 2 { // a mail scanner and the person: both only see the button
		resp := f.event(t, "confirm-page.json")
		checkPage(t, resp, 200, "en", `value="`+evCode+`"`)
		if c := cookieOf(t, resp); c != nil {
			t.Fatal("GET set the cookie")
		}
	}
	resp := f.event(t, "confirm.json")
	checkPage(t, resp, 200, "en", "for 24 hours")
	c := cookieOf(t, resp)
	if c == nil || !accessibility.ValidToken(c.Value) || c.MaxAge != 86400 || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteNoneMode || c.Path != "/" {
		t.Fatalf("cookie %+v (raw %v)", c, resp.Cookies)
	}
	if !strings.Contains(resp.Body, `action="/accessibility/revoke"`) {
		t.Errorf("no Remove button: %s", resp.Body)
	}
	tok := c.Value
	if again := f.event(t, "confirm.json"); again.StatusCode != 400 || cookieOf(t, again) != nil {
		t.Fatalf("second confirm %d cookie %v", again.StatusCode, again.Cookies)
	}
	if resp := f.event(t, "issue.json", withCookie("cg_a11y="+tok)); resp.StatusCode != 200 {
		t.Fatalf("issue with the new token: %d %s", resp.StatusCode, resp.Body)
	}
	resp = f.event(t, "revoke.json", withCookie("cg_a11y="+tok))
	checkPage(t, resp, 200, "en", "Removed")
	if cl := cookieOf(t, resp); cl == nil || cl.MaxAge >= 0 || cl.Value != "" {
		t.Fatalf("revoke did not clear the cookie: %v", resp.Cookies)
	}
	if resp := f.event(t, "issue.json", withCookie("cg_a11y="+tok)); resp.StatusCode != 401 {
		t.Fatalf("issue after revoke: %d %s", resp.StatusCode, resp.Body)
	}
	// The events' own token is untouched by someone else's revoke.
	if resp := f.event(t, "issue.json"); resp.StatusCode != 200 {
		t.Fatalf("another token after revoke: %d", resp.StatusCode)
	}
}

func TestPageErrors(t *testing.T) {
	for _, c := range []struct {
		event    string
		status   int
		contains string
	}{
		{"signup-bad-email.json", 400, "must be a plain address"},
		{"signup-too-large.json", 413, "too large"},
		{"signup-foreign-origin.json", 403, "crowdgate"},
		{"confirm-page-no-code.json", 400, "incomplete"},
		{"confirm-unknown-code.json", 400, "expired or was already used"},
	} {
		t.Run(c.event, func(t *testing.T) {
			f := newFix(t)
			resp := f.event(t, c.event)
			checkPage(t, resp, c.status, "en", c.contains)
			if !strings.Contains(resp.Body, `role="alert"`) {
				t.Errorf("error not announced: %s", resp.Body)
			}
			if n := len(f.mailbox.All()); n != 0 {
				t.Errorf("%d mails sent", n)
			}
		})
	}
	// Another site's form (or an opaque "null" origin) may not revoke or confirm; the
	// service's own host may, under any name it is reached by.
	for origin, want := range map[string]int{"null": 403, "https://evil.example": 403, "http://127.0.0.1:8080": 200} {
		f := newFix(t)
		resp := f.event(t, "revoke.json", func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Headers["origin"] = origin
			ev.Headers["host"] = "127.0.0.1:8080"
			ev.RequestContext.DomainName = "127.0.0.1:8080"
		})
		if resp.StatusCode != want {
			t.Errorf("revoke from %s: %d, want %d", origin, resp.StatusCode, want)
		}
		_, err := f.store.Token(context.Background(), accessibility.TokenHash(evToken), f.clock.Now())
		if revoked := err != nil; revoked != (want == 200) {
			t.Errorf("revoke from %s: token revoked %v", origin, revoked)
		}
	}
	// Over the per-address limit: a 429 page with Retry-After, no fourth mail.
	f := newFix(t)
	for range accessibility.MailsPerAddress {
		if resp := f.event(t, "signup.json"); resp.StatusCode != 200 {
			t.Fatalf("sign-up %d", resp.StatusCode)
		}
	}
	resp := f.event(t, "signup.json")
	checkPage(t, resp, 429, "en", "Too many links")
	if resp.Headers["Retry-After"] != "86400" || len(f.mailbox.All()) != accessibility.MailsPerAddress {
		t.Fatalf("429 headers %v, %d mails", resp.Headers, len(f.mailbox.All()))
	}
}

// Answers never reach a queue: the handler has no publisher, and Wire asks for no queue
// (TestWiredFunction*); here a pass leaves every fake store but the token store as it was.
func TestPassTouchesOnlyTheTokenStore(t *testing.T) {
	f := newFix(t)
	before := f.mem.Len()
	if resp := f.event(t, "answer.json"); resp.StatusCode != 200 {
		t.Fatal(resp.Body)
	}
	if f.mem.Len() != before || f.tokens.Len() != 1 {
		t.Fatalf("records %d → %d, tokens %d", before, f.mem.Len(), f.tokens.Len())
	}
}

func TestRoutesOutsideTheTableAre404(t *testing.T) {
	f := newFix(t)
	for _, path := range []string{"/1/challenges", "/accessibility/other", "/1/accessibility/challenges/x/y"} {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader("{}"))
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		if rec.Code != 404 && rec.Code != 405 {
			t.Errorf("%s: %d", path, rec.Code)
		}
		_, _ = io.Copy(io.Discard, rec.Body)
	}
}

// A sign-up posted as multipart (a form with enctype="multipart/form-data", or a script's
// FormData) is read like the form-encoded one the page sends, not taken for an empty address.
func TestSignupSentAsMultipart(t *testing.T) {
	f := newFix(t)
	body := "--b0undary\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nReader@example.org\r\n" +
		"--b0undary\r\nContent-Disposition: form-data; name=\"hl\"\r\n\r\nde\r\n--b0undary--\r\n"
	resp := f.event(t, "signup.json", func(ev *events.APIGatewayV2HTTPRequest) {
		ev.Headers["content-type"] = "multipart/form-data; boundary=b0undary"
		ev.Headers["content-length"] = strconv.Itoa(len(body))
		ev.Body = body
	})
	checkPage(t, resp, 200, "de", "")
	if mails := f.mailbox.All(); len(mails) != 1 || mails[0].To != "Reader@example.org" {
		t.Fatalf("mails %+v", mails)
	}
	// Over the limit or cut short, multipart gets the same pages as a form-encoded body.
	big := strings.Replace(body, "Reader@", strings.Repeat("x", handler.MaxFormBody)+"@", 1)
	for want, b := range map[int]string{413: big, 400: body[:60]} {
		resp := f.event(t, "signup.json", func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Headers["content-type"] = "multipart/form-data; boundary=b0undary"
			ev.Headers["content-length"] = strconv.Itoa(len(b))
			ev.Body = b
		})
		checkPage(t, resp, want, "en", "")
	}
	if n := len(f.mailbox.All()); n != 1 {
		t.Errorf("%d mails after the refused bodies", n)
	}
}

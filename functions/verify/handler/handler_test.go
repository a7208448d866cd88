package handler_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
	"github.com/crowdgate/crowdgate/shared/token"
)

// TestSiteverifyContract is hCaptcha's siteverify contract, one case per behaviour an
// integrator relies on.
func TestSiteverifyContract(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	type want struct {
		status   int
		success  bool
		codes    string
		hostname string
	}
	ok := want{status: 200, success: true, hostname: "shop.example"}
	fail := func(codes string) want { return want{status: 200, codes: codes} }
	cases := []struct {
		name string
		run  func(f *fix) answer
		want want
	}{
		{"pass", func(f *fix) answer {
			return f.form(url.Values{"secret": {evSecret}, "response": {f.pass(evSitekey)}})
		}, ok},
		{"pass as JSON with sitekey and remoteip", func(f *fix) answer {
			b, _ := json.Marshal(map[string]string{"secret": evSecret, "response": f.pass(evSitekey), "sitekey": evSitekey, "remoteip": "2001:db8::1"})
			return f.do(http.MethodPost, "application/json", string(b))
		}, ok},
		{"missing-input-secret", func(f *fix) answer {
			return f.form(url.Values{"response": {f.pass(evSitekey)}})
		}, fail("missing-input-secret")},
		{"missing-input-response", func(f *fix) answer {
			return f.form(url.Values{"secret": {evSecret}})
		}, fail("missing-input-response")},
		{"both missing", func(f *fix) answer { return f.do(http.MethodPost, form, "") },
			fail("missing-input-secret,missing-input-response")},
		{"invalid-input-secret: malformed", func(f *fix) answer {
			return f.form(url.Values{"secret": {"my-secret"}, "response": {f.pass(evSitekey)}})
		}, fail("invalid-input-secret")},
		{"invalid-input-secret: unknown", func(f *fix) answer {
			return f.form(url.Values{"secret": {"0x" + strings.Repeat("9", 40)}, "response": {f.pass(evSitekey)}})
		}, fail("invalid-input-secret")},
		{"invalid-input-secret: rotated away", func(f *fix) answer {
			tok := f.pass(evSitekey)
			if _, _, err := f.sites.RotateSecret(context.Background(), evSitekey); err != nil {
				f.t.Fatal(err)
			}
			return f.form(url.Values{"secret": {evSecret}, "response": {tok}})
		}, fail("invalid-input-secret")},
		{"invalid-input-response: malformed", func(f *fix) answer {
			return f.form(url.Values{"secret": {evSecret}, "response": {"P1_not-a-token"}})
		}, fail("invalid-input-response")},
		{"invalid-input-response: forged", func(f *fix) answer {
			forger, _ := token.NewSigner("ev1:" + strings.Repeat("A", 43) + "=")
			tok, _, _ := forger.Issue(evSitekey, f.now())
			return f.form(url.Values{"secret": {evSecret}, "response": {tok}})
		}, fail("invalid-input-response")},
		{"invalid-input-response: token of another site", func(f *fix) answer {
			other, _ := f.site(false)
			return f.form(url.Values{"secret": {evSecret}, "response": {f.pass(other.Sitekey)}})
		}, fail("invalid-input-response")},
		{"invalid-input-response: genuine token never stored", func(f *fix) answer {
			tok, _, _ := f.signer.Issue(evSitekey, f.now())
			return f.form(url.Values{"secret": {evSecret}, "response": {tok}})
		}, fail("invalid-input-response")},
		{"still valid at 119 s", func(f *fix) answer {
			tok := f.pass(evSitekey)
			f.advance(119 * time.Second)
			return f.form(url.Values{"secret": {evSecret}, "response": {tok}})
		}, ok},
		{"expired-input-response at 120 s", func(f *fix) answer {
			tok := f.pass(evSitekey)
			f.advance(token.TTL)
			return f.form(url.Values{"secret": {evSecret}, "response": {tok}})
		}, fail("expired-input-response")},
		{"already-seen-response on reuse", func(f *fix) answer {
			tok := f.pass(evSitekey)
			if a := f.form(url.Values{"secret": {evSecret}, "response": {tok}}); a.body["success"] != true {
				f.t.Fatalf("first use failed: %s", a.raw)
			}
			return f.form(url.Values{"secret": {evSecret}, "response": {tok}})
		}, fail("already-seen-response")},
		{"bad-request: malformed JSON", func(f *fix) answer {
			return f.do(http.MethodPost, "application/json", `{"secret":`)
		}, fail("bad-request")},
		{"bad-request: body over 16 KiB", func(f *fix) answer {
			return f.do(http.MethodPost, form, "secret="+evSecret+"&response="+strings.Repeat("a", 16<<10))
		}, fail("bad-request")},
		{"missing-remoteip", func(f *fix) answer {
			s, secret := f.site(true)
			return f.form(url.Values{"secret": {secret}, "response": {f.pass(s.Sitekey)}})
		}, fail("missing-remoteip")},
		{"remoteip given where required", func(f *fix) answer {
			s, secret := f.site(true)
			return f.form(url.Values{"secret": {secret}, "response": {f.pass(s.Sitekey)}, "remoteip": {"203.0.113.9"}})
		}, ok},
		{"invalid-remoteip", func(f *fix) answer {
			return f.form(url.Values{"secret": {evSecret}, "response": {f.pass(evSitekey)}, "remoteip": {"203.0.113.300"}})
		}, fail("invalid-remoteip")},
		{"sitekey-secret-mismatch", func(f *fix) answer {
			other, _ := f.site(false)
			return f.form(url.Values{"secret": {evSecret}, "response": {f.pass(evSitekey)}, "sitekey": {other.Sitekey}})
		}, fail("sitekey-secret-mismatch")},
		{"a refused request does not burn the token", func(f *fix) answer {
			tok := f.pass(evSitekey)
			f.form(url.Values{"secret": {evSecret}, "response": {tok}, "sitekey": {token.TestSitekey}})
			return f.form(url.Values{"secret": {evSecret}, "response": {tok}})
		}, ok},
		{"not-using-dummy-passcode: test secret, real token", func(f *fix) answer {
			return f.form(url.Values{"secret": {token.TestSecret}, "response": {f.pass(evSitekey)}})
		}, fail("not-using-dummy-passcode")},
		{"not-using-dummy-secret: test token, real secret", func(f *fix) answer {
			return f.form(url.Values{"secret": {evSecret}, "response": {token.TestResponse}})
		}, fail("not-using-dummy-secret")},
		{"test keys verify, repeatedly, without any store", func(f *fix) answer {
			records := f.tokens.Len()
			var a answer
			for range 3 {
				a = f.form(url.Values{"secret": {token.TestSecret}, "response": {token.TestResponse}, "sitekey": {token.TestSitekey}})
			}
			if f.tokens.Len() != records {
				f.t.Fatal("test keys touched the token store")
			}
			return a
		}, want{status: 200, success: true, hostname: "dummy-key-pass"}},
		// hCaptcha reads the query string too, and integrations rely on it: the official
		// WordPress plugin before 1.18 and many PHP forms call
		// GET /siteverify?secret=…&response=… (wp_remote_get, file_get_contents).
		{"GET with the parameters in the query string", func(f *fix) answer {
			return f.query(http.MethodGet, url.Values{"secret": {evSecret}, "response": {f.pass(evSitekey)}, "remoteip": {"203.0.113.9"}}, "", "")
		}, ok},
		{"POST with the parameters in the query string and no body", func(f *fix) answer {
			return f.query(http.MethodPost, url.Values{"secret": {evSecret}, "response": {f.pass(evSitekey)}}, "", "")
		}, ok},
		{"the body's parameters win over the query string's", func(f *fix) answer {
			return f.query(http.MethodPost, url.Values{"secret": {"0x" + strings.Repeat("9", 40)}, "response": {"P1_x.y"}},
				form, url.Values{"secret": {evSecret}, "response": {f.pass(evSitekey)}}.Encode())
		}, ok},
		{"GET without parameters: both missing", func(f *fix) answer { return f.do(http.MethodGet, "", "") },
			fail("missing-input-secret,missing-input-response")},
		{"bad-request: broken query string", func(f *fix) answer {
			return f.query(http.MethodGet, nil, "", "")
		}, fail("bad-request")},
		{"PUT is 405", func(f *fix) answer { return f.do(http.MethodPut, "", "") }, want{status: 405, codes: "bad-request"}},
		// Go's router sends HEAD to a GET route; a HEAD (a link checker, a proxy's probe)
		// must not use a token up.
		{"HEAD is 405 and leaves the token for the GET", func(f *fix) answer {
			q := url.Values{"secret": {evSecret}, "response": {f.pass(evSitekey)}}
			if head := f.query(http.MethodHead, q, "", ""); head.status != http.StatusMethodNotAllowed {
				f.t.Fatalf("HEAD: %d %s, want 405", head.status, head.raw)
			}
			return f.query(http.MethodGet, q, "", "")
		}, ok},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFix(t)
			a := c.run(f)
			if a.status != c.want.status || a.body["success"] != c.want.success || a.codes() != c.want.codes {
				t.Fatalf("got %d %s; want %d success=%v codes=%q", a.status, a.raw, c.want.status, c.want.success, c.want.codes)
			}
			if a.body["credit"] != false {
				t.Errorf("credit = %v, want false", a.body["credit"])
			}
			if !c.want.success {
				for _, k := range []string{"challenge_ts", "hostname", "score", "score_reason"} {
					if _, ok := a.body[k]; ok {
						t.Errorf("failure carries %q: %s", k, a.raw)
					}
				}
				return
			}
			if a.body["hostname"] != c.want.hostname {
				t.Errorf("hostname %v, want %s", a.body["hostname"], c.want.hostname)
			}
			ts, _ := a.body["challenge_ts"].(string)
			if _, err := time.Parse("2006-01-02T15:04:05.000000Z", ts); err != nil || len(ts) != len("2026-11-30T19:30:00.000000Z") {
				t.Errorf("challenge_ts %q is not ISO 8601 UTC to the microsecond, as hCaptcha sends it", ts)
			}
			if c.want.hostname == "dummy-key-pass" {
				return
			}
			if a.body["score"] != 0.1 || len(a.body["score_reason"].([]any)) != 1 {
				t.Errorf("score %v, score_reason %v", a.body["score"], a.body["score_reason"])
			}
		})
	}
}

// hCaptcha's enterprise test key sets (which the WordPress plugin offers as test modes)
// verify with the test secret and carry hCaptcha's score for them, without score_reason.
func TestEnterpriseTestKeysReportTheirScore(t *testing.T) {
	f := newFix(t)
	for response, score := range map[string]float64{"20000000-aaaa-bbbb-cccc-000000000002": 0, "30000000-aaaa-bbbb-cccc-000000000003": 1} {
		a := f.form(url.Values{"secret": {token.TestSecret}, "response": {response}})
		_, reasons := a.body["score_reason"]
		if a.status != 200 || a.body["success"] != true || a.body["hostname"] != "dummy-key-pass" || a.body["score"] != score || reasons {
			t.Errorf("%s: %d %s; want success, dummy-key-pass, score %v, no score_reason", response, a.status, a.raw, score)
		}
	}
}

// An integrator whose siteverify answer was lost (a timeout, a dropped connection) retries
// with the idempotency_key it sent the first time and gets the same pass, as Cloudflare
// Turnstile allows; anyone replaying the token without that key gets already-seen-response.
func TestIdempotencyKeyMakesARetryGetTheSamePass(t *testing.T) {
	f := newFix(t)
	tok := f.pass(evSitekey)
	key := "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6"
	first := f.form(url.Values{"secret": {evSecret}, "response": {tok}, "idempotency_key": {key}})
	if first.status != 200 || first.body["success"] != true {
		t.Fatalf("first call: %d %s", first.status, first.raw)
	}
	f.advance(20 * time.Second)
	// The retry may come in another encoding, and with the key in capitals.
	retry := f.do(http.MethodPost, "application/json", `{"secret":"`+evSecret+`","response":"`+tok+`","idempotency_key":"`+strings.ToUpper(key)+`"}`)
	if retry.status != 200 || retry.raw != first.raw {
		t.Fatalf("retry with the key: %d %s; want the first answer %s", retry.status, retry.raw, first.raw)
	}
	for name, v := range map[string]url.Values{
		"no key":       {"secret": {evSecret}, "response": {tok}},
		"another key":  {"secret": {evSecret}, "response": {tok}, "idempotency_key": {"1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b7"}},
		"an empty key": {"secret": {evSecret}, "response": {tok}, "idempotency_key": {""}},
	} {
		if a := f.form(v); a.body["success"] != false || a.codes() != "already-seen-response" {
			t.Errorf("%s: %s; want already-seen-response", name, a.raw)
		}
	}
	// The right key with another site's secret is still that site's refusal.
	_, otherSecret := f.site(false)
	if a := f.form(url.Values{"secret": {otherSecret}, "response": {tok}, "idempotency_key": {key}}); a.body["success"] != false {
		t.Fatalf("another site's secret with the key: %s", a.raw)
	}
	// A malformed key is bad-request, and the token is not used up.
	fresh := f.pass(evSitekey)
	if a := f.form(url.Values{"secret": {evSecret}, "response": {fresh}, "idempotency_key": {"retry-1"}}); a.body["success"] != false || a.codes() != "bad-request" {
		t.Fatalf("malformed key: %s; want bad-request", a.raw)
	}
	if a := f.form(url.Values{"secret": {evSecret}, "response": {fresh}}); a.body["success"] != true {
		t.Fatalf("the token after a malformed key: %s; want it still valid", a.raw)
	}
	// After the token's expiry the key gets nothing.
	f.advance(token.TTL)
	if a := f.form(url.Values{"secret": {evSecret}, "response": {tok}, "idempotency_key": {key}}); a.body["success"] != false {
		t.Fatalf("retry after expiry: %s", a.raw)
	}
}

// TestEvents replays every events/verify file through the Lambda adapter, as Lambda does.
func TestEvents(t *testing.T) {
	type want struct {
		status  int
		success bool
		codes   string
	}
	expect := map[string]want{
		"verify-test-keys.json":        {200, true, ""},
		"verify-form.json":             {200, true, ""},
		"verify-idempotency-key.json":  {200, true, ""},
		"verify-get-query.json":        {200, true, ""},
		"verify-json.json":             {200, true, ""},
		"verify-multipart.json":        {200, true, ""},
		"verify-missing-secret.json":   {200, false, "missing-input-secret"},
		"verify-missing-response.json": {200, false, "missing-input-response"},
		"verify-bad-request.json":      {200, false, "bad-request"},
		"verify-unknown-secret.json":   {200, false, "invalid-input-secret"},
		"verify-forged.json":           {200, false, "invalid-input-response"},
		"verify-expired.json":          {200, false, "expired-input-response"},
		"verify-sitekey-mismatch.json": {200, false, "sitekey-secret-mismatch"},
		"verify-invalid-remoteip.json": {200, false, "invalid-remoteip"},
		"verify-dummy-secret.json":     {200, false, "not-using-dummy-secret"},
	}
	platformtest.EachEvent(t, "../../../events/verify", expect, func(t *testing.T, file string, w want) {
		resp := replay(t, newFix(t), file)
		var body map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("body %q", resp.Body)
		}
		codes := []string{}
		for _, c := range asSlice(body["error-codes"]) {
			codes = append(codes, c.(string))
		}
		if resp.StatusCode != w.status || body["success"] != w.success || strings.Join(codes, ",") != w.codes {
			t.Fatalf("got %d %s; want %d success=%v codes=%q", resp.StatusCode, resp.Body, w.status, w.success, w.codes)
		}
	})
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func replay(t *testing.T, f *fix, file string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	return platformtest.ReplayHTTP(t, f.h, file)
}

// A malformed content-type parameter does not hide the media type: a JSON body is still
// read as JSON (not as a form, which would report the secret and token as missing), and a
// multipart body without a usable boundary is a bad request.
func TestMalformedContentTypeParameterKeepsTheMediaType(t *testing.T) {
	for ct, want := range map[string]string{
		"application/json; charset=":     "",
		"application/json; charset":      "",
		"application/json;;":             "",
		"multipart/form-data; boundary=": "bad-request",
	} {
		f := newFix(t)
		body, _ := json.Marshal(map[string]string{"secret": evSecret, "response": f.pass(evSitekey)})
		a := f.do(http.MethodPost, ct, string(body))
		if a.status != 200 || a.body["success"] != (want == "") || a.codes() != want {
			t.Errorf("Content-Type %q: %d %s, want codes %q", ct, a.status, a.raw, want)
		}
	}
}

// Paths other than /siteverify get the service's 404 envelope, never a redirect (an empty or
// dot segment) or ServeMux's plain-text page.
func TestOtherPathsGetTheNotFoundEnvelope(t *testing.T) {
	f := newFix(t)
	for _, p := range []string{"/", "/x", "/siteverify/", "//siteverify", "/./siteverify", "/%2E/siteverify"} {
		u, err := url.Parse("http://localhost" + p) // as a server parses it: "//" starts the path
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("POST", "/", strings.NewReader("secret=0x&response=x"))
		r.URL = u
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		if w.Code != http.StatusNotFound || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Error.Code != "not_found" {
			t.Errorf("POST %s: %d %q, want 404 not_found in the envelope", p, w.Code, w.Body)
		}
	}
}

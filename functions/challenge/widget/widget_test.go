package widget

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/routes"
)

// serve mounts the handler the way the challenge function does: on the route table's
// pattern for the script.
func serve(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mounted := false
	for _, r := range routes.For(routes.FunctionChallenge) {
		if r.Path == "/1/api.js" {
			mux.Handle(r.Pattern(), Handler())
			mounted = true
		}
	}
	if !mounted {
		t.Fatal("route table has no /1/api.js route for the challenge function")
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, srv *httptest.Server, method string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+"/1/api.js?onload=cb&render=explicit", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Ask for identity unless the test sets Accept-Encoding, so the transport does not
	// decompress behind the test's back.
	req.Header.Set("Accept-Encoding", "identity")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestServesScriptWithCachingHeaders(t *testing.T) {
	srv := serve(t)
	resp, body := get(t, srv, http.MethodGet, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/javascript; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if got := resp.Header.Get("Cache-Control"); !strings.Contains(got, "public") || !strings.Contains(got, "max-age=") {
		t.Errorf("Cache-Control %q, want public with a max-age", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin %q: @hcaptcha/loader loads the script with crossorigin=anonymous", got)
	}
	if c := resp.Header.Values("Set-Cookie"); len(c) != 0 {
		t.Errorf("the script sets cookies %q; docs/PRIVACY.md: the widget stores nothing in the browser", c)
	}
	if resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("identity request answered with Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	if !bytes.Equal(body, Script()) {
		t.Fatalf("body (%d bytes) is not the embedded script (%d bytes)", len(body), len(Script()))
	}
	if !bytes.Contains(body, []byte("hcaptcha")) {
		t.Fatal("script does not define hcaptcha")
	}
}

func TestETagRevalidates(t *testing.T) {
	srv := serve(t)
	resp, _ := get(t, srv, http.MethodGet, nil)
	tag := resp.Header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{16,}"$`).MatchString(tag) {
		t.Fatalf("ETag %q is not a strong quoted validator", tag)
	}
	resp, body := get(t, srv, http.MethodGet, map[string]string{"If-None-Match": tag})
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Fatalf("revalidation with the current ETag: status %d, %d body bytes; want 304 and none", resp.StatusCode, len(body))
	}
	resp, _ = get(t, srv, http.MethodGet, map[string]string{"If-None-Match": `"stale"`})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revalidation with a stale ETag: status %d, want 200", resp.StatusCode)
	}
}

func TestGzipWhenAccepted(t *testing.T) {
	srv := serve(t)
	plain, _ := get(t, srv, http.MethodGet, nil)
	resp, body := get(t, srv, http.MethodGet, map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
	if resp.Header.Get("ETag") == plain.Header.Get("ETag") {
		t.Error("gzip and identity bodies share an ETag; caches could mix them up")
	}
	if !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("Vary %q lacks Accept-Encoding", resp.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, Script()) {
		t.Fatal("gzip body does not decompress to the script")
	}

	refused, _ := get(t, srv, http.MethodGet, map[string]string{"Accept-Encoding": "gzip;q=0"})
	if refused.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip;q=0 still got a gzip body")
	}
}

// The issue budgets the widget at 20 KB gzipped.
func TestScriptFitsSizeBudget(t *testing.T) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(Script())
	_ = zw.Close()
	const budget = 20 * 1024
	if buf.Len() >= budget {
		t.Fatalf("api.js is %d bytes gzipped, budget %d", buf.Len(), budget)
	}
	t.Logf("api.js: %d bytes, %d gzipped", len(Script()), buf.Len())
}

func TestHeadAndMethods(t *testing.T) {
	srv := serve(t)
	resp, body := get(t, srv, http.MethodHead, nil)
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Fatalf("HEAD: status %d with %d body bytes", resp.StatusCode, len(body))
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/1/api.js", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: status %d, want 405", rec.Code)
	}
}

// The script must run on pages whose CSP forbids eval and inline styles, must build DOM
// without HTML parsing of data, must not store anything in the browser and must stay
// ES2018 (no optional chaining or nullish coalescing).
func TestScriptAvoidsForbiddenConstructs(t *testing.T) {
	src := string(Script())
	forbidden := []struct{ re, why string }{
		{`\binnerHTML\b|\bouterHTML\b|insertAdjacentHTML|document\.write`, "HTML parsing of data"},
		{`\beval\s*\(|new\s+Function\s*\(|set(?:Timeout|Interval)\(\s*['"\x60]`, "eval (blocked by CSP without unsafe-eval)"},
		{`localStorage|sessionStorage|document\.cookie|indexedDB|\bcaches\.|serviceWorker`, "browser storage"},
		// docs/PRIVACY.md lists every request the widget makes: the one fetch in api() and the
		// challenge images. Anything else would be a channel the list does not name.
		{`sendBeacon|XMLHttpRequest|WebSocket|EventSource|postMessage|new\s+Image\b|import\s*\(|<link|@import|url\(`, "a request outside api() and the challenge images"},
		{`setAttribute\(\s*['"]style['"]|\.cssText\b`, "style attributes (blocked by style-src without unsafe-inline)"},
		{`\?\.[A-Za-z_$(\[]|\?\?`, "syntax newer than ES2018"},
	}
	for _, f := range forbidden {
		if loc := regexp.MustCompile(f.re).FindStringIndex(src); loc != nil {
			t.Errorf("api.js uses %s: %q", f.why, src[loc[0]:loc[1]])
		}
	}
	if n := strings.Count(src, "fetch("); n != 1 {
		t.Errorf("api.js calls fetch %d times, want once (api)", n)
	}
	// Every image the widget loads is a challenge image from the server's signed links, and
	// none carries the page's URL as its Referer.
	if srcs, policies := strings.Count(src, ".src = "), strings.Count(src, ".referrerPolicy = 'no-referrer';"); srcs != policies {
		t.Errorf("api.js sets %d image sources and %d no-referrer policies", srcs, policies)
	}
	for _, lang := range []string{"en", "de", "fr", "es"} {
		if !regexp.MustCompile(`\n    ` + lang + `: \{`).MatchString(src) {
			t.Errorf("no %s strings", lang)
		}
	}
}

// Only the two accessibility routes may carry the browser's cookies (the first-party
// cg_a11y token); every other request is anonymous. The one fetch takes its credentials
// mode from api's third argument, so every call that passes one must be an accessibility
// route.
func TestOnlyAccessibilityRoutesSendCredentials(t *testing.T) {
	src := string(Script())
	modes := regexp.MustCompile(`credentials:[^,}]*`).FindAllString(src, -1)
	if len(modes) != 1 || modes[0] != "credentials: cred ? 'include' : 'omit'" {
		t.Fatalf("credentials modes %q: want the single fetch to include them only when asked", modes)
	}
	calls := callArgs(src, "api")
	if len(calls) < 3 {
		t.Fatalf("found %d api( calls; the parser no longer understands the script", len(calls))
	}
	credentialed := 0
	for _, args := range calls {
		if len(args) < 3 {
			continue
		}
		credentialed++
		if !strings.HasPrefix(args[0], "'/1/accessibility/") {
			t.Errorf("api(%s) sends credentials to a route outside /1/accessibility/", strings.Join(args, ", "))
		}
	}
	if credentialed == 0 {
		t.Error("no call sends credentials: the accessibility routes need the cg_a11y cookie")
	}
}

// callArgs finds the calls of the named function in JavaScript source and returns each
// call's top-level arguments (a small scanner: strings and nested brackets, no comments).
func callArgs(src, name string) [][]string {
	var out [][]string
	re := regexp.MustCompile(`(?:^|[^.\w$])` + regexp.QuoteMeta(name) + `\(`)
	for _, loc := range re.FindAllStringIndex(src, -1) {
		if strings.HasSuffix(strings.TrimSpace(src[max(0, loc[0]-16):loc[0]+1]), "function") {
			continue // the declaration
		}
		var args []string
		depth, start, quote := 0, loc[1], byte(0)
		for i := loc[1]; i < len(src); i++ {
			c := src[i]
			if quote != 0 {
				if c == '\\' {
					i++
				} else if c == quote {
					quote = 0
				}
				continue
			}
			switch c {
			case '\'', '"', '`':
				quote = c
			case '(', '[', '{':
				depth++
			case ')', ']', '}':
				if depth == 0 {
					args = append(args, strings.TrimSpace(src[start:i]))
					out = append(out, args)
					i = len(src)
					continue
				}
				depth--
			case ',':
				if depth == 0 {
					args = append(args, strings.TrimSpace(src[start:i]))
					start = i + 1
				}
			}
		}
	}
	return out
}

// Every language the widget speaks has every message English has, the accessibility
// challenge's included.
func TestEveryLocaleHasEveryMessage(t *testing.T) {
	src := string(Script())
	blocks := regexp.MustCompile(`(?s)\n    (\w\w): \{(.*?)\n    \},`).FindAllStringSubmatch(src, -1)
	keyRE := regexp.MustCompile(`(?:^|[\s,{])(\w+): ['"]`)
	keys := map[string]map[string]bool{}
	for _, b := range blocks {
		keys[b[1]] = map[string]bool{}
		for _, k := range keyRE.FindAllStringSubmatch(b[2], -1) {
			keys[b[1]][k[1]] = true
		}
	}
	en := keys["en"]
	for _, k := range []string{"a11y", "typeit", "wrong", "signup", "join"} {
		if !en[k] {
			t.Errorf("en has no %q message", k)
		}
	}
	for _, lang := range []string{"de", "fr", "es"} {
		if keys[lang] == nil {
			t.Errorf("no %s strings", lang)
			continue
		}
		for k := range en {
			if !keys[lang][k] {
				t.Errorf("%s lacks the %q message", lang, k)
			}
		}
	}
}

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
		{`localStorage|sessionStorage|document\.cookie|indexedDB`, "browser storage"},
		{`setAttribute\(\s*['"]style['"]|\.cssText\b`, "style attributes (blocked by style-src without unsafe-inline)"},
		{`\?\.[A-Za-z_$(\[]|\?\?`, "syntax newer than ES2018"},
		{`credentials:\s*'include'`, "credentialed requests"},
	}
	for _, f := range forbidden {
		if loc := regexp.MustCompile(f.re).FindStringIndex(src); loc != nil {
			t.Errorf("api.js uses %s: %q", f.why, src[loc[0]:loc[1]])
		}
	}
	for _, lang := range []string{"en", "de", "fr", "es"} {
		if !regexp.MustCompile(`\n    ` + lang + `: \{`).MatchString(src) {
			t.Errorf("no %s strings", lang)
		}
	}
}

package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/web"
)

// Chrome 120's client hints put the GREASE brand first; a handler must see the whole
// list, as net/http (the local stack) gives it, not just the first brand.
const chromeHints = `"Not_A Brand";v="8", "Chromium";v="120", "Google Chrome";v="120"`

func httpEvent(method, rawPath, rawQuery string, headers map[string]string) json.RawMessage {
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: rawPath, RawQueryString: rawQuery, Headers: headers,
		Cookies: []string{"cg_a11y=cga_x", "other=1"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "api.crowdgate.example",
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: rawPath, SourceIP: "2001:db8::7"},
		},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return b
}

func TestHTTPHeadersReachTheHandlerAsAPIGatewayDeliversThem(t *testing.T) {
	var got http.Header
	var cookie string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		if c, err := r.Cookie("cg_a11y"); err == nil {
			cookie = c.Value
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ev := httpEvent("POST", "/1/challenges", "", map[string]string{
		"sec-ch-ua":       chromeHints,
		"accept-language": "nl-NL,nl;q=0.9,de;q=0.8",
		"user-agent":      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"content-type":    "application/json",
	})
	if _, err := platform.MixedHandler(h, nil)(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"Sec-CH-UA":       chromeHints,
		"Accept-Language": "nl-NL,nl;q=0.9,de;q=0.8",
		"Content-Type":    "application/json",
	} {
		if v := got.Get(name); v != want {
			t.Errorf("%s: handler saw %q (values %q), want %q", name, v, got.Values(name), want)
		}
	}
	if cookie != "cga_x" {
		t.Errorf("cookie cg_a11y = %q, want cga_x (cookies %q)", cookie, got.Values("Cookie"))
	}
}

// API Gateway's HTTP API hands rawPath over decoded: an address with a zone that the
// client sent as /v1/risk/ips/fe80::1%25eth0 arrives with a bare '%'. It must reach the
// route (which refuses it as 400 invalid_ip), not fail the invocation — API Gateway's
// bare 500 — with the adapter printing the path and query string.
func TestHTTPPathsAPIGatewayDecodedReachTheRoute(t *testing.T) {
	var logged bytes.Buffer
	log.SetOutput(&logged)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	for _, c := range []struct{ rawPath, wantIP string }{
		{"/v1/risk/ips/fe80::1%eth0", "fe80::1%eth0"},
		{"/v1/risk/ips/203.0.113.7%", "203.0.113.7%"},
		{"/v1/risk/ips/203.0.113.7#x", "203.0.113.7#x"},
		{"/v1/risk/ips/2001:db8::1", "2001:db8::1"},
		{"/v1/risk/ips/a%2Fb", "a/b"},
	} {
		var ip, query string
		mux := http.NewServeMux()
		mux.HandleFunc("GET /v1/risk/ips/{ip}", func(w http.ResponseWriter, r *http.Request) {
			ip, query = r.PathValue("ip"), r.URL.RawQuery
			w.WriteHeader(http.StatusBadRequest)
		})
		out, err := platform.MixedHandler(mux, nil)(context.Background(), httpEvent("GET", c.rawPath, "code=secret-code", nil))
		if err != nil {
			t.Errorf("%s: invocation failed: %v", c.rawPath, err)
			continue
		}
		if resp := out.(events.APIGatewayV2HTTPResponse); resp.StatusCode != http.StatusBadRequest || ip != c.wantIP || query != "code=secret-code" {
			t.Errorf("%s: status %d, route saw ip %q and query %q; want 400, %q, the query", c.rawPath, resp.StatusCode, ip, query, c.wantIP)
		}
	}
	if strings.Contains(logged.String(), "203.0.113.7") || strings.Contains(logged.String(), "secret-code") {
		t.Errorf("the adapter logged the path or query: %s", logged.String())
	}
}

// Under Lambda a request is named by API Gateway's request id, the one its access logs
// show, and not by an X-Request-Id the caller sent.
func TestRequestsAreNamedByAPIGatewaysRequestID(t *testing.T) {
	var seen string
	h := web.Middleware(slog.New(slog.NewJSONHandler(io.Discard, nil)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = web.RequestID(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: "/siteverify", Headers: map[string]string{"x-request-id": "amFuZUBleGFtcGxlLmNvbQ=="},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "Q1w2E3r4T5y6U7i=", DomainName: "api.crowdgate.example",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/siteverify", SourceIP: "192.0.2.1"},
		},
	}
	resp, err := platform.ProxyHTTP(h)(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if seen != "Q1w2E3r4T5y6U7i=" || resp.Headers["X-Request-Id"] != seen {
		t.Fatalf("request named %q, answered X-Request-Id %q; want API Gateway's Q1w2E3r4T5y6U7i=", seen, resp.Headers["X-Request-Id"])
	}
}

package web_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/web"
)

// The request log names the route pattern, never the path: a path can carry an address
// (the risk lookup's /v1/risk/ips/{ip}) or another identifier.
func TestRequestLogNamesTheRouteNotThePath(t *testing.T) {
	var buf bytes.Buffer
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/risk/ips/{ip}", func(http.ResponseWriter, *http.Request) {})
	h := web.Middleware(slog.New(slog.NewJSONHandler(&buf, nil)), mux)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/risk/ips/203.0.113.9?x=jane@example.com", nil))
	line := buf.String()
	if strings.Contains(line, "203.0.113") || strings.Contains(line, "jane@") || !strings.Contains(line, `"route":"GET /v1/risk/ips/{ip}"`) {
		t.Fatalf("request log line %s", line)
	}
}

package routes_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crowdgate/crowdgate/shared/routes"
)

// A network given to the address lookup (203.0.113.0/24: a slash of its own) reaches the
// risk function, which refuses it in its own terms, on a mux built from the table as the
// local stack builds it; API Gateway matches the same route keys.
func TestNetworkLookupReachesTheRiskFunction(t *testing.T) {
	mux := http.NewServeMux()
	for _, r := range routes.Table {
		fn := r.Function
		mux.HandleFunc(r.Pattern(), func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(fn)) })
	}
	for _, path := range []string{"/v1/risk/ips/203.0.113.77", "/v1/risk/ips/203.0.113.0/24", "/v1/risk/ips/2001:db8::/48"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != 200 || rec.Body.String() != routes.FunctionRisk {
			t.Errorf("GET %s: %d %q, want the risk function", path, rec.Code, rec.Body.String())
		}
	}
}

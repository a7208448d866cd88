package routes_test

import (
	"net/http"
	"testing"

	"github.com/crowdgate/crowdgate/shared/routes"
)

func TestRouteTableIsAValidMux(t *testing.T) {
	// Registering every pattern on one ServeMux panics on conflicts or bad syntax — the
	// same constraints API Gateway's route keys have.
	mux := http.NewServeMux()
	for _, r := range routes.Table {
		if r.Function == "" || (r.Auth != routes.Public && r.Auth != routes.Operator) {
			t.Errorf("route %s has no function or an unknown auth", r.Pattern())
		}
		if r.Browser && r.Auth != routes.Public {
			t.Errorf("browser route %s must be public", r.Pattern())
		}
		if r.Credentials && !r.Browser {
			t.Errorf("route %s takes credentials but is no browser route", r.Pattern())
		}
		mux.HandleFunc(r.Pattern(), func(http.ResponseWriter, *http.Request) {})
	}
	for _, fn := range routes.Functions() {
		if len(routes.For(fn)) == 0 {
			t.Errorf("function %s has no routes", fn)
		}
	}
}

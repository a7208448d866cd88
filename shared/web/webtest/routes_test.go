package webtest

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/routes"
)

func TestRouteRequest(t *testing.T) {
	rt := Route{Method: "DELETE", Path: "/admin/customers/{id}/keys/{keyId}"}
	r := rt.Request(nil, "a/b", "{id}")
	if r.Method != "DELETE" || r.URL.Path != "/admin/customers/a/b/keys/{id}" || r.URL.EscapedPath() != "/admin/customers/a%2Fb/keys/%7Bid%7D" {
		t.Errorf("%s %q, escaped %q", r.Method, r.URL.Path, r.URL.EscapedPath())
	}
	// An empty or dot id goes through as it is, for the router to refuse.
	for _, id := range []string{"", ".", ".."} {
		if r := (Route{Method: "GET", Path: "/v1/jobs/{id}"}).Request(nil, id); r.URL.EscapedPath() != "/v1/jobs/"+id {
			t.Errorf("id %q: escaped %q", id, r.URL.EscapedPath())
		}
	}
}

func TestRoutesIndex(t *testing.T) {
	rs := Routes{{Method: "GET", Path: "/v1/jobs"}, {Method: "POST", Path: "/v1/jobs", Limit: 10}}
	if i := rs.Index("POST", "/v1/jobs"); i != 1 || !rs[i].OverLimit(11) || rs[i].OverLimit(10) || rs[0].OverLimit(1<<20) {
		t.Errorf("Index = %d, or OverLimit is wrong", i)
	}
	defer func() {
		if recover() == nil {
			t.Error("Index of a route not there did not panic")
		}
	}()
	rs.Index("DELETE", "/v1/jobs")
}

func TestRoutesOfTakesTheTable(t *testing.T) {
	table := []routes.Route{{Method: "GET", Path: "/v1/jobs"}, {Method: "POST", Path: "/v1/jobs"}, {Method: "POST", Path: "/v1/jobs/{id}/exports"}}
	rs := RoutesOf(table, map[string]int{"POST /v1/jobs": 10}, "POST /v1/jobs/{id}/exports")
	if len(rs) != 2 || rs[rs.Index("POST", "/v1/jobs")].Limit != 10 || rs[rs.Index("GET", "/v1/jobs")].Limit != 0 || rs[0].Wild() {
		t.Errorf("RoutesOf = %+v", rs)
	}
	if r := (Route{Method: "GET", Path: "/a/{x}/b/{y}"}).Request(nil, "1"); r.URL.Path != "/a/1/b/" {
		t.Errorf("a value short: path %q, want the missing one empty", r.URL.Path)
	}
	defer func() {
		if recover() == nil {
			t.Error("a limit for a route not in the table did not panic")
		}
	}()
	RoutesOf(table, map[string]int{"PUT /v1/jobs": 1})
}

package webtest

import "testing"

func TestRouteRequest(t *testing.T) {
	rt := Route{Method: "DELETE", Path: "/admin/customers/{id}/keys/{keyId}"}
	r := rt.Request(nil, "{id}", "a/b", "{keyId}", "{id}")
	if r.Method != "DELETE" || r.URL.Path != "/admin/customers/a/b/keys/{id}" || r.URL.EscapedPath() != "/admin/customers/a%2Fb/keys/%7Bid%7D" {
		t.Errorf("%s %q, escaped %q", r.Method, r.URL.Path, r.URL.EscapedPath())
	}
	// An empty or dot id goes through as it is, for the router to refuse.
	for _, id := range []string{"", ".", ".."} {
		if r := (Route{Method: "GET", Path: "/v1/jobs/{id}"}).Request(nil, "{id}", id); r.URL.EscapedPath() != "/v1/jobs/"+id {
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

package handler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/functions/admin/handler"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/web"
	"github.com/crowdgate/crowdgate/shared/web/webtest"
)

// fuzzRoutes are the admin routes; the first wildcard ({id}, {sitekey}) takes the fuzzed
// id, {keyId} the fuzzed key id.
var fuzzRoutes = webtest.RoutesOf(routes.For(routes.FunctionAdmin), map[string]int{
	"POST /admin/integrators": handler.MaxBody, "POST /admin/integrators/{id}/sites": handler.MaxBody,
	"PATCH /admin/sites/{sitekey}": handler.MaxBody, "POST /admin/sites/{sitekey}/secret": handler.MaxBody, "POST /admin/integrators/{id}/keys": handler.MaxBody,
	"POST /admin/customers": handler.MaxBody, "POST /admin/customers/{id}/keys": handler.MaxBody,
})

// adminCodes are the error codes docs/API.md lists for the admin routes, with their status.
var adminCodes = webtest.Codes{"invalid_json": 400, "bad_request": 400, "invalid_name": 400, "invalid_email": 400,
	"invalid_country": 400, "invalid_hostnames": 400, "integrator_not_found": 404, "site_not_found": 404,
	"customer_not_found": 404, "key_not_found": 404, "not_found": 404, "conflict": 409, "body_too_large": 413}

// FuzzAdminAPI sends arbitrary bodies and path ids to every admin route (IAM authorises
// them at the gateway, so there is no key to get past). Bad input must get a documented
// 4xx with the error envelope and leave the accounts as they were; never a 500 or a panic.
func FuzzAdminAPI(f *testing.F) {
	codes := webtest.Documented(f, adminCodes)
	webtest.Quiet(f)
	route := fuzzRoutes.Index
	profiles := []string{
		`{"name":"Example Shop GmbH","email":"ops@shop.example","country":"DE"}`,
		`{"name":"  Blog  ","email":"me@blog.example","country":"nz"}`,
		``, `{}`, `null`, `[]`, `"x"`, `{"name":`, `{"name":"a"}{}`, `{"name":"a","phone":"1"}`, `{"name":1,"email":true,"country":[]}`,
		`{"name":"` + strings.Repeat("ü", 101) + `","email":"a@b.example","country":"DE"}`,
		`{"name":"a\u0000b","email":"a@b.example","country":"DE"}`,
		`{"name":"a","email":"A <a@b.example>","country":"DE"}`,
		`{"name":"a","email":"a@localhost","country":"DE"}`,
		`{"name":"a","email":"\"a@b\"@c.example","country":"DE"}`,
		`{"name":"a","email":"a@b.example","country":"XX"}`,
		`{"name":"a","email":"a@b.example","country":"d"}`,
		`{"name":"a","email":"` + strings.Repeat("e", 300) + `@b.example","country":"DE"}`,
		`{"name":"a","email":"a@` + strings.Repeat("x.", 130) + `example","country":"DE"}`,
		`{"name":"` + strings.Repeat("x", 17<<10) + `"}`,
	}
	for _, body := range profiles {
		f.Add(route("POST", "/admin/integrators"), "", "", []byte(body))
		f.Add(route("POST", "/admin/customers"), "", "", []byte(body))
	}
	for _, body := range []string{
		`{"name":"checkout","hostnames":["shop.example","203.0.113.7"],"require_remoteip":false}`,
		`{"name":"c","hostnames":["Shop.Example.","shop.example","[::ffff:1.2.3.4]","fe80::1%eth0"]}`,
		`{"name":"c","hostnames":[]}`, `{"name":"c","hostnames":null}`, `{"name":"c","hostnames":"shop.example"}`,
		`{"name":"c","hostnames":["https://shop.example/x"]}`, `{"name":"c","hostnames":["*.shop.example"]}`,
		`{"name":"c","hostnames":["shop.example:443"]}`, `{"name":"c","hostnames":["1.2.3.4.5"]}`, `{"name":"c","hostnames":["-a.example"]}`,
		`{"name":"c","hostnames":["` + strings.Repeat("a", 64) + `.example"]}`, `{"name":"c","hostnames":["` + strings.Repeat("a.", 127) + `x"]}`,
		`{"name":"c","hostnames":[` + strings.TrimSuffix(strings.Repeat(`"a.example",`, 21), ",") + `]}`,
		`{"name":"c","hostnames":["sh\u00f6p.example"]}`, `{"name":"c","hostnames":["a.example"],"require_remoteip":"yes"}`,
	} {
		f.Add(route("POST", "/admin/integrators/{id}/sites"), evIntegrator, "", []byte(body))
	}
	for _, body := range []string{`{"name":"Blog"}`, `{"hostnames":["shop.example","203.0.113.7"],"require_remoteip":true}`, `{}`, `null`,
		`{"name":null,"hostnames":null,"require_remoteip":null}`, `{"name":""}`, `{"hostnames":[]}`, `{"name":"ok","hostnames":["bad host"]}`,
		`{"require_remoteip":"yes"}`, `{"require_remoteip":1}`, `not json`} {
		f.Add(route("PATCH", "/admin/sites/{sitekey}"), evSitekey, "", []byte(body))
	}
	for _, body := range []string{``, `{}`, `{"name":"nightly export"}`, `{"name":""}`, `{"name":"   "}`, `{"name":"` + strings.Repeat("n", 101) + `"}`,
		`{"label":"x"}`, `null`, `[]`, " \n", `{"name":"\u0085"}`, strings.Repeat(" ", handler.MaxBody+1)} {
		f.Add(route("POST", "/admin/customers/{id}/keys"), evCustomer, "", []byte(body))
		f.Add(route("POST", "/admin/integrators/{id}/keys"), evKeyIntegrator, "", []byte(body))
	}
	for _, body := range []string{``, `{}`, " \n", `null`, `[]`, `{"secret":"0x00"}`, `not json`, strings.Repeat(" ", handler.MaxBody+1)} {
		f.Add(route("POST", "/admin/sites/{sitekey}/secret"), evSitekey, "", []byte(body))
	}
	for _, c := range []struct{ route, id, keyID string }{
		{"/admin/customers/{id}/keys/{keyId}", evCustomer, "0a1b2c3d4e5f6a7b"}, {"/admin/customers/{id}/keys/{keyId}", evCustomer, "7f6e5d4c3b2a1908"},
		{"/admin/customers/{id}/keys/{keyId}", evOtherCustomer, "0a1b2c3d4e5f6a7b"}, {"/admin/customers/{id}/keys/{keyId}", evCustomer, "0A1B2C3D4E5F6A7B"},
		{"/admin/customers/{id}/keys/{keyId}", evCustomer, "x"}, {"/admin/integrators/{id}/keys/{keyId}", evKeyIntegrator, evIntKeyID},
		{"/admin/integrators/{id}/keys/{keyId}", evKeyIntegrator, "ffffffffffffffff"}, {"/admin/integrators/{id}/keys/{keyId}", evIntegrator, evIntKeyID},
	} {
		f.Add(route("DELETE", c.route), c.id, c.keyID, []byte(nil))
	}
	for i, r := range fuzzRoutes {
		if r.Wild() {
			for _, id := range []string{evIntegrator, evSitekey, evCustomer, strings.ToUpper(evSitekey), "00000000-0000-4000-8000-000000000000",
				"not-a-uuid", "/", "a/", "a/b", "%00", "{" + evSitekey + "}", strings.Repeat("u", 300)} {
				f.Add(uint8(i), id, "0a1b2c3d4e5f6a7b", []byte(`{"name":"x","hostnames":["a.example"]}`))
			}
		}
	}

	f.Fuzz(func(t *testing.T, routeIdx uint8, id, keyID string, body []byte) {
		rt := fuzzRoutes[int(routeIdx)%len(fuzzRoutes)]
		r := rt.Request(body, id, keyID)
		r.Header.Set("Content-Type", "application/json")
		fx := newFix(t)
		cust := newCustFix(t)
		var revoked []string
		h := handler.New(handler.Deps{Accounts: fx.svc, Customers: cust.svc, IntegratorKeys: newIntKeyFix(&revoked)})
		state := func() string {
			ctx := context.Background()
			it, ierr := fx.svc.GetIntegrator(ctx, evIntegrator)
			site, serr := fx.svc.GetSite(ctx, evSitekey)
			c, cerr := cust.svc.GetCustomer(ctx, evCustomer)
			keys, kerr := cust.svc.ListAPIKeys(ctx, evCustomer)
			return fmt.Sprintf("%+v %v\n%+v %v\n%+v %v\n%+v %v\nrevoked %v", it, ierr, site, serr, c, cerr, keys, kerr, revoked)
		}
		before := state()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		code := webtest.CheckAnswer(t, w, codes)
		// A path no route takes is refused before any handler reads the body.
		if rt.OverLimit(len(body)) && w.Code != http.StatusRequestEntityTooLarge && code != web.CodeNotFound {
			t.Fatalf("%s %s: answered %d to a body over the limit, want 413: %.300s", rt.Method, r.URL, w.Code, w.Body.String())
		}
		if after := state(); w.Code >= 400 && after != before {
			t.Fatalf("%s %s answered %d but changed the accounts:\nbefore %s\nafter  %s", rt.Method, r.URL, w.Code, before, after)
		}
	})
}

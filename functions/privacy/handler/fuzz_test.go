package handler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/functions/privacy/handler"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/web"
	"github.com/crowdgate/crowdgate/shared/web/webtest"
)

// fuzzRoutes are the privacy function's routes; {id} takes the fuzzed id.
var fuzzRoutes = webtest.RoutesOf(routes.For(routes.FunctionPrivacy), map[string]int{
	"POST /v1/privacy/requests": handler.MaxPublicBody, "POST /v1/privacy/requests/{id}/verify": handler.MaxPublicBody,
	"POST /v1/compliance/requests/{id}/approve": handler.MaxOperatorBody, "POST /v1/compliance/requests/{id}/deny": handler.MaxOperatorBody,
	"POST /v1/compliance/requests/{id}/extend": handler.MaxOperatorBody,
})

// privacyCodes are the error codes docs/API.md lists for the privacy and compliance routes,
// with their status.
var privacyCodes = webtest.Codes{"invalid_json": 400, "bad_request": 400, "invalid_email": 400, "invalid_type": 400,
	"invalid_regulation": 400, "invalid_details": 400, "invalid_corrections": 400, "invalid_code": 400, "unauthorized": 401,
	"wrong_code": 403, "request_not_found": 404, "not_found": 404, "conflict": 409, "code_expired": 410, "body_too_large": 413,
	"too_many_requests": 429, "no_package": 409, "package_not_ready": 409, "package_expired": 410, "invalid_reason": 400,
	"invalid_note": 400, "invalid_status": 400, "invalid_overdue": 400, "invalid_limit": 400, "invalid_cursor": 400,
	"invalid_transition": 409, "already_extended": 409, "extension_not_allowed": 409, "deadline_passed": 409}

// FuzzPrivacyAPI sends arbitrary bodies, ids, query strings and Authorization headers to
// every privacy and compliance route (authz "" is request A's status secret). Bad input
// must get a documented 4xx with the error envelope and change nothing (a wrong code
// counts an attempt, as documented); never a 500 or a panic.
func FuzzPrivacyAPI(f *testing.F) {
	codes := webtest.Documented(f, privacyCodes)
	webtest.Quiet(f)
	route := fuzzRoutes.Index
	file := route("POST", "/v1/privacy/requests")
	for _, body := range []string{
		`{"email":"carol@example.net","type":"access","regulation":"ccpa"}`,
		`{"email":"jane@example.com","type":"correct","regulation":"gdpr","details":"line one\nline two","corrections":[{"field":"name","value":"Jane Q. Doe"},{"field":"email","value":"jane.doe@example.com"},{"field":"country","value":"de"}]}`,
		`{"email":"JANE@example.com","type":"delete","regulation":"ccpa"}`,
		``, `{}`, `null`, `[]`, `"x"`, `{"email":`, `{"email":"a@example.com"}{}`, `{"email":"a@example.com","phone":"1"}`,
		`{"email":1,"type":true,"regulation":[]}`, `{"email":null,"type":null,"regulation":null,"corrections":null}`,
		`{"email":"not an address","type":"delete","regulation":"ccpa"}`,
		`{"email":"Jane <jane@example.com>","type":"delete","regulation":"ccpa"}`,
		`{"email":"` + strings.Repeat("a", 250) + `@example.com","type":"delete","regulation":"ccpa"}`,
		`{"email":"a@example.com","type":"erase","regulation":"ccpa"}`,
		`{"email":"a@example.com","type":"delete","regulation":"lgpd"}`,
		`{"email":"a@example.com","type":"delete","regulation":"ccpa","details":"` + strings.Repeat("é", 2001) + `"}`,
		`{"email":"a@example.com","type":"delete","regulation":"ccpa","details":"\u0000\u001b"}`,
		`{"email":"a@example.com","type":"delete","regulation":"ccpa","corrections":[{"field":"name","value":"x"}]}`,
		`{"email":"a@example.com","type":"correct","regulation":"ccpa","corrections":[]}`,
		`{"email":"a@example.com","type":"correct","regulation":"ccpa","corrections":[null]}`,
		`{"email":"a@example.com","type":"correct","regulation":"ccpa","corrections":[{"field":"name","value":"a"},{"field":"name","value":"b"}]}`,
		`{"email":"a@example.com","type":"correct","regulation":"ccpa","corrections":[{"field":"password","value":"x"}]}`,
		`{"email":"a@example.com","type":"correct","regulation":"ccpa","corrections":[{"field":"country","value":"XX"},{"field":"email","value":"nope"}]}`,
		`{"email":"a@example.com","type":"correct","regulation":"ccpa","corrections":[{"field":"name","value":"` + strings.Repeat("n", 201) + `"}]}`,
		`{"email":"a@example.com","type":"correct","regulation":"ccpa","corrections":[{"field":"name","value":"two\nlines"}]}`,
		`{"email":"a@example.com","type":"correct","regulation":"ccpa","corrections":[` + strings.Repeat(`{"field":"name","value":"x"},`, 10) + `{"field":"name","value":"x"}]}`,
		`{"email":"a@example.com","type":"opt_out","regulation":"ccpa","details":"` + strings.Repeat("x", 33<<10) + `"}`,
	} {
		f.Add(file, "", "", []byte(body), "")
	}
	verify := route("POST", "/v1/privacy/requests/{id}/verify")
	for _, body := range []string{`{"code":"135790"}`, `{"code":"246810"}`, `{"code":"12345"}`, `{"code":"1234567"}`, `{"code":"12345a"}`,
		`{"code":135790}`, `{"code":null}`, `{}`, ``, `{"code":"١٢٣٤٥٦"}`, `{"code":" 135790 "}`} {
		f.Add(verify, evB, "", []byte(body), "")
	}
	f.Add(verify, evA, "", []byte(`{"code":"246810"}`), "")
	list := route("GET", "/v1/compliance/requests")
	for _, q := range []string{"", "status=verified", "status=denied&overdue=true", "type=opt_out&overdue=true&limit=500", "limit=0", "limit=501",
		"limit=-1", "limit=99999999999999999999", "limit=ten", "overdue=yes", "type=erase", "status=open", "status=verified&status=denied",
		"cursor=AAAA", "cursor=%21", "cursor=MjAyNi0xMS0zMFQxOTozMDowMFogcHJfMDEwMjAzMDQwNTA2MDcwODA5MGEwYjBjMGQwZTBmMTA", "page=2", "%zz=1;&&="} {
		f.Add(list, "", q, []byte(nil), "")
	}
	for _, c := range []struct{ path, body string }{
		{"/v1/compliance/requests/{id}/approve", ``}, {"/v1/compliance/requests/{id}/approve", `{}`}, {"/v1/compliance/requests/{id}/approve", `{"force":true}`},
		{"/v1/compliance/requests/{id}/approve", `null`}, {"/v1/compliance/requests/{id}/approve", " \n\t"},
		{"/v1/compliance/requests/{id}/approve", strings.Repeat(" ", handler.MaxOperatorBody+1)},
		{"/v1/compliance/requests/{id}/deny", `{"reason":"no_match","note":"We hold nothing under this address."}`},
		{"/v1/compliance/requests/{id}/deny", `{"reason":"other"}`}, {"/v1/compliance/requests/{id}/deny", `{"reason":"other","note":"` + strings.Repeat("n", 501) + `"}`},
		{"/v1/compliance/requests/{id}/deny", `{"reason":"because"}`}, {"/v1/compliance/requests/{id}/deny", `{"reason":"other","note":"\u0007"}`},
		{"/v1/compliance/requests/{id}/extend", `{"reason":"The request is complex."}`}, {"/v1/compliance/requests/{id}/extend", `{"reason":"  "}`},
		{"/v1/compliance/requests/{id}/extend", `{"reason":["x"]}`}, {"/v1/compliance/requests/{id}/extend", `{"reason":"` + strings.Repeat("r", 9<<10) + `"}`},
	} {
		f.Add(route("POST", c.path), evA, "", []byte(c.body), "")
		f.Add(route("POST", c.path), evB, "", []byte(c.body), "")
	}
	for i, r := range fuzzRoutes {
		if r.Wild() {
			for _, id := range []string{evA, evB, strings.ToUpper(evA), "pr_zz", "pr_" + strings.Repeat("0", 32), "/", "a/", "a/b", "%00", "pr_\u00e9", strings.Repeat("p", 300)} {
				f.Add(uint8(i), id, "", []byte(`{}`), "")
			}
		}
	}
	for _, authz := range []string{"Bearer", "Basic x", "bearer " + evSecretA, "Bearer pss_" + strings.Repeat("A", 43), "Bearer " + evSecretA + "x", "Bearer \u00e9"} {
		f.Add(route("GET", "/v1/privacy/requests/{id}"), evA, "", []byte(nil), authz)
		f.Add(route("GET", "/v1/privacy/requests/{id}/package"), evA, "", []byte(nil), authz)
	}

	f.Fuzz(func(t *testing.T, routeIdx uint8, id, query string, body []byte, authz string) {
		rt := fuzzRoutes[int(routeIdx)%len(fuzzRoutes)]
		if authz == "" {
			authz = "Bearer " + evSecretA
		}
		r := rt.Request(body, id)
		r.URL.RawQuery = query
		r.Header.Set("Authorization", authz)
		fx := newFix(t)
		h := handler.New(handler.Deps{Privacy: fx.svc, Now: fx.clock.Now, Packages: &Links{PresignGetFunc: func(_ context.Context, key string, _ time.Duration) (string, error) {
			return "https://privacy-bucket.example/" + key, nil
		}}})
		before := fx.state(t)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		code := webtest.CheckAnswer(t, w, codes)
		// A path no route takes is refused before any handler reads the body.
		if rt.OverLimit(len(body)) && w.Code != http.StatusRequestEntityTooLarge && code != web.CodeNotFound {
			t.Fatalf("%s %s: answered %d to a body over the limit, want 413: %.300s", rt.Method, r.URL, w.Code, w.Body.String())
		}
		if w.Code >= 400 && w.Code != http.StatusForbidden && fx.state(t) != before {
			t.Fatalf("%s %s answered %d but changed the requests:\nbefore %s\nafter  %s", rt.Method, r.URL, w.Code, before, fx.state(t))
		}
	})
}

// state is what a refused request must leave as it was: every request with its audit log,
// the mails sent and the jobs queued.
func (f *fix) state(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	res, err := f.svc.List(ctx, privacy.ListFilter{Limit: privacy.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range res.Requests {
		_, audit, err := f.svc.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%+v %+v\n", r, audit)
	}
	msgs, err := f.outbox.Messages()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "mails: %d, jobs: %d", len(msgs), len(f.queue.Jobs()))
	return b.String()
}

package handler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	exportapi "github.com/crowdgate/crowdgate/functions/export/api"
	"github.com/crowdgate/crowdgate/functions/jobs/handler"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/web"
	"github.com/crowdgate/crowdgate/shared/web/webtest"
)

// fuzzRoutes are the jobs routes FuzzJobsAPI drives; {id} takes the fuzzed id. The export
// routes the function also mounts are fuzzed in functions/export/api.
var fuzzRoutes = webtest.RoutesOf(routes.For(routes.FunctionJobs), map[string]int{
	"POST /v1/jobs": handler.MaxBody, "POST /v1/jobs/{id}/items": handler.MaxBody, "POST /v1/jobs/{id}/items/commit": handler.MaxBody,
	"POST /v1/jobs/{id}/pause": handler.MaxBody, "POST /v1/jobs/{id}/resume": handler.MaxBody,
}, exportapi.Routes[0].Pattern(), exportapi.Routes[1].Pattern())

// jobsCodes are the error codes docs/API.md lists for the jobs routes, with their status.
var jobsCodes = webtest.Codes{"invalid_json": 400, "bad_request": 400, "invalid_job": 400, "invalid_items": 400,
	"unauthorized": 401, "job_not_found": 404, "not_found": 404, "item_exists": 409, "job_deleting": 409, "conflict": 409, "idempotency_key_reused": 409,
	"body_too_large": 413}

// FuzzJobsAPI sends arbitrary bodies, ids, query strings and Authorization headers to every
// jobs route (authz "" is customer A's working key, so most inputs reach body parsing). Bad
// input must get a documented 4xx with the error envelope and change nothing; never a 500
// or a panic.
func FuzzJobsAPI(f *testing.F) {
	codes := webtest.Documented(f, jobsCodes)
	webtest.Quiet(f)
	route := fuzzRoutes.Index
	create, items, list, commit := route("POST", "/v1/jobs"), route("POST", "/v1/jobs/{id}/items"), route("GET", "/v1/jobs/{id}/items"), route("POST", "/v1/jobs/{id}/items/commit")
	for _, body := range []string{
		`{"name":"Pet photos","type":"multiple_choice","classes":["cat","dog","bird"],"question":{"en":"Does this photo show a {class}?","de":"Zeigt dieses Foto: {class}?"},"class_names":{"de":["Katze","Hund","Vogel"]},"min_answers":3,"max_answers":9,"confidence_target":0.95,"priority":1,"expires_at":"2027-06-30T00:00:00Z"}`,
		`{"name":"Sentiment","type":"binary","question":{"en":"Is this review positive?"}}`,
		`{"name":"Shapes","type":"image_grid","classes":["circle","square"]}`,
		``, `{}`, `null`, `[]`, `"job"`, `{"name":`, `{"name":"x"}{}`, `{"name":"x","colour":"red"}`,
		`{"name":"x","type":"binary","question":{"en":"?"},"min_answers":1e30}`,
		`{"name":"x","type":"binary","question":{"en":"?"},"min_answers":-3,"max_answers":-1}`,
		`{"name":"x","type":"binary","question":{"en":"?"},"min_answers":9,"max_answers":3}`,
		`{"name":"x","type":"binary","question":{"en":"?"},"max_answers":51}`,
		`{"name":"x","type":"binary","question":{"en":"?"},"confidence_target":-0.5,"priority":1001}`,
		`{"name":"x","type":"binary","question":{"en":"?"},"priority":-9223372036854775808}`,
		`{"name":"x","type":"binary","question":{"en":"?"},"priority":"1"}`,
		`{"name":"x","type":"binary","question":{"en":"?"},"expires_at":"2001-01-01T00:00:00Z"}`,
		`{"name":"x","type":"binary","question":{"en":"?"},"expires_at":"9999-12-31T23:59:59Z"}`,
		`{"name":"x","type":"multiple_choice","classes":["a","b","c","d","e","f","g","h","i","j","k"]}`,
		`{"name":"x","type":"multiple_choice","classes":["a","a"]}`,
		`{"name":"x","type":"multiple_choice","classes":[" a","b\u0000"]}`,
		`{"name":"x","type":"multiple_choice","classes":["a","b"],"class_names":{"de":["A"],"xx":["a","b"]}}`,
		`{"name":"x","type":"multiple_choice","classes":["a","b"],"question":{"de":"{class}?"}}`,
		`{"name":"x","type":"binary","classes":["no","yes"],"question":{"en":"?"}}`,
		`{"name":"` + strings.Repeat("ü", 150) + `","type":"binary","question":{"en":"?"}}`,
		`{"name":"\ud800","type":"image_grid","classes":["\u00e9","\u0301e"],"question":{"en":"\u202e{class}"}}`,
		`{"name":null,"type":null,"classes":null,"question":null,"expires_at":null}`,
	} {
		f.Add(create, "", "", []byte(body), "")
	}
	for _, body := range []string{
		`{"items":[{"id":"review-17","text":"Arrived on time","gold":"cat"},{"text":"Broke after a day","gold":"dog","holdout":true},{"id":"photo-0101","image":{"content_type":"image/jpeg","size":48213}},{"id":"photo-0102","image":{"content_type":"image/png","size":120442},"gold":"dog"}]}`,
		`{"items":[]}`, `{"items":null}`, `{"items":{}}`, `{"items":[null]}`, `{"items":[{}]}`,
		`{"items":[{"text":"a","image":{"content_type":"image/png","size":1}}]}`,
		`{"items":[{"image":{"content_type":"image/webp","size":1}}]}`,
		`{"items":[{"image":{"content_type":"image/png","size":-1}}]}`,
		`{"items":[{"image":{"content_type":"image/png","size":99999999999999999999}}]}`,
		`{"items":[{"image":{"content_type":"image/png","size":4194305}}]}`,
		`{"items":[{"text":"x","gold":"fish"},{"text":"y","holdout":true}]}`,
		`{"items":[{"id":"a","text":"x"},{"id":"a","text":"y"}]}`,
		`{"items":[{"id":"photo-0001","text":"taken"}]}`,
		`{"items":[{"id":"../etc","text":"x"}]}`,
		`{"items":[{"id":"` + strings.Repeat("i", 129) + `","text":"x"}]}`,
		`{"items":[{"text":"` + strings.Repeat("t", 1001) + `"}]}`,
		`{"items":[{"text":"   "}]}`,
		`{"items":[` + strings.TrimSuffix(strings.Repeat(`{"text":"x"},`, 101), ",") + `]}`,
	} {
		f.Add(items, evJobA, "", []byte(body), "")
	}
	f.Add(items, evJobB, "", []byte(`{"items":[{"text":"x"}]}`), "")
	for _, body := range []string{
		`{"items":["upload-001","upload-002","upload-003","no-such-item"]}`,
		`{"items":["upload-001","upload-001","upload-002","upload-002"]}`,
		`{"items":[]}`, `{"items":[""]}`, `{"items":[1]}`, `{"items":"upload-001"}`, `{"items":["photo-0001","photo-0003","../x"]}`,
	} {
		f.Add(commit, evJobA, "", []byte(body), "")
	}
	for _, body := range []string{``, `{}`, " \n", `null`, `[]`, `{"priority":5}`, `not json`, strings.Repeat(" ", handler.MaxBody+1)} {
		f.Add(route("POST", "/v1/jobs/{id}/pause"), evJobA, "", []byte(body), "")
		f.Add(route("POST", "/v1/jobs/{id}/resume"), evJobA, "", []byte(body), "")
	}
	for _, q := range []string{"", "limit=2", "limit=1000", "limit=0", "limit=-1", "limit=1001", "limit=99999999999999999999",
		"limit=ten", "cursor=cGhvdG8tMDAwMw", "cursor=%21%21", "cursor=", "cursor=Lg", "limit=2&limit=3&cursor=x&cursor=y", "%zz=1;&&="} {
		f.Add(list, evJobA, q, []byte(nil), "")
	}
	for i, r := range fuzzRoutes {
		if r.Wild() {
			for _, id := range []string{evJobA, evJobB, "job_nope", "", ".", "..", "/", "a/", "a/b", "%00", "job_\u00e9", strings.Repeat("j", 200)} {
				f.Add(uint8(i), id, "", []byte(nil), "")
			}
		}
	}
	for _, authz := range []string{"Bearer " + evKeyB, "Bearer " + evKeyRevoked, "Bearer", "Basic " + evKeyA, "bearer  " + evKeyA + " ", "Bearer cgk_" + strings.Repeat("0", 16) + "_" + strings.Repeat("z", 64)} {
		f.Add(route("GET", "/v1/jobs"), "", "", []byte(nil), authz)
		f.Add(create, "", "", []byte(`{"name":"x","type":"binary","question":{"en":"?"}}`), authz)
	}

	f.Fuzz(func(t *testing.T, routeIdx uint8, id, query string, body []byte, authz string) {
		rt := fuzzRoutes[int(routeIdx)%len(fuzzRoutes)]
		r := rt.Request(body, id)
		r.URL.RawQuery = query
		if authz == "" {
			authz = "Bearer " + evKeyA
		}
		fx := newFix(t)
		before := fx.state(t)
		r.Header.Set("Authorization", authz)
		w := httptest.NewRecorder()
		fx.h.ServeHTTP(w, r)
		code := webtest.CheckAnswer(t, w, codes)
		// A bad key and a path no route takes are refused before the body is read.
		if rt.OverLimit(len(body)) && w.Code != http.StatusRequestEntityTooLarge && w.Code != http.StatusUnauthorized && code != web.CodeNotFound {
			t.Fatalf("%s %s: answered %d to a body over the limit, want 413: %.300s", rt.Method, r.URL, w.Code, w.Body.String())
		}
		if w.Code >= 400 && fx.state(t) != before {
			t.Fatalf("%s %s answered %d but changed the jobs:\nbefore %s\nafter  %s", rt.Method, r.URL, w.Code, before, fx.state(t))
		}
	})
}

// state is what a refused request must leave as it was: both customers' jobs with all their
// items, and the number of media objects.
func (f *fix) state(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, c := range []string{evCustomerA, evCustomerB} {
		jobs, err := f.svc.List(ctx, c, "", job.MaxJobPage)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs.Jobs {
			page, err := f.svc.Items(ctx, c, j.ID, "", job.MaxPage)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%+v %+v\n", j, page)
		}
	}
	fmt.Fprintf(&b, "media objects: %d", f.media.Len())
	return b.String()
}

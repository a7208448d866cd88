package web_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/web"
)

func decodeErr(t *testing.T, rec *httptest.ResponseRecorder) web.ErrorBody {
	t.Helper()
	var b web.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body is not the JSON envelope: %v: %s", err, rec.Body)
	}
	return b
}

func TestDecodeJSONRefusesBadInputWithCodes(t *testing.T) {
	type req struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	cases := []struct {
		body   string
		status int
		code   string
	}{
		{`{"name":"a","n":1}`, 0, ""},
		{`{"name":`, 400, web.CodeBadJSON},
		{``, 400, web.CodeBadJSON},
		{`{"name":"a","extra":1}`, 400, web.CodeBadJSON},
		{`{"n":"text"}`, 400, web.CodeBadJSON},
		{`{"name":"a"} {"name":"b"}`, 400, web.CodeBadJSON},
		{`{"name":"a"}]`, 400, web.CodeBadJSON},
		{`{"name":"a"}}}`, 400, web.CodeBadJSON},
		{`{"name":"a"} x`, 400, web.CodeBadJSON},
		{"{\"name\":\"a\"} \n\t", 0, ""},
		{`{"name":"` + strings.Repeat("x", 100) + `"}`, 413, web.CodeTooLarge},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
		var v req
		err := web.DecodeJSON(r, 64, &v)
		if c.status == 0 {
			if err != nil {
				t.Errorf("%q: unexpected error %v", c.body, err)
			}
			continue
		}
		var we *web.Error
		if !errors.As(err, &we) || we.Status != c.status || we.Code != c.code {
			t.Errorf("%q: got %v, want %d %s", c.body, err, c.status, c.code)
		}
	}
}

// A wrong JSON type is described in JSON's terms; the Go type behind the field (a struct's
// whole field list, once) is nothing an API user can act on.
func TestDecodeJSONNamesTheExpectedJSONType(t *testing.T) {
	type inner struct {
		X int `json:"x"`
	}
	type req struct {
		Name  string   `json:"name"`
		N     int32    `json:"n"`
		Tags  []string `json:"tags"`
		In    *inner   `json:"in"`
		Ok    bool     `json:"ok"`
		Ratio float64  `json:"ratio"`
	}
	cases := map[string]string{
		`[1]`:              "the body must be an object",
		`"text"`:           "the body must be an object",
		`{"name":5}`:       `field "name" must be a string`,
		`{"n":1.5}`:        `field "n" must be a whole number that fits in 32 bits`,
		`{"n":1e12}`:       `field "n" must be a whole number that fits in 32 bits`,
		`{"tags":"a"}`:     `field "tags" must be an array`,
		`{"in":[]}`:        `field "in" must be an object`,
		`{"in":{"x":"1"}}`: `field "in.x" must be a whole number that fits in 64 bits`,
		`{"ok":"yes"}`:     `field "ok" must be true or false`,
		`{"ratio":"0.5"}`:  `field "ratio" must be a number`,
	}
	for body, want := range cases {
		var v req
		err := web.DecodeJSON(httptest.NewRequest("POST", "/", strings.NewReader(body)), 1024, &v)
		var we *web.Error
		if !errors.As(err, &we) || we.Code != web.CodeBadJSON {
			t.Fatalf("%s: got %v, want %s", body, err, web.CodeBadJSON)
		}
		if !strings.HasSuffix(we.Message, want) || strings.Contains(we.Message, "struct") {
			t.Errorf("%s: message %q, want it to end %q", body, we.Message, want)
		}
	}
}

func TestMiddlewareTurnsPanicIntoJSON500WithRequestID(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := web.Middleware(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x?secret=hide-me", nil))
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	b := decodeErr(t, rec)
	if b.Error.Code != web.CodeInternal || b.Error.RequestID == "" || b.Error.RequestID != rec.Header().Get("X-Request-Id") {
		t.Fatalf("body %+v, header id %q", b, rec.Header().Get("X-Request-Id"))
	}
	if strings.Contains(logs.String(), "hide-me") {
		t.Fatal("query string leaked into logs")
	}
}

func TestWriteErrorHidesInternalDetail(t *testing.T) {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	web.WriteError(rec, r, errTest("table crowdgate-accounts is on fire"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "fire") {
		t.Fatalf("internal error leaked: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	web.WriteError(rec, r, web.Errorf(404, "challenge_not_found", "no such challenge"))
	if b := decodeErr(t, rec); rec.Code != 404 || b.Error.Code != "challenge_not_found" {
		t.Fatalf("got %d %+v", rec.Code, b)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestCORSAnswersPreflight(t *testing.T) {
	called := false
	h := web.CORS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("OPTIONS", "/1/challenges", nil))
	if rec.Code != 204 || called || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight: %d called=%v headers=%v", rec.Code, called, rec.Header())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/1/challenges", nil))
	if !called || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatal("CORS headers missing on the real request")
	}
}

func TestClientIP(t *testing.T) {
	for in, want := range map[string]string{"203.0.113.9:5555": "203.0.113.9", "203.0.113.9": "203.0.113.9", "[2001:db8::1]:80": "2001:db8::1", "garbage": "<nil>"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = in
		if got := web.ClientIP(r).String(); got != want {
			t.Errorf("%q: got %s want %s", in, got, want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer abc":     "abc",
		"bearer  abc ":   "abc",
		" BEARER abc":    "abc",
		"Basic abc":      "",
		"Bearer":         "",
		"Bearer    ":     "",
		"":               "",
		"abc":            "",
		"Token Bearer x": "",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		got, ok := web.BearerToken(r)
		if got != want || ok != (want != "") {
			t.Errorf("%q: %q %v, want %q", header, got, ok, want)
		}
	}
}

func TestRetrySecondsRoundUpAndNeverSayZero(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, 200 * time.Millisecond: 1, 1200 * time.Millisecond: 2, time.Hour: 3600} {
		if got := web.RetrySeconds(d); got != want {
			t.Errorf("RetrySeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestDecodeOptionalJSONTakesNoBodyButRefusesBadOnes(t *testing.T) {
	type req struct {
		Name string `json:"name"`
	}
	cases := []struct {
		body   string
		status int
		want   string
	}{
		{"", 0, "kept"},
		{" \n\t", 0, "kept"},
		{`{"name":"new"}`, 0, "new"},
		{`{"name":"new"}]`, 400, ""},
		{`{"nam":"new"}`, 400, ""},
		{strings.Repeat(" ", 65), 413, ""},
	}
	for _, c := range cases {
		v := req{Name: "kept"}
		err := web.DecodeOptionalJSON(httptest.NewRequest("POST", "/", strings.NewReader(c.body)), 64, &v)
		var we *web.Error
		switch {
		case c.status == 0 && (err != nil || v.Name != c.want):
			t.Errorf("%q: name %q, err %v; want %q", c.body, v.Name, err, c.want)
		case c.status != 0 && (!errors.As(err, &we) || we.Status != c.status):
			t.Errorf("%q: err %v, want status %d", c.body, err, c.status)
		}
	}
}

// A request is named by API Gateway's id when it came through API Gateway, else by an id
// of ours; never by the caller's X-Request-Id, which could carry an address or an e-mail
// (base64 passes any shape check) into the logs.
func TestRequestIDIsNeverTheCallers(t *testing.T) {
	var logs bytes.Buffer
	var seen string
	h := web.Middleware(slog.New(slog.NewJSONHandler(&logs, nil)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = web.RequestID(r.Context())
	}))
	for _, c := range []struct{ caller, gateway, want string }{
		{"amFuZUBleGFtcGxlLmNvbQ==", "", ""},             // jane@example.com in base64
		{"0b6f8a52-7c1e-4d3a-9b2f-5e4d3c2b1a09", "", ""}, // a UUID is no different
		{"jane@example.com", "Q1w2E3r4T5y6U7i=", "Q1w2E3r4T5y6U7i="},
		{"", "Q1w2E3r4T5y6U7i=", "Q1w2E3r4T5y6U7i="},
		{"", "not an id", ""}, // a test event may carry anything: an id of ours then
	} {
		logs.Reset()
		req := httptest.NewRequest("GET", "/", nil)
		if c.caller != "" {
			req.Header.Set("X-Request-Id", c.caller)
		}
		if c.gateway != "" {
			req = req.WithContext(web.WithGatewayRequestID(req.Context(), c.gateway))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-Id")
		if got == "" || got != seen || (c.want != "" && got != c.want) || (c.want == "" && (got == c.caller || got == c.gateway)) {
			t.Errorf("caller %q, gateway %q: answered %q, handler saw %q; want %q (or an id of ours)", c.caller, c.gateway, got, seen, c.want)
		}
		if !strings.Contains(logs.String(), `"request_id":"`+got+`"`) {
			t.Errorf("the log line is not named by %q: %s", got, logs.String())
		}
		if c.caller != "" && strings.Contains(logs.String(), c.caller) {
			t.Errorf("the caller's id %q reached the log: %s", c.caller, logs.String())
		}
	}
}

// JSON answers carry keys, secrets and pass tokens, and error messages that name what the
// caller sent: a browser must never sniff one into HTML or script, nor a cache keep it.
func TestWriteJSONForbidsSniffingAndCaching(t *testing.T) {
	rec := httptest.NewRecorder()
	web.WriteJSON(rec, http.StatusCreated, map[string]string{"secret": "0x…"})
	for name, want := range map[string]string{
		"Content-Type":           "application/json; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-store",
	} {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

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

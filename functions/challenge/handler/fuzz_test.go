package handler_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/functions/challenge/handler"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/web"
	"github.com/crowdgate/crowdgate/shared/web/webtest"
)

// The documented error codes of each route with their status (docs/API.md).
var (
	issueErrors = webtest.Codes{
		"invalid_json": 400, "bad_request": 400, "hostname_not_allowed": 403, "unknown_sitekey": 404,
		"body_too_large": 413, "try_later": 429,
	}
	answerErrors = webtest.Codes{
		"invalid_json": 400, "bad_request": 400, "invalid_answers": 400, "sitekey_mismatch": 403,
		"challenge_not_found": 404, "not_found": 404, "challenge_used": 409, "challenge_expired": 410,
		"body_too_large": 413, "try_later": 429,
	}
)

// A browser's headers, for the seeds: the risk scorer compares them.
const (
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	chromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	chromeCH  = `"Chromium";v="131", "Google Chrome";v="131", "Not_A Brand";v="24"`
)

// The fixture's right answers (fixtureRecord), and telemetry as the widget sends it.
const (
	passAnswers = `[{"task":"t0","selected":["00000000000000a0","00000000000000a1","00000000000000a2","00000000000000a7"]},` +
		`{"task":"t1","selected":["00000000000000b0","00000000000000b1"]},{"task":"t2","choice":"yes"}]`
	widgetTelemetry = `{"v":1,"dur":5200,"p":[[16,1,2,"m"],[0,120,640,"d","t"],[80,120,640,"u","t"]],"k":[[5,80]],` +
		`"f":[[10,"b"]],"vp":{"w":1280,"h":720,"dpr":2},"a":{"wd":false,"pl":5,"lg":2,"chr":true,"pf":"Win32"}}`
)

// newFuzzFix is newFix with the production risk hook (shared/risk over the in-memory risk
// function) instead of the recording fake, so fuzzed telemetry and headers reach the scorer.
func newFuzzFix(t testing.TB) *fix {
	t.Helper()
	f := newFix(t)
	rf := challengetest.NewRiskFunction()
	f.env.Deps.Risk = &challenge.ScoringHook{Salts: challengetest.NewSalts(), Windows: rf, Events: rf.Publisher(), Now: f.env.Clock.Now}
	f.h = web.Middleware(slog.New(slog.NewTextHandler(io.Discard, nil)), handler.New(handler.Deps{Deps: f.env.Deps}))
	return f
}

func (f *fix) post(path, body string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.RemoteAddr = "203.0.113.77:41000"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// checkWidgetAnswer is webtest.CheckAnswer with what the widget routes promise besides:
// CORS, so the widget can read the answer, and Retry-After with try_later. It returns the
// error code. The 404 for a path no route takes (an id of "", "." or "%2F") comes from
// web.Mount before any route's CORS; the widget never builds such a path.
func checkWidgetAnswer(t *testing.T, rec *httptest.ResponseRecorder, codes webtest.Codes) string {
	t.Helper()
	code := webtest.CheckAnswer(t, rec, codes)
	if rec.Header().Get("Access-Control-Allow-Origin") != "*" && code != web.CodeNotFound {
		t.Fatalf("status %d without CORS: the widget could not read it", rec.Code)
	}
	if code == "try_later" && rec.Header().Get("Retry-After") == "" {
		t.Fatal("try_later without Retry-After")
	}
	return code
}

// FuzzIssue drives POST /1/challenges with any body and the headers the risk scorer reads.
func FuzzIssue(f *testing.F) {
	codes := webtest.Documented(f, issueErrors)
	site := `"sitekey":"` + challengetest.DemoSitekey + `","host":"` + challengetest.DemoHostname + `"`
	for _, body := range []string{
		`{` + site + `,"hl":"en"}`,
		`{` + site + `,"hl":"de-AT","telemetry":` + widgetTelemetry + `}`,
		`{` + site + `,"telemetry":null}`,
		`{"sitekey":"10000000-ffff-ffff-ffff-000000000001","host":"anything.example"}`,
		`{"sitekey":"` + challengetest.DemoSitekey + `","host":"SHOP.example.com."}`,
		`{"sitekey":"` + challengetest.DemoSitekey + `","host":"evil.example"}`,
		`{"sitekey":"10000000-2222-4333-8444-555555555555","host":"shop.example.com"}`,
		``, `{}`, `null`, `[]`, `"str"`, `{`, `{}{}`, `{} x`,
		`{"sitekey":5,"host":["shop.example.com"]}`,
		`{"sitekey":null,"host":null,"hl":null}`,
		`{` + site + `,"sitekey":"` + challengetest.DemoSitekey + `"}`, // duplicate key
		`{` + site + `,"extra":1}`,
		`{` + site + `,"telemetry":5}`,
		`{` + site + `,"telemetry":"null"}`,
		`{` + site + `,"telemetry":[]}`,
		`{` + site + `,"telemetry":{"v":2}}`,
		`{` + site + `,"telemetry":{"p":[[1e308,-1e308,1e999,"m"]],"dur":-1}}`,
		`{` + site + `,"telemetry":{"p":[[1,2,3,"zz"]],"k":[[10,5],[3]]}}`,
		`{` + site + `,"telemetry":{"vp":{"w":99999999999999999999,"dpr":1e400}}}`,
		`{` + site + `,"hl":"` + strings.Repeat("é", 3000) + `"}`,
		`{"sitekey":"` + challengetest.DemoSitekey + `","host":"` + strings.Repeat("a.", 2000) + `shop.example.com"}`,
		`{"sitekey":"` + challengetest.DemoSitekey + `","host":"shop.example.com\u0000"}`,
		`{"sitekey":"` + challengetest.DemoSitekey + `","host":"\ud800"}`,
		`{` + site + `,"telemetry":{"pad":"` + strings.Repeat("x", challenge.MaxTelemetry) + `"}}`,
		`{` + site + `,"hl":"` + strings.Repeat("x", handler.MaxBody) + `"}`,
	} {
		f.Add(body, "application/json", firefoxUA, "")
	}
	f.Add(`{`+site+`}`, "text/plain", chromeUA, chromeCH)
	f.Add(`{`+site+`}`, "", "", `"Chromium";v="9999999999999999999999"`)
	f.Add(`{`+site+`}`, "application/json; charset=utf-16", "curl/8.5.0", "")
	f.Add(`{`+site+`}`, "multipart/form-data; boundary=", "HeadlessChrome/120", "\t")
	f.Fuzz(func(t *testing.T, body, contentType, userAgent, clientHints string) {
		if !webtest.HeaderSafe(contentType, userAgent, clientHints) {
			t.Skip("not a value an HTTP header can carry")
		}
		fx := newFuzzFix(t)
		rec := fx.post("/1/challenges", body, map[string]string{"Content-Type": contentType, "User-Agent": userAgent, "Sec-CH-UA": clientHints})
		checkWidgetAnswer(t, rec, codes)
	})
}

// FuzzAnswer drives POST /1/challenges/{id}/answers with any id and body. A refused answer
// must not use the challenge up: the visitor may correct it and answer again.
func FuzzAnswer(f *testing.F) {
	codes := webtest.Documented(f, answerErrors)
	sk := `"sitekey":"` + challengetest.DemoSitekey + `"`
	for _, c := range []struct{ id, body string }{
		{fixtureID, `{` + sk + `,"answers":` + passAnswers + `,"telemetry":` + widgetTelemetry + `}`},
		{fixtureID, `{` + sk + `,"answers":` + passAnswers + `}`},
		{fixtureID, `{` + sk + `,"answers":[{"task":"t0","selected":[]},{"task":"t1","selected":[]},{"task":"t2","choice":"no"}]}`},
		{fixtureID, `{` + sk + `,"answers":[{"task":"t0","selected":["00000000000000a0"]}]}`},
		{fixtureID, `{` + sk + `,"answers":[{"task":"t0","selected":null},{"task":"t1","selected":[]},{"task":"t2","choice":"yes"}]}`},
		{fixtureID, `{` + sk + `,"answers":[{"task":"t0","selected":["00000000000000a0","00000000000000a0"]},{"task":"t1","selected":[]},{"task":"t2","choice":"yes"}]}`},
		{fixtureID, `{` + sk + `,"answers":[{"task":"t0","selected":["",null]},{"task":"t1","selected":[]},{"task":"t2","choice":"yes"}]}`},
		{fixtureID, `{` + sk + `,"answers":[{"task":"t2","choice":"yes","selected":[]},{"task":"t0","selected":[]},{"task":"t1","selected":[]}]}`},
		{fixtureID, `{` + sk + `,"answers":[{"task":"t0","selected":[]},{"task":"t0","selected":[]},{"task":"t2","choice":"yes"}]}`},
		{fixtureID, `{` + sk + `,"answers":[{"task":"t9","choice":"yes"}]}`},
		{fixtureID, `{` + sk + `,"answers":[{"task":"t2","choice":"YES"}]}`},
		{fixtureID, `{` + sk + `,"answers":[{},{},{},{}]}`},
		{fixtureID, `{` + sk + `,"answers":{}}`},
		{fixtureID, `{` + sk + `,"answers":null}`},
		{fixtureID, `{` + sk + `,"answers":[[]]}`},
		{fixtureID, `{` + sk + `,"answers":[{"task":1e400}]}`},
		{fixtureID, `{` + sk + `,"answers":` + passAnswers + `,"telemetry":{"k":[[1,2,3]]}}`},
		{fixtureID, `{` + sk + `,"answers":` + passAnswers + `,"telemetry":{"pad":"` + strings.Repeat("x", challenge.MaxTelemetry) + `"}}`},
		{fixtureID, `{"sitekey":"9b7a4c3e-1d2f-4e5a-8b6c-7d8e9f0a1b2c","answers":` + passAnswers + `}`},
		{fixtureID, `{"answers":` + passAnswers + `}`},
		{fixtureID, ``}, {fixtureID, `[]`}, {fixtureID, `null`}, {fixtureID, `{"answers":`},
		{fixtureID, `{` + sk + `,` + sk + `,"answers":` + passAnswers + `}`},
		{fixtureID, `{` + sk + `,"answers":[{"task":"t0","selected":["` + strings.Repeat("ü", 20000) + `"]}]}`},
		{fixtureID, `{` + sk + `,"answers":[` + strings.Repeat(`{"task":"t0","selected":[]},`, 2000) + `{}]}`},
		{"c_ffffffffffffffffffffffffffffffff", `{` + sk + `,"answers":` + passAnswers + `}`},
		{"C_0123456789ABCDEF0123456789ABCDEF", `{` + sk + `,"answers":` + passAnswers + `}`},
		{"a_0123456789abcdef0123456789abcdef", `{` + sk + `}`},
		{"c_", `{}`}, {"x", `{}`}, {"c_0123456789abcdef0123456789abcdef/", `{}`}, {"/", `{}`}, {"ç_日本", `{}`},
		{strings.Repeat("c_", 3000), `{}`},
	} {
		f.Add(c.id, c.body, firefoxUA)
	}
	f.Add(fixtureID, `{`+sk+`,"answers":`+passAnswers+`}`, "")
	f.Fuzz(func(t *testing.T, id, body, userAgent string) {
		if !webtest.HeaderSafe(userAgent) {
			t.Skip("not a value an HTTP header can carry")
		}
		fx := newFuzzFix(t)
		rec := fx.post("/1/challenges/"+url.PathEscape(id)+"/answers", body, map[string]string{"Content-Type": "application/json", "User-Agent": userAgent})
		code := checkWidgetAnswer(t, rec, codes)
		if code != "" && code != "try_later" {
			if r, _ := fx.env.Store.Record(fixtureID); r.Used {
				t.Fatalf("refused answer (%s) used the challenge up", code)
			}
		}
	})
}

package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/functions/challenge/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
	"github.com/crowdgate/crowdgate/shared/token"
	"github.com/crowdgate/crowdgate/shared/web"
)

// The challenge the events/challenge/answer-*.json files answer.
const fixtureID = "c_0123456789abcdef0123456789abcdef"

func fixtureRecord(now time.Time) challenge.Record {
	grid := func(id, prefix string, yes, gold int) challenge.TaskRecord {
		t := challenge.TaskRecord{ID: id, Kind: challenge.TaskImageGrid, JobID: "shapes", Class: "circle"}
		for i := range 9 {
			t.Items = append(t.Items, challenge.ItemRecord{
				Tile: "00000000000000" + prefix + string(rune('0'+i)), ItemID: id + "-item-" + string(rune('0'+i)),
				Gold: i < gold, Truth: i < yes,
			})
		}
		return t
	}
	return challenge.Record{
		ID: fixtureID, Sitekey: challengetest.DemoSitekey, Host: challengetest.DemoHostname, Locale: "en",
		IssuedAt: now.Add(-5 * time.Second), ExpiresAt: now.Add(295 * time.Second),
		Tasks: []challenge.TaskRecord{
			grid("t0", "a", 3, 6),
			grid("t1", "b", 2, 6),
			{ID: "t2", Kind: challenge.TaskYesNo, JobID: "sentiment", Class: "yes", Items: []challenge.ItemRecord{{ItemID: "s-1", Gold: true, Truth: true}}},
		},
	}
}

type fix struct {
	env *challengetest.Env
	h   http.Handler
}

func newFix(t testing.TB) *fix {
	t.Helper()
	return newFixWith(t, challengetest.NewEnv())
}

// newFixWith is newFix over an environment the test has changed (its pool, say).
func newFixWith(t testing.TB, e *challengetest.Env) *fix {
	t.Helper()
	if err := e.Store.Put(context.Background(), fixtureRecord(e.Clock.Now())); err != nil {
		t.Fatal(err)
	}
	widget := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		_, _ = io.WriteString(w, "/* widget */")
	})
	h := handler.New(handler.Deps{Deps: e.Deps, Widget: widget})
	// What platform.StartHTTP and the local stack put around every function.
	return &fix{env: e, h: web.Middleware(slog.New(slog.NewTextHandler(io.Discard, nil)), h)}
}

type reply struct {
	status  int
	headers map[string]string
	body    []byte
}

// invoke replays an events/challenge file through the API Gateway v2 adapter, as Lambda
// would deliver it.
func (f *fix) invoke(t testing.TB, name string) reply {
	t.Helper()
	resp := platformtest.ReplayHTTP(t, f.h, filepath.Join("..", "..", "..", "events", "challenge", name))
	return reply{resp.StatusCode, resp.Headers, []byte(resp.Body)}
}

func errorCode(t testing.TB, r reply) string {
	t.Helper()
	var body web.ErrorBody
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if body.Error.RequestID == "" || body.Error.Message == "" {
		t.Fatalf("error body without message or request id: %s", r.body)
	}
	return body.Error.Code
}

func TestEventErrorsMapToDocumentedStatusAndCode(t *testing.T) {
	cases := []struct {
		event  string
		status int
		code   string
	}{
		{"issue-unknown-sitekey.json", 404, "unknown_sitekey"},
		{"issue-hostname-not-allowed.json", 403, "hostname_not_allowed"},
		{"issue-missing-host.json", 400, "bad_request"},
		{"issue-malformed-json.json", 400, "invalid_json"},
		{"issue-unknown-field.json", 400, "invalid_json"},
		{"issue-telemetry-too-large.json", 413, "body_too_large"},
		{"issue-body-too-large.json", 413, "body_too_large"},
		{"answer-malformed.json", 400, "invalid_json"},
		{"answer-unknown-challenge.json", 404, "challenge_not_found"},
		{"answer-invalid-answers.json", 400, "invalid_answers"},
		{"answer-missing-task.json", 400, "invalid_answers"},
		{"answer-foreign-site.json", 403, "sitekey_mismatch"},
		{"answer-missing-sitekey.json", 400, "bad_request"}, // not another site's: none was sent
	}
	for _, c := range cases {
		t.Run(c.event, func(t *testing.T) {
			f := newFix(t)
			r := f.invoke(t, c.event)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if got := errorCode(t, r); got != c.code {
				t.Fatalf("code %q, want %q", got, c.code)
			}
			if r.headers["Access-Control-Allow-Origin"] != "*" {
				t.Fatal("error answer without CORS header: the widget could not read it")
			}
		})
	}
}

func TestIssueEventWithTestSitekeyPassesAtOnce(t *testing.T) {
	f := newFix(t)
	r := f.invoke(t, "issue-test-sitekey.json")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"pass": true, "token": token.TestResponse, "expires_in": float64(120)}
	if len(got) != len(want) || got["pass"] != true || got["token"] != want["token"] || got["expires_in"] != want["expires_in"] {
		t.Fatalf("body %s", r.body)
	}
}

// challengeBody is the documented shape of an issued challenge; unknown fields fail the
// decode, so nothing extra (item ids, gold) can slip out.
type challengeBody struct {
	Pass      bool `json:"pass"`
	Challenge struct {
		ID        string `json:"id"`
		ExpiresIn int    `json:"expires_in"`
		Prompt    string `json:"prompt"`
		Tasks     []struct {
			ID       string `json:"id"`
			Kind     string `json:"kind"`
			Question string `json:"question"`
			Lang     string `json:"lang"`
			Tiles    []struct {
				ID       string `json:"id"`
				ImageURL string `json:"image_url"`
			} `json:"tiles"`
			ImageURL string `json:"image_url"`
			Text     string `json:"text"`
			TextLang string `json:"text_lang"`
		} `json:"tasks"`
	} `json:"challenge"`
}

func decodeChallenge(t testing.TB, b []byte) challengeBody {
	t.Helper()
	var c challengeBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("challenge body %s: %v", b, err)
	}
	return c
}

func TestIssueEventReturnsADocumentedChallenge(t *testing.T) {
	f := newFix(t)
	r := f.invoke(t, "issue.json")
	if r.status != 200 || !strings.HasPrefix(r.headers["Content-Type"], "application/json") || r.headers["Access-Control-Allow-Origin"] != "*" {
		t.Fatalf("status %d headers %v: %s", r.status, r.headers, r.body)
	}
	c := decodeChallenge(t, r.body)
	if c.Pass || !strings.HasPrefix(c.Challenge.ID, "c_") || c.Challenge.ExpiresIn != 300 || c.Challenge.Prompt != "Please answer 3 questions" {
		t.Fatalf("challenge %+v", c.Challenge)
	}
	kinds := []string{"image_grid", "image_grid", "yes_no"}
	for i, task := range c.Challenge.Tasks {
		if task.Kind != kinds[i] || task.Question == "" || task.Lang != "en" {
			t.Fatalf("task %d: %+v", i, task)
		}
		if task.Kind == "image_grid" && len(task.Tiles) != 9 {
			t.Fatalf("task %d: %d tiles", i, len(task.Tiles))
		}
	}
	for _, secret := range []string{"gold", "truth", "item", "g-circle"} {
		if bytes.Contains(r.body, []byte(`"`+secret)) {
			t.Fatalf("challenge leaks %q: %s", secret, r.body)
		}
	}
	if _, ok := f.env.Store.Record(c.Challenge.ID); !ok {
		t.Fatal("issued challenge not stored")
	}
}

// A job's item language (its item_lang) reaches the widget as the yes/no task's
// text_lang, beside the text it is the language of, whatever the challenge's language; a
// job without one sends none, and the text takes the widget's language.
func TestIssueCarriesTheItemTextsLanguage(t *testing.T) {
	for _, lang := range []string{"pt-BR", ""} {
		e := challengetest.NewEnv()
		e.Stocks[1].Job.ItemLang = lang // the sentiment job, whose items are texts
		e.Catalog = job.NewCatalog(e.Stocks)
		e.Deps.Pool = e.Catalog
		f := newFixWith(t, e)
		for _, event := range []string{"issue.json", "issue-german.json"} {
			r := f.invoke(t, event)
			c := decodeChallenge(t, r.body)
			rec, _ := e.Store.Record(c.Challenge.ID)
			yn := len(c.Challenge.Tasks) - 1
			task := c.Challenge.Tasks[yn]
			if rec.Tasks[yn].JobID != "sentiment" || task.Text == "" {
				t.Fatalf("%s: yes/no task %+v from job %q, want a text of the sentiment job", event, task, rec.Tasks[yn].JobID)
			}
			if task.TextLang != lang {
				t.Errorf("%s, item_lang %q: text_lang %q", event, lang, task.TextLang)
			}
			if lang == "" && bytes.Contains(r.body, []byte(`"text_lang"`)) {
				t.Errorf("%s: a job without item_lang sends text_lang: %s", event, r.body)
			}
		}
	}
}

// German by hl, and by the browser's Accept-Language when hl is one crowdgate has no
// texts in ("it"): a caller without the widget gets the browser's language, not English.
func TestIssueEventsInGerman(t *testing.T) {
	for _, event := range []string{"issue-german.json", "issue-browser-language.json"} {
		f := newFix(t)
		r := f.invoke(t, event)
		c := decodeChallenge(t, r.body)
		if c.Challenge.Prompt != "Bitte beantworten Sie 3 Fragen" || !strings.HasPrefix(c.Challenge.Tasks[0].Question, "Wählen Sie alle Bilder mit: ") ||
			c.Challenge.Tasks[0].Lang != "de" {
			t.Errorf("%s: prompt %q question %q (lang %q)", event, c.Challenge.Prompt, c.Challenge.Tasks[0].Question, c.Challenge.Tasks[0].Lang)
		}
	}
}

// A failed answer's fresh challenge keeps the answered one's language, and the answer's
// Accept-Language picks among the languages of a job that lacks it.
func TestFreshChallengeFollowsTheAnswersAcceptLanguage(t *testing.T) {
	f := newFix(t)
	const browser = "fr-FR,fr;q=0.9,de;q=0.8"
	hdr := map[string]string{"Accept-Language": browser, "Content-Type": "application/json"}
	issued := f.post("/1/challenges", `{"sitekey":"`+f.env.Sitekey+`","host":"`+f.env.Hostname+`","hl":"fr"}`, hdr)
	path, body := f.answers(t, issued.Body.Bytes(), false)
	r := f.post(path, body, hdr)
	fresh := decodeChallenge(t, r.Body.Bytes())
	// The shapes job (first task) has English and German, no French.
	if fresh.Challenge.Prompt != "Veuillez répondre à 3 questions" || !strings.HasPrefix(fresh.Challenge.Tasks[0].Question, "Wählen Sie alle Bilder mit: ") {
		t.Fatalf("fresh challenge: prompt %q question %q", fresh.Challenge.Prompt, fresh.Challenge.Tasks[0].Question)
	}
}

// answers is the answer route of the challenge an issue answer (issued) holds, and a body
// that passes it (or fails, with pass false), as a visitor would send them.
func (f *fix) answers(t *testing.T, issued []byte, pass bool) (path, body string) {
	t.Helper()
	c := decodeChallenge(t, issued)
	rec, ok := f.env.Store.Record(c.Challenge.ID)
	if !ok {
		t.Fatal("challenge not stored")
	}
	b, err := json.Marshal(map[string]any{"sitekey": f.env.Sitekey, "answers": wire(challengetest.Solve(rec, pass))})
	if err != nil {
		t.Fatal(err)
	}
	return "/1/challenges/" + c.Challenge.ID + "/answers", string(b)
}

// wire is answers as the widget sends them.
func wire(answers []challenge.TaskAnswer) []map[string]any {
	out := make([]map[string]any, len(answers))
	for i, a := range answers {
		out[i] = map[string]any{"task": a.Task}
		if a.Selected != nil {
			out[i]["selected"] = a.Selected
		} else {
			out[i]["choice"] = a.Choice
		}
	}
	return out
}

func TestAnswerEventsPassOnceThenReplayAndExpiry(t *testing.T) {
	f := newFix(t)
	r := f.invoke(t, "answer-pass.json")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var pass struct {
		Pass      bool   `json:"pass"`
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	if err := json.Unmarshal(r.body, &pass); err != nil {
		t.Fatal(err)
	}
	if !pass.Pass || !strings.HasPrefix(pass.Token, token.Prefix) || pass.ExpiresIn != 120 {
		t.Fatalf("body %s", r.body)
	}
	if _, err := f.env.Signer.Parse(pass.Token, f.env.Clock.Now()); err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	recs := f.env.Tokens.All()
	if len(recs) != 1 || recs[0].Hostname != challengetest.DemoHostname {
		t.Fatalf("token records %+v", recs)
	}
	// The event's client reaches risk scoring: source IP and headers, without credentials.
	in := f.env.RiskCalls[0]
	if in.IP.String() != "203.0.113.77" || in.Headers.Get("User-Agent") == "" || in.SolveTime != 5*time.Second {
		t.Fatalf("risk input %+v", in)
	}
	// t0 and t1 had open tiles.
	if n := len(f.env.Outbox.All()); n != 2 {
		t.Fatalf("%d answers messages, want 2", n)
	}

	r = f.invoke(t, "answer-pass.json")
	if r.status != 409 || errorCode(t, r) != "challenge_used" {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
}

func TestAnswerEventAfterExpiryIsGone(t *testing.T) {
	f := newFix(t)
	f.env.Clock.Advance(295 * time.Second)
	r := f.invoke(t, "answer-pass.json")
	if r.status != 410 || errorCode(t, r) != "challenge_expired" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestAnswerEventFailingReturnsAFreshChallenge(t *testing.T) {
	f := newFix(t)
	r := f.invoke(t, "answer-fail.json")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	c := decodeChallenge(t, r.body)
	if c.Pass || c.Challenge.ID == "" || c.Challenge.ID == fixtureID || len(c.Challenge.Tasks) != 3 {
		t.Fatalf("body %s", r.body)
	}
	if len(f.env.Tokens.All()) != 0 || len(f.env.Outbox.All()) != 0 {
		t.Fatal("a failed answer minted a token or published labels")
	}
}

func TestPreflightAndWidgetEvents(t *testing.T) {
	f := newFix(t)
	r := f.invoke(t, "preflight.json")
	if r.status != 204 || r.headers["Access-Control-Allow-Origin"] != "*" || !strings.Contains(r.headers["Access-Control-Allow-Methods"], "POST") {
		t.Fatalf("preflight: %d %v", r.status, r.headers)
	}
	r = f.invoke(t, "widget-script.json")
	if r.status != 200 || string(r.body) != "/* widget */" {
		t.Fatalf("widget: %d %q", r.status, r.body)
	}
}

func TestUnavailableWhenNoJobCanSupplyATask(t *testing.T) {
	e := challengetest.NewEnv()
	e.Deps.Pool = &challengetest.Pool{DrawFunc: func(context.Context, job.Request) (job.Draw, error) {
		return job.Draw{}, job.ErrNoMaterial
	}}
	h := handler.New(handler.Deps{Deps: e.Deps})
	req := httptest.NewRequest(http.MethodPost, "/1/challenges", strings.NewReader(`{"sitekey":"`+e.Sitekey+`","host":"`+e.Hostname+`"}`))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"unavailable"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestStoreFailureIsAnOpaque500(t *testing.T) {
	e := challengetest.NewEnv()
	e.Deps.Sites = &challengetest.Sites{SiteFunc: func(context.Context, string) (challenge.SiteInfo, error) {
		return challenge.SiteInfo{}, errors.New("dynamodb: connection refused to 10.0.0.1")
	}}
	h := handler.New(handler.Deps{Deps: e.Deps})
	req := httptest.NewRequest(http.MethodPost, "/1/challenges", strings.NewReader(`{"sitekey":"`+e.Sitekey+`","host":"`+e.Hostname+`"}`))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "10.0.0.1") || !strings.Contains(rec.Body.String(), "internal_error") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestSitesAdapterMapsTheAccountStore(t *testing.T) {
	site := account.Site{Sitekey: challengetest.DemoSitekey, Hostnames: []string{"a.example", "b.example"}}
	s := challenge.AccountSites{Store: siteStore(func(_ context.Context, k string) (account.Site, error) {
		if k == site.Sitekey {
			return site, nil
		}
		if k == "6f1c7d4e-2a3b-4c5d-8e9f-000000000000" {
			return account.Site{}, errors.New("throttled")
		}
		return account.Site{}, account.ErrNotFound
	})}
	got, err := s.Site(context.Background(), site.Sitekey)
	if err != nil || got.Sitekey != site.Sitekey || len(got.Hostnames) != 2 {
		t.Fatalf("%+v %v", got, err)
	}
	for _, k := range []string{"not-a-uuid", "9b7a4c3e-1d2f-4e5a-8b6c-7d8e9f0a1b2c"} {
		if _, err := s.Site(context.Background(), k); !errors.Is(err, challenge.ErrUnknownSite) {
			t.Errorf("%s: %v", k, err)
		}
	}
	if _, err := s.Site(context.Background(), "6f1c7d4e-2a3b-4c5d-8e9f-000000000000"); err == nil || errors.Is(err, challenge.ErrUnknownSite) {
		t.Errorf("store failure reported as %v", err)
	}
}

type siteStore func(context.Context, string) (account.Site, error)

func (f siteStore) GetSite(ctx context.Context, k string) (account.Site, error) { return f(ctx, k) }

func TestWireNamesTheMissingSetting(t *testing.T) {
	tables := map[string]string{}
	for _, tb := range []string{"accounts", "challenges", "labels", "risk"} {
		tables[tb] = "t-" + tb
	}
	cases := map[string]*platform.Env{
		"TABLE_RISK":   {Config: config.Config{Tables: map[string]string{"accounts": "a", "challenges": "c", "labels": "l"}}},
		"BUCKET_MEDIA": {Config: config.Config{Tables: tables}},
		"SIGNING_KEYS": {Config: config.Config{Tables: tables, Buckets: map[string]string{"media": "m"}}},
		"QUEUE_ANSWERS_URL": {Config: config.Config{Tables: tables, Buckets: map[string]string{"media": "m"},
			SigningKeys: challengetest.SigningKeys}},
		"QUEUE_RISK_EVENTS_URL": {Config: config.Config{Tables: tables, Buckets: map[string]string{"media": "m"},
			SigningKeys: challengetest.SigningKeys, Queues: map[string]string{"answers": "https://sqs.example/answers"}}},
	}
	for want, env := range cases {
		if _, err := handler.Wire(context.Background(), env); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %s: err = %v", want, err)
		}
	}
}

// A page on another site may not use a sitekey by claiming one of its hostnames: the
// browser's Origin names the page, so a challenge is neither issued nor graded for a host
// other than the Origin's. A refused answer does not use the challenge up.
func TestOriginMustBeTheChallengesHost(t *testing.T) {
	f := newFix(t)
	issue := `{"sitekey":"` + f.env.Sitekey + `","host":"` + f.env.Hostname + `"}`
	for _, origin := range []string{"https://phish.example.net", "https://" + f.env.Hostname + ".phish.example.net", "null"} {
		r := f.post("/1/challenges", issue, map[string]string{"Origin": origin})
		if r.Code != http.StatusForbidden || !strings.Contains(r.Body.String(), `"hostname_not_allowed"`) {
			t.Errorf("issue from Origin %s: %d %s, want 403 hostname_not_allowed", origin, r.Code, r.Body)
		}
	}
	own := map[string]string{"Origin": "https://" + strings.ToUpper(f.env.Hostname) + ":8443"}
	issued := f.post("/1/challenges", issue, own)
	if issued.Code != http.StatusOK {
		t.Fatalf("issue from the site's own origin: %d %s", issued.Code, issued.Body)
	}
	path, body := f.answers(t, issued.Body.Bytes(), true)
	r := f.post(path, body, map[string]string{"Origin": "https://phish.example.net"})
	if r.Code != http.StatusForbidden || !strings.Contains(r.Body.String(), `"hostname_not_allowed"`) {
		t.Fatalf("answer from another origin: %d %s, want 403 hostname_not_allowed", r.Code, r.Body)
	}
	if len(f.env.Tokens.All()) != 0 {
		t.Fatal("an answer from another origin minted a token")
	}
	// Without Origin (no browser) and from the page's origin the rules are as before.
	if r := f.post(path, body, own); r.Code != http.StatusOK || !strings.Contains(r.Body.String(), `"pass":true`) {
		t.Fatalf("answer from the page's origin: %d %s", r.Code, r.Body)
	}
	if r := f.post("/1/challenges", issue, nil); r.Code != http.StatusOK {
		t.Fatalf("issue without Origin: %d %s", r.Code, r.Body)
	}
}

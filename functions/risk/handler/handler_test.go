package handler_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/functions/risk/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/web"
)

// What the events/risk files are about.
const (
	ownSite     = challengetest.DemoSitekey
	otherSite   = "9b7a4c3e-1d2f-4e5a-8b6c-7d8e9f0a1b2c"
	secondSite  = "2c4e6a8b-1d3f-4a5b-9c7d-0e1f2a3b4c5d" // the own integrator's other site
	ownSecret   = "0x5e9c1b2a3d4f60718293a4b5c6d7e8f901234567"
	ownKey      = "cgi_4f1d2c3b5a697887_8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c"
	ownKeyID    = "4f1d2c3b5a697887"
	ownIP       = "d75132462888822ac319ac893e751b10" // 203.0.113.77 with challengetest's salt of 2026-11-30
	otherIP     = "137af53c1873f8c7097b22b28ba68d50" // 198.51.100.9
	passedID    = "c_0000000000000000000000000000aa02"
	otherChalID = "c_0000000000000000000000000000bb01"
)

var lookupTime = time.Date(2026, 11, 30, 19, 32, 0, 0, time.UTC)

func readEvent(t testing.TB, name string, v any) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "events", "risk", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return raw
}

// memEvents is an EventStore that applies each event id once.
type memEvents struct {
	mu      sync.Mutex
	applied map[string]challenge.RiskEvent
	fail    func(challenge.RiskEvent) error
}

func (m *memEvents) Apply(_ context.Context, ev challenge.RiskEvent) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		if err := m.fail(ev); err != nil {
			return false, err
		}
	}
	if _, ok := m.applied[ev.ID]; ok {
		return false, nil
	}
	m.applied[ev.ID] = ev
	return true, nil
}

var _ handler.EventStore = (*memEvents)(nil)

func consume(t *testing.T, h platform.SQSHandler, file string) (events.SQSEvent, events.SQSEventResponse) {
	t.Helper()
	var ev events.SQSEvent
	readEvent(t, file, &ev)
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return ev, resp
}

func TestConsumerAppliesEventsOnceAndFailsOnlyPoison(t *testing.T) {
	store := &memEvents{applied: map[string]challenge.RiskEvent{}}
	h := handler.NewConsumer(handler.ConsumerDeps{Store: store, Analytics: newMemDays()})

	_, resp := consume(t, h, "risk-events.json")
	if len(resp.BatchItemFailures) != 0 || len(store.applied) != 5 {
		t.Fatalf("failures %+v, applied %d of 5", resp.BatchItemFailures, len(store.applied))
	}
	if ev := store.applied[passedID+":answer"]; ev.Outcome != challenge.OutcomePassed || ev.SolveMS != 12200 || ev.IP != ownIP {
		t.Fatalf("decoded %+v", ev)
	}
	_, resp = consume(t, h, "risk-events-duplicate.json")
	if len(resp.BatchItemFailures) != 0 || len(store.applied) != 5 {
		t.Fatalf("redelivery: failures %+v, %d applied", resp.BatchItemFailures, len(store.applied))
	}

	ev, resp := consume(t, h, "risk-events-poison.json")
	failed := platformtest.FailedIDs(resp)
	if want := []string{ev.Records[1].MessageId, ev.Records[2].MessageId}; !slices.Equal(failed, want) {
		t.Fatalf("failed %v, want the broken JSON and the raw address %v", failed, want)
	}
	if len(store.applied) != 6 {
		t.Fatalf("the good message of the poisoned batch was not applied: %d", len(store.applied))
	}

	// A store failure fails just that message, for SQS to retry.
	store.fail = func(e challenge.RiskEvent) error {
		if e.Outcome == challenge.OutcomeFailed {
			return errors.New("throttled")
		}
		return nil
	}
	ev, resp = consume(t, h, "risk-events.json")
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[1].MessageId {
		t.Fatalf("failures %+v", resp.BatchItemFailures)
	}
}

// lookupFakes serve what the events/risk files describe: the own integrator (its key and
// its two sites), the own site's challenge, the address on both own sites, another
// integrator's site's challenge and address.
type lookupFakes struct {
	disclosed []privacy.Disclosure
}

var _ handler.Keys = (*lookupFakes)(nil)

func (f *lookupFakes) Authenticate(_ context.Context, key string) (account.IntegratorKey, error) {
	if key == ownKey {
		return account.IntegratorKey{ID: ownKeyID, IntegratorID: "integrator-own"}, nil
	}
	return account.IntegratorKey{}, account.ErrInvalidKey
}

func (f *lookupFakes) Sites(_ context.Context, integratorID string) ([]account.Site, error) {
	if integratorID == "integrator-own" {
		return []account.Site{{Sitekey: ownSite, IntegratorID: integratorID}, {Sitekey: secondSite, IntegratorID: integratorID}}, nil
	}
	return nil, nil
}

func (f *lookupFakes) SiteBySecret(_ context.Context, secret string) (account.Site, error) {
	if secret == ownSecret {
		return account.Site{Sitekey: ownSite, IntegratorID: "integrator-own"}, nil
	}
	return account.Site{}, account.ErrNotFound
}

func (f *lookupFakes) ChallengeRisk(_ context.Context, id string) (challenge.ChallengeRisk, error) {
	switch id {
	case passedID:
		return challenge.ChallengeRisk{ID: id, Sitekey: ownSite, Issued: true, IssuedAt: lookupTime.Add(-2 * time.Minute), Tasks: 3,
			IssueScore: 0.4149, IssueReasons: []string{"no_interaction"}, Outcome: challenge.OutcomePassed,
			AnsweredAt: lookupTime.Add(-100 * time.Second), SolveTime: 12200 * time.Millisecond, AnswerScore: 0.0751}, nil
	case otherChalID:
		return challenge.ChallengeRisk{ID: id, Sitekey: otherSite, Issued: true}, nil
	}
	return challenge.ChallengeRisk{}, challenge.ErrNotFound
}

func (f *lookupFakes) SiteActivity(_ context.Context, sitekey string, q challenge.WindowQuery) (challenge.SiteActivity, error) {
	a := challenge.SiteActivity{Minutes: challenge.Minutes{}}
	for _, p := range q.Keys {
		if sitekey == ownSite && p.IP == ownIP {
			a.Minutes[challenge.MinuteOf(lookupTime.Add(-2*time.Minute))] = challenge.Counts{Issued: 2, Failed: 1, Passed: 1}
			a.ScoreSum, a.Scores = 0.5, 2
		}
		if sitekey == secondSite && p.IP == ownIP {
			a.Minutes[challenge.MinuteOf(lookupTime.Add(-2*time.Minute))] = challenge.Counts{Issued: 1, Passed: 1}
			a.Minutes[challenge.MinuteOf(lookupTime.Add(-3*time.Hour))] = challenge.Counts{Refused: 4}
			a.ScoreSum, a.Scores = 0.11, 1
		}
	}
	return a, nil
}

func (f *lookupFakes) RecordDisclosures(_ context.Context, ds ...privacy.Disclosure) error {
	f.disclosed = append(f.disclosed, ds...)
	return nil
}

// newLookup is the risk function's HTTP handler over f and days at lookupTime, with the
// middleware platform.StartHTTPAndSQS puts around it.
func newLookup(f *lookupFakes, days *memDays) http.Handler { return newLookupAt(f, days, lookupTime) }

// newLookupAt is newLookup at time now.
func newLookupAt(f *lookupFakes, days *memDays, now time.Time) http.Handler {
	h := handler.New(handler.Deps{Keys: f, Sites: f, Store: f, Salts: challengetest.NewSalts(), Disclosures: f, Analytics: days,
		Now: func() time.Time { return now }})
	return web.Middleware(slog.New(slog.NewTextHandler(io.Discard, nil)), h)
}

func invokeLookup(t *testing.T, f *lookupFakes, file string) (int, map[string]string, []byte) {
	t.Helper()
	var req events.APIGatewayV2HTTPRequest
	readEvent(t, file, &req)
	lambda := platform.MixedHandler(newLookup(f, newMemDays()), nil)
	raw, _ := json.Marshal(req)
	out, err := lambda(context.Background(), raw)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	resp := out.(events.APIGatewayV2HTTPResponse)
	return resp.StatusCode, resp.Headers, []byte(resp.Body)
}

func TestLookupOfOwnChallenge(t *testing.T) {
	f := &lookupFakes{}
	status, _, body := invokeLookup(t, f, "lookup-challenge.json")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	issue, _ := got["issue"].(map[string]any)
	answer, _ := got["answer"].(map[string]any)
	if got["id"] != passedID || got["sitekey"] != ownSite || issue["tasks"] != float64(3) || issue["score"] != 0.41 ||
		answer["outcome"] != "pass" || answer["solve_ms"] != float64(12200) || answer["score"] != 0.08 ||
		answer["answered_at"] != "2026-11-30T19:30:20Z" || answer["reasons"] == nil {
		t.Fatalf("body %s", body)
	}
	if len(f.disclosed) != 1 {
		t.Fatalf("%d disclosures recorded", len(f.disclosed))
	}
	d := f.disclosed[0]
	if d.Recipient != "integrator-own" || d.Sitekey != ownSite || d.Kind != privacy.DisclosureRiskChallenge || d.Subject != passedID || d.ID == "" || !d.At.Equal(lookupTime) {
		t.Fatalf("disclosure %+v", d)
	}
}

func TestLookupRefusesOtherSitesAndStrangers(t *testing.T) {
	cases := []struct {
		file   string
		status int
		code   string
	}{
		{"lookup-challenge-other-site.json", 404, handler.CodeChallengeNotFound},
		{"lookup-challenge-no-secret.json", 401, web.CodeUnauthorized},
		{"lookup-ip-other-site.json", 404, handler.CodeIPNotFound},
		{"lookup-ip-wrong-secret.json", 401, web.CodeUnauthorized},
		{"lookup-ip-customer-key.json", 401, web.CodeUnauthorized},
		{"lookup-ip-invalid.json", 400, handler.CodeInvalidIP},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			f := &lookupFakes{}
			status, headers, body := invokeLookup(t, f, c.file)
			var e web.ErrorBody
			_ = json.Unmarshal(body, &e)
			if status != c.status || e.Error.Code != c.code {
				t.Fatalf("%d %s, want %d %s", status, body, c.status, c.code)
			}
			if status == 401 && !strings.HasPrefix(headers["Www-Authenticate"], "Bearer") {
				t.Errorf("401 without WWW-Authenticate: %v", headers)
			}
			if len(f.disclosed) != 0 {
				t.Fatalf("a refusal was recorded as a disclosure: %+v", f.disclosed)
			}
		})
	}
}

type ipBody struct {
	IP       string                    `json:"ip"`
	Sitekey  string                    `json:"sitekey"`
	Sitekeys []string                  `json:"sitekeys"`
	Windows  map[string]map[string]int `json:"windows"`
	Answers  struct {
		Count     int      `json:"count"`
		MeanScore *float64 `json:"mean_score"`
	} `json:"answers"`
}

// With the integrator key the answer sums the address's traffic on all of the
// integrator's sites, and each site's share is recorded as disclosed.
func TestLookupOfOwnAddressAcrossSites(t *testing.T) {
	f := &lookupFakes{}
	status, _, body := invokeLookup(t, f, "lookup-ip.json")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var got ipBody
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.IP != "203.0.113.77" || got.Sitekey != "" || !slices.Equal(got.Sitekeys, []string{ownSite, secondSite}) ||
		got.Windows["15m"]["issued"] != 3 || got.Windows["15m"]["passed"] != 2 || got.Windows["15m"]["refused"] != 0 ||
		got.Windows["1m"]["issued"] != 0 || got.Windows["24h"]["refused"] != 4 || got.Windows["24h"]["failed"] != 1 ||
		got.Answers.Count != 3 || got.Answers.MeanScore == nil || math.Abs(*got.Answers.MeanScore-0.2) > 1e-9 {
		t.Fatalf("body %s", body)
	}
	// The disclosure log names the network, never the address, once per site covered.
	if len(f.disclosed) != 2 {
		t.Fatalf("disclosures %+v", f.disclosed)
	}
	for i, site := range []string{ownSite, secondSite} {
		d := f.disclosed[i]
		if d.Sitekey != site || d.Recipient != "integrator-own" || d.Subject != "203.0.113.0/24" || d.Kind != privacy.DisclosureRiskIP {
			t.Fatalf("disclosure %d: %+v", i, d)
		}
	}
}

// A site's secret still works, for that site's traffic only.
func TestLookupWithSiteSecretSeesOneSite(t *testing.T) {
	f := &lookupFakes{}
	status, _, body := invokeLookup(t, f, "lookup-ip-site-secret.json")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var got ipBody
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Sitekey != ownSite || !slices.Equal(got.Sitekeys, []string{ownSite}) || got.Windows["15m"]["issued"] != 2 ||
		got.Windows["24h"]["refused"] != 0 || got.Answers.Count != 2 || *got.Answers.MeanScore != 0.25 {
		t.Fatalf("body %s", body)
	}
	if len(f.disclosed) != 1 || f.disclosed[0].Sitekey != ownSite || strings.Contains(f.disclosed[0].Subject, "77") {
		t.Fatalf("disclosures %+v", f.disclosed)
	}
	if status, _, body := invokeLookup(t, &lookupFakes{}, "lookup-challenge-site-secret.json"); status != 200 || !strings.Contains(string(body), passedID) {
		t.Fatalf("own challenge with the site secret: %d %s", status, body)
	}
}

// Without a site-secret authenticator only integrator keys work.
func TestLookupWithoutSiteSecretsRefusesThem(t *testing.T) {
	f := &lookupFakes{}
	h := handler.New(handler.Deps{Keys: f, Store: f, Salts: challengetest.NewSalts(), Disclosures: f, Now: func() time.Time { return lookupTime }})
	lambda := platform.MixedHandler(web.Middleware(slog.New(slog.NewTextHandler(io.Discard, nil)), h), nil)
	for file, want := range map[string]int{"lookup-ip-site-secret.json": 401, "lookup-ip.json": 200} {
		var req events.APIGatewayV2HTTPRequest
		out, err := lambda(context.Background(), readEvent(t, file, &req))
		if resp, ok := out.(events.APIGatewayV2HTTPResponse); err != nil || !ok || resp.StatusCode != want {
			t.Fatalf("%s: %+v %v, want %d", file, out, err, want)
		}
	}
}

func TestLookupDisclosesNothingItCannotRecord(t *testing.T) {
	f := &lookupFakes{}
	h := handler.New(handler.Deps{Keys: f, Sites: f, Store: f, Salts: challengetest.NewSalts(), Now: func() time.Time { return lookupTime },
		Disclosures: disclosureFunc(func(context.Context, ...privacy.Disclosure) error { return errors.New("privacy table down") })})
	lambda := platform.MixedHandler(web.Middleware(slog.New(slog.NewTextHandler(io.Discard, nil)), h), nil)
	var req events.APIGatewayV2HTTPRequest
	raw := readEvent(t, "lookup-challenge.json", &req)
	out, err := lambda(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	resp := out.(events.APIGatewayV2HTTPResponse)
	if resp.StatusCode != 500 || strings.Contains(resp.Body, "0.41") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
}

type disclosureFunc func(context.Context, ...privacy.Disclosure) error

func (f disclosureFunc) RecordDisclosures(ctx context.Context, ds ...privacy.Disclosure) error {
	return f(ctx, ds...)
}

func TestMixedHandlerRoutesBothEventKinds(t *testing.T) {
	store := &memEvents{applied: map[string]challenge.RiskEvent{}}
	f := &lookupFakes{}
	h := handler.New(handler.Deps{Keys: f, Sites: f, Store: f, Salts: challengetest.NewSalts(), Disclosures: f, Now: func() time.Time { return lookupTime }})
	lambda := platform.MixedHandler(h, handler.NewConsumer(handler.ConsumerDeps{Store: store, Analytics: newMemDays()}))
	var ev events.SQSEvent
	out, err := lambda(context.Background(), readEvent(t, "risk-events.json", &ev))
	if _, ok := out.(events.SQSEventResponse); err != nil || !ok || len(store.applied) != 5 {
		t.Fatalf("SQS event: %T %v, %d applied", out, err, len(store.applied))
	}
	var req events.APIGatewayV2HTTPRequest
	out, err = lambda(context.Background(), readEvent(t, "lookup-ip.json", &req))
	if resp, ok := out.(events.APIGatewayV2HTTPResponse); err != nil || !ok || resp.StatusCode != 200 {
		t.Fatalf("HTTP event: %+v %v", out, err)
	}
}

// A lookup by an integrator whose erasure began after it authenticated (its disclosure
// cannot be recorded: account.ErrErasing), or whose account is gone since, is answered
// as a revoked key is: 401, and nothing of the answer.
func TestLookupByAnIntegratorBeingErasedIsUnauthorized(t *testing.T) {
	for _, refusal := range []error{account.ErrErasing, account.ErrNotFound} {
		f := &lookupFakes{}
		h := handler.New(handler.Deps{Keys: f, Sites: f, Store: f, Salts: challengetest.NewSalts(), Now: func() time.Time { return lookupTime },
			Disclosures: disclosureFunc(func(context.Context, ...privacy.Disclosure) error {
				return fmt.Errorf("record 1 disclosures: %w", refusal)
			})})
		lambda := platform.MixedHandler(web.Middleware(slog.New(slog.NewTextHandler(io.Discard, nil)), h), nil)
		for _, file := range []string{"lookup-challenge.json", "lookup-ip.json"} {
			var req events.APIGatewayV2HTTPRequest
			out, err := lambda(context.Background(), readEvent(t, file, &req))
			if err != nil {
				t.Fatal(err)
			}
			resp := out.(events.APIGatewayV2HTTPResponse)
			if resp.StatusCode != 401 || !strings.Contains(resp.Body, `"code":"`+web.CodeUnauthorized+`"`) || strings.Contains(resp.Body, "score") {
				t.Errorf("%s, disclosure refused (%v): %d %s, want 401 %s", file, refusal, resp.StatusCode, resp.Body, web.CodeUnauthorized)
			}
		}
	}
}

// Events whose writes are slow (a throttled table: the SDK's retries take seconds) must not
// run the invocation into Lambda's timeout, which would return the whole batch, the
// events already counted with it, as a function error. Near the deadline the rest of the
// batch is handed back as batch item failures, for SQS to deliver again.
func TestConsumerHandsBackWhatItCannotFinishBeforeTheTimeout(t *testing.T) {
	start := time.Now()
	var mu sync.Mutex
	wall := start
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return wall }
	store := &memEvents{applied: map[string]challenge.RiskEvent{}, fail: func(challenge.RiskEvent) error {
		mu.Lock()
		wall = wall.Add(3 * time.Second)
		mu.Unlock()
		return nil
	}}
	h := handler.NewConsumer(handler.ConsumerDeps{Store: store, Analytics: newMemDays(), Wall: now})
	var ev events.SQSEvent
	readEvent(t, "risk-events.json", &ev)
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(10*time.Second)) // the function's timeout
	defer cancel()
	resp, err := h(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	// 3 s each: the third ends at 9 s, past the 2 s reserve before 10 s.
	var want []string
	for _, r := range ev.Records[3:] {
		want = append(want, r.MessageId)
	}
	if got := platformtest.FailedIDs(resp); !slices.Equal(got, want) || len(store.applied) != 3 {
		t.Fatalf("failed %v (want %v), applied %d (want 3)", got, want, len(store.applied))
	}
}

// A disclosure record is kept 24 months; the caller's X-Request-Id, a string of its own
// choosing (here an address in base64), is not part of it: it serves the logs (30 days),
// whose line for the lookup names the record instead.
func TestDisclosureKeepsNoCallerChosenRequestID(t *testing.T) {
	f := &lookupFakes{}
	var req events.APIGatewayV2HTTPRequest
	readEvent(t, "lookup-challenge.json", &req)
	chosen := base64.StdEncoding.EncodeToString([]byte("visitor@example.com"))
	req.Headers["x-request-id"] = chosen
	var logged bytes.Buffer
	h := web.Middleware(slog.New(slog.NewJSONHandler(&logged, nil)), handler.New(handler.Deps{Keys: f, Sites: f, Store: f,
		Salts: challengetest.NewSalts(), Disclosures: f, Analytics: newMemDays(), Now: func() time.Time { return lookupTime }}))
	raw, _ := json.Marshal(req)
	out, err := platform.MixedHandler(h, nil)(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if resp := out.(events.APIGatewayV2HTTPResponse); resp.StatusCode != 200 || len(f.disclosed) != 1 {
		t.Fatalf("%d %s; %d disclosures", resp.StatusCode, resp.Body, len(f.disclosed))
	}
	d := f.disclosed[0]
	if rec := fmt.Sprintf("%+v", d); strings.Contains(rec, chosen) {
		t.Errorf("the disclosure record keeps the caller's request id: %s", rec)
	}
	// The operator still gets from the record to the request's log line.
	if d.ID == "" || !strings.Contains(logged.String(), d.ID) {
		t.Errorf("no log line names disclosure %q:\n%s", d.ID, logged.String())
	}
}

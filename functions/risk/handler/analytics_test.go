package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/functions/risk/handler"
	"github.com/crowdgate/crowdgate/shared/analytics"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// memDays is the daily aggregates in memory: each event id counted once, in its cell of
// its site's day.
type memDays struct {
	mu      sync.Mutex
	counted map[string]bool
	days    map[string]map[string]analytics.Counts // sitekey → day → counts
	fail    func(challenge.RiskEvent) error
}

func newMemDays() *memDays {
	return &memDays{counted: map[string]bool{}, days: map[string]map[string]analytics.Counts{}}
}

var (
	_ handler.DayCounter  = (*memDays)(nil)
	_ handler.DailyReader = (*memDays)(nil)
)

func (m *memDays) Count(_ context.Context, ev challenge.RiskEvent) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		if err := m.fail(ev); err != nil {
			return false, err
		}
	}
	cell, ok := analytics.CellOf(ev)
	if !ok || m.counted[ev.ID] {
		return false, nil
	}
	m.counted[ev.ID] = true
	m.add(ev.Sitekey, analytics.DayOf(ev), cell, 1)
	return true, nil
}

func (m *memDays) add(sitekey, day string, cell analytics.Cell, n int) {
	if m.days[sitekey] == nil {
		m.days[sitekey] = map[string]analytics.Counts{}
	}
	if m.days[sitekey][day] == nil {
		m.days[sitekey][day] = analytics.Counts{}
	}
	m.days[sitekey][day][cell] += n
}

func (m *memDays) Daily(_ context.Context, sitekey string, q analytics.Query) (map[string]analytics.Counts, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]analytics.Counts{}
	for _, day := range q.Days() {
		if c, ok := m.days[sitekey][day]; ok {
			out[day] = c
		}
	}
	return out, nil
}

// The consumer puts every outcome in its cell of its day, once: an answer before its
// issue, a message delivered twice in one batch, whole batches redelivered.
func TestConsumerCountsDailyAggregatesOnce(t *testing.T) {
	days := newMemDays()
	h := handler.NewConsumer(handler.ConsumerDeps{Store: &memEvents{applied: map[string]challenge.RiskEvent{}}, Analytics: days})
	for _, file := range []string{"risk-events.json", "risk-events-analytics.json", "risk-events-duplicate.json", "risk-events-analytics.json", "risk-events.json"} {
		if _, resp := consume(t, h, file); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%s: %+v", file, resp.BatchItemFailures)
		}
	}
	want := map[string]map[string]analytics.Counts{
		ownSite: {
			"2026-11-30": {analytics.Challenges: 3, analytics.Passes: 2, analytics.Fails: 1, analytics.Blocked: 1},
			"2026-11-29": {analytics.Fails: 1}, // 23:59:58, processed the next day
		},
		otherSite: {"2026-11-30": {analytics.Challenges: 1}},
	}
	for site, byDay := range want {
		if len(days.days[site]) != len(byDay) {
			t.Errorf("%s: days %v", site, days.days[site])
		}
		for day, w := range byDay {
			for _, cell := range analytics.Cells {
				if got := days.days[site][day][cell]; got != w[cell] {
					t.Errorf("%s %s %s = %d, want %d", site, day, cell, got, w[cell])
				}
			}
		}
	}
}

// An event whose day is not the UTC day of its time fails until it reaches the dead-letter
// queue and counts nowhere: its day would pick another day's aggregate (one far ahead kept
// 13 months after that day) and another day's pseudonyms.
func TestConsumerFailsAnEventDatedOnAnotherDay(t *testing.T) {
	days := newMemDays()
	store := &memEvents{applied: map[string]challenge.RiskEvent{}}
	h := handler.NewConsumer(handler.ConsumerDeps{Store: store, Analytics: days})
	at := time.Now().UTC().Add(-time.Minute)
	var batch events.SQSEvent
	for i, day := range []string{at.Format(time.DateOnly), "2099-01-01", at.AddDate(0, 0, -3).Format(time.DateOnly)} {
		ev := challenge.RiskEvent{V: 1, ID: fmt.Sprintf("r_%032d", i), Kind: "issue", Outcome: challenge.OutcomeRefused,
			Sitekey: ownSite, Day: day, At: at}
		raw, _ := json.Marshal(ev)
		batch.Records = append(batch.Records, events.SQSMessage{MessageId: fmt.Sprint("m", i), Body: string(raw)})
	}
	resp, err := h(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if got := platformtest.FailedIDs(resp); !slices.Equal(got, []string{"m1", "m2"}) {
		t.Fatalf("failed %v, want the two events dated on another day", got)
	}
	if len(store.applied) != 1 || len(days.days[ownSite]) != 1 || days.days[ownSite][at.Format(time.DateOnly)][analytics.Blocked] != 1 {
		t.Fatalf("applied %d, aggregates %v: only the event of its own day counts", len(store.applied), days.days[ownSite])
	}
}

// When the aggregate write fails after the risk counters took the event, the message is
// retried, and the retry counts it in the aggregates (once) although the risk store has
// it already.
func TestConsumerRetriesAFailedAggregate(t *testing.T) {
	store := &memEvents{applied: map[string]challenge.RiskEvent{}}
	days := newMemDays()
	days.fail = func(ev challenge.RiskEvent) error {
		if ev.Outcome == challenge.OutcomePassed {
			return errors.New("throttled")
		}
		return nil
	}
	h := handler.NewConsumer(handler.ConsumerDeps{Store: store, Analytics: days})
	ev, resp := consume(t, h, "risk-events.json")
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[3].MessageId {
		t.Fatalf("failures %+v, want the pass only", resp.BatchItemFailures)
	}
	if len(store.applied) != 5 {
		t.Fatalf("risk counters applied %d of 5", len(store.applied))
	}
	days.fail = nil
	if _, resp := consume(t, h, "risk-events.json"); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("retry: %+v", resp.BatchItemFailures)
	}
	if got := days.days[ownSite]["2026-11-30"]; got[analytics.Passes] != 1 || got[analytics.Challenges] != 2 || got[analytics.Fails] != 1 {
		t.Fatalf("after the retry: %v", got)
	}
}

type dailyBody struct {
	Sitekey string `json:"sitekey"`
	From    string `json:"from"`
	To      string `json:"to"`
	MinCell int    `json:"min_cell"`
	Days    []struct {
		Date       string   `json:"date"`
		Final      *bool    `json:"final"`
		Challenges *int     `json:"challenges"`
		Passes     *int     `json:"passes"`
		Fails      *int     `json:"fails"`
		Blocked    *int     `json:"blocked"`
		Suppressed []string `json:"suppressed"`
	} `json:"days"`
}

// finalTime is when 2026-11-30, the last day the analytics-daily*.json requests ask for,
// is final: 24 hours after it ended.
var finalTime = time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)

// invokeAnalytics sends the request in file at finalTime, when every day asked for is final.
func invokeAnalytics(t *testing.T, days *memDays, file string) (int, []byte) {
	t.Helper()
	return invokeAnalyticsAt(t, days, file, finalTime)
}

func invokeAnalyticsAt(t *testing.T, days *memDays, file string, now time.Time) (int, []byte) {
	t.Helper()
	f := &lookupFakes{}
	lambda := platform.MixedHandler(newLookupAt(f, days, now), nil)
	var req events.APIGatewayV2HTTPRequest
	out, err := lambda(context.Background(), readEvent(t, file, &req))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	resp := out.(events.APIGatewayV2HTTPResponse)
	if len(f.disclosed) != 0 {
		t.Errorf("%s: aggregates were logged as a disclosure: %+v", file, f.disclosed)
	}
	return resp.StatusCode, []byte(resp.Body)
}

func show(v *int) any {
	if v == nil {
		return nil
	}
	return *v
}

// The own site's days, every day of the range, small cells hidden.
func TestAnalyticsShowsOwnSiteWithSmallCellsSuppressed(t *testing.T) {
	days := newMemDays()
	days.add(ownSite, "2026-11-29", analytics.Challenges, 123)
	days.add(ownSite, "2026-11-29", analytics.Passes, 100)
	days.add(ownSite, "2026-11-29", analytics.Fails, 5)
	days.add(ownSite, "2026-11-30", analytics.Challenges, 2)
	days.add(ownSite, "2026-11-30", analytics.Passes, 1)
	days.add(ownSite, "2026-11-30", analytics.Blocked, 40)
	days.add(otherSite, "2026-11-30", analytics.Challenges, 500)
	for _, file := range []string{"analytics-daily.json", "analytics-daily-site-secret.json"} {
		status, body := invokeAnalytics(t, days, file)
		var got dailyBody
		if err := json.Unmarshal(body, &got); status != 200 || err != nil {
			t.Fatalf("%s: %d %s", file, status, body)
		}
		if got.Sitekey != ownSite || got.From != "2026-11-28" || got.To != "2026-11-30" || got.MinCell != 11 || len(got.Days) != 3 {
			t.Fatalf("%s: %s", file, body)
		}
		type row struct {
			date       string
			c, p, f, b any
			suppressed []string
		}
		want := []row{
			{"2026-11-28", 0, 0, 0, 0, []string{}},
			{"2026-11-29", 123, 100, nil, 0, []string{"fails"}},
			{"2026-11-30", nil, nil, 0, 40, []string{"challenges", "passes"}},
		}
		for i, d := range got.Days {
			w := want[i]
			if d.Date != w.date || d.Final == nil || !*d.Final || show(d.Challenges) != w.c || show(d.Passes) != w.p || show(d.Fails) != w.f || show(d.Blocked) != w.b ||
				!slices.Equal(d.Suppressed, w.suppressed) {
				t.Errorf("%s: day %d %s, want %+v", file, i, mustJSON(d), w)
			}
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAnalyticsRefusals(t *testing.T) {
	for file, want := range map[string]struct {
		status int
		code   string
	}{
		"analytics-daily-other-site.json": {404, handler.CodeSiteNotFound},
		"analytics-daily-no-key.json":     {401, web.CodeUnauthorized},
		"analytics-daily-reversed.json":   {400, web.CodeBadRequest},
		"analytics-daily-too-long.json":   {400, web.CodeBadRequest},
		"analytics-daily-bad-date.json":   {400, web.CodeBadRequest},
	} {
		days := newMemDays()
		days.add(otherSite, "2026-11-30", analytics.Challenges, 500)
		status, body := invokeAnalytics(t, days, file)
		var e web.ErrorBody
		_ = json.Unmarshal(body, &e)
		if status != want.status || e.Error.Code != want.code {
			t.Errorf("%s: %d %s, want %d %s", file, status, body, want.status, want.code)
		}
	}
}

// A day is shown only once final, 24 hours after it ends: before, it is listed with
// "final": false, every cell null and nothing named suppressed, so polling today (or
// yesterday) shows no +1 as visitors fail or are blocked.
func TestAnalyticsWithholdADayUntilFinal(t *testing.T) {
	days := newMemDays()
	days.add(ownSite, "2026-11-28", analytics.Challenges, 50)
	days.add(ownSite, "2026-11-29", analytics.Challenges, 123)
	days.add(ownSite, "2026-11-30", analytics.Challenges, 200)
	days.add(ownSite, "2026-11-30", analytics.Passes, 150)
	days.add(ownSite, "2026-11-30", analytics.Fails, 12)
	read := func(now time.Time) (dailyBody, string) {
		t.Helper()
		status, body := invokeAnalyticsAt(t, days, "analytics-daily.json", now)
		var got dailyBody
		if err := json.Unmarshal(body, &got); status != 200 || err != nil || len(got.Days) != 3 {
			t.Fatalf("at %v: %d %s", now, status, body)
		}
		return got, string(body)
	}
	withheld := func(now time.Time, i int, got dailyBody) {
		t.Helper()
		d := got.Days[i]
		if d.Final == nil || *d.Final || d.Challenges != nil || d.Passes != nil || d.Fails != nil || d.Blocked != nil ||
			d.Suppressed == nil || len(d.Suppressed) != 0 {
			t.Errorf("at %v: %s shown as %s, want not final, every cell null, nothing suppressed", now, d.Date, mustJSON(d))
		}
	}
	// Today, 2026-11-30 19:32: 2026-11-28 is final (since 11-30 00:00), the others not.
	got, before := read(lookupTime)
	if d := got.Days[0]; d.Final == nil || !*d.Final || show(d.Challenges) != 50 {
		t.Errorf("a final day: %s", mustJSON(d))
	}
	withheld(lookupTime, 1, got)
	withheld(lookupTime, 2, got)
	// A visitor fails and another is blocked: the next poll is the same.
	days.add(ownSite, "2026-11-30", analytics.Fails, 1)
	days.add(ownSite, "2026-11-30", analytics.Blocked, 1)
	if _, after := read(lookupTime.Add(time.Minute)); after != before {
		t.Errorf("today changed between two polls:\n%s\n%s", before, after)
	}
	// The last moment before 2026-11-30 is final, and the moment it is.
	got, _ = read(finalTime.Add(-time.Nanosecond))
	withheld(finalTime.Add(-time.Nanosecond), 2, got)
	got, _ = read(finalTime)
	if d := got.Days[2]; d.Final == nil || !*d.Final || show(d.Challenges) != 200 || show(d.Passes) != 150 || show(d.Fails) != 13 ||
		show(d.Blocked) != nil || !slices.Equal(d.Suppressed, []string{"blocked"}) {
		t.Errorf("2026-11-30 when final: %s", mustJSON(d))
	}
}

// A risk event that fails is logged as one to be retried on every receive but the
// risk-events queue's last, and on the last as one that moves to the dead-letter queue.
func TestConsumerLogsAFailedEventRetriedOrDeadLetteredByItsReceive(t *testing.T) {
	last := schema.QueueNamed(schema.QueueRiskEvents).MaxReceives
	for count, want := range map[int]string{
		1:    "message failed; it will be retried",
		last: fmt.Sprintf("message failed; that was its last receive (%d): it moves to the dead-letter queue", last),
	} {
		days := newMemDays()
		days.fail = func(ev challenge.RiskEvent) error {
			if ev.Outcome == challenge.OutcomePassed {
				return errors.New("throttled")
			}
			return nil
		}
		h := handler.NewConsumer(handler.ConsumerDeps{Store: &memEvents{applied: map[string]challenge.RiskEvent{}}, Analytics: days})
		var ev events.SQSEvent
		readEvent(t, "risk-events.json", &ev)
		ev.Records[3].Attributes = map[string]string{"ApproximateReceiveCount": fmt.Sprint(count)}
		var logged platformtest.Logged
		resp, err := h(logged.Context(context.Background()), ev)
		if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[3].MessageId {
			t.Fatalf("receive %d: failures %+v, %v; want the pass only", count, resp.BatchItemFailures, err)
		}
		if got := logged.Errors(t); !slices.Equal(got, []string{want}) {
			t.Errorf("receive %d of %d: logged errors %q, want %q", count, last, got, want)
		}
	}
}

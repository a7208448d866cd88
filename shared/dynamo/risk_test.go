package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

const riskSite = "6f1c7d4e-2a3b-4c5d-8e9f-0a1b2c3d4e5f"

func pseudo(c byte) string {
	b := make([]byte, challenge.PseudonymLen)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

var (
	ipA  = challenge.Pseudonyms{IP: pseudo('a'), Subnet: pseudo('b')}
	ipA2 = challenge.Pseudonyms{IP: pseudo('c'), Subnet: pseudo('d')} // the same address on the next day
)

func chalID(n int) string { return fmt.Sprintf("c_%032x", n) }

func riskEvent(id int, outcome challenge.Outcome, at time.Time, p challenge.Pseudonyms) challenge.RiskEvent {
	ev := challenge.RiskEvent{V: 1, Outcome: outcome, Challenge: chalID(id), Sitekey: riskSite,
		Day: at.UTC().Format(time.DateOnly), IP: p.IP, Subnet: p.Subnet, Score: 0.25, At: at}
	switch outcome {
	case challenge.OutcomeIssued:
		ev.Kind, ev.ID, ev.Tasks = "issue", ev.Challenge+":issue", 3
	case challenge.OutcomeRefused:
		ev.Kind, ev.ID, ev.Challenge = "issue", fmt.Sprintf("r_%d", id), ""
	default:
		ev.Kind, ev.ID, ev.SolveMS = "answer", ev.Challenge+":answer", int64(4000+id*37)
	}
	return ev
}

func newRisk(t *testing.T, now func() time.Time) (*dynamo.Risk, *dynamodb.Client, string) {
	t.Helper()
	c, table := localTable(t, schema.TableRisk)
	return dynamo.NewRisk(c, table, now), c, table
}

// deliverTwice delivers every event, then every event again, as SQS may (it delivers at
// least once): each must take effect the first time only. deliver reports whether it did.
func deliverTwice(t *testing.T, evs []challenge.RiskEvent, deliver func(challenge.RiskEvent) bool) {
	t.Helper()
	for _, ev := range evs {
		if !deliver(ev) {
			t.Fatalf("%s had no effect", ev.ID)
		}
	}
	for _, ev := range evs {
		if deliver(ev) {
			t.Fatalf("redelivered %s took effect again", ev.ID)
		}
	}
}

// deliverAtOnce delivers every event from a goroutine of its own, all at once, and fails on
// any error: a transaction that loses a race on a shared counter must be retried.
func deliverAtOnce(t *testing.T, evs []challenge.RiskEvent, deliver func(context.Context, challenge.RiskEvent) (bool, error)) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(evs))
	for _, ev := range evs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := deliver(context.Background(), ev); err != nil {
				errs <- fmt.Errorf("%s: %w", ev.ID, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func apply(t *testing.T, r *dynamo.Risk, ev challenge.RiskEvent) bool {
	t.Helper()
	ok, err := r.Apply(context.Background(), ev)
	if err != nil {
		t.Fatalf("apply %s: %v", ev.ID, err)
	}
	return ok
}

func TestRiskEventsAreCountedOncePerMinute(t *testing.T) {
	now := time.Now().UTC()
	r, _, _ := newRisk(t, func() time.Time { return now })
	ctx := context.Background()
	at := now.Add(-2 * time.Minute)
	evs := []challenge.RiskEvent{
		riskEvent(1, challenge.OutcomeIssued, at, ipA),
		riskEvent(1, challenge.OutcomeFailed, at.Add(5*time.Second), ipA),
		riskEvent(2, challenge.OutcomeIssued, at.Add(5*time.Second), ipA),
		riskEvent(2, challenge.OutcomePassed, now.Add(-time.Second), ipA),
		riskEvent(3, challenge.OutcomeRefused, now.Add(-time.Second), ipA),
	}
	deliverTwice(t, evs, func(ev challenge.RiskEvent) bool { return apply(t, r, ev) })
	w, err := r.Windows(ctx, challenge.WindowQuery{From: now.Add(-challenge.WindowSpan), To: now, Keys: map[string]challenge.Pseudonyms{now.Format(time.DateOnly): ipA}})
	if err != nil {
		t.Fatal(err)
	}
	want := challenge.Counts{Issued: 2, Refused: 1, Passed: 1, Failed: 1}
	if got := w.IP.Window(now, challenge.Window15m); got != want {
		t.Fatalf("IP 15-minute window %+v, want %+v", got, want)
	}
	if got := w.Subnet.Window(now, challenge.Window15m); got != want {
		t.Fatalf("subnet 15-minute window %+v, want %+v", got, want)
	}
	if got := w.IP.Window(now, challenge.Window1m); got.Passed != 1 || got.Refused != 1 || got.Failed != 0 {
		t.Fatalf("1-minute window %+v: only the last two events are that recent", got)
	}
	if len(w.Solves) != 2 || w.Solves[0]+w.Solves[1] != (4037+4074)*time.Millisecond {
		t.Fatalf("solve times %v, want 4.037 s and 4.074 s", w.Solves)
	}
	// Another address sees none of it.
	other, err := r.Windows(ctx, challenge.WindowQuery{From: now.Add(-challenge.WindowSpan), To: now,
		Keys: map[string]challenge.Pseudonyms{now.Format(time.DateOnly): {IP: pseudo('e'), Subnet: pseudo('f')}}})
	if err != nil || len(other.IP) != 0 || len(other.Subnet) != 0 {
		t.Fatalf("another address: %+v %v", other, err)
	}
}

func TestRiskWindowsSpanMidnightWithEachDaysPseudonyms(t *testing.T) {
	midnight := time.Now().UTC().Truncate(24 * time.Hour)
	now := midnight.Add(4 * time.Minute)
	if now.After(time.Now()) {
		now = now.Add(-24 * time.Hour) // yesterday's midnight, so events are not in the future
		midnight = midnight.Add(-24 * time.Hour)
	}
	r, _, _ := newRisk(t, func() time.Time { return now })
	apply(t, r, riskEvent(1, challenge.OutcomeFailed, midnight.Add(-3*time.Minute), ipA)) // 23:57, day 1
	apply(t, r, riskEvent(2, challenge.OutcomeFailed, midnight.Add(2*time.Minute), ipA2)) // 00:02, day 2
	w, err := r.Windows(context.Background(), challenge.WindowQuery{From: now.Add(-challenge.WindowSpan), To: now, Keys: map[string]challenge.Pseudonyms{
		midnight.Add(-time.Hour).Format(time.DateOnly): ipA, midnight.Format(time.DateOnly): ipA2,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.IP.Window(now, challenge.Window15m).Failed; got != 2 {
		t.Fatalf("%d failures across midnight, want 2", got)
	}
}

func TestRiskCountersExpireWithinADay(t *testing.T) {
	now := time.Now().UTC()
	r, c, table := newRisk(t, func() time.Time { return now })
	at := now.Add(-time.Minute)
	apply(t, r, riskEvent(7, challenge.OutcomeFailed, at, ipA))
	// Every record of the event carries a ttl at most 24 hours after its hour began (the
	// challenge record and marker: 24 hours after the event).
	out, err := c.Scan(context.Background(), &dynamodb.ScanInput{TableName: &table})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) < 5 {
		t.Fatalf("%d records, want marker, IP, subnet, site counters and the challenge", len(out.Items))
	}
	for _, it := range out.Items {
		n, ok := it[schema.TTLAttribute].(*types.AttributeValueMemberN)
		if !ok {
			t.Fatalf("record without ttl: %v", it[schema.PartitionKey])
		}
		ttl, _ := strconv.ParseInt(n.Value, 10, 64)
		if exp := time.Unix(ttl, 0); exp.After(at.Add(24*time.Hour+time.Second)) || exp.Before(at) {
			t.Fatalf("record %v expires at %s, event at %s", it[schema.PartitionKey], exp, at)
		}
	}
	// DynamoDB deletes lazily: a reader a day later ignores what is still there.
	later := dynamo.NewRisk(c, table, func() time.Time { return now.Add(25 * time.Hour) })
	w, err := later.Windows(context.Background(), challenge.WindowQuery{From: at.Add(-time.Minute), To: now, Keys: map[string]challenge.Pseudonyms{at.Format(time.DateOnly): ipA}})
	if err != nil || len(w.IP) != 0 {
		t.Fatalf("expired counters read back: %+v %v", w.IP, err)
	}
	if _, err := later.ChallengeRisk(context.Background(), chalID(7)); !errors.Is(err, challenge.ErrNotFound) {
		t.Fatalf("expired challenge risk: %v", err)
	}
	// An event older than the counters' retention is acknowledged but not applied.
	if ok, err := later.Apply(context.Background(), riskEvent(8, challenge.OutcomeIssued, at, ipA)); ok || err != nil {
		t.Fatalf("a day-old event: applied %v, err %v", ok, err)
	}
	// One dated ahead of the clock would outlive the retention by as much: it is malformed,
	// and nothing of it is written.
	earlier := dynamo.NewRisk(c, table, func() time.Time { return at.Add(-time.Hour) })
	if ok, err := earlier.Apply(context.Background(), riskEvent(9, challenge.OutcomeIssued, at, ipA)); ok || !errors.Is(err, challenge.ErrBadRiskEvent) {
		t.Fatalf("an event an hour ahead of the clock: applied %v, err %v; want ErrBadRiskEvent", ok, err)
	}
	if _, err := r.ChallengeRisk(context.Background(), chalID(9)); !errors.Is(err, challenge.ErrNotFound) {
		t.Fatalf("the refused event left a challenge risk record: %v", err)
	}
}

func TestRiskConcurrentEventsOnOneCounterAllCount(t *testing.T) {
	now := time.Now().UTC()
	r, _, _ := newRisk(t, func() time.Time { return now })
	at := now.Add(-10 * time.Second)
	const n = 24
	evs := make([]challenge.RiskEvent, n)
	for i := range evs {
		evs[i] = riskEvent(100+i, challenge.OutcomeFailed, at, ipA)
	}
	deliverAtOnce(t, evs, r.Apply)
	w, err := r.Windows(context.Background(), challenge.WindowQuery{From: now.Add(-time.Minute), To: now, Keys: map[string]challenge.Pseudonyms{now.Format(time.DateOnly): ipA}})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.IP.Window(now, challenge.Window15m).Failed; got != n {
		t.Fatalf("%d failures counted, want %d", got, n)
	}
	// Solve times land in 64 slots per hour: a few of 24 may share one.
	if len(w.Solves) < 18 || len(w.Solves) > n {
		t.Fatalf("%d solve times kept of %d", len(w.Solves), n)
	}
	for i := range 80 {
		apply(t, r, riskEvent(200+i, challenge.OutcomeFailed, at, ipA))
	}
	w, _ = r.Windows(context.Background(), challenge.WindowQuery{From: now.Add(-time.Minute), To: now, Keys: map[string]challenge.Pseudonyms{now.Format(time.DateOnly): ipA}})
	if len(w.Solves) > 64 || w.IP.Window(now, challenge.Window15m).Failed != n+80 {
		t.Fatalf("%d solve times kept for one hour (cap 64), %+v", len(w.Solves), w.IP.Window(now, challenge.Window15m))
	}
}

func TestChallengeRiskFromEitherEventOrder(t *testing.T) {
	now := time.Now().UTC()
	r, _, _ := newRisk(t, func() time.Time { return now })
	ctx := context.Background()
	iss := riskEvent(1, challenge.OutcomeIssued, now.Add(-time.Minute), ipA)
	iss.Reasons = []string{"automation"}
	ans := riskEvent(1, challenge.OutcomePassed, now.Add(-10*time.Second), ipA)
	ans.Score, ans.Reasons = 0.91, []string{"synthetic_pointer", "too_fast"}
	apply(t, r, ans) // the answer's event may arrive first
	c, err := r.ChallengeRisk(ctx, chalID(1))
	if err != nil || c.Issued || c.Outcome != challenge.OutcomePassed || c.AnswerScore != 0.91 || len(c.AnswerReasons) != 2 {
		t.Fatalf("after the answer event: %+v %v", c, err)
	}
	apply(t, r, iss)
	c, err = r.ChallengeRisk(ctx, chalID(1))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sitekey != riskSite || !c.Issued || !c.IssuedAt.Equal(iss.At) || c.Tasks != 3 || c.IssueScore != 0.25 ||
		len(c.IssueReasons) != 1 || c.IssueReasons[0] != "automation" || c.SolveTime != time.Duration(ans.SolveMS)*time.Millisecond || !c.AnsweredAt.Equal(ans.At) {
		t.Fatalf("challenge risk %+v", c)
	}
	if _, err := r.ChallengeRisk(ctx, chalID(2)); !errors.Is(err, challenge.ErrNotFound) {
		t.Fatalf("unknown challenge: %v", err)
	}
}

func TestSiteActivityCountsOnlyThatSite(t *testing.T) {
	now := time.Now().UTC()
	r, _, _ := newRisk(t, func() time.Time { return now })
	at := now.Add(-3 * time.Minute)
	apply(t, r, riskEvent(1, challenge.OutcomeIssued, at, ipA))
	ans := riskEvent(1, challenge.OutcomeFailed, at, ipA)
	ans.Score = 0.5
	apply(t, r, ans)
	elsewhere := riskEvent(2, challenge.OutcomeIssued, at, ipA)
	elsewhere.Sitekey = "9b7a4c3e-1d2f-4e5a-8b6c-7d8e9f0a1b2c"
	apply(t, r, elsewhere)
	q := challenge.WindowQuery{From: now.Add(-24 * time.Hour), To: now, Keys: map[string]challenge.Pseudonyms{
		now.Format(time.DateOnly): {IP: ipA.IP}, now.Add(-24 * time.Hour).Format(time.DateOnly): {IP: ipA2.IP},
	}}
	a, err := r.SiteActivity(context.Background(), riskSite, q)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Minutes.Window(now, 24*time.Hour); got != (challenge.Counts{Issued: 1, Failed: 1}) || a.Scores != 1 || a.ScoreSum != 0.5 {
		t.Fatalf("activity %+v %+v", got, a)
	}
	// The global windows (what scoring reads) count both sites.
	w, _ := r.Windows(context.Background(), challenge.WindowQuery{From: now.Add(-challenge.WindowSpan), To: now, Keys: map[string]challenge.Pseudonyms{now.Format(time.DateOnly): ipA}})
	if got := w.IP.Window(now, challenge.Window15m).Issued; got != 2 {
		t.Fatalf("global window %d issued, want 2", got)
	}
}

func TestDisclosuresAreKept24Months(t *testing.T) {
	c, tables := disclosureTables(t, "integrator-1", "integrator-2")
	table := tables.Privacy
	log := dynamo.NewDisclosures(c, tables, nil)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Millisecond)
	for _, d := range []privacy.Disclosure{
		{At: at, Recipient: "integrator-1", Sitekey: riskSite, Kind: privacy.DisclosureRiskChallenge, Subject: chalID(1)},
		{At: at.Add(time.Second), Recipient: "integrator-1", Sitekey: riskSite, Kind: privacy.DisclosureRiskIP, Subject: "203.0.113.0/24"},
		{At: at, Recipient: "integrator-2", Sitekey: "other", Kind: privacy.DisclosureRiskIP, Subject: "198.51.100.0/24"},
	} {
		if err := log.RecordDisclosure(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	got, err := log.Disclosed(ctx, "integrator-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Subject != chalID(1) || !got[0].At.Equal(at) || got[1].Kind != privacy.DisclosureRiskIP || got[0].ID == "" {
		t.Fatalf("disclosures %+v", got)
	}
	out, _ := c.Scan(ctx, &dynamodb.ScanInput{TableName: &table})
	for _, it := range out.Items {
		ttl, _ := strconv.ParseInt(it[schema.TTLAttribute].(*types.AttributeValueMemberN).Value, 10, 64)
		if want := at.AddDate(0, 24, 0); time.Unix(ttl, 0).Sub(want).Abs() > 2*time.Second {
			t.Fatalf("ttl %s, want 24 months after %s", time.Unix(ttl, 0), at)
		}
	}
	later := dynamo.NewDisclosures(c, tables, func() time.Time { return at.AddDate(0, 25, 0) })
	if got, err := later.Disclosed(ctx, "integrator-1"); err != nil || len(got) != 0 {
		t.Fatalf("expired disclosures read back: %+v %v", got, err)
	}
}

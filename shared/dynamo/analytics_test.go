package dynamo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/analytics"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

const otherAnalyticsSite = "0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a"

func count(t *testing.T, a *dynamo.Analytics, ev challenge.RiskEvent) bool {
	t.Helper()
	ok, err := a.Count(context.Background(), ev)
	if err != nil {
		t.Fatalf("count %s: %v", ev.ID, err)
	}
	return ok
}

func daily(t *testing.T, a *dynamo.Analytics, site, from, to string, now time.Time) map[string]analytics.Counts {
	t.Helper()
	q, err := analytics.ParseQuery(from, to, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Daily(context.Background(), site, q)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Every outcome lands in its cell of its site's UTC day, once, whatever the order or the
// number of deliveries; an event too old to recognise a redelivery of is not counted.
func TestAnalyticsCountEachEventOnceInItsDay(t *testing.T) {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	now := today.Add(30 * time.Minute)
	yesterday := today.Add(-time.Hour) // 23:00 the day before
	clock := func() time.Time { return now }
	db, table := localTable(t, schema.TableRisk)
	a := dynamo.NewAnalytics(db, table, clock)
	evs := []challenge.RiskEvent{
		// The answer arrives before its issue event.
		riskEvent(1, challenge.OutcomePassed, yesterday.Add(time.Minute), ipA),
		riskEvent(1, challenge.OutcomeIssued, yesterday, ipA),
		riskEvent(2, challenge.OutcomeIssued, yesterday.Add(2*time.Minute), ipA),
		riskEvent(2, challenge.OutcomeFailed, yesterday.Add(3*time.Minute), ipA),
		riskEvent(3, challenge.OutcomeRefused, yesterday.Add(4*time.Minute), ipA),
		// Today: no address at all still counts.
		riskEvent(4, challenge.OutcomeIssued, now.Add(-time.Minute), challenge.Pseudonyms{}),
		riskEvent(5, challenge.OutcomeRefused, now.Add(-time.Minute), ipA2),
		riskEvent(6, challenge.OutcomeRefused, now.Add(-time.Second), ipA2),
	}
	deliverTwice(t, evs, func(ev challenge.RiskEvent) bool { return count(t, a, ev) })
	other := riskEvent(7, challenge.OutcomeIssued, now.Add(-time.Minute), ipA)
	other.Sitekey = otherAnalyticsSite
	count(t, a, other)
	if count(t, a, riskEvent(8, challenge.OutcomeIssued, now.Add(-challenge.RiskEventRetention), ipA)) {
		t.Fatal("an event older than its marker's lifetime was counted")
	}
	// One dated ahead of the clock is malformed (its marker would outlive the retention),
	// and today's counts below show it was not counted.
	if ok, err := a.Count(context.Background(), riskEvent(9, challenge.OutcomeIssued, now.Add(time.Hour), ipA)); ok || !errors.Is(err, challenge.ErrBadRiskEvent) {
		t.Fatalf("an event an hour ahead of the clock: counted %v, err %v; want ErrBadRiskEvent", ok, err)
	}

	got := daily(t, a, riskSite, yesterday.Format(time.DateOnly), today.Format(time.DateOnly), now)
	want := map[string]analytics.Counts{
		yesterday.Format(time.DateOnly): {analytics.Challenges: 2, analytics.Passes: 1, analytics.Fails: 1, analytics.Blocked: 1},
		today.Format(time.DateOnly):     {analytics.Challenges: 1, analytics.Passes: 0, analytics.Fails: 0, analytics.Blocked: 2},
	}
	if len(got) != 2 {
		t.Fatalf("days %v", got)
	}
	for day, w := range want {
		for _, cell := range analytics.Cells {
			if got[day][cell] != w[cell] {
				t.Errorf("%s %s = %d, want %d", day, cell, got[day][cell], w[cell])
			}
		}
	}
	if o := daily(t, a, otherAnalyticsSite, today.Format(time.DateOnly), today.Format(time.DateOnly), now); o[today.Format(time.DateOnly)][analytics.Challenges] != 1 || len(o) != 1 {
		t.Fatalf("the other site: %v", o)
	}
	if only := daily(t, a, riskSite, today.Format(time.DateOnly), today.Format(time.DateOnly), now); len(only) != 1 {
		t.Fatalf("a one-day range returned %v", only)
	}

	// The aggregate holds counts, its day and its expiry only: nothing about a visitor.
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: dynamo.Key("AD#"+riskSite, "D#"+yesterday.Format(time.DateOnly))})
	if err != nil || out.Item == nil {
		t.Fatalf("aggregate: %v %v", out, err)
	}
	for name, v := range out.Item {
		switch name {
		case schema.PartitionKey, schema.SortKey, "c", "p", "f", "b", "kind":
		case schema.TTLAttribute:
			if n := v.(*types.AttributeValueMemberN).Value; n != aws.ToString(ttlOf(analytics.Expires(yesterday))) {
				t.Errorf("ttl %s, want %s", n, aws.ToString(ttlOf(analytics.Expires(yesterday))))
			}
		default:
			t.Errorf("aggregate attribute %q = %v", name, v)
		}
	}

	// Expired aggregates are not read, whether or not DynamoDB has deleted them yet.
	late := analytics.Expires(today).Add(-time.Second)
	gone := dynamo.NewAnalytics(db, table, func() time.Time { return late })
	got, err = gone.Daily(context.Background(), riskSite, analytics.Query{From: yesterday.Truncate(24 * time.Hour), To: today})
	if _, ok := got[today.Format(time.DateOnly)]; err != nil || len(got) != 1 || !ok {
		t.Fatalf("a day after yesterday's expiry: %v", got)
	}
}

func ttlOf(at time.Time) *string {
	return aws.String(dynamo.TTL(at).(*types.AttributeValueMemberN).Value)
}

// Events of one site and day counted at once all land (the counter's transaction retries
// when it loses a race).
func TestAnalyticsConcurrentEventsAllCount(t *testing.T) {
	now := time.Now().UTC()
	db, table := localTable(t, schema.TableRisk)
	a := dynamo.NewAnalytics(db, table, func() time.Time { return now })
	const n = 24
	evs := make([]challenge.RiskEvent, n)
	for i := range evs {
		evs[i] = riskEvent(100+i, challenge.OutcomePassed, now.Add(-time.Second), ipA)
	}
	deliverAtOnce(t, evs, a.Count)
	day := now.Format(time.DateOnly)
	if got := daily(t, a, riskSite, day, day, now)[day][analytics.Passes]; got != n {
		t.Fatalf("%d passes counted, want %d", got, n)
	}
}

// A day's counts do not change once it is final: an event of the day processed from
// analytics.CountMargin before that on (a late retry, a redrive from the dead-letter queue
// days later) is not counted, and that is no error.
func TestAnalyticsDoNotCountAnEventOnAFinalDay(t *testing.T) {
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	finalAt := analytics.FinalAt(day)
	at := day.Add(24*time.Hour - 30*time.Second) // 23:59:30, still fresh a day later
	db, table := localTable(t, schema.TableRisk)
	counter := func(now time.Time) *dynamo.Analytics {
		return dynamo.NewAnalytics(db, table, func() time.Time { return now })
	}
	if !count(t, counter(finalAt.Add(-analytics.CountMargin-time.Second)), riskEvent(1, challenge.OutcomeRefused, at, ipA)) {
		t.Fatal("an event processed just before its day stops counting was not counted")
	}
	for i, now := range []time.Time{finalAt.Add(-analytics.CountMargin), finalAt, finalAt.AddDate(0, 0, 3)} {
		if count(t, counter(now), riskEvent(2+i, challenge.OutcomeRefused, at, ipA)) {
			t.Errorf("an event of %s processed at %v was counted", day.Format(time.DateOnly), now)
		}
	}
	if got := daily(t, counter(finalAt), riskSite, "2026-11-30", "2026-11-30", finalAt)["2026-11-30"]; got[analytics.Blocked] != 1 {
		t.Fatalf("the final day: %v, want 1 blocked", got)
	}
}

package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/functions/risk/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/analytics"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// The analytics over DynamoDB Local: the events/risk queue files, redelivered, land once
// in the aggregates; the integrator's key reads its site's days, once final, with small
// cells hidden, and another integrator's site is 404.
func TestAnalyticsOnDynamoDB(t *testing.T) {
	db := dynamotest.Client(t)
	tables := dynamotest.Tables(t, db)
	ctx := context.Background()
	now := func() time.Time { return lookupTime }
	accounts := dynamo.NewAccounts(db, tables[schema.TableAccounts])
	seedIntegrators(t, accounts)
	store := dynamo.NewRisk(db, tables[schema.TableRisk], now)
	days := dynamo.NewAnalytics(db, tables[schema.TableRisk], now)
	consumer := handler.NewConsumer(handler.ConsumerDeps{Store: store, Analytics: days})
	for _, file := range []string{"risk-events-analytics.json", "risk-events.json", "risk-events-duplicate.json", "risk-events-analytics.json"} {
		if _, resp := consume(t, consumer, file); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%s: failures %+v", file, resp.BatchItemFailures)
		}
	}
	// Twelve more passes that day, so one cell is large enough to show.
	for i := range 12 {
		id := fmt.Sprintf("c_%032x", 0xd000+i)
		if _, err := days.Count(ctx, challenge.RiskEvent{V: 1, ID: id + ":answer", Kind: "answer", Outcome: challenge.OutcomePassed, Challenge: id,
			Sitekey: ownSite, Day: "2026-11-30", At: lookupTime.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}

	h := handler.New(handler.Deps{
		Keys:        account.NewIntegratorKeyService(accounts, now),
		Sites:       account.NewService(accounts, now),
		Store:       store,
		Salts:       challengetest.NewSalts(),
		Disclosures: dynamo.NewDisclosures(db, dynamo.DisclosureTables{Privacy: tables[schema.TablePrivacy], Accounts: tables[schema.TableAccounts]}, now),
		Analytics:   days,
		// Read when every day asked for is final (counted at lookupTime, 2026-11-30).
		Now: func() time.Time { return finalTime },
	})
	lambda := platform.MixedHandler(web.Middleware(slog.New(slog.NewTextHandler(io.Discard, nil)), h), nil)
	call := func(file string) events.APIGatewayV2HTTPResponse {
		var req events.APIGatewayV2HTTPRequest
		out, err := lambda(ctx, readEvent(t, file, &req))
		if err != nil {
			t.Fatal(err)
		}
		return out.(events.APIGatewayV2HTTPResponse)
	}
	resp := call("analytics-daily.json")
	var got dailyBody
	if err := json.Unmarshal([]byte(resp.Body), &got); resp.StatusCode != 200 || err != nil || len(got.Days) != 3 {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	// 2026-11-29: one late fail; challenges 0 hides with it (0 − 0 passes would bound it).
	// 2026-11-30: challenges 3 (aa01, aa02, aa04), passes 2 + 12, fails 1, blocked 1.
	d28, d29, d30 := got.Days[0], got.Days[1], got.Days[2]
	if show(d28.Challenges) != 0 || len(d28.Suppressed) != 0 ||
		show(d29.Passes) != 0 || show(d29.Fails) != nil || show(d29.Challenges) != nil || fmt.Sprint(d29.Suppressed) != "[challenges fails]" ||
		show(d30.Passes) != 14 || show(d30.Challenges) != nil || show(d30.Fails) != nil || show(d30.Blocked) != nil ||
		fmt.Sprint(d30.Suppressed) != "[challenges fails blocked]" {
		t.Fatalf("days %s", resp.Body)
	}
	if resp := call("analytics-daily-other-site.json"); resp.StatusCode != 404 {
		t.Fatalf("another integrator's site: %d %s", resp.StatusCode, resp.Body)
	}
}

// storeSpy records which events the risk store applied.
type storeSpy struct {
	handler.EventStore
	applied map[string]bool
}

func (s *storeSpy) Apply(ctx context.Context, ev challenge.RiskEvent) (bool, error) {
	ok, err := s.EventStore.Apply(ctx, ev)
	s.applied[ev.ID] = ok
	return ok, err
}

// An event processed when its day is about to be final (a late retry) still feeds the
// risk windows, is acknowledged, and does not change the day's counts, which may be shown
// already.
func TestConsumerLeavesAFinalDaysCountsAlone(t *testing.T) {
	db := dynamotest.Client(t)
	tables := dynamotest.Tables(t, db)
	at := time.Date(2026, 11, 30, 23, 59, 30, 0, time.UTC)
	var now time.Time
	clock := func() time.Time { return now }
	store := &storeSpy{EventStore: dynamo.NewRisk(db, tables[schema.TableRisk], clock), applied: map[string]bool{}}
	days := dynamo.NewAnalytics(db, tables[schema.TableRisk], clock)
	consumer := handler.NewConsumer(handler.ConsumerDeps{Store: store, Analytics: days})
	deliver := func(i int) {
		t.Helper()
		ev := challenge.RiskEvent{V: 1, ID: fmt.Sprintf("r_%032d", i), Kind: "issue", Outcome: challenge.OutcomeRefused,
			Sitekey: ownSite, Day: "2026-11-30", At: at}
		raw, _ := json.Marshal(ev)
		resp, err := consumer(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: fmt.Sprint("m", i), Body: string(raw)}}})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("event %d at %v: %v %+v", i, now, err, resp.BatchItemFailures)
		}
		if !store.applied[ev.ID] {
			t.Errorf("event %d at %v: not applied to the risk windows", i, now)
		}
	}
	now = finalTime.Add(-analytics.CountMargin - time.Second)
	deliver(1)
	now = finalTime.Add(-analytics.CountMargin)
	deliver(2)
	q, _ := analytics.ParseQuery("2026-11-30", "2026-11-30", finalTime)
	got, err := days.Daily(context.Background(), ownSite, q)
	if err != nil || got["2026-11-30"][analytics.Blocked] != 1 {
		t.Fatalf("2026-11-30 %v %v, want the first event counted only", got, err)
	}
}

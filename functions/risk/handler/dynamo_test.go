package handler_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/functions/risk/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// The risk function over DynamoDB Local: the events/risk queue files are counted once,
// and the lookup events are answered from those counters for the own site only, with
// each answer in the privacy table's disclosure log.
func TestRiskFunctionOnDynamoDB(t *testing.T) {
	db := dynamotest.Client(t)
	tables := dynamotest.Tables(t, db)
	ctx := context.Background()
	now := func() time.Time { return lookupTime }

	accounts := dynamo.NewAccounts(db, tables[schema.TableAccounts])
	for _, s := range []struct{ integrator, sitekey, secret string }{
		{"11111111-2222-4333-8444-555555555555", ownSite, ownSecret},
		{"66666666-7777-4888-9999-000000000000", otherSite, "0x1111111111111111111111111111111111111111"},
	} {
		if err := accounts.CreateIntegrator(ctx, account.Integrator{ID: s.integrator, Name: "Shop", Email: "ops@shop.example", Country: "DE", CreatedAt: lookupTime}); err != nil {
			t.Fatal(err)
		}
		if err := accounts.CreateSite(ctx, account.Site{Sitekey: s.sitekey, IntegratorID: s.integrator, Name: "shop", Hostnames: []string{"shop.example"},
			SecretHash: account.HashSecret(s.secret), CreatedAt: lookupTime, SecretRotatedAt: lookupTime}); err != nil {
			t.Fatal(err)
		}
	}
	store := dynamo.NewRisk(db, tables[schema.TableRisk], now)
	consumer := handler.NewConsumer(handler.ConsumerDeps{Store: store})
	for _, file := range []string{"risk-events.json", "risk-events-duplicate.json", "risk-events.json"} {
		if _, resp := consume(t, consumer, file); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%s: failures %+v", file, resp.BatchItemFailures)
		}
	}
	// Counted once, although every message arrived two or three times.
	w, err := store.Windows(ctx, challenge.WindowQuery{From: lookupTime.Add(-challenge.WindowSpan), To: lookupTime,
		Keys: map[string]challenge.Pseudonyms{"2026-11-30": {IP: ownIP, Subnet: "4447c943e60d5d6e4407ad0ce585cc06"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.IP.Window(lookupTime, challenge.Window15m); got != (challenge.Counts{Issued: 2, Passed: 1, Failed: 1}) {
		t.Fatalf("15-minute window %+v after redeliveries", got)
	}

	disclosures := dynamo.NewDisclosures(db, tables[schema.TablePrivacy], now)
	h := handler.New(handler.Deps{
		Sites:       account.NewService(accounts, now),
		Store:       store,
		Salts:       challengetest.NewSalts(), // the salt the events' pseudonyms were made with
		Disclosures: disclosures,
		Now:         now,
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

	resp := call("lookup-challenge.json")
	var c struct {
		Issue  struct{ Tasks int }
		Answer struct {
			Outcome string
			SolveMS int64 `json:"solve_ms"`
		}
	}
	if err := json.Unmarshal([]byte(resp.Body), &c); resp.StatusCode != 200 || err != nil || c.Issue.Tasks != 3 || c.Answer.Outcome != "pass" || c.Answer.SolveMS != 12200 {
		t.Fatalf("own challenge: %d %s", resp.StatusCode, resp.Body)
	}
	resp = call("lookup-ip.json")
	var ip struct {
		Windows map[string]map[string]int
	}
	if err := json.Unmarshal([]byte(resp.Body), &ip); resp.StatusCode != 200 || err != nil ||
		ip.Windows["24h"]["issued"] != 2 || ip.Windows["24h"]["failed"] != 1 || ip.Windows["24h"]["passed"] != 1 {
		t.Fatalf("own address: %d %s", resp.StatusCode, resp.Body)
	}
	for _, file := range []string{"lookup-challenge-other-site.json", "lookup-ip-other-site.json"} {
		if resp := call(file); resp.StatusCode != 404 {
			t.Fatalf("%s: %d %s", file, resp.StatusCode, resp.Body)
		}
	}
	got, err := disclosures.Disclosed(ctx, "11111111-2222-4333-8444-555555555555")
	if err != nil {
		t.Fatal(err)
	}
	subjects := map[string]string{}
	for _, d := range got {
		subjects[d.Kind] = d.Subject
	}
	if len(got) != 2 || subjects[privacy.DisclosureRiskChallenge] != passedID || subjects[privacy.DisclosureRiskIP] != "203.0.113.0/24" {
		t.Fatalf("disclosures %+v", got)
	}
	if other, _ := disclosures.Disclosed(ctx, "66666666-7777-4888-9999-000000000000"); len(other) != 0 {
		t.Fatalf("the other integrator was disclosed something: %+v", other)
	}
}

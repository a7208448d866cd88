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
// and the lookup events are answered from those counters for the own integrator's sites
// only (all of them with its API key, one with a site's secret), with each answer in the
// privacy table's disclosure log; a revoked key stops working at once.
func TestRiskFunctionOnDynamoDB(t *testing.T) {
	db := dynamotest.Client(t)
	tables := dynamotest.Tables(t, db)
	ctx := context.Background()
	now := func() time.Time { return lookupTime }

	accounts := dynamo.NewAccounts(db, tables[schema.TableAccounts])
	seedWithSecondSite(t, accounts)
	store := dynamo.NewRisk(db, tables[schema.TableRisk], now)
	// The address also asked for a challenge on the integrator's second site.
	if _, err := store.Apply(ctx, challenge.RiskEvent{V: 1, ID: "c_0000000000000000000000000000cc01:issue", Kind: "issue", Outcome: challenge.OutcomeIssued,
		Challenge: "c_0000000000000000000000000000cc01", Sitekey: secondSite, Day: "2026-11-30", IP: ownIP, Subnet: "4447c943e60d5d6e4407ad0ce585cc06",
		Tasks: 3, Score: 0.2, At: lookupTime.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	consumer := handler.NewConsumer(handler.ConsumerDeps{Store: store, Analytics: dynamo.NewAnalytics(db, tables[schema.TableRisk], now)})
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
	if got := w.IP.Window(lookupTime, challenge.Window15m); got != (challenge.Counts{Issued: 3, Passed: 1, Failed: 1}) {
		t.Fatalf("15-minute window %+v after redeliveries", got)
	}

	disclosures := dynamo.NewDisclosures(db, dynamo.DisclosureTables{Privacy: tables[schema.TablePrivacy], Accounts: tables[schema.TableAccounts]}, now)
	h := handler.New(handler.Deps{
		Keys:        account.NewIntegratorKeyService(accounts, now),
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
		Sitekeys []string
		Windows  map[string]map[string]int
	}
	if err := json.Unmarshal([]byte(resp.Body), &ip); resp.StatusCode != 200 || err != nil || len(ip.Sitekeys) != 2 ||
		ip.Windows["24h"]["issued"] != 3 || ip.Windows["24h"]["failed"] != 1 || ip.Windows["24h"]["passed"] != 1 {
		t.Fatalf("own address on both sites: %d %s", resp.StatusCode, resp.Body)
	}
	ip.Windows = nil
	resp = call("lookup-ip-site-secret.json")
	if err := json.Unmarshal([]byte(resp.Body), &ip); resp.StatusCode != 200 || err != nil || ip.Windows["24h"]["issued"] != 2 {
		t.Fatalf("own address with the site secret: %d %s", resp.StatusCode, resp.Body)
	}
	for _, file := range []string{"lookup-challenge-other-site.json", "lookup-ip-other-site.json"} {
		if resp := call(file); resp.StatusCode != 404 {
			t.Fatalf("%s: %d %s", file, resp.StatusCode, resp.Body)
		}
	}
	got, err := disclosures.Disclosed(ctx, ownIntegrator)
	if err != nil {
		t.Fatal(err)
	}
	// The challenge, the address on both sites with the key, on one with the secret.
	perSite := map[string]int{}
	for _, d := range got {
		if d.Kind == privacy.DisclosureRiskChallenge && d.Subject != passedID || d.Kind == privacy.DisclosureRiskIP && d.Subject != "203.0.113.0/24" {
			t.Fatalf("disclosure %+v", d)
		}
		perSite[d.Sitekey]++
	}
	if len(got) != 4 || perSite[ownSite] != 3 || perSite[secondSite] != 1 {
		t.Fatalf("disclosures %+v", got)
	}

	if _, err := accounts.RevokeIntegratorKey(ctx, ownIntegrator, ownKeyID, lookupTime); err != nil {
		t.Fatal(err)
	}
	if resp := call("lookup-ip.json"); resp.StatusCode != 401 {
		t.Fatalf("revoked key: %d %s", resp.StatusCode, resp.Body)
	}
	if other, _ := disclosures.Disclosed(ctx, "66666666-7777-4888-9999-000000000000"); len(other) != 0 {
		t.Fatalf("the other integrator was disclosed something: %+v", other)
	}
}

const ownIntegrator = "11111111-2222-4333-8444-555555555555"

// seedIntegrators stores two integrators with a site each: the own one (ownSite, with the
// API key ownKey) and another (otherSite).
func seedIntegrators(t *testing.T, accounts *dynamo.Accounts) {
	t.Helper()
	ctx := context.Background()
	for _, s := range []struct{ integrator, sitekey, secret string }{
		{ownIntegrator, ownSite, ownSecret},
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
	if err := accounts.CreateIntegratorKey(ctx, account.IntegratorKey{ID: ownKeyID, IntegratorID: ownIntegrator, Hash: account.HashAPIKey(ownKey), CreatedAt: lookupTime}); err != nil {
		t.Fatal(err)
	}
}

// seedWithSecondSite stores the integrators (seedIntegrators) and a second site of the own
// integrator, so that an address seen on both is one lookup covering two sites.
func seedWithSecondSite(t *testing.T, accounts *dynamo.Accounts) {
	t.Helper()
	seedIntegrators(t, accounts)
	if err := accounts.CreateSite(context.Background(), account.Site{Sitekey: secondSite, IntegratorID: ownIntegrator, Name: "blog", Hostnames: []string{"blog.example"},
		SecretHash: account.HashSecret("0x2222222222222222222222222222222222222222"), CreatedAt: lookupTime, SecretRotatedAt: lookupTime}); err != nil {
		t.Fatal(err)
	}
}

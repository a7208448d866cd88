package handler_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/functions/risk/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// brokenSiteRecords hands DynamoDB Local a disclosure record of one site without its sort
// key, which DynamoDB refuses: the privacy table failing part way through a lookup's
// records. What lands is DynamoDB's doing.
type brokenSiteRecords struct {
	dynamo.API
	sitekey string
}

func (b brokenSiteRecords) broken(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	if s, ok := item["sitekey"].(*types.AttributeValueMemberS); !ok || s.Value != b.sitekey {
		return item
	}
	item = maps.Clone(item)
	delete(item, "sk")
	return item
}

func (b brokenSiteRecords) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	cp := *in
	cp.Item = b.broken(in.Item)
	return b.API.PutItem(ctx, &cp, opts...)
}

func (b brokenSiteRecords) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	cp := *in
	cp.TransactItems = nil
	for _, it := range in.TransactItems {
		if it.Put != nil {
			put := *it.Put
			put.Item = b.broken(put.Item)
			it.Put = &put
		}
		cp.TransactItems = append(cp.TransactItems, it)
	}
	return b.API.TransactWriteItems(ctx, &cp, opts...)
}

// An address lookup covering two sites one of whose disclosure records cannot be written
// answers 500 and leaves no record of either site: nothing was disclosed. The same lookup
// with the table working records both.
func TestFailedAddressLookupRecordsNoDisclosure(t *testing.T) {
	db := dynamotest.Client(t)
	tables := dynamotest.Tables(t, db)
	ctx := context.Background()
	now := func() time.Time { return lookupTime }
	accounts := dynamo.NewAccounts(db, tables[schema.TableAccounts])
	seedWithSecondSite(t, accounts)
	store := dynamo.NewRisk(db, tables[schema.TableRisk], now)
	for i, site := range []string{ownSite, secondSite} {
		id := fmt.Sprintf("c_%032x", 0xee00+i)
		if _, err := store.Apply(ctx, challenge.RiskEvent{V: 1, ID: id + ":issue", Kind: "issue", Outcome: challenge.OutcomeIssued, Challenge: id,
			Sitekey: site, Day: "2026-11-30", IP: ownIP, Subnet: "4447c943e60d5d6e4407ad0ce585cc06", Tasks: 1, At: lookupTime.Add(-time.Duration(i+1) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	lookup := func(api dynamo.API) events.APIGatewayV2HTTPResponse {
		h := handler.New(handler.Deps{
			Keys:        account.NewIntegratorKeyService(accounts, now),
			Store:       store,
			Salts:       challengetest.NewSalts(),
			Disclosures: dynamo.NewDisclosures(api, dynamo.DisclosureTables{Privacy: tables[schema.TablePrivacy], Accounts: tables[schema.TableAccounts]}, now),
			Now:         now,
		})
		lambda := platform.MixedHandler(web.Middleware(slog.New(slog.NewTextHandler(io.Discard, nil)), h), nil)
		var req events.APIGatewayV2HTTPRequest
		out, err := lambda(ctx, readEvent(t, "lookup-ip.json", &req))
		if err != nil {
			t.Fatal(err)
		}
		return out.(events.APIGatewayV2HTTPResponse)
	}
	log := dynamo.NewDisclosures(db, dynamo.DisclosureTables{Privacy: tables[schema.TablePrivacy], Accounts: tables[schema.TableAccounts]}, now)

	// Either site's record failing (whichever is written first) leaves none.
	for _, site := range []string{ownSite, secondSite} {
		if resp := lookup(brokenSiteRecords{API: db, sitekey: site}); resp.StatusCode != 500 {
			t.Fatalf("record of %s refused: %d %s, want 500", site, resp.StatusCode, resp.Body)
		}
		if got, err := log.Disclosed(ctx, ownIntegrator); err != nil || len(got) != 0 {
			t.Fatalf("record of %s refused: disclosures %+v %v, want none", site, got, err)
		}
	}

	if resp := lookup(db); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	got, err := log.Disclosed(ctx, ownIntegrator)
	if err != nil || len(got) != 2 || got[0].Sitekey == got[1].Sitekey || got[0].Subject != "203.0.113.0/24" || got[1].Subject != "203.0.113.0/24" {
		t.Fatalf("after a lookup: disclosures %+v %v, want one per site", got, err)
	}
}

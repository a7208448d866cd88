package dynamo_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// lagging is DynamoDB Local with the gsi1 lag DynamoDB has and DynamoDB Local lacks: gsi1
// queries leave out the items hidden says are not indexed yet, and stale, if set, turns
// each item they answer back into the copy gsi1 still holds. getItem, if set, sees every
// GetItem after it is answered.
type lagging struct {
	*dynamodb.Client
	hidden  func(item map[string]types.AttributeValue) bool
	stale   func(item map[string]types.AttributeValue)
	getItem func(in *dynamodb.GetItemInput)
}

func (l lagging) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := l.Client.Query(ctx, in, opts...)
	if err != nil || in.IndexName == nil || *in.IndexName != schema.GSI1.Name {
		return out, err
	}
	if l.hidden != nil {
		out.Items = slices.DeleteFunc(out.Items, l.hidden)
	}
	if l.stale != nil {
		for _, it := range out.Items {
			l.stale(it)
		}
	}
	return out, nil
}

func (l lagging) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := l.Client.GetItem(ctx, in, opts...)
	if l.getItem != nil {
		l.getItem(in)
	}
	return out, err
}

// withLaggingIndex makes the world's privacy worker read through gsi1 that has not yet
// indexed the sites in sitekeys.
func (w *holdWorld) withLaggingIndex(sitekeys ...string) {
	api := lagging{Client: w.c, hidden: func(it map[string]types.AttributeValue) bool {
		return slices.Contains(sitekeys, attrS(it, "sitekey"))
	}}
	h := dynamo.NewHoldings(api, dynamo.HoldingsTables{Accounts: w.tables[schema.TableAccounts], Labels: w.tables[schema.TableLabels], Privacy: w.tables[schema.TablePrivacy]}, nil)
	w.deps.Accounts, w.deps.Labels, w.deps.Log = h, h, h
}

// newSite creates one more site of an integrator, as the admin API does.
func (w *holdWorld) newSite(t *testing.T, integratorID string) account.Site {
	t.Helper()
	site, _, err := account.NewService(dynamo.NewAccounts(w.c, w.tables[schema.TableAccounts]), nil).
		CreateSite(context.Background(), integratorID, account.NewSite{Name: "just created", Hostnames: []string{"new.example"}})
	if err != nil {
		t.Fatal(err)
	}
	return site
}

// A site created a moment before an opt-out is not in gsi1 yet when the worker lists the
// integrator's sites: the choice must reach it all the same, or its visitors' answers keep
// being published.
func TestOptOutReachesASiteTheIndexHasNotListedYet(t *testing.T) {
	w := newHoldWorld(t)
	jane := w.people["jane"]
	fresh := w.newSite(t, jane.integrator)
	w.withLaggingIndex(fresh.Sitekey)
	done := w.run(t, jane.email, privacy.TypeOptOut)
	got, err := dynamo.NewAccounts(w.c, w.tables[schema.TableAccounts]).GetSite(context.Background(), fresh.Sitekey)
	if err != nil || got.PublishesAnswers() {
		t.Fatalf("site created before the opt-out: %+v, %v; want it to withhold answers", got.Choices, err)
	}
	if n := privacy.ReportOf(done)[privacy.ExecAccounts][privacy.KindSite]; n != 3 {
		t.Errorf("report counts %d sites, want 3", n)
	}
}

// An erasure right after a site was created, which gsi1 does not list yet, and of a site
// stored before sites had a reference in their integrator's partition: both go with the
// integrator, secret lookups included.
func TestErasureReachesASiteTheIndexHasNotListedYet(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	jane := w.people["jane"]
	accounts := dynamo.NewAccounts(w.c, w.tables[schema.TableAccounts])
	fresh := w.newSite(t, jane.integrator)
	// Sites of deployed tables have no reference item: only gsi1 lists them.
	table := w.tables[schema.TableAccounts]
	if _, err := w.c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: dynamo.Key("INTEGRATOR#"+jane.integrator, "SITE#"+jane.sitekeys[0])}); err != nil {
		t.Fatal(err)
	}
	w.withLaggingIndex(fresh.Sitekey)
	done := w.run(t, jane.email, privacy.TypeDelete)
	for _, sk := range append([]string{fresh.Sitekey}, jane.sitekeys...) {
		if s, err := accounts.GetSite(ctx, sk); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("site %s after the erasure: %+v, %v", sk, s, err)
		}
	}
	if _, err := accounts.SiteBySecretHash(ctx, fresh.SecretHash); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("the new site's secret after the erasure: %v", err)
	}
	for _, it := range w.dump(t)[schema.TableAccounts] {
		if strings.Contains(it, jane.integrator) || strings.Contains(it, fresh.Sitekey) || strings.Contains(it, fresh.SecretHash) {
			t.Errorf("accounts table still holds Jane's: %s", it)
		}
	}
	if rep := privacy.ReportOf(done)[privacy.ExecAccounts]; rep[privacy.KindSite] != 3 || rep[privacy.KindSiteSecret] != 3 {
		t.Errorf("report %v, want 3 sites and 3 secret lookups", rep)
	}
}

// The creation half of the opt-out race on DynamoDB: the creation read the integrator
// before the opt-out landed, so its write fails its condition and it reads again.
func TestCreateSiteInheritsAnOptOutThatLandsAfterItsReadOnDynamoDB(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	jane := w.people["jane"]
	table := w.tables[schema.TableAccounts]
	profile := "INTEGRATOR#" + jane.integrator
	optedOut := false
	api := lagging{Client: w.c, getItem: func(in *dynamodb.GetItemInput) {
		if pk, _ := in.Key[schema.PartitionKey].(*types.AttributeValueMemberS); pk != nil && pk.Value == profile && !optedOut {
			optedOut = true
			if err := w.holdings.SetChoices(ctx, privacy.HolderIntegrator, jane.integrator, account.Choices{OptOutSale: true}); err != nil {
				t.Error(err)
			}
		}
	}}
	accounts := dynamo.NewAccounts(api, table)
	site, _, err := account.NewService(accounts, nil).CreateSite(ctx, jane.integrator, account.NewSite{Name: "racing", Hostnames: []string{"race.example"}})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := accounts.GetSite(ctx, site.Sitekey)
	if err != nil || stored.PublishesAnswers() || site.PublishesAnswers() {
		t.Fatalf("site created across an opt-out: stored %+v (%v), answered %+v", stored.Choices, err, site.Choices)
	}
}

// A site stored without a secret hash (never given one) has no secret lookup: the erasure
// report counts the secret lookups it removed, not one per site.
func TestErasureReportCountsOnlySecretLookupsThatExisted(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	jane := w.people["jane"]
	table := w.tables[schema.TableAccounts]
	const sitekey = "0000aaaa-nosecret"
	for _, it := range []map[string]types.AttributeValue{
		{"pk": &types.AttributeValueMemberS{Value: "SITE#" + sitekey}, "sk": &types.AttributeValueMemberS{Value: "SITE"},
			"gsi1pk": &types.AttributeValueMemberS{Value: "INTEGRATOR#" + jane.integrator}, "gsi1sk": &types.AttributeValueMemberS{Value: "SITE#" + sitekey},
			"kind": &types.AttributeValueMemberS{Value: "site"}, "sitekey": &types.AttributeValueMemberS{Value: sitekey},
			"integrator_id": &types.AttributeValueMemberS{Value: jane.integrator}, "name": &types.AttributeValueMemberS{Value: "old"}},
		{"pk": &types.AttributeValueMemberS{Value: "INTEGRATOR#" + jane.integrator}, "sk": &types.AttributeValueMemberS{Value: "SITE#" + sitekey},
			"kind": &types.AttributeValueMemberS{Value: "site-ref"}},
	} {
		if _, err := w.c.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	done := w.run(t, jane.email, privacy.TypeDelete)
	if _, err := dynamo.NewAccounts(w.c, table).GetSite(ctx, sitekey); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("the site without a secret after the erasure: %v", err)
	}
	if rep := privacy.ReportOf(done)[privacy.ExecAccounts]; rep[privacy.KindSite] != 3 || rep[privacy.KindSiteSecret] != 2 {
		t.Errorf("report %v, want 3 sites and 2 secret lookups", rep)
	}
}

package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
)

// The local stack's DynamoDB is minidyn: the repair's filtered Scan and its transactions
// (those deleting a dangling reference and an orphan secret lookup included) work there
// too (`crowdgate accounts repair` against `crowdgate serve`).
func TestRepairOnMinidyn(t *testing.T) {
	ctx := context.Background()
	c := dynamotest.Minidyn(t, "accounts")
	a := dynamo.NewAccounts(c, "accounts")
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"live", "gone"} {
		if err := a.CreateIntegrator(ctx, account.Integrator{ID: id, Name: id, Email: id + "@example.com", Country: "DE", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := a.CreateSite(ctx, account.Site{Sitekey: "site-" + id, IntegratorID: id, Name: id, Hostnames: []string{"x.example"}, SecretHash: "hash-" + id, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	// A site whose record went and whose reference and secret lookup stayed.
	if err := a.CreateSite(ctx, account.Site{Sitekey: "site-closed", IntegratorID: "live", Name: "closed", Hostnames: []string{"x.example"}, SecretHash: "hash-closed", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	table := "accounts"
	for _, k := range [][2]string{{"INTEGRATOR#live", "SITE#site-live"}, {"INTEGRATOR#gone", "PROFILE"}, {"SITE#site-closed", "SITE"}} {
		if _, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: dynamo.Key(k[0], k[1])}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := a.Repair(ctx, false)
	if want := (dynamo.RepairReport{Sites: 2, Refs: 2, Secrets: 3, SiteRefsMissing: 1, OrphanSites: 1, DanglingSiteRefs: 1, OrphanSecrets: 1,
		RefsWritten: 1, SitesDeleted: 1, RefsDeleted: 1, SecretsDeleted: 1}); err != nil || rep != want {
		t.Fatalf("repair %+v, %v; want %+v", rep, err, want)
	}
	if _, err := a.SiteBySecretHash(ctx, "hash-gone"); err == nil {
		t.Error("the orphan site's secret still verifies")
	}
	for _, k := range [][2]string{{"INTEGRATOR#live", "SITE#site-closed"}, {"SECRET#hash-closed", "SECRET"}} {
		if out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: dynamo.Key(k[0], k[1])}); err != nil || len(out.Item) != 0 {
			t.Errorf("%s / %s after the repair: %v, %v", k[0], k[1], out.Item, err)
		}
	}
	if _, err := a.SiteBySecretHash(ctx, "hash-live"); err != nil {
		t.Errorf("the live site's secret: %v", err)
	}
	if rep, err := a.Repair(ctx, false); err != nil || rep != (dynamo.RepairReport{Sites: 1, Refs: 1, Secrets: 1}) {
		t.Errorf("second run %+v, %v", rep, err)
	}
}

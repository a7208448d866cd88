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
// work there too (`crowdgate accounts repair` against `crowdgate serve`).
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
	table := "accounts"
	for _, k := range [][2]string{{"INTEGRATOR#live", "SITE#site-live"}, {"INTEGRATOR#gone", "PROFILE"}} {
		if _, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: dynamo.Key(k[0], k[1])}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := a.Repair(ctx, false)
	if want := (dynamo.RepairReport{Sites: 2, SiteRefsMissing: 1, OrphanSites: 1, RefsWritten: 1, SitesDeleted: 1}); err != nil || rep != want {
		t.Fatalf("repair %+v, %v; want %+v", rep, err, want)
	}
	if _, err := a.SiteBySecretHash(ctx, "hash-gone"); err == nil {
		t.Error("the orphan site's secret still verifies")
	}
	if rep, err := a.Repair(ctx, false); err != nil || rep != (dynamo.RepairReport{Sites: 1}) {
		t.Errorf("second run %+v, %v", rep, err)
	}
}

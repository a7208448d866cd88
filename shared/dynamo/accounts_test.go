package dynamo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

func TestAccountsStoreContract(t *testing.T) {
	store := dynamo.NewAccounts(localTable(t, schema.TableAccounts))
	accounttest.TestStore(t, func(*testing.T) account.Store { return store })
}

// The service end to end on DynamoDB Local: what the admin API and siteverify do.
func TestAccountsServiceOnDynamoDB(t *testing.T) {
	c, table := localTable(t, schema.TableAccounts)
	svc := account.NewService(dynamo.NewAccounts(c, table), time.Now)
	ctx := context.Background()
	it, err := svc.CreateIntegrator(ctx, account.NewIntegrator{Name: "Example", Email: "ops@example.com", Country: "FR"})
	if err != nil {
		t.Fatal(err)
	}
	site, secret, err := svc.CreateSite(ctx, it.ID, account.NewSite{Name: "shop", Hostnames: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := svc.SiteBySecret(ctx, secret); err != nil || got.Sitekey != site.Sitekey {
		t.Fatalf("SiteBySecret: %+v, %v", got, err)
	}
	_, fresh, err := svc.RotateSecret(ctx, site.Sitekey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SiteBySecret(ctx, secret); err == nil {
		t.Fatal("old secret still works after rotation")
	}
	if _, err := svc.SiteBySecret(ctx, fresh); err != nil {
		t.Fatalf("new secret: %v", err)
	}

	// No item holds the secret itself.
	if items := accountItems(t, c, table, secret[2:], fresh[2:]); len(items) != 4 {
		t.Fatalf("%d items, want integrator, site, its reference and one secret lookup", len(items))
	}
}

// accountItems scans the accounts table and checks what holds for every account record,
// whoever wrote it: it carries no ttl (accounts are the one class without), and no string
// attribute contains any of secrets (only their hashes are stored).
func accountItems(t *testing.T, c *dynamodb.Client, table string, secrets ...string) []map[string]types.AttributeValue {
	t.Helper()
	out, err := c.Scan(context.Background(), &dynamodb.ScanInput{TableName: &table})
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range out.Items {
		if _, ok := item[schema.TTLAttribute]; ok {
			t.Errorf("account item %v carries a ttl", item[schema.PartitionKey])
		}
		for name, v := range item {
			s, ok := v.(*types.AttributeValueMemberS)
			if !ok {
				continue
			}
			for _, secret := range secrets {
				if strings.Contains(s.Value, secret) {
					t.Errorf("attribute %s holds a secret", name)
				}
			}
		}
	}
	return out.Items
}

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
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/schema"
)

func TestAccountsStoreContract(t *testing.T) {
	c := dynamotest.Client(t)
	store := dynamo.NewAccounts(c, dynamotest.Tables(t, c)[schema.TableAccounts])
	accounttest.TestStore(t, func(*testing.T) account.Store { return store })
}

// The service end to end on DynamoDB Local: what the admin API and siteverify do.
func TestAccountsServiceOnDynamoDB(t *testing.T) {
	c := dynamotest.Client(t)
	table := dynamotest.Tables(t, c)[schema.TableAccounts]
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

	// Accounts are the one class without ttl, and no item holds the secret itself.
	out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: &table})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 3 {
		t.Fatalf("%d items, want integrator, site and one secret lookup", len(out.Items))
	}
	for _, item := range out.Items {
		if _, ok := item[schema.TTLAttribute]; ok {
			t.Errorf("account item %v carries a ttl", item[schema.PartitionKey])
		}
		for name, v := range item {
			if s, ok := v.(*types.AttributeValueMemberS); ok && (strings.Contains(s.Value, secret[2:]) || strings.Contains(s.Value, fresh[2:])) {
				t.Errorf("attribute %s holds a secret", name)
			}
		}
	}
}

package dynamo_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

func TestCustomerStoreContract(t *testing.T) {
	store := dynamo.NewAccounts(localTable(t, schema.TableAccounts))
	accounttest.TestCustomerStore(t, func(*testing.T) account.CustomerStore { return store })
}

// countingAPI counts the calls authentication makes.
type countingAPI struct {
	dynamo.API
	gets, other atomic.Int64
}

func (c *countingAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.gets.Add(1)
	return c.API.GetItem(ctx, in, opts...)
}

func (c *countingAPI) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.other.Add(1)
	return c.API.Query(ctx, in, opts...)
}

func (c *countingAPI) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	c.other.Add(1)
	return c.API.Scan(ctx, in, opts...)
}

// The customer service on DynamoDB Local: a key works with one read, stops at once when
// revoked, and only its hash is stored.
func TestCustomerKeysOnDynamoDB(t *testing.T) {
	c, table := localTable(t, schema.TableAccounts)
	api := &countingAPI{API: c}
	svc := account.NewCustomerService(dynamo.NewAccounts(api, table), time.Now)
	ctx := context.Background()
	cust, err := svc.CreateCustomer(ctx, account.NewCustomer{Name: "Buyer", Email: "data@buyer.example", Country: "GB"})
	if err != nil {
		t.Fatal(err)
	}
	k, key, err := svc.CreateAPIKey(ctx, cust.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	api.gets.Store(0)
	got, err := svc.Authenticate(ctx, key)
	if err != nil || got.CustomerID != cust.ID || got.ID != k.ID {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	if api.gets.Load() != 1 || api.other.Load() != 0 {
		t.Fatalf("authentication made %d reads and %d queries/scans, want one read", api.gets.Load(), api.other.Load())
	}
	if _, err := svc.Authenticate(ctx, "cgk_nope"); !errors.Is(err, account.ErrInvalidKey) || api.gets.Load() != 1 {
		t.Fatalf("malformed key: %v after %d reads", err, api.gets.Load())
	}
	if _, err := svc.RevokeAPIKey(ctx, cust.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, key); !errors.Is(err, account.ErrInvalidKey) {
		t.Fatalf("revoked key: %v", err)
	}
	keys, err := svc.ListAPIKeys(ctx, cust.ID)
	if err != nil || len(keys) != 1 || !keys[0].Revoked() {
		t.Fatalf("keys %+v, %v", keys, err)
	}

	if items := accountItems(t, c, table, key[strings.LastIndexByte(key, '_')+1:]); len(items) != 3 {
		t.Fatalf("%d items, want the customer, one key and its reference", len(items))
	}
}

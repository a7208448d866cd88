package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/token"
	"github.com/crowdgate/crowdgate/shared/verify/verifytest"
)

func TestTokensStoreContract(t *testing.T) {
	store := dynamo.NewTokens(localTable(t, schema.TableChallenges))
	verifytest.TestTokenStore(t, func(*testing.T) verifytest.TokenStore { return store })
}

func TestTokenRecordCarriesTTL(t *testing.T) {
	c, table := localTable(t, schema.TableChallenges)
	// From the clock: DynamoDB Local deletes items whose ttl has passed.
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if err := dynamo.NewTokens(c, table).Put(context.Background(), token.Record{ID: "x", Sitekey: "s", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &table, Key: dynamo.Key("TOKEN#x", "TOKEN")})
	if err != nil {
		t.Fatal(err)
	}
	if !dynamo.Expired(out.Item, exp) || dynamo.Expired(out.Item, exp.Add(-time.Second)) {
		t.Fatalf("ttl attribute %v does not match the expiry", out.Item[schema.TTLAttribute])
	}
}

package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// localTable is a DynamoDB Local client and the deployed name of table (a schema.Table…
// name) in a fresh set of tables of the test's own.
func localTable(t *testing.T, table string) (*dynamodb.Client, string) {
	t.Helper()
	c := dynamotest.Client(t)
	return c, dynamotest.Tables(t, c)[table]
}

func TestCreateTablesMatchesSchemaAndIsIdempotent(t *testing.T) {
	c := dynamotest.Client(t)
	ctx := context.Background()
	names := map[string]string{}
	for _, tb := range schema.Tables {
		names[tb.Name] = "ttl-" + t.Name() + "-" + tb.Name
	}
	for range 2 {
		if err := dynamo.CreateTables(ctx, c, names); err != nil {
			t.Fatalf("CreateTables: %v", err)
		}
	}
	for _, tb := range schema.Tables {
		out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(names[tb.Name])})
		if err != nil {
			t.Fatalf("describe %s: %v", tb.Name, err)
		}
		if got := len(out.Table.GlobalSecondaryIndexes); got != len(tb.Indexes) {
			t.Errorf("%s: %d indexes, want %d", tb.Name, got, len(tb.Indexes))
		}
		if tb.TTL {
			ttl, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(names[tb.Name])})
			if err != nil {
				t.Fatalf("describe ttl %s: %v", tb.Name, err)
			}
			if aws.ToString(ttl.TimeToLiveDescription.AttributeName) != schema.TTLAttribute {
				t.Errorf("%s: TTL attribute %q", tb.Name, aws.ToString(ttl.TimeToLiveDescription.AttributeName))
			}
		}
	}
}

func TestExpiredReadsTTL(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	item := dynamo.Key("a", "b")
	if dynamo.Expired(item, now) {
		t.Fatal("item without ttl reported expired")
	}
	item[schema.TTLAttribute] = dynamo.TTL(now.Add(time.Second))
	if dynamo.Expired(item, now) {
		t.Fatal("future ttl reported expired")
	}
	if !dynamo.Expired(item, now.Add(time.Second)) {
		t.Fatal("ttl reached but not reported expired")
	}
}

package dynamotest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	mclient "github.com/truora/minidyn/aws-v2/client"
)

// Minidyn returns an in-memory minidyn client (the local stack's DynamoDB stand-in, pure
// Go: no emulator, no network) holding one empty table with the key pk/sk.
func Minidyn(tb testing.TB, table string) *mclient.Client {
	tb.Helper()
	c := mclient.NewClient()
	if _, err := c.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
	}); err != nil {
		tb.Fatal(err)
	}
	return c
}

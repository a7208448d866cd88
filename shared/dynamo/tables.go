// Package dynamo adapts the domain stores to DynamoDB. attributevalue mapping lives here
// and nowhere else; the same code runs on AWS, on DynamoDB Local and on the local stack.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/schema"
)

// API is the part of the DynamoDB client the adapters use, so tests can count calls.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// BatchAPI is API plus BatchGetItem, for the stores that read many keys in one round trip
// (risk windows on the challenge path, the consensus state an answer touches).
type BatchAPI interface {
	API
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

var _ BatchAPI = (*dynamodb.Client)(nil)

// batchRead says how batchGetAll reads: from which table, whether strongly consistent, how
// many calls a batch of keys may take and how long to pause before each retry (attempt
// 1, 2, ...), and what the read is, for errors.
type batchRead struct {
	table      string
	consistent bool
	attempts   int
	pause      func(attempt int) time.Duration
	what       string
}

// batchGetAll reads keys (any number, 100 per BatchGetItem), retrying what DynamoDB leaves
// unprocessed.
func batchGetAll(ctx context.Context, api BatchAPI, keys []map[string]types.AttributeValue, r batchRead) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	for start := 0; start < len(keys); start += 100 {
		pending := keys[start:min(start+100, len(keys))]
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt == r.attempts {
				return nil, fmt.Errorf("%s: %d keys still unprocessed after %d attempts", r.what, len(pending), r.attempts)
			}
			if attempt > 0 {
				if err := sleep(ctx, r.pause(attempt)); err != nil {
					return nil, err
				}
			}
			res, err := api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{r.table: {Keys: pending, ConsistentRead: aws.Bool(r.consistent)}},
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", r.what, err)
			}
			out = append(out, res.Responses[r.table]...)
			pending = res.UnprocessedKeys[r.table].Keys
		}
	}
	return out, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// clockOrTimeNow is now, or time.Now when now is nil: the clock a store judges expiry by,
// since DynamoDB deletes expired items lazily.
func clockOrTimeNow(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// CreateTables creates every table of schema.Tables under the deployed names in names
// (logical → deployed), with the same keys and indexes as the CDK stack, and waits until
// they can be used. Existing tables are left alone. TTL is switched on where the server
// supports it (minidyn does not; the local stack sweeps expired items itself).
func CreateTables(ctx context.Context, c *dynamodb.Client, names map[string]string) error {
	return createTables(ctx, c, names, true)
}

// CreateTablesWithoutTTL is CreateTables with TTL left off, for tests: DynamoDB Local
// deletes expired items in the background, and a test replaying events of a fixed date
// would see its records vanish under it once that date is a day old. Every read checks
// expiry itself, so nothing else changes.
func CreateTablesWithoutTTL(ctx context.Context, c *dynamodb.Client, names map[string]string) error {
	return createTables(ctx, c, names, false)
}

func createTables(ctx context.Context, c *dynamodb.Client, names map[string]string, ttl bool) error {
	for _, t := range schema.Tables {
		name := names[t.Name]
		if name == "" {
			return fmt.Errorf("create tables: no deployed name for %q", t.Name)
		}
		in := &dynamodb.CreateTableInput{
			TableName:   aws.String(name),
			BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String(schema.PartitionKey), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(schema.SortKey), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(schema.PartitionKey), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(schema.SortKey), KeyType: types.KeyTypeRange},
			},
		}
		for _, ix := range t.Indexes {
			in.AttributeDefinitions = append(in.AttributeDefinitions,
				types.AttributeDefinition{AttributeName: aws.String(ix.PartitionKey), AttributeType: types.ScalarAttributeTypeS},
				types.AttributeDefinition{AttributeName: aws.String(ix.SortKey), AttributeType: types.ScalarAttributeTypeS})
			in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
				IndexName: aws.String(ix.Name),
				KeySchema: []types.KeySchemaElement{
					{AttributeName: aws.String(ix.PartitionKey), KeyType: types.KeyTypeHash},
					{AttributeName: aws.String(ix.SortKey), KeyType: types.KeyTypeRange},
				},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			})
		}
		if _, err := c.CreateTable(ctx, in); err != nil {
			var inUse *types.ResourceInUseException
			if !errors.As(err, &inUse) {
				return fmt.Errorf("create table %s: %w", name, err)
			}
			continue
		}
		if t.TTL && ttl {
			_, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
				TableName:               aws.String(name),
				TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(schema.TTLAttribute), Enabled: aws.Bool(true)},
			})
			_ = err // not supported by every local stand-in; expiry is also checked on read
		}
	}
	return nil
}

// TTL returns the ttl attribute value for an expiry time.
func TTL(expires time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(expires.Unix(), 10)}
}

// Expired reports whether an item's ttl attribute is in the past. DynamoDB deletes expired
// items lazily (up to days later), so every read of a TTL'd record asks this.
func Expired(item map[string]types.AttributeValue, now time.Time) bool {
	n, ok := item[schema.TTLAttribute].(*types.AttributeValueMemberN)
	if !ok {
		return false
	}
	sec, err := strconv.ParseInt(n.Value, 10, 64)
	return err == nil && now.Unix() >= sec
}

// Key builds a pk/sk key.
func Key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		schema.PartitionKey: &types.AttributeValueMemberS{Value: pk},
		schema.SortKey:      &types.AttributeValueMemberS{Value: sk},
	}
}

// IsConditionFailed reports whether err is a failed condition expression (also inside a
// cancelled transaction).
func IsConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		return true
	}
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) {
		for _, r := range tc.CancellationReasons {
			if aws.ToString(r.Code) == "ConditionalCheckFailed" {
				return true
			}
		}
	}
	return false
}

// isTransactionConflict reports whether a transaction was cancelled, or a write refused,
// because another transaction was changing the same items at the time.
func isTransactionConflict(err error) bool {
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) {
		for _, r := range tc.CancellationReasons {
			if aws.ToString(r.Code) == "TransactionConflict" {
				return true
			}
		}
	}
	var conflict *types.TransactionConflictException
	return errors.As(err, &conflict)
}

// isLostRace reports a lost race: a failed condition, or a transaction cancelled because
// another transaction touched the same items.
func isLostRace(err error) bool {
	return IsConditionFailed(err) || isTransactionConflict(err)
}

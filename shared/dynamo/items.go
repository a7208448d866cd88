package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/schema"
)

// The item operations several stores share. what names the record in errors.

// getStored reads the item at key with a strongly consistent read, whatever its ttl (for
// stores that answer an expired record differently from a missing one). It returns
// notFound when there is no item (a nil notFound: a nil item and no error).
func getStored(ctx context.Context, api API, table string, key map[string]types.AttributeValue, notFound error, what string) (map[string]types.AttributeValue, error) {
	out, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", what, err)
	}
	if len(out.Item) == 0 {
		return nil, notFound
	}
	return out.Item, nil
}

// getDecoded reads the item at key with a strongly consistent read and decodes it into v.
// It returns notFound when there is no item or its ttl has passed at now (DynamoDB deletes
// expired items lazily); the zero now counts no ttl as passed.
func getDecoded(ctx context.Context, api API, table string, key map[string]types.AttributeValue, now time.Time, v any, notFound error, what string) error {
	item, err := getStored(ctx, api, table, key, notFound, what)
	if err != nil {
		return err
	}
	if Expired(item, now) {
		return notFound
	}
	if err := attributevalue.UnmarshalMap(item, v); err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	return nil
}

// putNew encodes v and writes it only if no item has its key yet. A taken key is returned
// as taken, or (taken nil) as the failed condition, wrapped like any other error.
func putNew(ctx context.Context, api API, table string, v any, taken error, what string) error {
	item, err := attributevalue.MarshalMap(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	_, err = api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if taken != nil && IsConditionFailed(err) {
		return taken
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", what, err)
	}
	return nil
}

// putNewOrOwn is putNew for records with random ids that also accepts finding exactly it
// stored already: the SDK retries a put whose first attempt landed but whose answer was
// lost, and refusing our own record would fail the caller. normalize drops what a round
// trip changes (time zones, monotonic readings); fresh, when set, must also accept the
// stored item (a redeemed token never counts as the one just issued). Any other record
// under the key is taken, or (taken nil) the failed condition.
func putNewOrOwn[T any](ctx context.Context, api API, table string, key map[string]types.AttributeValue, it T,
	normalize func(T) T, fresh func(stored map[string]types.AttributeValue) bool, taken error, what string) error {
	err := putNew(ctx, api, table, it, nil, what)
	if !IsConditionFailed(err) {
		return err
	}
	var got T
	if item, gerr := getStored(ctx, api, table, key, nil, what); gerr == nil && item != nil && (fresh == nil || fresh(item)) &&
		attributevalue.UnmarshalMap(item, &got) == nil && reflect.DeepEqual(normalize(got), normalize(it)) {
		return nil
	}
	if taken != nil {
		return taken
	}
	return err
}

// putNewOrExpired is a transaction's put of item that may replace only a record whose ttl
// has passed at now (expired, but not swept yet).
func putNewOrExpired(table string, item map[string]types.AttributeValue, now time.Time) *types.Put {
	return &types.Put{
		TableName: &table, Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #ttl <= :now"),
		ExpressionAttributeNames:  map[string]string{"#ttl": schema.TTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": epoch(now)},
	}
}

// conditionFailedItem takes the error of a conditional write that asked for
// ReturnValuesOnConditionCheckFailure ALL_OLD. If the condition failed, it returns the
// item as the condition saw it (empty if there was none), read again with a strongly
// consistent read only when DynamoDB sent no item at all (DynamoDB Local may not). An
// empty item that was sent means there was none: a read now could see a racing write
// instead. Any other error is returned as it is.
func conditionFailedItem(ctx context.Context, api API, table string, key map[string]types.AttributeValue, err error) (map[string]types.AttributeValue, error) {
	var cf *types.ConditionalCheckFailedException
	if !errors.As(err, &cf) {
		return nil, err
	}
	if cf.Item != nil {
		return cf.Item, nil
	}
	got, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read after failed condition: %w", err)
	}
	return got.Item, nil
}

// queryEach pages through a query, calling fn per item whose ttl has not passed at now (the
// zero now counts no ttl as passed), and stops after limit items (0: all), expired ones
// included. With a limit, each page asks for no more than the items still wanted.
func queryEach(ctx context.Context, api API, now time.Time, in *dynamodb.QueryInput, limit int, fn func(map[string]types.AttributeValue) error) error {
	seen := 0
	for {
		if limit > 0 {
			in.Limit = aws.Int32(int32(limit - seen))
		}
		out, err := api.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("query %s: %w", aws.ToString(in.TableName), err)
		}
		for _, item := range out.Items {
			if !Expired(item, now) {
				if err := fn(item); err != nil {
					return err
				}
			}
			seen++
		}
		if len(out.LastEvaluatedKey) == 0 || (limit > 0 && seen >= limit) {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// scanEach pages through a strongly consistent Scan, calling fn per item whose ttl has
// not passed at now (the zero now counts no ttl as passed).
func scanEach(ctx context.Context, api API, now time.Time, in *dynamodb.ScanInput, fn func(map[string]types.AttributeValue) error) error {
	in.ConsistentRead = aws.Bool(true)
	for {
		out, err := api.Scan(ctx, in)
		if err != nil {
			return fmt.Errorf("scan %s: %w", aws.ToString(in.TableName), err)
		}
		for _, it := range out.Items {
			if Expired(it, now) {
				continue
			}
			if err := fn(it); err != nil {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// writeBatch is one BatchWriteItem of at most 25 requests, retrying what DynamoDB leaves
// unprocessed with a growing pause (50 ms … 6.4 s).
func writeBatch(ctx context.Context, api API, table string, reqs []types.WriteRequest, what string) error {
	_, err := writeBatchDone(ctx, api, table, reqs, what)
	return err
}

// writeBatchDone is writeBatch that also says how many of reqs are written: all of them,
// or on a failure those DynamoDB processed before it (an earlier answer left only the
// rest unprocessed). A caller counting deletions counts these: they are gone, so a retry
// no longer finds them.
func writeBatchDone(ctx context.Context, api API, table string, reqs []types.WriteRequest, what string) (int, error) {
	pending := map[string][]types.WriteRequest{table: reqs}
	for attempt := 0; len(pending[table]) > 0; attempt++ {
		if attempt > 0 {
			if attempt > 8 {
				return len(reqs) - len(pending[table]), fmt.Errorf("%s: %d still unprocessed after retries", what, len(pending[table]))
			}
			if err := sleep(ctx, time.Duration(25<<attempt)*time.Millisecond); err != nil {
				return len(reqs) - len(pending[table]), err
			}
		}
		out, err := api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return len(reqs) - len(pending[table]), fmt.Errorf("%s: %w", what, err)
		}
		pending = out.UnprocessedItems
	}
	return len(reqs), nil
}

// deleteKeys deletes items of table by key, 25 per batch, and says how many are gone:
// all of them, or on a failure those deleted before it (writeBatchDone).
func deleteKeys(ctx context.Context, api API, table string, keys []map[string]types.AttributeValue) (int, error) {
	for start := 0; start < len(keys); start += 25 {
		var reqs []types.WriteRequest
		for _, k := range keys[start:min(start+25, len(keys))] {
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
		}
		if done, err := writeBatchDone(ctx, api, table, reqs, "delete items"); err != nil {
			return start + done, err
		}
	}
	return len(keys), nil
}

// deleteQueried deletes the first limit items the query in finds (pk and sk are their
// keys) and reports how many it deleted, also on a failure (deleteKeys), and whether
// more may remain. The query is of the base table and strongly consistent: an eventually
// consistent page may still list items deleted a moment ago, which a retry would count
// again, and may miss items written a moment ago, after which "none left" lets a caller
// delete what leads to them (a job record).
func deleteQueried(ctx context.Context, api API, in *dynamodb.QueryInput, limit int) (int, bool, error) {
	in.ConsistentRead = aws.Bool(true)
	in.ProjectionExpression = aws.String("pk, sk")
	in.Limit = aws.Int32(int32(limit))
	out, err := api.Query(ctx, in)
	if err != nil {
		return 0, false, fmt.Errorf("list items to delete: %w", err)
	}
	keys := make([]map[string]types.AttributeValue, 0, len(out.Items))
	for _, it := range out.Items {
		keys = append(keys, map[string]types.AttributeValue{schema.PartitionKey: it[schema.PartitionKey], schema.SortKey: it[schema.SortKey]})
	}
	n, err := deleteKeys(ctx, api, aws.ToString(in.TableName), keys)
	if err != nil {
		return n, true, err
	}
	return n, len(out.LastEvaluatedKey) > 0, nil
}

// randHex is n random bytes in hex, for ids and sort-key suffixes.
func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails (it panics instead)
	return hex.EncodeToString(b)
}

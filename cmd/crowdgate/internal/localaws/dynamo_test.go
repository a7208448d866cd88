package localaws

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/logging"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// sdkLog records what the SDK logs; the stand-in must not make it warn.
type sdkLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *sdkLog) Logf(c logging.Classification, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(c)+": "+fmt.Sprintf(format, v...))
}

func (l *sdkLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func client(endpoint string, log logging.Logger) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		Logger:       log,
	})
}

func names() map[string]string {
	m := map[string]string{}
	for _, t := range schema.Tables {
		m[t.Name] = "local-" + t.Name
	}
	return m
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startDynamo(t testing.TB, dir string, opts ...Option) *Dynamo {
	t.Helper()
	d, err := StartDynamo(ctxT(t), dir, quietLog(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func str(item map[string]types.AttributeValue, k string) string {
	v, _ := item[k].(*types.AttributeValueMemberS)
	if v == nil {
		return ""
	}
	return v.Value
}

func withAttrs(key map[string]types.AttributeValue, kv ...string) map[string]types.AttributeValue {
	for i := 0; i+1 < len(kv); i += 2 {
		key[kv[i]] = s(kv[i+1])
	}
	return key
}

func TestDynamoServesTheSDKAndTheTableSetup(t *testing.T) {
	d := startDynamo(t, "")
	log := &sdkLog{}
	c := client(d.Endpoint(), log)
	ctx := ctxT(t)
	n := names()
	if err := dynamo.CreateTables(ctx, c, n); err != nil {
		t.Fatal(err)
	}
	// A second run (every start of the local stack) leaves existing tables alone.
	if err := dynamo.CreateTables(ctx, c, n); err != nil {
		t.Fatal(err)
	}

	tables, err := c.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tables.TableNames) != len(schema.Tables) {
		t.Fatalf("ListTables = %v", tables.TableNames)
	}
	paged := 0
	for p := dynamodb.NewListTablesPaginator(c, &dynamodb.ListTablesInput{Limit: aws.Int32(2)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		paged += len(page.TableNames)
	}
	if paged != len(schema.Tables) {
		t.Fatalf("paged ListTables found %d tables", paged)
	}

	if err := dynamodb.NewTableExistsWaiter(c).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(n[schema.TableLabels])}, 5*time.Second); err != nil {
		t.Fatalf("table waiter: %v", err)
	}
	desc, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(n[schema.TableLabels])})
	if err != nil {
		t.Fatal(err)
	}
	if desc.Table.TableStatus != types.TableStatusActive || len(desc.Table.AttributeDefinitions) != 4 || len(desc.Table.GlobalSecondaryIndexes) != 1 {
		t.Fatalf("description = %+v", desc.Table)
	}
	ttl, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(n[schema.TableChallenges])})
	if err != nil {
		t.Fatal(err)
	}
	if ttl.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(ttl.TimeToLiveDescription.AttributeName) != schema.TTLAttribute {
		t.Fatalf("ttl = %+v", ttl.TimeToLiveDescription)
	}
	if _, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("missing")}); !isType[*types.ResourceNotFoundException](err) {
		t.Fatalf("ttl of a missing table: %v", err)
	}
	if _, err := c.DescribeContinuousBackups(ctx, &dynamodb.DescribeContinuousBackupsInput{TableName: aws.String(n[schema.TableLabels])}); err == nil || !strings.Contains(err.Error(), "UnknownOperationException") {
		t.Fatalf("unsupported operation: %v", err)
	}
	if strings.Contains(log.String(), "WARN") {
		t.Fatalf("the SDK warned:\n%s", log)
	}
}

func isType[E error](err error) bool {
	var e E
	return errors.As(err, &e)
}

func TestDynamoItemsQueriesConditionsAndTransactions(t *testing.T) {
	d := startDynamo(t, "")
	log := &sdkLog{}
	c := client(d.Endpoint(), log)
	ctx := ctxT(t)
	n := names()
	if err := dynamo.CreateTables(ctx, c, n); err != nil {
		t.Fatal(err)
	}
	labels, challenges := aws.String(n[schema.TableLabels]), aws.String(n[schema.TableChallenges])

	for i := range 3 {
		item := withAttrs(dynamo.Key("job#1", fmt.Sprintf("item#%d", i)), "gsi1pk", "status#open", "gsi1sk", fmt.Sprintf("2026-11-%02d", 10+i), "label", "cat")
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: labels, Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: labels, Key: dynamo.Key("job#1", "item#1")})
	if err != nil || str(got.Item, "label") != "cat" {
		t.Fatalf("get = %v, %v", got, err)
	}
	q, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName:                 labels,
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s("job#1"), ":p": s("item#")},
	})
	if err != nil || q.Count != 3 {
		t.Fatalf("query = %v, %v", q, err)
	}
	gsi, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName:                 labels,
		IndexName:                 aws.String(schema.GSI1.Name),
		KeyConditionExpression:    aws.String("gsi1pk = :pk AND gsi1sk > :after"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s("status#open"), ":after": s("2026-11-10")},
		ScanIndexForward:          aws.Bool(false),
	})
	if err != nil || len(gsi.Items) != 2 || str(gsi.Items[0], "sk") != "item#2" {
		t.Fatalf("gsi query = %+v, %v", gsi, err)
	}

	// Single-use token: the first conditional write wins, the second fails.
	use := &dynamodb.UpdateItemInput{
		TableName:                 challenges,
		Key:                       dynamo.Key("tok#1", "tok"),
		UpdateExpression:          aws.String("SET used_at = :now"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(used_at)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": s("2026-11-30T12:00:00Z")},
	}
	if _, err := c.UpdateItem(ctx, use); !dynamo.IsConditionFailed(err) {
		t.Fatalf("update of a missing token: %v", err)
	}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: challenges, Item: dynamo.Key("tok#1", "tok"), ConditionExpression: aws.String("attribute_not_exists(pk)")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: challenges, Item: dynamo.Key("tok#1", "tok"), ConditionExpression: aws.String("attribute_not_exists(pk)")}); !dynamo.IsConditionFailed(err) {
		t.Fatalf("duplicate insert: %v", err)
	}
	if _, err := c.UpdateItem(ctx, use); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := c.UpdateItem(ctx, use); !dynamo.IsConditionFailed(err) {
		t.Fatalf("second use: %v", err)
	}

	// A transaction with a failing condition writes nothing.
	tx := func(cond string) error {
		_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: challenges, Item: withAttrs(dynamo.Key("ch#1", "answer"), "v", "1")}},
			{Update: &types.Update{
				TableName:                 challenges,
				Key:                       dynamo.Key("tok#1", "tok"),
				UpdateExpression:          aws.String("SET note = :n"),
				ConditionExpression:       aws.String(cond),
				ExpressionAttributeValues: map[string]types.AttributeValue{":n": s("x")},
			}},
		}})
		return err
	}
	if err := tx("attribute_not_exists(used_at)"); !dynamo.IsConditionFailed(err) {
		t.Fatalf("transaction with a failing condition: %v", err)
	}
	if got, _ := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: challenges, Key: dynamo.Key("ch#1", "answer")}); len(got.Item) != 0 {
		t.Fatal("a cancelled transaction wrote an item")
	}
	if err := tx("attribute_exists(used_at)"); err != nil {
		t.Fatalf("transaction: %v", err)
	}
	if got, _ := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: challenges, Key: dynamo.Key("tok#1", "tok")}); str(got.Item, "note") != "x" {
		t.Fatal("transaction update missing")
	}
	if strings.Contains(log.String(), "WARN") {
		t.Fatalf("the SDK warned:\n%s", log)
	}
}

func TestDynamoResponsesCarryTheirCRC32(t *testing.T) {
	d := startDynamo(t, "")
	req, _ := http.NewRequest(http.MethodPost, d.Endpoint(), strings.NewReader(`{}`))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got := resp.Header.Get("X-Amz-Crc32"); got != strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10) {
		t.Fatalf("X-Amz-Crc32 = %q for body %q", got, body)
	}
}

func TestDynamoPaginatorsTerminate(t *testing.T) {
	d := startDynamo(t, "")
	c := client(d.Endpoint(), nil)
	ctx := ctxT(t)
	n := names()
	if err := dynamo.CreateTables(ctx, c, n); err != nil {
		t.Fatal(err)
	}
	table := aws.String(n[schema.TableRisk])
	for i := range 25 {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: dynamo.Key("ip#1", fmt.Sprintf("w#%02d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	// 25 items in pages of 5: the last page is full, the classic place for a paginator
	// that never stops.
	pages, items := 0, 0
	for p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: table, Limit: aws.Int32(5)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pages++; pages > 10 {
			t.Fatal("scan paginator does not terminate")
		}
		items += len(page.Items)
	}
	if items != 25 {
		t.Fatalf("scan found %d items", items)
	}
	pages, items = 0, 0
	for p := dynamodb.NewQueryPaginator(c, &dynamodb.QueryInput{
		TableName: table, Limit: aws.Int32(5),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s("ip#1")},
	}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pages++; pages > 10 {
			t.Fatal("query paginator does not terminate")
		}
		items += len(page.Items)
	}
	if items != 25 {
		t.Fatalf("query found %d items", items)
	}
}

func TestDynamoSweepDeletesExpiredItemsOnly(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	d := startDynamo(t, "", WithClock(func() time.Time { return now }))
	c := client(d.Endpoint(), nil)
	ctx := ctxT(t)
	n := names()
	if err := dynamo.CreateTables(ctx, c, n); err != nil {
		t.Fatal(err)
	}
	table := aws.String(n[schema.TableChallenges])
	put := func(sk string, ttl types.AttributeValue) {
		item := dynamo.Key("p", sk)
		if ttl != nil {
			item[schema.TTLAttribute] = ttl
		}
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	put("expired", dynamo.TTL(now.Add(-time.Minute)))
	put("expires-now", dynamo.TTL(now))
	put("live", dynamo.TTL(now.Add(time.Minute)))
	put("no-ttl", nil)
	put("string-ttl", s("1"))
	put("ancient", dynamo.TTL(now.AddDate(-6, 0, 0))) // DynamoDB ignores ttls over five years old

	// A table whose TTL is off keeps expired items.
	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("no-ttl-table"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("no-ttl-table"), Item: map[string]types.AttributeValue{"pk": s("x"), "ttl": dynamo.TTL(now.Add(-time.Hour))}}); err != nil {
		t.Fatal(err)
	}

	deleted, err := d.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if deleted != 2 {
		t.Fatalf("deleted %d items, want 2", deleted)
	}
	left := map[string]bool{}
	out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: table})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range out.Items {
		left[str(it, "sk")] = true
	}
	if left["expired"] || left["expires-now"] || !left["live"] || !left["no-ttl"] || !left["string-ttl"] || !left["ancient"] {
		t.Fatalf("left after sweep: %v", left)
	}
	if other, _ := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("no-ttl-table")}); len(other.Items) != 1 {
		t.Fatal("swept a table without TTL enabled")
	}
}

func TestDynamoSweepsOnItsOwn(t *testing.T) {
	d := startDynamo(t, "", WithSweepInterval(5*time.Millisecond))
	c := client(d.Endpoint(), nil)
	ctx := ctxT(t)
	n := names()
	if err := dynamo.CreateTables(ctx, c, n); err != nil {
		t.Fatal(err)
	}
	table := aws.String(n[schema.TableRisk])
	item := dynamo.Key("ip#1", "w")
	item[schema.TTLAttribute] = dynamo.TTL(time.Now().Add(-time.Second))
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item}); err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: dynamo.Key("ip#1", "w")})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Item) == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the expired item was never swept")
}

// seed writes items of every attribute type so a restart can be compared exactly, 25
// to a BatchWriteItem call.
func seed(t *testing.T, c *dynamodb.Client, table string, n int) {
	t.Helper()
	ctx := ctxT(t)
	var batch []types.WriteRequest
	flush := func() {
		if len(batch) == 0 {
			return
		}
		out, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: batch}})
		if err != nil || len(out.UnprocessedItems) > 0 {
			t.Fatalf("batch write: %v (unprocessed %d)", err, len(out.UnprocessedItems))
		}
		batch = nil
	}
	for i := range n {
		item := withAttrs(dynamo.Key("job#1", fmt.Sprintf("item#%03d", i)), "gsi1pk", "job#1", "gsi1sk", fmt.Sprintf("%03d", n-i))
		item["n"] = &types.AttributeValueMemberN{Value: strconv.Itoa(i)}
		item["b"] = &types.AttributeValueMemberB{Value: []byte{0, byte(i), 255}}
		item["ok"] = &types.AttributeValueMemberBOOL{Value: i%2 == 0}
		item["nil"] = &types.AttributeValueMemberNULL{Value: true}
		item["l"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{s("a"), &types.AttributeValueMemberN{Value: "1.5"}}}
		item["m"] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": s("v \"quoted\" ü")}}
		item["ss"] = &types.AttributeValueMemberSS{Value: []string{"x", "y"}}
		if batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}); len(batch) == 25 {
			flush()
		}
	}
	flush()
}

func scanAllSDK(t *testing.T, c *dynamodb.Client, table string) []map[string]types.AttributeValue {
	t.Helper()
	var all []map[string]types.AttributeValue
	for p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)}); p.HasMorePages(); {
		page, err := p.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Items...)
	}
	return all
}

func TestDynamoSnapshotSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := names()
	labels := n[schema.TableLabels]

	defer func(size int) { scanPageSize = size }(scanPageSize)
	scanPageSize = 10 // the snapshot reads several pages

	first, err := StartDynamo(ctxT(t), dir, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	c := client(first.Endpoint(), nil)
	if err := dynamo.CreateTables(ctxT(t), c, n); err != nil {
		t.Fatal(err)
	}
	const items = 57
	seed(t, c, labels, items)
	before := scanAllSDK(t, c, labels)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, SnapshotFile)); err != nil {
		t.Fatalf("no snapshot: %v", err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*tmp")); len(tmp) > 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}

	second := startDynamo(t, dir)
	c = client(second.Endpoint(), nil)
	ctx := ctxT(t)
	if err := dynamo.CreateTables(ctx, c, n); err != nil {
		t.Fatalf("tables after restart: %v", err)
	}
	after := scanAllSDK(t, c, labels)
	if len(after) != len(before) {
		t.Fatalf("%d items after restart, %d before", len(after), len(before))
	}
	byKey := map[string]map[string]types.AttributeValue{}
	for _, it := range before {
		byKey[str(it, "sk")] = it
	}
	for _, it := range after {
		want := byKey[str(it, "sk")]
		if fmt.Sprintf("%#v", normalize(it)) != fmt.Sprintf("%#v", normalize(want)) {
			t.Fatalf("item changed across restart:\n got %#v\nwant %#v", normalize(it), normalize(want))
		}
	}
	gsi, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(labels), IndexName: aws.String(schema.GSI1.Name),
		KeyConditionExpression:    aws.String("gsi1pk = :pk AND gsi1sk = :sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s("job#1"), ":sk": s(fmt.Sprintf("%03d", items))},
	})
	if err != nil || len(gsi.Items) != 1 || str(gsi.Items[0], "sk") != "item#000" {
		t.Fatalf("gsi after restart = %+v, %v", gsi, err)
	}
	ttl, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(labels)})
	if err != nil || ttl.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Fatalf("ttl after restart = %+v, %v", ttl, err)
	}

	// Deleting after the restart is saved too.
	if _, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(labels), Key: dynamo.Key("job#1", "item#000")}); err != nil {
		t.Fatal(err)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	third := startDynamo(t, dir)
	if got := scanAllSDK(t, client(third.Endpoint(), nil), labels); len(got) != len(before)-1 {
		t.Fatalf("%d items after the second restart, want %d", len(got), len(before)-1)
	}
}

// normalize turns an item into comparable plain values.
func normalize(it map[string]types.AttributeValue) map[string]string {
	out := map[string]string{}
	for k, v := range it {
		out[k] = fmt.Sprintf("%#v", v)
		switch v := v.(type) {
		case *types.AttributeValueMemberL:
			out[k] = fmt.Sprint(len(v.Value), v.Value[0].(*types.AttributeValueMemberS).Value, v.Value[1].(*types.AttributeValueMemberN).Value)
		case *types.AttributeValueMemberM:
			out[k] = v.Value["k"].(*types.AttributeValueMemberS).Value
		case *types.AttributeValueMemberSS:
			out[k] = strings.Join(v.Value, ",")
		}
	}
	return out
}

func TestDynamoSavesPeriodicallyWithoutClose(t *testing.T) {
	dir := t.TempDir()
	d := startDynamo(t, dir, WithSnapshotInterval(5*time.Millisecond))
	c := client(d.Endpoint(), nil)
	ctx := ctxT(t)
	n := names()
	if err := dynamo.CreateTables(ctx, c, n); err != nil {
		t.Fatal(err)
	}
	seed(t, c, n[schema.TableLabels], 3)
	path := filepath.Join(dir, SnapshotFile)
	for {
		if data, err := os.ReadFile(path); err == nil && strings.Contains(string(data), "item#002") {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("no periodic snapshot with the data")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A second stand-in started from the file while the first still runs (as after a
	// crash) sees the data.
	other := startDynamo(t, dir, WithSnapshotInterval(time.Hour))
	if got := scanAllSDK(t, client(other.Endpoint(), nil), n[schema.TableLabels]); len(got) != 3 {
		t.Fatalf("restored %d items, want 3", len(got))
	}
}

func TestDynamoRefusesDamagedSnapshotAndNonLoopbackAddress(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, SnapshotFile), []byte(`{"version":1,"tables":[{"name":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if d, err := StartDynamo(ctxT(t), dir, quietLog()); err == nil {
		d.Close()
		t.Fatal("started from a damaged snapshot")
	}
	if d, err := StartDynamo(ctxT(t), "", quietLog(), WithAddr("0.0.0.0:0")); err == nil {
		d.Close()
		t.Fatal("listened on every interface")
	}
}

func BenchmarkDynamoPutGet(b *testing.B) {
	d := startDynamo(b, "")
	c := client(d.Endpoint(), nil)
	ctx := context.Background()
	n := names()
	if err := dynamo.CreateTables(ctx, c, n); err != nil {
		b.Fatal(err)
	}
	table := aws.String(n[schema.TableChallenges])
	i := 0
	for b.Loop() {
		i++
		key := dynamo.Key(fmt.Sprintf("ch#%d", i), "c")
		item := withAttrs(dynamo.Key(fmt.Sprintf("ch#%d", i), "c"), "site", "s1")
		item[schema.TTLAttribute] = dynamo.TTL(time.Now().Add(time.Minute))
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item}); err != nil {
			b.Fatal(err)
		}
		if _, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "ops/s")
}

func TestDynamoConcurrentUse(t *testing.T) {
	d := startDynamo(t, t.TempDir())
	c := client(d.Endpoint(), nil)
	ctx := ctxT(t)
	n := names()
	if err := dynamo.CreateTables(ctx, c, n); err != nil {
		t.Fatal(err)
	}
	table := aws.String(n[schema.TableChallenges])
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 40 {
				key := dynamo.Key(fmt.Sprintf("g%d", g), fmt.Sprintf("i%02d", i))
				item := withAttrs(dynamo.Key(fmt.Sprintf("g%d", g), fmt.Sprintf("i%02d", i)), "v", "1")
				item[schema.TTLAttribute] = dynamo.TTL(time.Now().Add(-time.Duration(i%2) * time.Hour))
				if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}); err != nil {
					t.Error(err)
					return
				}
				if _, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 10 {
			if _, err := d.Sweep(ctx); err != nil {
				t.Error(err)
			}
			if err := d.Snapshot(ctx); err != nil {
				t.Error(err)
			}
			if _, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: table}); err != nil {
				t.Error(err)
			}
			if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
				TableName:            aws.String(fmt.Sprintf("extra-%d", i)),
				BillingMode:          types.BillingModePayPerRequest,
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
			}); err != nil {
				t.Error(err)
			}
			if _, err := c.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if _, err := d.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	// Every even item carried a ttl of now, every odd one an hour ago: all expired, all swept.
	if out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: table}); err != nil || len(out.Items) != 0 {
		t.Fatalf("after the sweep %d items are left (%v)", len(out.Items), err)
	}
}

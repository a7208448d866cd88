package dynamo_test

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// staleIndex is DynamoDB Local whose gsi1 has not caught up with deletions: it goes on
// listing every item it listed when frozen (frozen), deleted or not, as gsi1 does for a
// moment after each deletion. Past maxQueries gsi1 queries it fails, so a worker that
// would wait for gsi1 to catch up fails instead of spinning for ever.
type staleIndex struct {
	*dynamodb.Client
	frozen     map[string][]map[string]types.AttributeValue // gsi1pk → items listed
	queries    *int
	maxQueries int
}

func gsi1Query(in *dynamodb.QueryInput) bool {
	return in.IndexName != nil && *in.IndexName == schema.GSI1.Name
}

// all reads every page of a query.
func (s staleIndex) all(ctx context.Context, in dynamodb.QueryInput) ([]map[string]types.AttributeValue, error) {
	in.Limit, in.ExclusiveStartKey = nil, nil
	var items []map[string]types.AttributeValue
	for {
		out, err := s.Client.Query(ctx, &in)
		if err != nil {
			return nil, err
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			return items, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// freeze makes gsi1 keep listing what it lists now under these gsi1pk values.
func (s *staleIndex) freeze(ctx context.Context, table string, gsi1pks ...string) error {
	s.frozen = map[string][]map[string]types.AttributeValue{}
	for _, pk := range gsi1pks {
		items, err := s.all(ctx, dynamodb.QueryInput{
			TableName: &table, IndexName: aws.String(schema.GSI1.Name),
			KeyConditionExpression:    aws.String("gsi1pk = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: pk}},
		})
		if err != nil {
			return err
		}
		s.frozen[pk] = items
	}
	return nil
}

func (s staleIndex) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if !gsi1Query(in) {
		return s.Client.Query(ctx, in, opts...)
	}
	if *s.queries++; *s.queries > s.maxQueries {
		return nil, errors.New("gsi1 queried too often: batches spent on records already deleted")
	}
	live, err := s.all(ctx, *in)
	if err != nil {
		return nil, err
	}
	pk := attrS(in.ExpressionAttributeValues, ":p")
	prefix := attrS(in.ExpressionAttributeValues, ":k")
	items := live
	for _, it := range s.frozen[pk] {
		if strings.HasPrefix(attrS(it, "gsi1sk"), prefix) && !slices.ContainsFunc(live, func(l map[string]types.AttributeValue) bool {
			return attrS(l, "pk") == attrS(it, "pk")
		}) {
			items = append(items, it)
		}
	}
	order := func(it map[string]types.AttributeValue) string { return attrS(it, "gsi1sk") + "\x00" + attrS(it, "pk") }
	slices.SortFunc(items, func(a, b map[string]types.AttributeValue) int { return cmp.Compare(order(a), order(b)) })
	if start := in.ExclusiveStartKey; start != nil {
		items = slices.DeleteFunc(items, func(it map[string]types.AttributeValue) bool { return order(it) <= order(start) })
	}
	out := &dynamodb.QueryOutput{Items: items}
	if in.Limit != nil && len(items) > int(*in.Limit) {
		out.Items = items[:*in.Limit]
		last := out.Items[len(out.Items)-1]
		out.LastEvaluatedKey = map[string]types.AttributeValue{"pk": last["pk"], "sk": last["sk"], "gsi1pk": last["gsi1pk"], "gsi1sk": last["gsi1sk"]}
	}
	return out, nil
}

// emptyBatches counts the deletion batches that removed nothing yet said more remained.
type emptyBatches struct {
	privacy.AccountData
	n int
}

func (e *emptyBatches) DeleteSites(ctx context.Context, integratorID string, limit int) (int, int, bool, error) {
	sites, secrets, more, err := e.AccountData.DeleteSites(ctx, integratorID, limit)
	if err == nil && sites == 0 && more {
		e.n++
	}
	return sites, secrets, more, err
}

func (e *emptyBatches) DeleteAPIKeys(ctx context.Context, kind privacy.HolderKind, ownerID string, limit int) (int, bool, error) {
	n, more, err := e.AccountData.DeleteAPIKeys(ctx, kind, ownerID, limit)
	if err == nil && n == 0 && more {
		e.n++
	}
	return n, more, err
}

// An integrator with more sites, and a customer with more API keys, than one batch
// deletes, erased while gsi1 still lists what each batch deleted: every batch removes
// something until nothing is left, rather than naming deleted records until gsi1 catches
// up (each such batch a step and a checkpoint).
func TestErasureSpendsNoBatchOnRecordsTheIndexStillLists(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	jane := w.people["jane"]
	csvc := account.NewCustomerService(dynamo.NewAccounts(w.c, w.tables[schema.TableAccounts]), nil)
	for range privacy.Batch + 1 {
		w.newSite(t, jane.integrator)
		if _, _, err := csvc.CreateAPIKey(ctx, jane.customer, "ci"); err != nil {
			t.Fatal(err)
		}
	}
	sites, keys := privacy.Batch+3, privacy.Batch+3
	api := &staleIndex{Client: w.c, queries: new(int), maxQueries: 100}
	if err := api.freeze(ctx, w.tables[schema.TableAccounts], "INTEGRATOR#"+jane.integrator, "CUSTOMER#"+jane.customer); err != nil {
		t.Fatal(err)
	}
	h := dynamo.NewHoldings(api, dynamo.HoldingsTables{Accounts: w.tables[schema.TableAccounts], Labels: w.tables[schema.TableLabels], Privacy: w.tables[schema.TablePrivacy]}, nil)
	counted := &emptyBatches{AccountData: h}
	w.deps.Accounts, w.deps.Labels, w.deps.Log = counted, h, h

	done := w.run(t, jane.email, privacy.TypeDelete)
	if counted.n > 0 {
		t.Errorf("%d deletion batches removed nothing while more remained", counted.n)
	}
	for _, it := range w.dump(t)[schema.TableAccounts] {
		if strings.Contains(it, strings.ToLower(jane.integrator)) || strings.Contains(it, strings.ToLower(jane.customer)) {
			t.Errorf("accounts table still holds Jane's: %s", it)
		}
	}
	if rep := privacy.ReportOf(done)[privacy.ExecAccounts]; rep[privacy.KindSite] != sites || rep[privacy.KindSiteSecret] != sites || rep[privacy.KindAPIKey] != keys {
		t.Errorf("report %v, want %d sites and secret lookups, %d API keys", rep, sites, keys)
	}
}

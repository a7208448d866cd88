package dynamo_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// batchFailing is DynamoDB Local whose BatchWriteItem calls fail when fail says so
// (throttling, a timeout), before anything of them is written.
type batchFailing struct {
	*dynamodb.Client
	fail func(in *dynamodb.BatchWriteItemInput) error
}

func (b batchFailing) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if err := b.fail(in); err != nil {
		return nil, err
	}
	return b.Client.BatchWriteItem(ctx, in, opts...)
}

// deletesSiteItems reports whether a batch deletes a site or a secret lookup.
func deletesSiteItems(in *dynamodb.BatchWriteItemInput) bool {
	for _, reqs := range in.RequestItems {
		for _, r := range reqs {
			if r.DeleteRequest == nil {
				continue
			}
			pk, _ := r.DeleteRequest.Key[schema.PartitionKey].(*types.AttributeValueMemberS)
			if pk != nil && (strings.HasPrefix(pk.Value, "SITE#") || strings.HasPrefix(pk.Value, "SECRET#")) {
				return true
			}
		}
	}
	return false
}

// An integrator with more sites than one batch deletes: the erasure's deletion of them
// fails half-way (its second batch), and the retry must still reach every secret lookup,
// or one whose site went in the first batch stays in the table for good.
func TestErasureRetriedAfterAFailedSiteBatchLeavesNoSecretLookup(t *testing.T) {
	w := newHoldWorld(t)
	jane := w.people["jane"]
	for range 11 { // 13 sites: 26 site and secret items, more than a batch of 25
		s := w.newSite(t, jane.integrator)
		jane.sitekeys = append(jane.sitekeys, s.Sitekey)
		jane.secretHashes = append(jane.secretHashes, s.SecretHash)
	}
	batches, failed := 0, false
	api := batchFailing{Client: w.c, fail: func(in *dynamodb.BatchWriteItemInput) error {
		if !deletesSiteItems(in) {
			return nil
		}
		if batches++; batches == 2 && !failed {
			failed = true
			return errors.New("throttled")
		}
		return nil
	}}
	h := dynamo.NewHoldings(api, dynamo.HoldingsTables{Accounts: w.tables[schema.TableAccounts], Labels: w.tables[schema.TableLabels], Privacy: w.tables[schema.TablePrivacy]}, nil)
	w.deps.Accounts, w.deps.Labels, w.deps.Log = h, h, h

	_, run := w.eraseJane(t)
	if _, err := run(); err == nil || !failed {
		t.Fatalf("first run: %v (batch failed: %v), want the injected failure", err, failed)
	}
	if done, err := run(); err != nil || done.Status != privacy.StatusCompleted {
		t.Fatalf("retry: %v, %v", done.Status, err)
	}
	for _, it := range w.dump(t)[schema.TableAccounts] {
		for _, trace := range append(jane.traces(), jane.sitekeys...) {
			if strings.Contains(it, strings.ToLower(trace)) {
				t.Errorf("accounts table still holds %q: %s", trace, it)
			}
		}
	}
}

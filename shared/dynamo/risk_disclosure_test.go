package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// siteDisclosures are n records of one address lookup, one per site, as the risk lookup
// makes them (no id: the log gives each one).
func siteDisclosures(recipient string, at time.Time, n int) []privacy.Disclosure {
	out := make([]privacy.Disclosure, n)
	for i := range out {
		out[i] = privacy.Disclosure{At: at, Recipient: recipient, Sitekey: fmt.Sprintf("site-%03d", i), Kind: privacy.DisclosureRiskIP,
			Subject: "203.0.113.0/24"}
	}
	return out
}

// disclosureTables are a fresh set of tables in which the recipients have profiles (each
// record is written with a check on its recipient's).
func disclosureTables(t *testing.T, recipients ...string) (*dynamodb.Client, dynamo.DisclosureTables) {
	t.Helper()
	c := dynamotest.Client(t)
	all := dynamotest.Tables(t, c)
	accounts := dynamo.NewAccounts(c, all[schema.TableAccounts])
	for _, id := range recipients {
		if err := accounts.CreateIntegrator(context.Background(), account.Integrator{ID: id, Name: "Shop", Email: id + "@example.com", Country: "US", CreatedAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
	}
	return c, dynamo.DisclosureTables{Privacy: all[schema.TablePrivacy], Accounts: all[schema.TableAccounts]}
}

// Up to 99 records (DynamoDB's transaction limit, less the check on the recipient) are one
// transaction: when one of them cannot be written (here its key is taken), none of the
// others is.
func TestRecordDisclosuresWritesAllOrNone(t *testing.T) {
	c, tables := disclosureTables(t, "integrator-1")
	log := dynamo.NewDisclosures(c, tables, nil)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Millisecond)
	earlier := privacy.Disclosure{ID: "0123456789abcdef", At: at, Recipient: "integrator-1", Sitekey: "site-x", Kind: privacy.DisclosureRiskChallenge, Subject: chalID(1)}
	if err := log.RecordDisclosures(ctx, earlier); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 99, 100} {
		batch := siteDisclosures("integrator-1", at, n)
		batch[n-1].ID = earlier.ID // the last one's key is the earlier record's
		if err := log.RecordDisclosures(ctx, batch...); err == nil {
			t.Fatalf("%d records, one of them under a taken key: no error", n)
		}
		if got, err := log.Disclosed(ctx, "integrator-1"); err != nil || len(got) != 1 || got[0].Subject != chalID(1) {
			t.Fatalf("%d records, one refused: stored %d %v, want only the earlier record", n, len(got), err)
		}
	}
	if err := log.RecordDisclosures(ctx, siteDisclosures("integrator-1", at, 100)...); err != nil {
		t.Fatal(err)
	}
	if got, err := log.Disclosed(ctx, "integrator-1"); err != nil || len(got) != 101 {
		t.Fatalf("100 records: stored %d %v, want 101 with the earlier one", len(got), err)
	}
}

// failingTransaction fails TransactWriteItems call number fail (1, 2, …) before it
// reaches DynamoDB.
type failingTransaction struct {
	dynamo.API
	fail  int
	calls *int
}

func (f failingTransaction) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	*f.calls++
	if *f.calls == f.fail {
		return nil, errors.New("throttled")
	}
	return f.API.TransactWriteItems(ctx, in, opts...)
}

// More than 100 records take several transactions; when a later one fails, the records
// the earlier ones wrote are deleted again, so the caller's error leaves none behind.
func TestRecordDisclosuresAboveOneTransaction(t *testing.T) {
	c, tables := disclosureTables(t, "integrator-1")
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Millisecond)
	for _, fail := range []int{1, 2, 3} {
		calls := 0
		log := dynamo.NewDisclosures(failingTransaction{API: c, fail: fail, calls: &calls}, tables, nil)
		if err := log.RecordDisclosures(ctx, siteDisclosures("integrator-1", at, 250)...); err == nil {
			t.Fatalf("transaction %d failed: no error", fail)
		}
		if got, err := dynamo.NewDisclosures(c, tables, nil).Disclosed(ctx, "integrator-1"); err != nil || len(got) != 0 {
			t.Fatalf("transaction %d failed: %d records left %v", fail, len(got), err)
		}
	}
	calls := 0
	log := dynamo.NewDisclosures(failingTransaction{API: c, calls: &calls}, tables, nil)
	if err := log.RecordDisclosures(ctx, siteDisclosures("integrator-1", at, 250)...); err != nil {
		t.Fatal(err)
	}
	got, err := log.Disclosed(ctx, "integrator-1")
	if err != nil || len(got) != 250 || calls != 3 {
		t.Fatalf("250 records: stored %d %v in %d transactions, want 250 in 3", len(got), err, calls)
	}
	sites := map[string]bool{}
	for _, d := range got {
		sites[d.Sitekey] = true
		if d.ID == "" || !d.At.Equal(at) || d.Kind != privacy.DisclosureRiskIP {
			t.Fatalf("stored %+v", d)
		}
	}
	if len(sites) != 250 {
		t.Fatalf("%d sites among 250 records", len(sites))
	}
}

package dynamo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
	"github.com/crowdgate/crowdgate/shared/schema"
)

func TestPrivacyStoreContract(t *testing.T) {
	c := dynamotest.Client(t)
	privacytest.TestStore(t, func(t *testing.T) privacy.Store {
		return dynamo.NewPrivacy(c, dynamotest.Tables(t, c)[schema.TablePrivacy], nil)
	})
}

func TestFilingCounterContract(t *testing.T) {
	c := dynamotest.Client(t)
	privacytest.TestFilingCounter(t, dynamo.NewPrivacy(c, dynamotest.Tables(t, c)[schema.TablePrivacy], nil))
}

// Every record the store writes carries a ttl, and nothing it writes holds the address
// once the request is closed.
func TestPrivacyRecordsExpireAndForgetTheAddress(t *testing.T) {
	c, table := localTable(t, schema.TablePrivacy)
	svc, mail := privacyService(t, dynamo.NewPrivacy(c, table, nil), privacytest.Accounts{})
	ctx := context.Background()
	filed, err := svc.File(ctx, privacy.FileInput{Email: "Jane@Example.com", Type: privacy.TypeCorrect, Regulation: privacy.GDPR,
		Corrections: []privacy.Correction{{Field: "name", Value: "Jane Q. Doe"}}, Details: "my old name"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Verify(ctx, filed.ID, mail.LastCode("Jane@Example.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Deny(ctx, filed.ID, privacy.DenyNoMatch, "", privacy.Actor{Kind: privacy.ActorOperator}); err != nil {
		t.Fatal(err)
	}
	items, err := privScanAll(ctx, c, table)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) < 4 {
		t.Fatalf("only %d items", len(items))
	}
	for _, it := range items {
		if _, ok := it[schema.TTLAttribute]; !ok {
			t.Errorf("item %v has no ttl", it["sk"])
		}
		for _, v := range []string{"jane@example.com", "Jane@Example.com", "Jane Q. Doe", "my old name"} {
			if strings.Contains(privDump(t, it), v) {
				t.Errorf("item %v still holds %q after closing", it["sk"], v)
			}
		}
	}
}

func TestIntegratorsByEmail(t *testing.T) {
	c, table := localTable(t, schema.TableAccounts)
	store := dynamo.NewAccounts(c, table)
	svc := account.NewService(store, time.Now)
	ctx := context.Background()
	var want []string
	for _, e := range []string{"Ops@Shop.example", "ops@shop.example", "other@shop.example"} {
		it, err := svc.CreateIntegrator(ctx, account.NewIntegrator{Name: "Shop", Email: e, Country: "DE"})
		if err != nil {
			t.Fatal(err)
		}
		if e != "other@shop.example" {
			want = append(want, it.ID)
		}
		// Sites live in the same table and must not confuse the scan.
		if _, _, err := svc.CreateSite(ctx, it.ID, account.NewSite{Name: "s", Hostnames: []string{"shop.example"}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := store.IntegratorsByEmail(ctx, "ops@shop.example")
	slices.Sort(got)
	slices.Sort(want)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("IntegratorsByEmail = %v, %v; want %v", got, err, want)
	}
	if none, err := store.IntegratorsByEmail(ctx, "nobody@shop.example"); err != nil || len(none) != 0 {
		t.Fatalf("unknown address: %v, %v", none, err)
	}
}

// The workflow on DynamoDB Local, including the transitions that must not race.
func TestPrivacyServiceOnDynamoDB(t *testing.T) {
	c := dynamotest.Client(t)
	tables := dynamotest.Tables(t, c)
	accounts := dynamo.NewAccounts(c, tables[schema.TableAccounts])
	it, err := account.NewService(accounts, time.Now).CreateIntegrator(context.Background(), account.NewIntegrator{Name: "Shop", Email: "ops@shop.example", Country: "US"})
	if err != nil {
		t.Fatal(err)
	}
	svc, mail := privacyService(t, dynamo.NewPrivacy(c, tables[schema.TablePrivacy], nil), accounts)
	ctx := context.Background()
	op := privacy.Actor{Kind: privacy.ActorOperator, ID: "arn:aws:iam::123456789012:user/compliance"}

	filed, err := svc.File(ctx, privacy.FileInput{Email: "OPS@shop.example", Type: privacy.TypeDelete, Regulation: privacy.CCPA})
	if err != nil {
		t.Fatal(err)
	}
	dup, err := svc.File(ctx, privacy.FileInput{Email: "ops@shop.example", Type: privacy.TypeDelete, Regulation: privacy.CCPA})
	if err != nil || dup.ID != filed.ID {
		t.Fatalf("duplicate: %+v, %v", dup, err)
	}
	r, secret, err := svc.Verify(ctx, filed.ID, mail.LastCode("ops@shop.example"))
	if err != nil || r.Status != privacy.StatusVerified || !slices.Equal(r.AccountIDs, []string{it.ID}) {
		t.Fatalf("verify: %+v, %v", r, err)
	}
	// Approve and deny at once: exactly one wins.
	errs := make(chan error, 2)
	go func() { _, err := svc.Approve(ctx, filed.ID, op); errs <- err }()
	go func() { _, err := svc.Deny(ctx, filed.ID, privacy.DenySuspectedFraud, "", op); errs <- err }()
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) {
		t.Fatalf("approve/deny race: %v / %v", e1, e2)
	}
	for _, err := range []error{e1, e2} {
		var te *privacy.TransitionError
		if err != nil && !errors.Is(err, privacy.ErrConflict) && !errors.As(err, &te) {
			t.Fatalf("loser's error: %v", err)
		}
	}
	st, err := svc.Status(ctx, filed.ID, secret)
	if err != nil || (st.Status != privacy.StatusInProgress && st.Status != privacy.StatusDenied) {
		t.Fatalf("status %+v, %v", st, err)
	}
	_, log, err := svc.Get(ctx, filed.ID)
	if err != nil || len(log) < 5 || log[0].Action != privacy.ActionFiled {
		t.Fatalf("audit %+v, %v", log, err)
	}
	page, err := svc.List(ctx, privacy.ListFilter{Status: st.Status})
	if err != nil || len(page.Requests) != 1 || page.Requests[0].ID != filed.ID {
		t.Fatalf("list %s: %+v, %v", st.Status, page, err)
	}
}

func privacyService(t *testing.T, store privacy.Store, accounts privacy.AccountLookup) (*privacy.Service, *privacytest.Mailer) {
	t.Helper()
	mail := &privacytest.Mailer{}
	svc, err := privacy.NewService(privacy.Deps{
		Store: store, Mailer: mail, Accounts: accounts, Queue: &privacytest.Queue{},
		Clock: privacy.ClockFunc(time.Now), Key: bytes.Repeat([]byte{3}, 32),
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc, mail
}

func privScanAll(ctx context.Context, c *dynamodb.Client, table string) ([]map[string]types.AttributeValue, error) {
	in := &dynamodb.ScanInput{TableName: &table}
	var out []map[string]types.AttributeValue
	for {
		page, err := c.Scan(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// privDump renders an item's values as text.
func privDump(t *testing.T, item map[string]types.AttributeValue) string {
	t.Helper()
	var m map[string]any
	if err := attributevalue.UnmarshalMap(item, &m); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(m)
}

package dynamo_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// A customer account registered under the address after the erasure's jobs step finished
// is fenced by the next step, and its API key stops authenticating before that step goes
// on: no later step erases jobs, so a key left working until the accounts step could add
// jobs, items and exports that outlive the erasure.
func TestErasureStopsTheKeyOfACustomerRegisteredAfterTheJobsStep(t *testing.T) {
	ctx := context.Background()
	w := newHoldWorld(t)
	failing, checking := true, false
	var check func()
	api := scripted{Client: w.c, deleteItem: func(in *dynamodb.DeleteItemInput) error {
		pk, _ := in.Key[schema.PartitionKey].(*types.AttributeValueMemberS)
		if pk == nil || !strings.HasPrefix(pk.Value, "EXPORT#") {
			return nil
		}
		switch {
		case failing:
			failing = false
			return errors.New("throttled") // the exports step's first deletion
		case check != nil:
			check()
			check = nil
		}
		return nil
	}}
	h := dynamo.NewHoldings(api, dynamo.HoldingsTables{Accounts: w.tables[schema.TableAccounts], Labels: w.tables[schema.TableLabels], Privacy: w.tables[schema.TablePrivacy]}, nil)
	w.deps.Accounts, w.deps.Labels, w.deps.Log = h, h, h

	_, run := w.eraseJane(t)
	mid, err := run()
	if err == nil || failing || !mid.Progress[privacy.ExecJobs].Done {
		t.Fatalf("first run: %v (jobs done: %v), want the injected failure in the exports step", err, mid.Progress[privacy.ExecJobs].Done)
	}
	csvc := account.NewCustomerService(dynamo.NewAccounts(w.c, w.tables[schema.TableAccounts]), nil)
	late, err := csvc.CreateCustomer(ctx, account.NewCustomer{Name: "Jane Three", Email: w.people["jane"].email, Country: "US"})
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := csvc.CreateAPIKey(ctx, late.ID, "late")
	if err != nil {
		t.Fatal(err)
	}
	check = func() {
		checking = true
		if _, err := csvc.Authenticate(ctx, key); err == nil {
			t.Errorf("the late customer's key still authenticates while the exports step deletes: it can add jobs no step erases")
		}
		if _, _, err := csvc.CreateAPIKey(ctx, late.ID, "another"); !errors.Is(err, account.ErrErasing) {
			t.Errorf("a new key for the late customer: %v, want account.ErrErasing (fenced)", err)
		}
	}
	done, err := run()
	if err != nil || done.Status != privacy.StatusCompleted || !checking {
		t.Fatalf("retry: %v, %v (exports step seen: %v)", done.Status, err, checking)
	}
	if _, err := csvc.GetCustomer(ctx, late.ID); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("the late customer after the erasure: %v, want it erased", err)
	}
}

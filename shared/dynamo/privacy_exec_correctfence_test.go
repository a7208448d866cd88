package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// A correction approved while the subject's erasure runs does not change the profiles the
// erasure has fenced: were the address corrected, the later steps would no longer find a
// customer account by it (only integrators are kept by id), and the profile would outlive
// the erasure with its fence.
func TestCorrectionLeavesAFencedProfileToItsErasure(t *testing.T) {
	ctx := context.Background()
	w := newHoldWorld(t)
	jane := w.people["jane"]
	failing := true
	api := scripted{Client: w.c, deleteItem: func(in *dynamodb.DeleteItemInput) error {
		pk, _ := in.Key[schema.PartitionKey].(*types.AttributeValueMemberS)
		if failing && pk != nil && strings.HasPrefix(pk.Value, "EXPORT#") {
			failing = false
			return errors.New("throttled") // the erasure stops in its exports step, fenced
		}
		return nil
	}}
	h := dynamo.NewHoldings(api, dynamo.HoldingsTables{Accounts: w.tables[schema.TableAccounts], Labels: w.tables[schema.TableLabels], Privacy: w.tables[schema.TablePrivacy]}, nil)
	w.deps.Accounts, w.deps.Labels, w.deps.Log = h, h, h

	_, erase := w.eraseJane(t)
	if _, err := erase(); err == nil || failing {
		t.Fatalf("first run of the erasure: %v, want the injected failure", err)
	}
	corrected := w.run(t, jane.email, privacy.TypeCorrect, privacy.Correction{Field: "email", Value: "jane@new.example"})
	accounts := dynamo.NewAccounts(w.c, w.tables[schema.TableAccounts])
	if c, err := accounts.GetCustomer(ctx, jane.customer); err != nil || !strings.EqualFold(c.Email, jane.email) {
		t.Errorf("customer after the correction: %+v, %v; want the address the erasure finds it by", c, err)
	}
	if got, want := privacy.ReportOf(corrected)[privacy.ExecAccounts], map[string]int{"integrator being erased": 1, "customer being erased": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the correction's report: %v, want %v (both profiles are being erased)", got, want)
	}

	done, err := erase()
	if err != nil || done.Status != privacy.StatusCompleted {
		t.Fatalf("erasure: %v, %v", done.Status, err)
	}
	if _, err := accounts.GetCustomer(ctx, jane.customer); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("Jane's customer profile after her erasure: %v, want it erased", err)
	}
	if _, err := accounts.GetIntegrator(ctx, jane.integrator); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("Jane's integrator profile after her erasure: %v, want it erased", err)
	}
}

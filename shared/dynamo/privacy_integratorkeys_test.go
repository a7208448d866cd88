package dynamo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Access lists and erasure removes an integrator's risk-lookup keys (they carry its id), and only its own.
func TestHoldingsDeleteAPIKeysRemovesAnIntegratorsKeys(t *testing.T) {
	c := dynamotest.Client(t)
	tables := dynamotest.Tables(t, c)
	ctx := context.Background()
	accounts := dynamo.NewAccounts(c, tables[schema.TableAccounts])
	integrators := account.NewService(accounts, time.Now)
	subject, err := integrators.CreateIntegrator(ctx, account.NewIntegrator{Name: "Subject Ltd", Email: "ops@subject.example", Country: "DE"})
	if err != nil {
		t.Fatal(err)
	}
	bystander, err := integrators.CreateIntegrator(ctx, account.NewIntegrator{Name: "Other Ltd", Email: "ops@other.example", Country: "FR"})
	if err != nil {
		t.Fatal(err)
	}
	svc := account.NewIntegratorKeyService(accounts, time.Now)
	mine, _, err := svc.CreateKey(ctx, subject.ID, "ops")
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := svc.CreateKey(ctx, bystander.ID, "ops")
	if err != nil {
		t.Fatal(err)
	}
	h := dynamo.NewHoldings(c, dynamo.HoldingsTables{Accounts: tables[schema.TableAccounts], Labels: tables[schema.TableLabels], Privacy: tables[schema.TablePrivacy]}, time.Now)
	// The access package lists the subject's keys (and only theirs) before erasure.
	listed, err := h.ListIntegratorKeys(ctx, subject.ID)
	if err != nil || len(listed) != 1 || listed[0].ID != mine.ID || listed[0].Name != "ops" {
		t.Fatalf("ListIntegratorKeys = %+v, %v; want the subject's one key", listed, err)
	}
	n, more, err := h.DeleteAPIKeys(ctx, privacy.HolderIntegrator, subject.ID, 25)
	if err != nil || more || n != 1 {
		t.Fatalf("DeleteAPIKeys = %d, %v, %v; want 1 key, no more", n, more, err)
	}
	if _, err := accounts.GetIntegratorKey(ctx, mine.ID); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("the subject's key is still there: %v", err)
	}
	if _, err := accounts.GetIntegratorKey(ctx, other.ID); err != nil {
		t.Fatalf("another integrator's key went too: %v", err)
	}
}

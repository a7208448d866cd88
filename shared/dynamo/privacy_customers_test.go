package dynamo_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// A customer's contact without an integrator account files a request on DynamoDB: the
// operator view must show that something matched (holds "customer"), not a no_match.
func TestFilingMatchesCustomerAccountsOnDynamoDB(t *testing.T) {
	c := dynamotest.Client(t)
	tables := dynamotest.Tables(t, c)
	accounts := dynamo.NewAccounts(c, tables[schema.TableAccounts])
	ctx := context.Background()
	cust, err := account.NewCustomerService(accounts, time.Now).CreateCustomer(ctx, account.NewCustomer{Name: "Labs", Email: "Data@Labs.example", Country: "NL"})
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := accounts.CustomersByEmail(ctx, "data@labs.example"); err != nil || !slices.Equal(ids, []string{cust.ID}) {
		t.Fatalf("CustomersByEmail = %v, %v; want [%s]", ids, err, cust.ID)
	}
	svc, _ := privacyService(t, dynamo.NewPrivacy(c, tables[schema.TablePrivacy], nil), accounts)
	filed, err := svc.File(ctx, privacy.FileInput{Email: "data@labs.example", Type: privacy.TypeAccess, Regulation: privacy.GDPR})
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := svc.Get(ctx, filed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.AccountIDs) != 0 || !slices.Equal(r.Holds, []string{privacy.HoldCustomer}) {
		t.Fatalf("account_ids %v, holds %v; want holds [%s]", r.AccountIDs, r.Holds, privacy.HoldCustomer)
	}
}

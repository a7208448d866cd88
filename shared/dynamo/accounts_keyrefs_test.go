package dynamo_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// keysHidden reports the API key records gsi1 has not indexed yet: those whose key id is
// in ids.
func keysHidden(ids ...string) func(map[string]types.AttributeValue) bool {
	return func(it map[string]types.AttributeValue) bool {
		return attrS(it, "kind") == "api-key" && slices.Contains(ids, attrS(it, "id"))
	}
}

// withLaggingKeys makes the world's privacy worker read through gsi1 that has not yet
// indexed the API keys with these ids.
func (w *holdWorld) withLaggingKeys(ids ...string) {
	api := lagging{Client: w.c, hidden: keysHidden(ids...)}
	h := dynamo.NewHoldings(api, dynamo.HoldingsTables{Accounts: w.tables[schema.TableAccounts], Labels: w.tables[schema.TableLabels], Privacy: w.tables[schema.TablePrivacy]}, nil)
	w.deps.Accounts, w.deps.Labels, w.deps.Log = h, h, h
}

// An erasure right after an integrator key and a customer key were created, which gsi1
// does not list yet, and of a customer key stored before keys had a reference in their
// owner's partition: all go with their owners and stop authenticating.
func TestErasureReachesKeysTheIndexHasNotListedYet(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	jane := w.people["jane"]
	accounts := dynamo.NewAccounts(w.c, w.tables[schema.TableAccounts])
	ikeys := account.NewIntegratorKeyService(accounts, nil)
	ckeys := account.NewCustomerService(accounts, nil)
	ik, ikSecret, err := ikeys.CreateKey(ctx, jane.integrator, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	ck, ckSecret, err := ckeys.CreateAPIKey(ctx, jane.customer, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	// Keys of deployed tables have no reference item: only gsi1 lists them.
	old, err := ckeys.ListAPIKeys(ctx, jane.customer)
	if err != nil || len(old) != 3 {
		t.Fatalf("Jane's customer keys %+v, %v; want 3", old, err)
	}
	// Not the fresh key: one created in the same second may sort first.
	legacy := old[slices.IndexFunc(old, func(k account.APIKey) bool { return k.ID != ck.ID })]
	table := w.tables[schema.TableAccounts]
	if _, err := w.c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: dynamo.Key("CUSTOMER#"+jane.customer, "APIKEY#"+legacy.ID)}); err != nil {
		t.Fatal(err)
	}
	w.withLaggingKeys(ik.ID, ck.ID)
	done := w.run(t, jane.email, privacy.TypeDelete)
	if k, err := ikeys.Authenticate(ctx, ikSecret); !errors.Is(err, account.ErrInvalidKey) {
		t.Errorf("the new integrator key after the erasure: %+v, %v", k, err)
	}
	if k, err := ckeys.Authenticate(ctx, ckSecret); !errors.Is(err, account.ErrInvalidKey) {
		t.Errorf("the new customer key after the erasure: %+v, %v", k, err)
	}
	for _, k := range old {
		if got, err := accounts.GetAPIKey(ctx, k.ID); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("customer key %s after the erasure: %+v, %v", k.ID, got, err)
		}
	}
	for _, it := range w.dump(t)[schema.TableAccounts] {
		if strings.Contains(it, jane.integrator) || strings.Contains(it, jane.customer) || strings.Contains(it, ik.Hash) || strings.Contains(it, ck.Hash) {
			t.Errorf("accounts table still holds Jane's: %s", it)
		}
	}
	if n := privacy.ReportOf(done)[privacy.ExecAccounts][privacy.KindAPIKey]; n != 4 {
		t.Errorf("report counts %d API keys, want 4", n)
	}
}

// A key created a moment ago is listed at once (gsi1 has not indexed it yet): by the
// admin API, the access package and the erasure's revocation of customer keys, which
// would otherwise leave it working while the customer's jobs are erased.
func TestKeyListsIncludeAKeyTheIndexHasNotListedYet(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	jane := w.people["jane"]
	table := w.tables[schema.TableAccounts]
	direct := dynamo.NewAccounts(w.c, table)
	ik, _, err := account.NewIntegratorKeyService(direct, nil).CreateKey(ctx, jane.integrator, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	ck, _, err := account.NewCustomerService(direct, nil).CreateAPIKey(ctx, jane.customer, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	accounts := dynamo.NewAccounts(lagging{Client: w.c, hidden: keysHidden(ik.ID, ck.ID)}, table)
	ilist, err := accounts.ListIntegratorKeys(ctx, jane.integrator)
	if err != nil || len(ilist) != 1 || ilist[0].ID != ik.ID {
		t.Errorf("ListIntegratorKeys = %+v, %v; want [%+v]", ilist, err, ik)
	}
	// In gsi1's order (creation time to the second, then id), as once it is indexed.
	want, err := direct.ListAPIKeys(ctx, jane.customer)
	if err != nil {
		t.Fatal(err)
	}
	clist, err := accounts.ListAPIKeys(ctx, jane.customer)
	if err != nil || len(clist) != 3 || !slices.EqualFunc(clist, want, func(x, y account.APIKey) bool { return x.ID == y.ID }) {
		t.Errorf("ListAPIKeys = %+v, %v; want Jane's three keys %+v", clist, err, want)
	}
}

// Keys are listed oldest first whichever way they are found, and a key created for a
// profile that is gone is refused (nothing, reference included, is stored).
func TestKeyReferencesKeepOrderAndNeedTheOwner(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	jane := w.people["jane"]
	table := w.tables[schema.TableAccounts]
	direct := dynamo.NewAccounts(w.c, table)
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i, id := range []string{"0000000000000003", "0000000000000001", "0000000000000002"} {
		k := account.APIKey{ID: id, CustomerID: jane.customer, Hash: strings.Repeat("a", 64), CreatedAt: t0.Add(time.Duration(i) * time.Second)}
		if err := direct.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// The first and last are not indexed yet.
	accounts := dynamo.NewAccounts(lagging{Client: w.c, hidden: keysHidden(ids[0], ids[2])}, table)
	got, err := accounts.ListAPIKeys(ctx, jane.customer)
	if err != nil || len(got) != 5 {
		t.Fatalf("ListAPIKeys = %+v, %v", got, err)
	}
	for i, id := range ids {
		if got[i].ID != id {
			t.Errorf("key %d is %s, want %s (oldest first)", i, got[i].ID, id)
		}
	}
	gone := "33333333-3333-4333-8333-333333333333"
	err = direct.CreateAPIKey(ctx, account.APIKey{ID: "0000000000000009", CustomerID: gone, Hash: strings.Repeat("b", 64), CreatedAt: t0})
	if !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("key of a missing customer: %v, want ErrNotFound", err)
	}
	for _, it := range w.dump(t)[schema.TableAccounts] {
		if strings.Contains(it, gone) || strings.Contains(it, "0000000000000009") {
			t.Errorf("stored for a missing customer: %s", it)
		}
	}
}

// profileDeletes is DynamoDB Local that calls before ahead of each DeleteItem.
type profileDeletes struct {
	lagging
	before func(in *dynamodb.DeleteItemInput)
}

func (p profileDeletes) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	p.before(in)
	return p.lagging.DeleteItem(ctx, in, opts...)
}

// Keys asked for Jane's integrator and customer while the erasure's accounts step runs,
// just before each profile is deleted: the erasure fenced the profiles in its first step,
// so both are refused (account.ErrErasing) and nothing of Jane's is left.
func TestErasureRefusesKeysAskedForJustBeforeTheProfileGoes(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	jane := w.people["jane"]
	accounts := dynamo.NewAccounts(w.c, w.tables[schema.TableAccounts])
	ikeys := account.NewIntegratorKeyService(accounts, nil)
	ckeys := account.NewCustomerService(accounts, nil)
	var late []string // keys created after all (none may be)
	var ids []string
	refused := 0
	api := profileDeletes{lagging: lagging{Client: w.c, hidden: func(it map[string]types.AttributeValue) bool {
		return keysHidden(ids...)(it)
	}}}
	api.before = func(in *dynamodb.DeleteItemInput) {
		pk, _ := in.Key[schema.PartitionKey].(*types.AttributeValueMemberS)
		sk, _ := in.Key[schema.SortKey].(*types.AttributeValueMemberS)
		if pk == nil || sk == nil || sk.Value != "PROFILE" {
			return
		}
		var id, secret string
		var err error
		switch pk.Value {
		case "INTEGRATOR#" + jane.integrator:
			var k account.IntegratorKey
			k, secret, err = ikeys.CreateKey(ctx, jane.integrator, "late")
			id = k.ID
		case "CUSTOMER#" + jane.customer:
			var k account.APIKey
			k, secret, err = ckeys.CreateAPIKey(ctx, jane.customer, "late")
			id = k.ID
		default:
			return
		}
		if errors.Is(err, account.ErrErasing) {
			refused++
			return
		}
		if err != nil {
			t.Errorf("create a key before %s's profile goes: %v", pk.Value, err)
			return
		}
		ids, late = append(ids, id), append(late, secret)
	}
	h := dynamo.NewHoldings(api, dynamo.HoldingsTables{Accounts: w.tables[schema.TableAccounts], Labels: w.tables[schema.TableLabels], Privacy: w.tables[schema.TablePrivacy]}, nil)
	w.deps.Accounts, w.deps.Labels, w.deps.Log = h, h, h
	w.run(t, jane.email, privacy.TypeDelete)
	if len(late) != 0 || refused != 2 {
		t.Fatalf("keys asked for during the erasure: %d created, %d refused; want 0 and 2", len(late), refused)
	}
	for _, it := range w.dump(t)[schema.TableAccounts] {
		if strings.Contains(it, jane.integrator) || strings.Contains(it, jane.customer) {
			t.Errorf("accounts table still holds Jane's: %s", it)
		}
	}
}

// A key revoked a moment ago, whose copy in gsi1 still shows it live, is listed as revoked:
// the admin API's key list and an access package must not show a revoked key as working.
func TestKeyListsShowARevocationTheIndexHasNotSeenYet(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	jane := w.people["jane"]
	table := w.tables[schema.TableAccounts]
	direct := dynamo.NewAccounts(w.c, table)
	ikeys := account.NewIntegratorKeyService(direct, nil)
	ckeys := account.NewCustomerService(direct, nil)
	ik, _, err := ikeys.CreateKey(ctx, jane.integrator, "soon revoked")
	if err != nil {
		t.Fatal(err)
	}
	ck, _, err := ckeys.CreateAPIKey(ctx, jane.customer, "soon revoked")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ikeys.RevokeKey(ctx, jane.integrator, ik.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ckeys.RevokeAPIKey(ctx, jane.customer, ck.ID); err != nil {
		t.Fatal(err)
	}
	// gsi1 has not seen the revocations yet.
	accounts := dynamo.NewAccounts(lagging{Client: w.c, stale: func(it map[string]types.AttributeValue) {
		if id := attrS(it, "id"); id == ik.ID || id == ck.ID {
			delete(it, "revoked_at")
		}
	}}, table)
	ilist, err := accounts.ListIntegratorKeys(ctx, jane.integrator)
	if err != nil || len(ilist) != 1 || ilist[0].RevokedAt.IsZero() {
		t.Errorf("ListIntegratorKeys = %+v, %v; want the key revoked", ilist, err)
	}
	clist, err := accounts.ListAPIKeys(ctx, jane.customer)
	if err != nil || len(clist) != 3 {
		t.Fatalf("ListAPIKeys = %+v, %v; want Jane's three keys", clist, err)
	}
	for _, k := range clist {
		if k.RevokedAt.IsZero() != (k.ID != ck.ID) {
			t.Errorf("customer key %s listed with revoked_at %v; only %s is revoked", k.ID, k.RevokedAt, ck.ID)
		}
	}
}

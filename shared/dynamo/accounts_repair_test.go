package dynamo_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// repairWorld is the hold world after the two histories the repair command is for: Jane's
// records partly stored before references existed (a site, a customer key and an
// integrator key without theirs), and Bob's profiles erased while his records stayed (an
// erasure that raced their creation), one of them without its reference.
type repairWorld struct {
	*holdWorld
	accounts        *dynamo.Accounts
	janeIKey        account.IntegratorKey
	bobIKeySecret   string
	bobCKeySecret   string
	legacyRefs      [][2]string // pk, sk of Jane's references the test removed
	bobIDs, bobRest []string    // Bob's account ids; hashes of his secrets and keys
}

func newRepairWorld(t *testing.T) *repairWorld {
	t.Helper()
	ctx := context.Background()
	w := &repairWorld{holdWorld: newHoldWorld(t)}
	table := w.tables[schema.TableAccounts]
	w.accounts = dynamo.NewAccounts(w.c, table)
	ikeys := account.NewIntegratorKeyService(w.accounts, nil)
	ckeys := account.NewCustomerService(w.accounts, nil)
	jane, bob := w.people["jane"], w.people["bob"]
	var err error
	if w.janeIKey, _, err = ikeys.CreateKey(ctx, jane.integrator, "legacy"); err != nil {
		t.Fatal(err)
	}
	janeKeys, err := w.accounts.ListAPIKeys(ctx, jane.customer)
	if err != nil || len(janeKeys) != 2 {
		t.Fatalf("Jane's keys %+v, %v", janeKeys, err)
	}
	w.legacyRefs = [][2]string{
		{"INTEGRATOR#" + jane.integrator, "SITE#" + jane.sitekeys[0]},
		{"CUSTOMER#" + jane.customer, "APIKEY#" + janeKeys[0].ID},
		{"INTEGRATOR#" + jane.integrator, "APIKEY#" + w.janeIKey.ID},
	}
	ik, isecret, err := ikeys.CreateKey(ctx, bob.integrator, "orphan")
	if err != nil {
		t.Fatal(err)
	}
	ck, csecret, err := ckeys.CreateAPIKey(ctx, bob.customer, "orphan")
	if err != nil {
		t.Fatal(err)
	}
	w.bobIKeySecret, w.bobCKeySecret = isecret, csecret
	w.bobIDs = []string{bob.integrator, bob.customer}
	w.bobRest = append(append(slices.Clone(bob.secretHashes), bob.keyHashes...), ik.Hash, ck.Hash)
	gone := append(slices.Clone(w.legacyRefs),
		[2]string{"INTEGRATOR#" + bob.integrator, "PROFILE"},
		[2]string{"CUSTOMER#" + bob.customer, "PROFILE"},
		[2]string{"INTEGRATOR#" + bob.integrator, "SITE#" + bob.sitekeys[1]}, // an orphan without its reference
	)
	for _, k := range gone {
		if _, err := w.c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: dynamo.Key(k[0], k[1])}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// A dry run reports what a run would do and changes nothing.
func TestRepairDryRunOnlyCounts(t *testing.T) {
	w := newRepairWorld(t)
	before := w.dump(t)
	rep, err := w.accounts.Repair(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	want := dynamo.RepairReport{DryRun: true, Sites: 4, Keys: 7, SiteRefsMissing: 1, KeyRefsMissing: 2, OrphanSites: 2, OrphanKeys: 4}
	if rep != want {
		t.Errorf("dry run report %+v, want %+v", rep, want)
	}
	after := w.dump(t)
	for table := range before {
		if !slices.Equal(before[table], after[table]) {
			t.Errorf("the dry run changed table %s", table)
		}
	}
	if _, err := account.NewIntegratorKeyService(w.accounts, nil).Authenticate(context.Background(), w.bobIKeySecret); err != nil {
		t.Errorf("the dry run stopped an orphan key: %v", err)
	}
}

// A run gives live owners' records their references, so lists that read references find
// them while gsi1 lags, and removes every record of an owner that is gone: its keys and
// site secrets stop working. A second run finds nothing left to do.
func TestRepairBackfillsReferencesAndRemovesOrphans(t *testing.T) {
	w := newRepairWorld(t)
	ctx := context.Background()
	rep, err := w.accounts.Repair(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	want := dynamo.RepairReport{Sites: 4, Keys: 7, SiteRefsMissing: 1, KeyRefsMissing: 2, OrphanSites: 2, OrphanKeys: 4,
		RefsWritten: 3, SitesDeleted: 2, KeysDeleted: 4}
	if rep != want {
		t.Errorf("report %+v, want %+v", rep, want)
	}
	table := w.tables[schema.TableAccounts]
	for _, k := range w.legacyRefs {
		out, err := w.c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: dynamo.Key(k[0], k[1])})
		if err != nil || len(out.Item) == 0 {
			t.Errorf("reference %s / %s not written: %v", k[0], k[1], err)
		}
	}
	// With gsi1 listing none of Jane's keys, the references alone list them all.
	jane := w.people["jane"]
	blind := dynamo.NewAccounts(lagging{Client: w.c, hidden: func(it map[string]types.AttributeValue) bool { return attrS(it, "kind") == "api-key" }}, table)
	if keys, err := blind.ListAPIKeys(ctx, jane.customer); err != nil || len(keys) != 2 {
		t.Errorf("Jane's customer keys by reference %+v, %v; want 2", keys, err)
	}
	if keys, err := blind.ListIntegratorKeys(ctx, jane.integrator); err != nil || len(keys) != 1 || keys[0].ID != w.janeIKey.ID {
		t.Errorf("Jane's integrator keys by reference %+v, %v; want [%s]", keys, err, w.janeIKey.ID)
	}
	if k, err := account.NewIntegratorKeyService(w.accounts, nil).Authenticate(ctx, w.bobIKeySecret); !errors.Is(err, account.ErrInvalidKey) {
		t.Errorf("orphan integrator key after the repair: %+v, %v", k, err)
	}
	if k, err := account.NewCustomerService(w.accounts, nil).Authenticate(ctx, w.bobCKeySecret); !errors.Is(err, account.ErrInvalidKey) {
		t.Errorf("orphan customer key after the repair: %+v, %v", k, err)
	}
	for _, it := range w.dump(t)[schema.TableAccounts] {
		for _, trace := range append(slices.Clone(w.bobIDs), w.bobRest...) {
			if strings.Contains(it, strings.ToLower(trace)) {
				t.Errorf("accounts table still holds Bob's %q: %s", trace, it)
			}
		}
	}
	// Jane's records are all still there.
	for _, sk := range jane.sitekeys {
		if _, err := w.accounts.GetSite(ctx, sk); err != nil {
			t.Errorf("Jane's site %s: %v", sk, err)
		}
	}
	again, err := w.accounts.Repair(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := (dynamo.RepairReport{Sites: 2, Keys: 3}); again != want {
		t.Errorf("second run %+v, want %+v (nothing to do)", again, want)
	}
}

// raceProfile is DynamoDB Local on which an integrator profile is created again just after
// the repair read it as missing: the repair must then leave the integrator's records alone.
type raceProfile struct {
	*dynamodb.Client
	pk     string
	revive func()
}

func (r raceProfile) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := r.Client.GetItem(ctx, in, opts...)
	if pk, _ := in.Key[schema.PartitionKey].(*types.AttributeValueMemberS); pk != nil && pk.Value == r.pk && err == nil && len(out.Item) == 0 {
		r.revive()
	}
	return out, err
}

// An owner whose profile appears between the repair's read and its delete (its condition
// sees the profile) keeps its records: nothing is deleted on a stale read.
func TestRepairDeletesNothingWhoseOwnerReappears(t *testing.T) {
	w := newRepairWorld(t)
	ctx := context.Background()
	bob := w.people["bob"]
	table := w.tables[schema.TableAccounts]
	api := raceProfile{Client: w.c, pk: "INTEGRATOR#" + bob.integrator}
	api.revive = func() {
		_, err := w.c.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "INTEGRATOR#" + bob.integrator}, "sk": &types.AttributeValueMemberS{Value: "PROFILE"},
			"kind": &types.AttributeValueMemberS{Value: "integrator"}, "id": &types.AttributeValueMemberS{Value: bob.integrator},
		}})
		if err != nil {
			t.Error(err)
		}
	}
	rep, err := dynamo.NewAccounts(api, table).Repair(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SitesDeleted != 0 || rep.Skipped == 0 {
		t.Errorf("report %+v: want Bob's sites skipped, none deleted", rep)
	}
	for _, sk := range bob.sitekeys {
		if _, err := w.accounts.GetSite(ctx, sk); err != nil {
			t.Errorf("Bob's site %s after his profile came back: %v", sk, err)
		}
	}
}

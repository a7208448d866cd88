package dynamo_test

import (
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
	"github.com/crowdgate/crowdgate/shared/schema"
)

// repairWorld is the hold world after the histories the repair command is for: Jane's
// records partly stored before references existed (a site, a customer key and an
// integrator key without theirs); Bob's profiles erased while his records stayed (an
// erasure that raced their creation), one of them without its reference; deletions that
// stopped between their batches (Jane's third site and third customer key, Bob's third
// integrator key: records gone, references and the site's secret lookup left); and a
// rotation of Jane's second site that raced and left the old secret lookup behind.
type repairWorld struct {
	*holdWorld
	accounts        *dynamo.Accounts
	janeIKey        account.IntegratorKey
	bobIKeySecret   string
	bobCKeySecret   string
	legacyRefs      [][2]string // pk, sk of Jane's references the test removed
	liveRefs        [][2]string // pk, sk of Jane's references that name live records
	bobIDs, bobRest []string    // Bob's account ids; hashes of his secrets and keys
	// Left by deletions and a rotation: references whose record is gone, the lookups of a
	// deleted site and of a rotated-away secret, and the deleted records themselves.
	danglingRefs  [][2]string
	orphanSecrets []string                                   // hashes
	deleted       map[string]map[string]types.AttributeValue // by pk: what the test deleted
	liveSecrets   []string                                   // Jane's current secret hashes
	janeSite3     string
	janeKey3      string
	staleSecret   string // Jane's second site's hash before the rotation
}

func newRepairWorld(t *testing.T) *repairWorld {
	t.Helper()
	ctx := context.Background()
	w := &repairWorld{holdWorld: newHoldWorld(t), deleted: map[string]map[string]types.AttributeValue{}}
	table := w.tables[schema.TableAccounts]
	w.accounts = dynamo.NewAccounts(w.c, table)
	asvc := account.NewService(w.accounts, nil)
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
	w.liveRefs = [][2]string{
		{"INTEGRATOR#" + jane.integrator, "SITE#" + jane.sitekeys[1]},
		{"CUSTOMER#" + jane.customer, "APIKEY#" + janeKeys[1].ID},
	}
	site3, _, err := asvc.CreateSite(ctx, jane.integrator, account.NewSite{Name: "closed shop", Hostnames: []string{"closed.example"}})
	if err != nil {
		t.Fatal(err)
	}
	key3, _, err := ckeys.CreateAPIKey(ctx, jane.customer, "deleted")
	if err != nil {
		t.Fatal(err)
	}
	rotated, _, err := asvc.RotateSecret(ctx, jane.sitekeys[1])
	if err != nil {
		t.Fatal(err)
	}
	w.janeSite3, w.janeKey3, w.staleSecret = site3.Sitekey, key3.ID, jane.secretHashes[1]
	w.liveSecrets = []string{jane.secretHashes[0], rotated.SecretHash}
	w.orphanSecrets = []string{site3.SecretHash, w.staleSecret}
	// The rotation's old lookup, back as a rotation racing a deletion leaves it.
	if _, err := w.c.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "SECRET#" + w.staleSecret}, "sk": &types.AttributeValueMemberS{Value: "SECRET"},
		"kind": &types.AttributeValueMemberS{Value: "site-secret"}, "sitekey": &types.AttributeValueMemberS{Value: jane.sitekeys[1]},
	}}); err != nil {
		t.Fatal(err)
	}
	ik, isecret, err := ikeys.CreateKey(ctx, bob.integrator, "orphan")
	if err != nil {
		t.Fatal(err)
	}
	ck, csecret, err := ckeys.CreateAPIKey(ctx, bob.customer, "orphan")
	if err != nil {
		t.Fatal(err)
	}
	bobKey3, _, err := ikeys.CreateKey(ctx, bob.integrator, "deleted")
	if err != nil {
		t.Fatal(err)
	}
	w.bobIKeySecret, w.bobCKeySecret = isecret, csecret
	w.bobIDs = []string{bob.integrator, bob.customer}
	w.bobRest = append(append(slices.Clone(bob.secretHashes), bob.keyHashes...), ik.Hash, ck.Hash, bobKey3.Hash)
	w.danglingRefs = [][2]string{
		{"INTEGRATOR#" + jane.integrator, "SITE#" + site3.Sitekey},
		{"CUSTOMER#" + jane.customer, "APIKEY#" + key3.ID},
		{"INTEGRATOR#" + bob.integrator, "APIKEY#" + bobKey3.ID},
	}
	records := [][2]string{{"SITE#" + site3.Sitekey, "SITE"}, {"APIKEY#" + key3.ID, "APIKEY"}, {"APIKEY#" + bobKey3.ID, "APIKEY"}}
	for _, k := range records {
		out, err := w.c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: dynamo.Key(k[0], k[1])})
		if err != nil || len(out.Item) == 0 {
			t.Fatalf("record %s: %v", k[0], err)
		}
		w.deleted[k[0]] = out.Item
	}
	gone := append(append(slices.Clone(w.legacyRefs), records...),
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

// exists reports whether the accounts table holds the item at pk, sk.
func (w *repairWorld) exists(t *testing.T, pk, sk string) bool {
	t.Helper()
	table := w.tables[schema.TableAccounts]
	out, err := w.c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &table, Key: dynamo.Key(pk, sk)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Item) > 0
}

// A dry run reports what a run would do and changes nothing.
func TestRepairDryRunOnlyCounts(t *testing.T) {
	w := newRepairWorld(t)
	before := w.dump(t)
	rep, err := w.accounts.Repair(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	want := dynamo.RepairReport{DryRun: true, Sites: 4, Keys: 7, Refs: 10, Secrets: 6, SiteRefsMissing: 1, KeyRefsMissing: 2, OrphanSites: 2, OrphanKeys: 4,
		DanglingSiteRefs: 1, DanglingKeyRefs: 2, OrphanSecrets: 2}
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
// them while gsi1 lags; removes every record of an owner that is gone (its keys and site
// secrets stop working); and removes the references whose record is gone and the secret
// lookups that verify nothing, leaving every live reference and secret alone. A second run
// finds nothing left to do.
func TestRepairBackfillsReferencesAndRemovesOrphans(t *testing.T) {
	w := newRepairWorld(t)
	ctx := context.Background()
	rep, err := w.accounts.Repair(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	want := dynamo.RepairReport{Sites: 4, Keys: 7, Refs: 10, Secrets: 6, SiteRefsMissing: 1, KeyRefsMissing: 2, OrphanSites: 2, OrphanKeys: 4,
		DanglingSiteRefs: 1, DanglingKeyRefs: 2, OrphanSecrets: 2,
		RefsWritten: 3, SitesDeleted: 2, KeysDeleted: 4, RefsDeleted: 3, SecretsDeleted: 2}
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
	// Jane's records are all still there, and her live secrets verify.
	for _, sk := range jane.sitekeys {
		if _, err := w.accounts.GetSite(ctx, sk); err != nil {
			t.Errorf("Jane's site %s: %v", sk, err)
		}
	}
	for _, h := range w.liveSecrets {
		if _, err := w.accounts.SiteBySecretHash(ctx, h); err != nil {
			t.Errorf("Jane's live secret %s stopped verifying: %v", h, err)
		}
	}
	for _, k := range w.liveRefs {
		if !w.exists(t, k[0], k[1]) {
			t.Errorf("live reference %s / %s deleted", k[0], k[1])
		}
	}
	// What deletions and the rotation left behind is gone.
	for _, k := range w.danglingRefs {
		if w.exists(t, k[0], k[1]) {
			t.Errorf("dangling reference %s / %s still there", k[0], k[1])
		}
	}
	for _, h := range w.orphanSecrets {
		if w.exists(t, "SECRET#"+h, "SECRET") {
			t.Errorf("orphan secret lookup %s still there", h)
		}
	}
	again, err := w.accounts.Repair(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := (dynamo.RepairReport{Sites: 2, Keys: 3, Refs: 5, Secrets: 2}); again != want {
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

// raceWrite is DynamoDB Local on which something happens just before a transaction that
// deletes one of the items in a race's keys commits: between the repair's reads and its delete.
type raceWrite struct {
	*dynamodb.Client
	races []*writeRace
}

// writeRace is what happens (once) before the first transaction deleting any of keys.
type writeRace struct {
	keys  [][2]string
	apply func()
	done  bool
}

func (r raceWrite) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	for _, it := range in.TransactItems {
		if it.Delete == nil {
			continue
		}
		key := [2]string{attrS(it.Delete.Key, schema.PartitionKey), attrS(it.Delete.Key, schema.SortKey)}
		for _, race := range r.races {
			if !race.done && slices.Contains(race.keys, key) {
				race.done = true
				race.apply()
			}
		}
	}
	return r.Client.TransactWriteItems(ctx, in, opts...)
}

// A reference or secret lookup whose record comes back (a deleted site or key restored, a
// site given the lookup's hash again) between the repair's reads and its delete is kept:
// the delete's condition sees the record, and the site's secret verifies again.
func TestRepairKeepsReferencesAndLookupsWhoseRecordReappears(t *testing.T) {
	w := newRepairWorld(t)
	ctx := context.Background()
	jane := w.people["jane"]
	table := w.tables[schema.TableAccounts]
	restore := func(pk string) func() {
		return func() {
			if _, err := w.c.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: w.deleted[pk]}); err != nil {
				t.Error(err)
			}
		}
	}
	site3, key3 := "SITE#"+w.janeSite3, "APIKEY#"+w.janeKey3
	api := raceWrite{Client: w.c, races: []*writeRace{
		{keys: [][2]string{{"INTEGRATOR#" + jane.integrator, site3}, {"SECRET#" + w.orphanSecrets[0], "SECRET"}}, apply: restore(site3)},
		{keys: [][2]string{{"CUSTOMER#" + jane.customer, key3}}, apply: restore(key3)},
		// The second site's secret goes back to the one the stale lookup holds, as a
		// rotation would (hash changed, the lookup of the hash it replaces deleted).
		{keys: [][2]string{{"SECRET#" + w.staleSecret, "SECRET"}}, apply: func() {
			_, err := w.c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				{Update: &types.Update{TableName: &table, Key: dynamo.Key("SITE#"+jane.sitekeys[1], "SITE"),
					UpdateExpression:          aws.String("SET secret_hash = :h"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":h": &types.AttributeValueMemberS{Value: w.staleSecret}}}},
				{Delete: &types.Delete{TableName: &table, Key: dynamo.Key("SECRET#"+w.liveSecrets[1], "SECRET")}},
			}})
			if err != nil {
				t.Error(err)
			}
		}},
	}}
	rep, err := dynamo.NewAccounts(api, table).Repair(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, race := range api.races {
		if !race.done {
			t.Errorf("race %d never ran: the repair deleted none of %v", i, race.keys)
		}
	}
	// One skip per race; only Bob's dangling key reference (no race) goes.
	if rep.Skipped != 3 || rep.RefsDeleted != 1 || rep.SecretsDeleted != 0 {
		t.Errorf("report %+v: want 3 skipped, 1 reference and no secret lookup deleted", rep)
	}
	for _, k := range [][2]string{{"INTEGRATOR#" + jane.integrator, site3}, {"CUSTOMER#" + jane.customer, key3}} {
		if !w.exists(t, k[0], k[1]) {
			t.Errorf("reference %s / %s deleted though its record came back", k[0], k[1])
		}
	}
	for _, h := range w.orphanSecrets {
		if _, err := w.accounts.SiteBySecretHash(ctx, h); err != nil {
			t.Errorf("secret %s deleted though its site holds it again: %v", h, err)
		}
	}
}

// A site stored without a secret hash (the erasure counts such sites too) whose owner is
// gone is deleted like any other orphan, and a second run finds nothing left of it.
func TestRepairDeletesAnOrphanSiteWithoutASecretHash(t *testing.T) {
	w := newRepairWorld(t)
	ctx := context.Background()
	table := w.tables[schema.TableAccounts]
	bob := w.people["bob"]
	if _, err := w.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &table, Key: dynamo.Key("SITE#"+bob.sitekeys[0], "SITE"),
		UpdateExpression: aws.String("REMOVE secret_hash")}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: dynamo.Key("SECRET#"+bob.secretHashes[0], "SECRET")}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.accounts.Repair(ctx, false); err != nil {
		t.Fatal(err)
	}
	if w.exists(t, "SITE#"+bob.sitekeys[0], "SITE") || w.exists(t, "INTEGRATOR#"+bob.integrator, "SITE#"+bob.sitekeys[0]) {
		t.Errorf("Bob's site without a secret hash (or its reference) survived the repair")
	}
	again, err := w.accounts.Repair(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if again.OrphanSites != 0 || again.Skipped != 0 {
		t.Errorf("second run %+v; want no orphan site and nothing skipped", again)
	}
}

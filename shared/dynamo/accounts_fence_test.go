package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Once an erasure has fenced Jane's profiles, nothing it would have to find can be created
// for her any more — a site, an integrator key, a customer key, a rotated secret's lookup,
// a disclosure record (one transaction's worth or several) — and each refusal writes
// nothing. Bob, not being erased, creates all of them as before.
func TestFencedProfilesRefuseEveryNewHolding(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	jane, bob := w.people["jane"], w.people["bob"]
	accounts := dynamo.NewAccounts(w.c, w.tables[schema.TableAccounts])
	sites := account.NewService(accounts, nil)
	ikeys := account.NewIntegratorKeyService(accounts, nil)
	ckeys := account.NewCustomerService(accounts, nil)
	log := dynamo.NewDisclosures(w.c, dynamo.DisclosureTables{Privacy: w.tables[schema.TablePrivacy], Accounts: w.tables[schema.TableAccounts]}, nil)
	disclose := func(integratorID string, n int) error {
		var ds []privacy.Disclosure
		for i := range n {
			ds = append(ds, privacy.Disclosure{Recipient: integratorID, Sitekey: fmt.Sprintf("site-%03d", i), Kind: privacy.DisclosureRiskIP, Subject: "198.51.100.0/24"})
		}
		return log.RecordDisclosures(ctx, ds...)
	}

	at := time.Now().UTC()
	for _, h := range []struct {
		kind privacy.HolderKind
		id   string
	}{{privacy.HolderIntegrator, jane.integrator}, {privacy.HolderCustomer, jane.customer}} {
		if err := w.holdings.MarkErasing(ctx, h.kind, h.id, "req-first", at); err != nil {
			t.Fatal(err)
		}
		// A retry (or a second request) keeps the first request's mark.
		if err := w.holdings.MarkErasing(ctx, h.kind, h.id, "req-second", at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.holdings.MarkErasing(ctx, privacy.HolderCustomer, "00000000-0000-4000-8000-000000000000", "req-first", at); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("fencing an unknown customer: %v, want account.ErrNotFound", err)
	}
	profile, err := w.c.GetItem(ctx, &dynamodb.GetItemInput{TableName: ptr(w.tables[schema.TableAccounts]), Key: dynamo.Key("INTEGRATOR#"+jane.integrator, "PROFILE")})
	if err != nil {
		t.Fatal(err)
	}
	fence, _ := profile.Item["erasing"].(*types.AttributeValueMemberM)
	if fence == nil || attrS(fence.Value, "request_id") != "req-first" {
		t.Fatalf("profile's fence %#v, want the first request's id", profile.Item["erasing"])
	}
	// The fenced profile still reads as it was: the fence is not part of the account.
	if it, err := accounts.GetIntegrator(ctx, jane.integrator); err != nil || it.Email != jane.email {
		t.Fatalf("fenced integrator %+v, %v", it, err)
	}

	before := w.dump(t)
	for _, c := range []struct {
		what string
		err  error
	}{
		{"site", func() error {
			_, _, err := sites.CreateSite(ctx, jane.integrator, account.NewSite{Name: "late", Hostnames: []string{"late.example"}})
			return err
		}()},
		{"integrator key", func() error { _, _, err := ikeys.CreateKey(ctx, jane.integrator, "late"); return err }()},
		{"customer key", func() error { _, _, err := ckeys.CreateAPIKey(ctx, jane.customer, "late"); return err }()},
		{"secret rotation", func() error { _, _, err := sites.RotateSecret(ctx, jane.sitekeys[0]); return err }()},
		{"disclosure", disclose(jane.integrator, 1)},
		{"disclosures over two transactions", disclose(jane.integrator, 150)},
	} {
		if !errors.Is(c.err, account.ErrErasing) {
			t.Errorf("%s for Jane while she is being erased: %v, want account.ErrErasing", c.what, c.err)
		}
	}
	after := w.dump(t)
	for table := range before {
		slices.Sort(before[table])
		slices.Sort(after[table])
		if !slices.Equal(before[table], after[table]) {
			t.Errorf("refused writes changed table %s:\nbefore %v\nafter  %v", table, before[table], after[table])
		}
	}
	if s, err := accounts.SiteBySecretHash(ctx, jane.secretHashes[0]); err != nil || s.Sitekey != jane.sitekeys[0] {
		t.Fatalf("Jane's secret after a refused rotation: %+v, %v; want it to work still", s, err)
	}

	// Bob is not being erased.
	if _, _, err := sites.CreateSite(ctx, bob.integrator, account.NewSite{Name: "new", Hostnames: []string{"new.example"}}); err != nil {
		t.Errorf("site for Bob: %v", err)
	}
	if _, _, err := ikeys.CreateKey(ctx, bob.integrator, "new"); err != nil {
		t.Errorf("integrator key for Bob: %v", err)
	}
	if _, _, err := ckeys.CreateAPIKey(ctx, bob.customer, "new"); err != nil {
		t.Errorf("customer key for Bob: %v", err)
	}
	if _, _, err := sites.RotateSecret(ctx, bob.sitekeys[0]); err != nil {
		t.Errorf("secret rotation for Bob: %v", err)
	}
	if err := disclose(bob.integrator, 150); err != nil {
		t.Errorf("disclosures to Bob: %v", err)
	}

	// Once the profile is gone, the account is unknown (not "being erased").
	if _, err := w.holdings.DeleteProfile(ctx, privacy.HolderCustomer, jane.customer); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ckeys.CreateAPIKey(ctx, jane.customer, "later"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("key for an erased customer: %v, want account.ErrNotFound", err)
	}
}

func ptr(s string) *string { return &s }

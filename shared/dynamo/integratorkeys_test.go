package dynamo_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Integrator keys on DynamoDB Local: a key authenticates its integrator with one read,
// stops at once when revoked, never crosses over with customer keys, and the integrator's
// sites are listed without its keys or other integrators' sites.
func TestIntegratorKeysOnDynamoDB(t *testing.T) {
	c, table := localTable(t, schema.TableAccounts)
	api := &countingAPI{API: c}
	store := dynamo.NewAccounts(api, table)
	accts := account.NewService(store, time.Now)
	keys := account.NewIntegratorKeyService(store, time.Now)
	customers := account.NewCustomerService(store, time.Now)
	ctx := context.Background()

	own, err := accts.CreateIntegrator(ctx, account.NewIntegrator{Name: "Shop", Email: "ops@shop.example", Country: "DE"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := accts.CreateIntegrator(ctx, account.NewIntegrator{Name: "Other", Email: "ops@other.example", Country: "FR"})
	if err != nil {
		t.Fatal(err)
	}
	var ownSites []string
	for _, name := range []string{"shop", "blog"} {
		s, _, err := accts.CreateSite(ctx, own.ID, account.NewSite{Name: name, Hostnames: []string{name + ".example"}})
		if err != nil {
			t.Fatal(err)
		}
		ownSites = append(ownSites, s.Sitekey)
	}
	if _, _, err := accts.CreateSite(ctx, other.ID, account.NewSite{Name: "other", Hostnames: []string{"other.example"}}); err != nil {
		t.Fatal(err)
	}

	k, key, err := keys.CreateKey(ctx, own.ID, "risk")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, account.IntegratorKeyPrefix) || strings.Contains(k.Hash, key) {
		t.Fatalf("key %q hash %q", key, k.Hash)
	}
	if _, _, err := keys.CreateKey(ctx, "00000000-0000-4000-8000-000000000000", ""); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("key for unknown integrator: %v", err)
	}

	gets := api.gets.Load()
	got, err := keys.Authenticate(ctx, key)
	if err != nil || got.IntegratorID != own.ID || got.ID != k.ID {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	if n := api.gets.Load() - gets; n != 1 {
		t.Fatalf("authentication made %d reads, want 1", n)
	}

	sites, err := keys.Sites(ctx, own.ID)
	if err != nil {
		t.Fatal(err)
	}
	var sitekeys []string
	for _, s := range sites {
		sitekeys = append(sitekeys, s.Sitekey)
	}
	slices.Sort(sitekeys)
	slices.Sort(ownSites)
	if !slices.Equal(sitekeys, ownSites) {
		t.Fatalf("sites %v, want %v", sitekeys, ownSites)
	}
	list, err := keys.ListKeys(ctx, own.ID)
	if err != nil || len(list) != 1 || list[0].ID != k.ID {
		t.Fatalf("list: %+v %v", list, err)
	}

	// A customer key is no integrator key, and the reverse, even with the prefix swapped.
	cust, err := customers.CreateCustomer(ctx, account.NewCustomer{Name: "Buyer", Email: "b@buyer.example", Country: "GB"})
	if err != nil {
		t.Fatal(err)
	}
	ck, ckey, err := customers.CreateAPIKey(ctx, cust.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Authenticate(ctx, account.IntegratorKeyPrefix+ckey[len(account.APIKeyPrefix):]); !errors.Is(err, account.ErrInvalidKey) {
		t.Fatalf("customer key as integrator key: %v", err)
	}
	if _, err := customers.Authenticate(ctx, account.APIKeyPrefix+key[len(account.IntegratorKeyPrefix):]); !errors.Is(err, account.ErrInvalidKey) {
		t.Fatalf("integrator key as customer key: %v", err)
	}
	if _, err := store.RevokeIntegratorKey(ctx, cust.ID, ck.ID, time.Now()); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("revoke customer key as integrator key: %v", err)
	}
	if _, err := customers.RevokeAPIKey(ctx, own.ID, k.ID); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("revoke integrator key as customer key: %v", err)
	}

	// Only the owner revokes, and a revocation works at once.
	if _, err := keys.RevokeKey(ctx, other.ID, k.ID); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("revoke by another integrator: %v", err)
	}
	if _, err := keys.Authenticate(ctx, key); err != nil {
		t.Fatalf("key stopped working after a refused revocation: %v", err)
	}
	r, err := keys.RevokeKey(ctx, own.ID, k.ID)
	if err != nil || !r.Revoked() {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	again, err := keys.RevokeKey(ctx, own.ID, k.ID)
	if err != nil || !again.RevokedAt.Equal(r.RevokedAt) {
		t.Fatalf("second revoke: %+v %v", again, err)
	}
	if _, err := keys.Authenticate(ctx, key); !errors.Is(err, account.ErrInvalidKey) {
		t.Fatalf("revoked key: %v", err)
	}
}

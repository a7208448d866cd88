package account_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
)

func newCustomerService() (*account.CustomerService, *accounttest.Store) {
	st := &accounttest.Store{}
	return account.NewCustomerService(st, func() time.Time { return now }), st
}

func mustCustomer(t *testing.T, svc *account.CustomerService) account.Customer {
	t.Helper()
	return mustCreate(t, svc.CreateCustomer, account.NewCustomer{Name: " Label Buyer Ltd ", Email: "Data@Buyer.EXAMPLE", Country: "gb"})
}

func TestAPIKeyIsShownOnceAndAuthenticates(t *testing.T) {
	svc, st := newCustomerService()
	ctx := context.Background()
	c := mustCustomer(t, svc)
	k, key, err := svc.CreateAPIKey(ctx, c.ID, "  ci pipeline ")
	if err != nil {
		t.Fatal(err)
	}
	id, ok := account.ParseAPIKey(key)
	if !ok || id != k.ID || !strings.HasPrefix(key, "cgk_"+k.ID+"_") || k.Name != "ci pipeline" || k.CustomerID != c.ID {
		t.Fatalf("key %q record %+v", key, k)
	}
	stored, err := st.GetAPIKey(ctx, k.ID)
	if err != nil || stored.Hash != account.HashAPIKey(key) || strings.Contains(stored.Hash, key[len("cgk_")+17:]) {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	got, err := svc.Authenticate(ctx, key)
	if err != nil || got.CustomerID != c.ID {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}

	// Same id, different secret: found by id, refused by hash.
	last := key[len(key)-1]
	forged := key[:len(key)-1] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", last)+1)%16])
	for _, bad := range []string{forged, "", "cgk_" + k.ID, strings.ToUpper(key), "Bearer " + key, key + "0"} {
		if _, err := svc.Authenticate(ctx, bad); !errors.Is(err, account.ErrInvalidKey) {
			t.Errorf("Authenticate(%q) = %v, want ErrInvalidKey", bad, err)
		}
	}

	other, otherKey, err := svc.CreateAPIKey(ctx, c.ID, "")
	if err != nil || other.ID == k.ID || otherKey == key {
		t.Fatalf("second key %+v %v", other, err)
	}
	revoked, err := svc.RevokeAPIKey(ctx, c.ID, k.ID)
	if err != nil || !revoked.RevokedAt.Equal(now) {
		t.Fatalf("revoke %+v, %v", revoked, err)
	}
	if _, err := svc.Authenticate(ctx, key); !errors.Is(err, account.ErrInvalidKey) {
		t.Fatalf("revoked key: %v, want ErrInvalidKey", err)
	}
	if got, err := svc.Authenticate(ctx, otherKey); err != nil || got.ID != other.ID {
		t.Fatalf("the other key stopped working: %+v, %v", got, err)
	}
	keys, err := svc.ListAPIKeys(ctx, c.ID)
	if err != nil || len(keys) != 2 {
		t.Fatalf("ListAPIKeys %+v, %v", keys, err)
	}
}

func TestAPIKeyErrors(t *testing.T) {
	svc, _ := newCustomerService()
	ctx := context.Background()
	if _, _, err := svc.CreateAPIKey(ctx, "00000000-0000-4000-8000-000000000000", ""); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("key for unknown customer: %v", err)
	}
	c := mustCustomer(t, svc)
	if _, _, err := svc.CreateAPIKey(ctx, c.ID, strings.Repeat("x", account.MaxNameRunes+1)); fieldOf(err) != "name" {
		t.Fatalf("long key name: %v", err)
	}
	for _, id := range []string{"", "nothex!!nothex!!", "FFFFFFFFFFFFFFFF", "ffffffffffffffff"} {
		if _, err := svc.RevokeAPIKey(ctx, c.ID, id); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("revoke %q: %v, want ErrNotFound", id, err)
		}
	}
}

// A store failure during authentication is an internal error, not a refused key: the
// handler must answer 500 (retry), not 401 (your key is bad).
func TestAuthenticateStoreFailureIsNotInvalidKey(t *testing.T) {
	svc := account.NewCustomerService(failingKeys{}, nil)
	key := "cgk_0123456789abcdef_" + strings.Repeat("ab", 32)
	if _, err := svc.Authenticate(context.Background(), key); err == nil || errors.Is(err, account.ErrInvalidKey) {
		t.Fatalf("Authenticate with a failing store: %v", err)
	}
}

type failingKeys struct{ account.CustomerStore }

func (failingKeys) GetAPIKey(context.Context, string) (account.APIKey, error) {
	return account.APIKey{}, errors.New("table unreachable")
}

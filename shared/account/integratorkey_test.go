package account_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
)

// keyStore is an in-memory IntegratorKeyStore for the service's own rules.
type keyStore struct {
	integrators map[string]bool
	keys        map[string]account.IntegratorKey
	gets        int
}

var _ account.IntegratorKeyStore = (*keyStore)(nil)

func (s *keyStore) CreateIntegratorKey(_ context.Context, k account.IntegratorKey) error {
	if !s.integrators[k.IntegratorID] {
		return account.ErrNotFound
	}
	if _, ok := s.keys[k.ID]; ok {
		return account.ErrConflict
	}
	s.keys[k.ID] = k
	return nil
}

func (s *keyStore) GetIntegratorKey(_ context.Context, id string) (account.IntegratorKey, error) {
	s.gets++
	k, ok := s.keys[id]
	if !ok {
		return account.IntegratorKey{}, account.ErrNotFound
	}
	return k, nil
}

func (s *keyStore) ListIntegratorKeys(_ context.Context, integratorID string) ([]account.IntegratorKey, error) {
	var out []account.IntegratorKey
	for _, k := range s.keys {
		if k.IntegratorID == integratorID {
			out = append(out, k)
		}
	}
	return out, nil
}

func (s *keyStore) RevokeIntegratorKey(_ context.Context, integratorID, keyID string, at time.Time) (account.IntegratorKey, error) {
	k, ok := s.keys[keyID]
	if !ok || k.IntegratorID != integratorID {
		return account.IntegratorKey{}, account.ErrNotFound
	}
	if !k.Revoked() {
		k.RevokedAt = at
		s.keys[keyID] = k
	}
	return k, nil
}

func (s *keyStore) IntegratorSites(context.Context, string) ([]account.Site, error) { return nil, nil }

const keyOwner = "3c2b1a09-8f7e-4d6c-9b5a-493827160504"

func TestIntegratorKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	st := &keyStore{integrators: map[string]bool{keyOwner: true}, keys: map[string]account.IntegratorKey{}}
	svc := account.NewIntegratorKeyService(st, func() time.Time { return now })

	k, key, err := svc.CreateKey(ctx, keyOwner, "  risk  ")
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := account.ParseIntegratorKey(key); !ok || id != k.ID || !strings.HasPrefix(key, "cgi_") || k.Name != "risk" {
		t.Fatalf("key %q record %+v", key, k)
	}
	if k.Hash == "" || strings.Contains(k.Hash, key[len("cgi_")+account.KeyIDLen+1:]) {
		t.Fatalf("stored hash %q", k.Hash)
	}
	if _, ok := account.ParseAPIKey(key); ok {
		t.Fatal("an integrator key parses as a customer key")
	}
	got, err := svc.Authenticate(ctx, key)
	if err != nil || got.IntegratorID != keyOwner {
		t.Fatalf("authenticate: %+v %v", got, err)
	}

	// Wrong secret, customer prefix, junk: one error, and junk costs no lookup.
	gets := st.gets
	last := "0"
	if strings.HasSuffix(key, "0") {
		last = "1"
	}
	for _, bad := range []string{key[:len(key)-1] + last, "cgk_" + key[4:], "", "cgi_", "Bearer " + key, strings.ToUpper(key)} {
		if _, err := svc.Authenticate(ctx, bad); !errors.Is(err, account.ErrInvalidKey) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if st.gets-gets != 1 {
		t.Fatalf("%d lookups for malformed keys, want 1 (the wrong secret)", st.gets-gets)
	}

	if _, _, err := svc.CreateKey(ctx, "00000000-0000-4000-8000-000000000000", ""); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("unknown integrator: %v", err)
	}
	var v *account.ValidationError
	if _, _, err := svc.CreateKey(ctx, keyOwner, strings.Repeat("n", 101)); !errors.As(err, &v) || v.Field != "name" {
		t.Fatalf("long name: %v", err)
	}
	if _, err := svc.RevokeKey(ctx, keyOwner, "NOT-HEX"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("malformed key id: %v", err)
	}
	r, err := svc.RevokeKey(ctx, keyOwner, k.ID)
	if err != nil || !r.RevokedAt.Equal(now.UTC().Truncate(time.Second)) {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	if _, err := svc.Authenticate(ctx, key); !errors.Is(err, account.ErrInvalidKey) {
		t.Fatalf("revoked key: %v", err)
	}
}

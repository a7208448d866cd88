package accounttest

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
)

var _ account.CustomerStore = (*Store)(nil)

// CreateCustomer implements account.CustomerStore.
func (s *Store) CreateCustomer(_ context.Context, c account.Customer) error {
	defer s.lock()()
	return insert(s.customers, c.ID, c)
}

// GetCustomer implements account.CustomerStore.
func (s *Store) GetCustomer(_ context.Context, id string) (account.Customer, error) {
	defer s.lock()()
	return lookup(s.customers, id)
}

// CreateAPIKey implements account.CustomerStore.
func (s *Store) CreateAPIKey(_ context.Context, k account.APIKey) error {
	defer s.lock()()
	if _, ok := s.customers[k.CustomerID]; !ok {
		return account.ErrNotFound
	}
	return insert(s.apiKeys, k.ID, k)
}

// GetAPIKey implements account.CustomerStore.
func (s *Store) GetAPIKey(_ context.Context, id string) (account.APIKey, error) {
	defer s.lock()()
	return lookup(s.apiKeys, id)
}

// ListAPIKeys implements account.CustomerStore.
func (s *Store) ListAPIKeys(_ context.Context, customerID string) ([]account.APIKey, error) {
	defer s.lock()()
	var out []account.APIKey
	for _, k := range s.apiKeys {
		if k.CustomerID == customerID {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b account.APIKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RevokeAPIKey implements account.CustomerStore.
func (s *Store) RevokeAPIKey(_ context.Context, customerID, keyID string, at time.Time) (account.APIKey, error) {
	defer s.lock()()
	k, ok := s.apiKeys[keyID]
	if !ok || k.CustomerID != customerID {
		return account.APIKey{}, account.ErrNotFound
	}
	if k.RevokedAt.IsZero() {
		k.RevokedAt = at
		s.apiKeys[keyID] = k
	}
	return k, nil
}

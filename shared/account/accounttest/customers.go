package accounttest

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
)

var _ account.CustomerStore = (*Store)(nil)

func (s *Store) initCustomers() {
	if s.customers == nil {
		s.customers = map[string]account.Customer{}
		s.apiKeys = map[string]account.APIKey{}
	}
}

// CreateCustomer implements account.CustomerStore.
func (s *Store) CreateCustomer(_ context.Context, c account.Customer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initCustomers()
	if _, ok := s.customers[c.ID]; ok {
		return account.ErrConflict
	}
	s.customers[c.ID] = c
	return nil
}

// GetCustomer implements account.CustomerStore.
func (s *Store) GetCustomer(_ context.Context, id string) (account.Customer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initCustomers()
	c, ok := s.customers[id]
	if !ok {
		return account.Customer{}, account.ErrNotFound
	}
	return c, nil
}

// CreateAPIKey implements account.CustomerStore.
func (s *Store) CreateAPIKey(_ context.Context, k account.APIKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initCustomers()
	if _, ok := s.customers[k.CustomerID]; !ok {
		return account.ErrNotFound
	}
	if _, ok := s.apiKeys[k.ID]; ok {
		return account.ErrConflict
	}
	s.apiKeys[k.ID] = k
	return nil
}

// GetAPIKey implements account.CustomerStore.
func (s *Store) GetAPIKey(_ context.Context, id string) (account.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initCustomers()
	k, ok := s.apiKeys[id]
	if !ok {
		return account.APIKey{}, account.ErrNotFound
	}
	return k, nil
}

// ListAPIKeys implements account.CustomerStore.
func (s *Store) ListAPIKeys(_ context.Context, customerID string) ([]account.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initCustomers()
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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initCustomers()
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

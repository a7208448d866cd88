// Package accounttest is an in-memory account.Store (map + mutex) with the same conditional
// semantics as the DynamoDB adapter, for handler tests, benchmarks and the challenge
// function's tests.
package accounttest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
)

// Store is an in-memory account.Store. The zero value is ready to use.
type Store struct {
	mu          sync.Mutex
	integrators map[string]account.Integrator
	sites       map[string]account.Site
	secrets     map[string]string // secret hash → sitekey

	// Customers and API keys (customers.go).
	customers map[string]account.Customer
	apiKeys   map[string]account.APIKey // key id → key
}

var _ account.Store = (*Store)(nil)

// lock takes the mutex and makes the maps on first use, so the zero Store is ready; every
// method starts with defer s.lock()().
func (s *Store) lock() (unlock func()) {
	s.mu.Lock()
	if s.integrators == nil {
		s.integrators = map[string]account.Integrator{}
		s.sites = map[string]account.Site{}
		s.secrets = map[string]string{}
		s.customers = map[string]account.Customer{}
		s.apiKeys = map[string]account.APIKey{}
	}
	return s.mu.Unlock
}

// insert stores v under id unless the id is taken (ErrConflict), like the adapter's
// conditional put.
func insert[V any](m map[string]V, id string, v V) error {
	if _, ok := m[id]; ok {
		return account.ErrConflict
	}
	m[id] = v
	return nil
}

// lookup returns the record stored under id (ErrNotFound).
func lookup[V any](m map[string]V, id string) (V, error) {
	v, ok := m[id]
	if !ok {
		return v, account.ErrNotFound
	}
	return v, nil
}

// CreateIntegrator implements account.Store.
func (s *Store) CreateIntegrator(_ context.Context, in account.Integrator) error {
	defer s.lock()()
	return insert(s.integrators, in.ID, in)
}

// GetIntegrator implements account.Store.
func (s *Store) GetIntegrator(_ context.Context, id string) (account.Integrator, error) {
	defer s.lock()()
	return lookup(s.integrators, id)
}

// CreateSite implements account.Store.
func (s *Store) CreateSite(_ context.Context, site account.Site) error {
	defer s.lock()()
	owner, ok := s.integrators[site.IntegratorID]
	if !ok {
		return account.ErrNotFound
	}
	// Choices are only ever added, so a site lacking one of its integrator's was read
	// before that choice landed (the adapter's condition).
	if owner.Choices.OptOutSale && !site.Choices.OptOutSale || owner.Choices.LimitSensitive && !site.Choices.LimitSensitive {
		return account.ErrConflict
	}
	if _, ok := s.sites[site.Sitekey]; ok {
		return account.ErrConflict
	}
	if _, ok := s.secrets[site.SecretHash]; ok {
		return account.ErrConflict
	}
	site.Hostnames = slices.Clone(site.Hostnames)
	s.sites[site.Sitekey] = site
	s.secrets[site.SecretHash] = site.Sitekey
	return nil
}

// GetSite implements account.Store.
func (s *Store) GetSite(_ context.Context, sitekey string) (account.Site, error) {
	defer s.lock()()
	site, err := lookup(s.sites, sitekey)
	if err != nil {
		return account.Site{}, err
	}
	site.Hostnames = slices.Clone(site.Hostnames)
	return site, nil
}

// UpdateSite implements account.Store.
func (s *Store) UpdateSite(_ context.Context, sitekey string, u account.SiteUpdate) (account.Site, error) {
	defer s.lock()()
	site, err := lookup(s.sites, sitekey)
	if err != nil {
		return account.Site{}, err
	}
	if u.Name != nil {
		site.Name = *u.Name
	}
	if u.Hostnames != nil {
		site.Hostnames = slices.Clone(*u.Hostnames)
	}
	if u.RequireRemoteIP != nil {
		site.RequireRemoteIP = *u.RequireRemoteIP
	}
	s.sites[sitekey] = site
	site.Hostnames = slices.Clone(site.Hostnames)
	return site, nil
}

// RotateSecret implements account.Store.
func (s *Store) RotateSecret(_ context.Context, sitekey, oldHash, newHash string, at time.Time) error {
	defer s.lock()()
	site, err := lookup(s.sites, sitekey)
	if err != nil {
		return err
	}
	if site.SecretHash != oldHash {
		return account.ErrConflict
	}
	if _, taken := s.secrets[newHash]; taken {
		return account.ErrConflict
	}
	delete(s.secrets, oldHash)
	s.secrets[newHash] = sitekey
	site.SecretHash, site.SecretRotatedAt = newHash, at
	s.sites[sitekey] = site
	return nil
}

// SiteBySecretHash implements account.Store.
func (s *Store) SiteBySecretHash(_ context.Context, hash string) (account.Site, error) {
	defer s.lock()()
	key, ok := s.secrets[hash]
	if !ok {
		return account.Site{}, account.ErrNotFound
	}
	site := s.sites[key]
	site.Hostnames = slices.Clone(site.Hostnames)
	return site, nil
}

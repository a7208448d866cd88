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

func (s *Store) init() {
	if s.integrators == nil {
		s.integrators = map[string]account.Integrator{}
		s.sites = map[string]account.Site{}
		s.secrets = map[string]string{}
	}
}

// CreateIntegrator implements account.Store.
func (s *Store) CreateIntegrator(_ context.Context, in account.Integrator) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	if _, ok := s.integrators[in.ID]; ok {
		return account.ErrConflict
	}
	s.integrators[in.ID] = in
	return nil
}

// GetIntegrator implements account.Store.
func (s *Store) GetIntegrator(_ context.Context, id string) (account.Integrator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	in, ok := s.integrators[id]
	if !ok {
		return account.Integrator{}, account.ErrNotFound
	}
	return in, nil
}

// CreateSite implements account.Store.
func (s *Store) CreateSite(_ context.Context, site account.Site) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	if _, ok := s.integrators[site.IntegratorID]; !ok {
		return account.ErrNotFound
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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	site, ok := s.sites[sitekey]
	if !ok {
		return account.Site{}, account.ErrNotFound
	}
	site.Hostnames = slices.Clone(site.Hostnames)
	return site, nil
}

// UpdateSite implements account.Store.
func (s *Store) UpdateSite(_ context.Context, sitekey string, u account.SiteUpdate) (account.Site, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	site, ok := s.sites[sitekey]
	if !ok {
		return account.Site{}, account.ErrNotFound
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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	site, ok := s.sites[sitekey]
	if !ok {
		return account.ErrNotFound
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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	key, ok := s.secrets[hash]
	if !ok {
		return account.Site{}, account.ErrNotFound
	}
	site := s.sites[key]
	site.Hostnames = slices.Clone(site.Hostnames)
	return site, nil
}

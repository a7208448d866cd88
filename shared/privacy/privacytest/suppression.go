package privacytest

import (
	"context"
	"sync"

	"github.com/crowdgate/crowdgate/shared/privacy"
)

// Suppressions is an in-memory privacy.SuppressionList: address (as given, case and all,
// since SES's folding is not documented) → entry. Fail, when set, makes every call fail
// with its error.
type Suppressions struct {
	mu     sync.Mutex
	listed map[string]privacy.Suppression
	Fail   error
}

var _ privacy.SuppressionList = (*Suppressions)(nil)

// List puts address on the list.
func (s *Suppressions) List(address string, e privacy.Suppression) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listed == nil {
		s.listed = map[string]privacy.Suppression{}
	}
	s.listed[address] = e
}

// Listed reports whether address is on the list.
func (s *Suppressions) Listed(address string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.listed[address]
	return ok
}

// Suppressed implements privacy.SuppressionList.
func (s *Suppressions) Suppressed(_ context.Context, address string) (privacy.Suppression, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return privacy.Suppression{}, false, s.Fail
	}
	e, ok := s.listed[address]
	return e, ok, nil
}

// Unsuppress implements privacy.SuppressionList.
func (s *Suppressions) Unsuppress(_ context.Context, address string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return false, s.Fail
	}
	_, ok := s.listed[address]
	delete(s.listed, address)
	return ok, nil
}

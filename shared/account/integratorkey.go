package account

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Integrator API keys authenticate an integrator's own servers to the integrator APIs (the
// risk lookup) across all of its sites. They are the customer API keys of apikey.go with
// another owner: same shape (IntegratorKeyPrefix, KeyIDLen hex id, "_", 256-bit secret),
// same hash (HashAPIKey of the whole key), same record kind in the store, sharing one id
// space, so one hashing and lookup path serves both. The distinct prefix keeps a customer
// key from ever authenticating as an integrator (and the reverse), and lets secret
// scanners tell them apart.
const IntegratorKeyPrefix = "cgi_"

// The prefixes must be the same length: ParseIntegratorKey reuses ParseAPIKey.
const (
	_ = uint(len(APIKeyPrefix) - len(IntegratorKeyPrefix))
	_ = uint(len(IntegratorKeyPrefix) - len(APIKeyPrefix))
)

// KeyOwner is the kind of account an API key record belongs to.
type KeyOwner string

// Key owners. Records written before owners existed carry none and are customer keys.
const (
	OwnerCustomer   KeyOwner = "customer"
	OwnerIntegrator KeyOwner = "integrator"
)

// IntegratorKey is one of an integrator's API keys. As for APIKey, the key itself is never
// stored: only Hash, and ID (the public part of the key).
type IntegratorKey struct {
	ID           string // KeyIDLen hex digits, also inside the key
	IntegratorID string
	Name         string // optional label; at most MaxNameRunes
	Hash         string // HashAPIKey of the key
	CreatedAt    time.Time
	// RevokedAt is when the key stopped working; zero while it works.
	RevokedAt time.Time
}

// Revoked reports whether the key has been revoked.
func (k IntegratorKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// ParseIntegratorKey returns the id part of a key shaped like an integrator API key.
func ParseIntegratorKey(key string) (id string, ok bool) {
	if !strings.HasPrefix(key, IntegratorKeyPrefix) {
		return "", false
	}
	return ParseAPIKey(APIKeyPrefix + key[len(IntegratorKeyPrefix):])
}

// IsIntegratorKey reports whether s is shaped like an integrator API key.
func IsIntegratorKey(s string) bool {
	_, ok := ParseIntegratorKey(s)
	return ok
}

// IntegratorKeyStore keeps integrators' API keys and lists their sites. Implementation:
// shared/dynamo.Accounts.
type IntegratorKeyStore interface {
	// CreateIntegratorKey stores a key: ErrNotFound if the integrator does not exist,
	// ErrErasing if its erasure has begun, ErrConflict if the key id is taken (by any key,
	// customer keys included).
	CreateIntegratorKey(ctx context.Context, k IntegratorKey) error
	// GetIntegratorKey returns the integrator key with this id, revoked or not, with a
	// strongly consistent read; ErrNotFound if there is none (or the id is a customer's).
	GetIntegratorKey(ctx context.Context, id string) (IntegratorKey, error)
	// ListIntegratorKeys returns an integrator's keys, revoked ones included, oldest first.
	ListIntegratorKeys(ctx context.Context, integratorID string) ([]IntegratorKey, error)
	// RevokeIntegratorKey sets RevokedAt to at unless already set and returns the key;
	// ErrNotFound if the integrator has no key with this id.
	RevokeIntegratorKey(ctx context.Context, integratorID, keyID string, at time.Time) (IntegratorKey, error)
	// IntegratorSites returns the integrator's sites (none for an unknown integrator).
	IntegratorSites(ctx context.Context, integratorID string) ([]Site, error)
}

// IntegratorKeyService issues, revokes and checks integrator API keys.
type IntegratorKeyService struct {
	store IntegratorKeyStore
	minter
}

// NewIntegratorKeyService returns an IntegratorKeyService over store using now as its clock.
func NewIntegratorKeyService(store IntegratorKeyStore, now func() time.Time) *IntegratorKeyService {
	return &IntegratorKeyService{store: store, minter: newMinter(now)}
}

// CreateKey gives an integrator a new API key and returns it with the key, which is
// returned only here: only its hash is stored.
func (s *IntegratorKeyService) CreateKey(ctx context.Context, integratorID, name string) (IntegratorKey, string, error) {
	m, err := s.newKey(integratorID, name, IntegratorKeyPrefix)
	if err != nil {
		return IntegratorKey{}, "", err
	}
	k := IntegratorKey{ID: m.ID, IntegratorID: integratorID, Name: m.Name, Hash: HashAPIKey(m.Key), CreatedAt: m.CreatedAt}
	if err := s.store.CreateIntegratorKey(ctx, k); err != nil {
		return IntegratorKey{}, "", fmt.Errorf("create integrator key: %w", err)
	}
	return k, m.Key, nil
}

// ListKeys returns an integrator's keys (without the keys themselves), oldest first.
func (s *IntegratorKeyService) ListKeys(ctx context.Context, integratorID string) ([]IntegratorKey, error) {
	return byUUID(ctx, integratorID, s.store.ListIntegratorKeys, "list integrator keys")
}

// RevokeKey stops a key from working at once. Revoking a revoked key is not an error.
func (s *IntegratorKeyService) RevokeKey(ctx context.Context, integratorID, keyID string) (IntegratorKey, error) {
	return revokeKey(ctx, s.minter, integratorID, keyID, s.store.RevokeIntegratorKey, "revoke integrator key")
}

// Authenticate returns the record of a working integrator key: ErrInvalidKey (no lookup
// made) if key is not shaped like one, and ErrInvalidKey if it is unknown or revoked.
func (s *IntegratorKeyService) Authenticate(ctx context.Context, key string) (IntegratorKey, error) {
	return authenticate(ctx, key, ParseIntegratorKey, s.store.GetIntegratorKey, func(k IntegratorKey) string { return k.Hash }, "integrator key")
}

// Sites returns the sites of an integrator.
func (s *IntegratorKeyService) Sites(ctx context.Context, integratorID string) ([]Site, error) {
	sites, err := s.store.IntegratorSites(ctx, integratorID)
	if err != nil {
		return nil, fmt.Errorf("list integrator sites: %w", err)
	}
	return sites, nil
}

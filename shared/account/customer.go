package account

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Customer buys labels through the customer API. Name and Email are personal information;
// they live only in the accounts table.
type Customer struct {
	ID        string
	Name      string
	Email     string
	Country   string // ISO 3166-1 alpha-2, upper case
	CreatedAt time.Time
	Choices   Choices // opt-out and limit requests (choices.go)
}

// NewCustomer is the input of CreateCustomer.
type NewCustomer struct {
	Name    string
	Email   string
	Country string
}

// APIKey is one of a customer's API keys. The key itself is never stored: only Hash, and
// ID (the public part of the key) to find the record without a scan.
type APIKey struct {
	ID         string // KeyIDLen hex digits, also inside the key
	CustomerID string
	Name       string // optional label ("ci pipeline"); at most MaxNameRunes
	Hash       string // HashAPIKey of the key
	CreatedAt  time.Time
	// RevokedAt is when the key stopped working; zero while it works.
	RevokedAt time.Time
}

// Revoked reports whether the key has been revoked.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// ErrInvalidKey: the API key is malformed, unknown, or revoked. One error for all three, so
// a caller learns nothing about which keys exist.
var ErrInvalidKey = errors.New("account: invalid API key")

// CustomerStore keeps customers and their API keys. It is separate from Store so that the
// integrator side (and its fakes) does not change. Implementations: shared/dynamo.Accounts,
// accounttest.Store.
type CustomerStore interface {
	// CreateCustomer stores a new customer (ErrConflict if the id exists).
	CreateCustomer(ctx context.Context, c Customer) error
	// GetCustomer returns ErrNotFound for an unknown id.
	GetCustomer(ctx context.Context, id string) (Customer, error)
	// CreateAPIKey stores a key: ErrNotFound if the customer does not exist, ErrErasing if
	// its erasure has begun, ErrConflict if the key id is taken. Nothing is stored on error.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// GetAPIKey returns the key with this id, revoked or not (ErrNotFound). The read is
	// strongly consistent, so a revocation takes effect at once.
	GetAPIKey(ctx context.Context, id string) (APIKey, error)
	// ListAPIKeys returns a customer's keys, revoked ones included, oldest first.
	ListAPIKeys(ctx context.Context, customerID string) ([]APIKey, error)
	// RevokeAPIKey sets RevokedAt to at unless the key is revoked already (then it keeps
	// its first revocation time) and returns the key. ErrNotFound if the customer has no
	// key with this id.
	RevokeAPIKey(ctx context.Context, customerID, keyID string, at time.Time) (APIKey, error)
}

// CustomerService is the customer-account logic: validation, ids, API keys.
type CustomerService struct {
	store CustomerStore
	minter
}

// NewCustomerService returns a CustomerService over store using now as its clock.
func NewCustomerService(store CustomerStore, now func() time.Time) *CustomerService {
	return &CustomerService{store: store, minter: newMinter(now)}
}

// CreateCustomer validates and stores a new customer.
func (s *CustomerService) CreateCustomer(ctx context.Context, in NewCustomer) (Customer, error) {
	return createAccount(ctx, s.minter, in.Name, in.Email, in.Country, s.store.CreateCustomer, "create customer")
}

// GetCustomer returns a customer (ErrNotFound for an unknown or malformed id).
func (s *CustomerService) GetCustomer(ctx context.Context, id string) (Customer, error) {
	return byUUID(ctx, id, s.store.GetCustomer, "get customer")
}

// ListAPIKeys returns a customer's keys (without the keys themselves), oldest first.
func (s *CustomerService) ListAPIKeys(ctx context.Context, customerID string) ([]APIKey, error) {
	return byUUID(ctx, customerID, s.store.ListAPIKeys, "list API keys")
}

// CreateAPIKey gives a customer a new API key and returns it with the key. The key is
// returned only here: only its hash is stored.
func (s *CustomerService) CreateAPIKey(ctx context.Context, customerID, name string) (APIKey, string, error) {
	m, err := s.newKey(customerID, name, APIKeyPrefix)
	if err != nil {
		return APIKey{}, "", err
	}
	k := APIKey{ID: m.ID, CustomerID: customerID, Name: m.Name, Hash: HashAPIKey(m.Key), CreatedAt: m.CreatedAt}
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return APIKey{}, "", fmt.Errorf("create API key: %w", err)
	}
	return k, m.Key, nil
}

// RevokeAPIKey stops a key from working at once. Revoking a revoked key is not an error.
func (s *CustomerService) RevokeAPIKey(ctx context.Context, customerID, keyID string) (APIKey, error) {
	return revokeKey(ctx, s.minter, customerID, keyID, s.store.RevokeAPIKey, "revoke API key")
}

// Authenticate returns the record of a working API key: ErrInvalidKey (no lookup made) if
// the key is not shaped like one, and ErrInvalidKey if it is unknown or revoked. It costs
// one strongly consistent read.
func (s *CustomerService) Authenticate(ctx context.Context, key string) (APIKey, error) {
	return authenticate(ctx, key, ParseAPIKey, s.store.GetAPIKey, func(k APIKey) string { return k.Hash }, "API key")
}

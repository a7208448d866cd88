package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"strings"
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
	// CreateAPIKey stores a key: ErrNotFound if the customer does not exist, ErrConflict if
	// the key id is taken. Nothing is stored on error.
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
	now   func() time.Time
	rand  io.Reader
}

// NewCustomerService returns a CustomerService over store using now as its clock.
func NewCustomerService(store CustomerStore, now func() time.Time) *CustomerService {
	if now == nil {
		now = time.Now
	}
	return &CustomerService{store: store, now: now, rand: rand.Reader}
}

// CreateCustomer validates and stores a new customer.
func (s *CustomerService) CreateCustomer(ctx context.Context, in NewCustomer) (Customer, error) {
	name, email, country, err := validProfile(in.Name, in.Email, in.Country)
	if err != nil {
		return Customer{}, err
	}
	id, err := newUUID(s.rand)
	if err != nil {
		return Customer{}, err
	}
	c := Customer{ID: id, Name: name, Email: email, Country: country, CreatedAt: s.now().UTC().Truncate(time.Second)}
	if err := s.store.CreateCustomer(ctx, c); err != nil {
		return Customer{}, fmt.Errorf("create customer: %w", err)
	}
	return c, nil
}

// GetCustomer returns a customer (ErrNotFound for an unknown or malformed id).
func (s *CustomerService) GetCustomer(ctx context.Context, id string) (Customer, error) {
	if !IsUUID(id) {
		return Customer{}, ErrNotFound
	}
	c, err := s.store.GetCustomer(ctx, id)
	if err != nil {
		return Customer{}, fmt.Errorf("get customer: %w", err)
	}
	return c, nil
}

// ListAPIKeys returns a customer's keys (without the keys themselves), oldest first.
func (s *CustomerService) ListAPIKeys(ctx context.Context, customerID string) ([]APIKey, error) {
	if !IsUUID(customerID) {
		return nil, ErrNotFound
	}
	keys, err := s.store.ListAPIKeys(ctx, customerID)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	return keys, nil
}

// CreateAPIKey gives a customer a new API key and returns it with the key. The key is
// returned only here: only its hash is stored.
func (s *CustomerService) CreateAPIKey(ctx context.Context, customerID, name string) (APIKey, string, error) {
	if !IsUUID(customerID) {
		return APIKey{}, "", ErrNotFound
	}
	if name = strings.TrimSpace(name); name != "" {
		n, err := validName(name)
		if err != nil {
			return APIKey{}, "", err
		}
		name = n
	}
	id, key, err := newAPIKey(s.rand)
	if err != nil {
		return APIKey{}, "", err
	}
	k := APIKey{ID: id, CustomerID: customerID, Name: name, Hash: HashAPIKey(key), CreatedAt: s.now().UTC().Truncate(time.Second)}
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return APIKey{}, "", fmt.Errorf("create API key: %w", err)
	}
	return k, key, nil
}

// RevokeAPIKey stops a key from working at once. Revoking a revoked key is not an error.
func (s *CustomerService) RevokeAPIKey(ctx context.Context, customerID, keyID string) (APIKey, error) {
	if !IsUUID(customerID) || !IsAPIKeyID(keyID) {
		return APIKey{}, ErrNotFound
	}
	k, err := s.store.RevokeAPIKey(ctx, customerID, keyID, s.now().UTC().Truncate(time.Second))
	if err != nil {
		return APIKey{}, fmt.Errorf("revoke API key: %w", err)
	}
	return k, nil
}

// Authenticate returns the record of a working API key: ErrInvalidKey (no lookup made) if
// the key is not shaped like one, and ErrInvalidKey if it is unknown or revoked. It costs
// one strongly consistent read.
func (s *CustomerService) Authenticate(ctx context.Context, key string) (APIKey, error) {
	return authenticate(ctx, key, ParseAPIKey, s.store.GetAPIKey, func(k APIKey) string { return k.Hash }, "API key")
}

// authenticate resolves a key of any owner: parse (no lookup for a malformed key), one read
// by the key's id, then proof of possession — the id part is not secret, only the hash of
// the whole key is. Unknown, wrong and revoked keys are all ErrInvalidKey.
func authenticate[K interface{ Revoked() bool }](ctx context.Context, key string, parse func(string) (string, bool),
	get func(context.Context, string) (K, error), hash func(K) string, what string) (K, error) {
	var none K
	id, ok := parse(key)
	if !ok {
		return none, ErrInvalidKey
	}
	k, err := get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return none, ErrInvalidKey
	}
	if err != nil {
		return none, fmt.Errorf("look up %s: %w", what, err)
	}
	if subtle.ConstantTimeCompare([]byte(hash(k)), []byte(HashAPIKey(key))) != 1 || k.Revoked() {
		return none, ErrInvalidKey
	}
	return k, nil
}

// newUUID returns a random version 4 UUID.
func newUUID(r io.Reader) (string, error) {
	s := &Service{rand: r}
	return s.uuid()
}

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

// minter is what Service, CustomerService and IntegratorKeyService make new records with:
// random ids, secrets and keys from rand, and record times from now.
type minter struct {
	now  func() time.Time
	rand io.Reader
}

// newMinter uses crypto/rand and now (time.Now if nil).
func newMinter(now func() time.Time) minter {
	if now == nil {
		now = time.Now
	}
	return minter{now: now, rand: rand.Reader}
}

// stamp is the time a record is created or changed at: UTC, whole seconds.
func (m minter) stamp() time.Time { return m.now().UTC().Truncate(time.Second) }

// profile is what every kind of account holder (Integrator, Customer) has. Those types have
// exactly these fields, so a profile converts to either: a field added to one of them alone
// stops createAccount compiling, and it must then be told about the difference.
type profile struct {
	ID        string
	Name      string
	Email     string
	Country   string
	CreatedAt time.Time
	Choices   Choices
}

// createAccount is CreateIntegrator and CreateCustomer: validate and normalise the profile,
// give it a new id and store it with put.
func createAccount[A Integrator | Customer](ctx context.Context, m minter, name, email, country string,
	put func(context.Context, A) error, what string) (A, error) {
	var none A
	name, email, country, err := validProfile(name, email, country)
	if err != nil {
		return none, err
	}
	id, err := m.uuid()
	if err != nil {
		return none, err
	}
	a := A(profile{ID: id, Name: name, Email: email, Country: country, CreatedAt: m.stamp()})
	if err := put(ctx, a); err != nil {
		return none, fmt.Errorf("%s: %w", what, err)
	}
	return a, nil
}

// byUUID is the reads by an account's or site's id: a malformed id is ErrNotFound without a
// lookup (ids reach here from URLs), and a store error says what failed.
func byUUID[T any](ctx context.Context, id string, get func(context.Context, string) (T, error), what string) (T, error) {
	var none T
	if !IsUUID(id) {
		return none, ErrNotFound
	}
	v, err := get(ctx, id)
	if err != nil {
		return none, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// revokeKey is RevokeAPIKey and RevokeKey: malformed ids are ErrNotFound without a lookup;
// the store keeps the first revocation time of a key revoked twice.
func revokeKey[K any](ctx context.Context, m minter, ownerID, keyID string,
	revoke func(ctx context.Context, ownerID, keyID string, at time.Time) (K, error), what string) (K, error) {
	var none K
	if !IsUUID(ownerID) || !IsAPIKeyID(keyID) {
		return none, ErrNotFound
	}
	k, err := revoke(ctx, ownerID, keyID, m.stamp())
	if err != nil {
		return none, fmt.Errorf("%s: %w", what, err)
	}
	return k, nil
}

// mintedKey is a new API key of either owner before it becomes an APIKey or IntegratorKey.
type mintedKey struct {
	ID        string // the key's public id part
	Name      string // normalised, may be empty
	Key       string // the whole key, shown to its owner once
	CreatedAt time.Time
}

// newKey checks what CreateAPIKey and CreateKey are given — the owner's id (ErrNotFound if
// malformed) and an optional name — and mints a key with prefix.
func (m minter) newKey(ownerID, name, prefix string) (mintedKey, error) {
	if !IsUUID(ownerID) {
		return mintedKey{}, ErrNotFound
	}
	if name = strings.TrimSpace(name); name != "" {
		n, err := validName(name)
		if err != nil {
			return mintedKey{}, err
		}
		name = n
	}
	id, key, err := newAPIKey(m.rand, prefix)
	if err != nil {
		return mintedKey{}, err
	}
	return mintedKey{ID: id, Name: name, Key: key, CreatedAt: m.stamp()}, nil
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

package token

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Keyring timing.
const (
	// RefreshEvery is how long a Keyring uses a key list before it reads it again. A
	// rotated key list reaches every instance within this time, well inside the old key's
	// life in the list (MaxRotatedKeys).
	RefreshEvery = 5 * time.Minute
	// RefreshRetry is the shortest time between two reads: after a failed read, and when
	// tokens name a kid the list does not hold (someone may send made-up kids on purpose).
	RefreshRetry = 5 * time.Second
	// RefreshTimeout bounds one read, which runs inside a visitor's or integrator's request.
	RefreshTimeout = 3 * time.Second
)

// KeyLoader reads the current key list ("kid:base64key,…" or a bare key, see NewSigner),
// e.g. platform.Env.SigningKeys, which reads Secrets Manager on AWS.
type KeyLoader func(ctx context.Context) (string, error)

// KeyringOptions tune a Keyring; the zero value is the production setting.
type KeyringOptions struct {
	// MaxAge replaces RefreshEvery.
	MaxAge time.Duration
	// OnError hears about a failed re-read (the keys read before stay in use).
	OnError func(error)
}

// Keyring is a Signer whose key list is re-read from its source, so a rotated key is
// picked up by running instances without a redeploy:
//
//   - every RefreshEvery, on the next Issue or Parse, and
//   - when a token names a kid the list does not hold: an instance that re-read the list
//     after a rotation signs with the new key, and another that has not yet must not
//     refuse its tokens (at most one read per RefreshRetry).
//
// A failed re-read keeps the keys read before. Times come from the now passed to Issue and
// Parse, so the schedule follows the caller's clock. Safe for concurrent use; a read runs
// without blocking other callers, who use the previous keys meanwhile.
type Keyring struct {
	load   KeyLoader
	maxAge time.Duration
	onErr  func(error)

	mu      sync.Mutex
	signer  *Signer
	readAt  time.Time // when signer was read; zero until the first Issue or Parse
	triedAt time.Time // when the last read started
	reading bool
}

// NewKeyring reads the key list once; it fails if that read fails or the list is invalid.
func NewKeyring(ctx context.Context, load KeyLoader, opts KeyringOptions) (*Keyring, error) {
	if load == nil {
		return nil, errors.New("token: keyring needs a key loader")
	}
	k := &Keyring{load: load, maxAge: opts.MaxAge, onErr: opts.OnError}
	if k.maxAge <= 0 {
		k.maxAge = RefreshEvery
	}
	s, err := k.read(ctx)
	if err != nil {
		return nil, err
	}
	k.signer = s
	return k, nil
}

func (k *Keyring) read(ctx context.Context) (*Signer, error) {
	keys, err := k.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("token: read signing keys: %w", err)
	}
	return NewSigner(keys)
}

// current returns the signer to use at now, re-reading the list first when it is due
// (or when force asks for it and the last read is at least RefreshRetry ago).
func (k *Keyring) current(now time.Time, force bool) *Signer {
	k.mu.Lock()
	if k.readAt.IsZero() {
		// The list NewKeyring read counts as read at the first use: the constructor has
		// no clock of the caller's.
		k.readAt, k.triedAt = now, now
	}
	due := force || now.Sub(k.readAt) >= k.maxAge
	if !due || k.reading || now.Sub(k.triedAt) < RefreshRetry {
		s := k.signer
		k.mu.Unlock()
		return s
	}
	k.reading, k.triedAt = true, now
	k.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), RefreshTimeout)
	s, err := k.read(ctx)
	cancel()

	k.mu.Lock()
	defer k.mu.Unlock()
	k.reading = false
	if err != nil {
		if k.onErr != nil {
			k.onErr(err)
		}
		return k.signer
	}
	k.signer, k.readAt = s, now
	return s
}

// KeyID is the id of the signing key of the list read last.
func (k *Keyring) KeyID() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.signer.KeyID()
}

// Issue is Signer.Issue with the current signing key.
func (k *Keyring) Issue(sitekey string, now time.Time) (string, Claims, error) {
	return k.current(now, false).Issue(sitekey, now)
}

// Parse is Signer.Parse against the current key list; a token of an unknown kid makes
// the keyring re-read the list (rate-limited) and try once more.
func (k *Keyring) Parse(tok string, now time.Time) (Claims, error) {
	s := k.current(now, false)
	c, unknown, err := s.parse(tok, now)
	if !unknown {
		return c, err
	}
	if fresh := k.current(now, true); fresh != s {
		c, _, err = fresh.parse(tok, now)
	}
	return c, err
}

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
	// RefreshRetry is the shortest time between two reads after a failed read, and between
	// two reads asked for by tokens the list cannot verify (anyone can send made-up kids).
	RefreshRetry = 5 * time.Second
	// RefreshTimeout bounds one read, which runs inside a visitor's or integrator's request.
	RefreshTimeout = 3 * time.Second
)

// issueLeeway is how long after a token's issue time a read of the list surely holds the
// key that signed it: the second iat is truncated to, clock skew between instances and
// the moment a new secret version takes to reach every reader.
const issueLeeway = 5 * time.Second

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
//   - when a token names a kid the list does not hold, or fails the MAC of the key the list
//     holds under its kid (a kid reused by hand): an instance that re-read the list after
//     a rotation signs with the new key, and another that has not yet must not refuse its
//     tokens. Such a read happens only if the list was read before the token claims to be
//     signed (plus issueLeeway), and at most once per RefreshRetry for all tokens together,
//     whatever kids or issue times they claim; tokens arriving during a read wait for it.
//
// A failed re-read keeps the keys read before. Times come from the now passed to Issue and
// Parse, so the schedule follows the caller's clock. Safe for concurrent use; a periodic
// read runs without blocking other callers, who use the previous keys meanwhile.
type Keyring struct {
	load   KeyLoader
	maxAge time.Duration
	onErr  func(error)

	mu       sync.Mutex
	signer   *Signer
	readAt   time.Time     // when the read of signer started; zero until the first Issue or Parse
	readSeen bool          // readAt is that read's start on the caller's clock (not the constructor's read)
	triedAt  time.Time     // when the last read started
	failed   bool          // the last read failed
	askedAt  time.Time     // when the last read a token asked for started; zero if none
	reading  chan struct{} // closed when the read in progress ends; nil when none runs
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

// firstUse dates the list NewKeyring read at the first use: the constructor has no clock
// of the caller's. Called with mu held.
func (k *Keyring) firstUse(now time.Time) {
	if k.readAt.IsZero() {
		k.readAt, k.triedAt = now, now
	}
}

// current returns the signer to use at now, re-reading the list first when it is due.
func (k *Keyring) current(now time.Time) *Signer {
	k.mu.Lock()
	k.firstUse(now)
	if now.Sub(k.readAt) < k.maxAge || k.reading != nil || now.Sub(k.triedAt) < RefreshRetry {
		s := k.signer
		k.mu.Unlock()
		return s
	}
	return k.reread(now) // unlocks
}

// refresh returns the signer to try again a token that had refused for a keyMiss claiming
// issue time issued: one read since had was handed out (waiting for a read in progress),
// or a read of its own when the rules in the Keyring comment allow one; had when there is
// nothing newer to try.
func (k *Keyring) refresh(now, issued time.Time, had *Signer) *Signer {
	k.mu.Lock()
	k.firstUse(now)
	for k.reading != nil {
		wait := k.reading
		k.mu.Unlock()
		<-wait
		k.mu.Lock()
	}
	switch {
	case k.signer != had:
		// Read since had was handed out: try that list first.
	case k.readSeen && !k.readAt.Before(issued.Add(issueLeeway)):
		// The list was read after the token claims to be signed: no newer key signed it.
	case k.failed && now.Sub(k.triedAt) < RefreshRetry:
	case !k.askedAt.IsZero() && now.Sub(k.askedAt) < RefreshRetry:
	default:
		k.askedAt = now
		return k.reread(now) // unlocks
	}
	s := k.signer
	k.mu.Unlock()
	return s
}

// reread reads the list, called with mu held, which it releases during the read and
// before it returns. Callers that need the result meanwhile wait on k.reading.
func (k *Keyring) reread(now time.Time) (s *Signer) {
	done := make(chan struct{})
	k.reading, k.triedAt = done, now
	k.mu.Unlock()

	var (
		fresh    *Signer
		err      error
		returned bool
	)
	defer func() {
		// Deferred so that waiters are released even if the loader panics (the runtime
		// recovers, and the instance lives on); that read counts as failed.
		k.mu.Lock()
		k.reading, k.failed = nil, !returned || err != nil
		if !k.failed {
			k.signer, k.readAt, k.readSeen = fresh, now, true
		}
		report := k.failed && returned && k.onErr != nil
		close(done)
		s = k.signer
		k.mu.Unlock()
		// Outside the lock: the callback may use the keyring (KeyID).
		if report {
			k.onErr(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), RefreshTimeout)
	defer cancel()
	fresh, err = k.read(ctx)
	returned = true
	return fresh
}

// KeyID is the id of the signing key of the list read last.
func (k *Keyring) KeyID() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.signer.KeyID()
}

// Issue is Signer.Issue with the current signing key.
func (k *Keyring) Issue(sitekey string, now time.Time) (string, Claims, error) {
	return k.current(now).Issue(sitekey, now)
}

// Parse is Signer.Parse against the current key list; a token whose key the list may not
// hold yet makes the keyring re-read the list (rate-limited) and try again.
func (k *Keyring) Parse(tok string, now time.Time) (Claims, error) {
	s := k.current(now)
	c, miss, err := s.parse(tok, now)
	// Each further try follows a read that completed since the one before, and reads are
	// rate-limited; the bound only guards against a pathological interleaving.
	for range 3 {
		if miss == nil {
			break
		}
		fresh := k.refresh(now, miss.issuedAt, s)
		if fresh == s {
			break
		}
		s = fresh
		c, miss, err = s.parse(tok, now)
	}
	return c, err
}

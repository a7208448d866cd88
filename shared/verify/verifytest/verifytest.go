// Package verifytest is an in-memory pass-token store (map + mutex) with the same
// conditional semantics as shared/dynamo.Tokens — single use, expiry checked on every read —
// for handler tests, benchmarks, the local-stack benchmark and the challenge function's
// tests; and the contract both stores pass.
package verifytest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/shared/token"
)

// TokenStore is what the challenge function writes through and siteverify redeems through.
type TokenStore interface {
	Put(ctx context.Context, r token.Record) error
	// Redeem uses the token up; a call with the idempotency key of the redemption (not
	// empty) gets the record again until the token expires.
	Redeem(ctx context.Context, id string, now time.Time, idempotencyKey string) (token.Record, error)
}

// Tokens is an in-memory TokenStore. The zero value is ready to use.
type Tokens struct {
	mu      sync.Mutex
	records map[string]*entry
}

type entry struct {
	rec      token.Record
	redeemed bool
	key      string // the idempotency key of the redemption
}

var _ TokenStore = (*Tokens)(nil)

// ErrExists is returned by Put for an id that is already stored with another record or
// redeemed.
var ErrExists = errors.New("verifytest: token id already stored")

// Put implements TokenStore.
func (t *Tokens) Put(_ context.Context, r token.Record) error {
	if r.ID == "" || r.ExpiresAt.IsZero() {
		return errors.New("verifytest: id and expiry are required")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.records == nil {
		t.records = map[string]*entry{}
	}
	r.ScoreReasons = slices.Clone(r.ScoreReasons)
	if r.ScoreReasons == nil {
		r.ScoreReasons = []string{}
	}
	if e, ok := t.records[r.ID]; ok {
		if !e.redeemed && sameRecord(e.rec, r) {
			return nil // a retried put whose first attempt landed, as dynamo.Tokens allows
		}
		return ErrExists
	}
	t.records[r.ID] = &entry{rec: r}
	return nil
}

func sameRecord(a, b token.Record) bool {
	return a.ID == b.ID && a.Sitekey == b.Sitekey && a.Hostname == b.Hostname && a.ChallengeTS.Equal(b.ChallengeTS) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.Score == b.Score && slices.Equal(a.ScoreReasons, b.ScoreReasons)
}

// Redeem implements TokenStore: the first call for an unexpired record wins. Expiry is by
// whole seconds, as the DynamoDB ttl attribute is.
func (t *Tokens) Redeem(_ context.Context, id string, now time.Time, idempotencyKey string) (token.Record, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.records[id]
	expired := ok && now.Unix() >= e.rec.ExpiresAt.Unix()
	switch {
	case !ok:
		return token.Record{}, token.ErrNotFound
	case e.redeemed && (idempotencyKey == "" || idempotencyKey != e.key || expired):
		return token.Record{}, token.ErrAlreadyRedeemed
	case expired:
		return token.Record{}, token.ErrExpired
	}
	e.redeemed, e.key = true, idempotencyKey
	r := e.rec
	r.ScoreReasons = slices.Clone(r.ScoreReasons)
	return r, nil
}

// Len returns how many records are stored (redeemed or not).
func (t *Tokens) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.records)
}

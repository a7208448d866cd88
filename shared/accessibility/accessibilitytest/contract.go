package accessibilitytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

// FullStore is what the accounts-table adapter offers: the accessibility store and the
// privacy executors' view of the same records.
type FullStore interface {
	accessibility.Store
	privacy.AccessibilityData
	privacy.SubjectData
}

// futureHour is a whole hour a day ahead: record times must lie in the future because
// DynamoDB Local, like DynamoDB, deletes items whose ttl has passed on the real clock.
func futureHour() time.Time { return time.Now().UTC().Truncate(time.Hour).Add(24 * time.Hour) }

func hexID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// TestStore checks the Store contract; NewStore and shared/dynamo.Accessibility run it.
// Every subtest uses fresh keys, so newStore may hand out one shared store.
// race runs try n times at once and counts the calls that won; any error fails the test.
func race(t *testing.T, n int, try func() (won bool, err error)) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range n {
		wg.Go(func() {
			won, err := try()
			if err != nil {
				t.Error(err)
			}
			if won {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return wins
}

// lost clears err when it is the error a caller gets for losing a race.
func lost(err, losing error) error {
	if errors.Is(err, losing) {
		return nil
	}
	return err
}

func TestStore(t *testing.T, newStore func(t *testing.T) FullStore) {
	ctx := context.Background()
	t0 := futureHour()

	t.Run("an erasure's fence refuses the subject's tokens, new and old", func(t *testing.T) { storeFence(t, newStore) })

	t.Run("a sign-up is taken once", func(t *testing.T) {
		s := newStore(t)
		su := accessibility.Signup{CodeHash: hexID(), Subject: hexID(), CreatedAt: t0, ExpiresAt: t0.Add(accessibility.CodeTTL)}
		if err := s.PutSignup(ctx, su); err != nil {
			t.Fatal(err)
		}
		got, err := s.TakeSignup(ctx, su.CodeHash, t0.Add(time.Minute))
		if err != nil || got.Subject != su.Subject || got.CodeHash != su.CodeHash || !got.ExpiresAt.Equal(su.ExpiresAt) {
			t.Fatalf("TakeSignup = %+v, %v; want %+v", got, err, su)
		}
		if _, err := s.TakeSignup(ctx, su.CodeHash, t0.Add(2*time.Minute)); !errors.Is(err, accessibility.ErrInvalidCode) {
			t.Fatalf("second TakeSignup: %v, want ErrInvalidCode", err)
		}
		if _, err := s.TakeSignup(ctx, hexID(), t0); !errors.Is(err, accessibility.ErrInvalidCode) {
			t.Fatalf("unknown code: %v, want ErrInvalidCode", err)
		}
	})

	t.Run("an expired sign-up is refused before it is deleted", func(t *testing.T) {
		s := newStore(t)
		su := accessibility.Signup{CodeHash: hexID(), Subject: hexID(), CreatedAt: t0, ExpiresAt: t0.Add(accessibility.CodeTTL)}
		if err := s.PutSignup(ctx, su); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TakeSignup(ctx, su.CodeHash, su.ExpiresAt); !errors.Is(err, accessibility.ErrInvalidCode) {
			t.Fatalf("TakeSignup at expiry: %v, want ErrInvalidCode", err)
		}
	})

	t.Run("concurrent takes of one sign-up: exactly one wins", func(t *testing.T) {
		s := newStore(t)
		su := accessibility.Signup{CodeHash: hexID(), Subject: hexID(), CreatedAt: t0, ExpiresAt: t0.Add(accessibility.CodeTTL)}
		if err := s.PutSignup(ctx, su); err != nil {
			t.Fatal(err)
		}
		wins := race(t, 8, func() (bool, error) {
			_, err := s.TakeSignup(ctx, su.CodeHash, t0.Add(time.Second))
			return err == nil, lost(err, accessibility.ErrInvalidCode)
		})
		if wins != 1 {
			t.Fatalf("%d concurrent takes won, want 1", wins)
		}
	})

	t.Run("tokens work until they expire or are deleted", func(t *testing.T) {
		s := newStore(t)
		tok := accessibility.Token{Hash: hexID(), Subject: hexID(), CreatedAt: t0, ExpiresAt: t0.Add(accessibility.TokenTTL)}
		if err := s.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		got, err := s.Token(ctx, tok.Hash, t0.Add(time.Hour))
		if err != nil || got.Subject != tok.Subject || got.Hash != tok.Hash || !got.ExpiresAt.Equal(tok.ExpiresAt) || !got.CreatedAt.Equal(tok.CreatedAt) {
			t.Fatalf("Token = %+v, %v; want %+v", got, err, tok)
		}
		if _, err := s.Token(ctx, tok.Hash, tok.ExpiresAt); !errors.Is(err, accessibility.ErrTokenRequired) {
			t.Fatalf("Token at expiry: %v, want ErrTokenRequired", err)
		}
		if err := s.DeleteToken(ctx, tok.Hash); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Token(ctx, tok.Hash, t0.Add(time.Hour)); !errors.Is(err, accessibility.ErrTokenRequired) {
			t.Fatalf("Token after delete: %v, want ErrTokenRequired", err)
		}
		if err := s.DeleteToken(ctx, tok.Hash); err != nil {
			t.Fatalf("deleting a deleted token: %v", err)
		}
	})

	t.Run("a counter allows Limit takes per window from the first take", func(t *testing.T) {
		s := newStore(t)
		c := accessibility.Counter{Key: "TEST#" + hexID(), Limit: 3, Window: time.Hour}
		for i := range 3 {
			ok, reset, err := s.Take(ctx, c, t0.Add(time.Duration(i)*time.Minute))
			if err != nil || !ok || !reset.Equal(t0.Add(time.Hour)) {
				t.Fatalf("take %d: %v %v %v", i+1, ok, reset, err)
			}
		}
		ok, reset, err := s.Take(ctx, c, t0.Add(59*time.Minute))
		if err != nil || ok || !reset.Equal(t0.Add(time.Hour)) {
			t.Fatalf("take over the limit: ok=%v reset=%v err=%v", ok, reset, err)
		}
		// A new window starts at the first take after the old one ended.
		ok, reset, err = s.Take(ctx, c, t0.Add(90*time.Minute))
		if err != nil || !ok || !reset.Equal(t0.Add(150*time.Minute)) {
			t.Fatalf("take in the next window: ok=%v reset=%v err=%v", ok, reset, err)
		}
		// Counters do not share state.
		if ok, _, err := s.Take(ctx, accessibility.Counter{Key: "TEST#" + hexID(), Limit: 1, Window: time.Hour}, t0); err != nil || !ok {
			t.Fatalf("another counter: %v %v", ok, err)
		}
	})

	t.Run("a take given back can be taken again; nothing goes below zero", func(t *testing.T) {
		s := newStore(t)
		c := accessibility.Counter{Key: "TEST#" + hexID(), Limit: 2, Window: time.Hour}
		if err := s.GiveBack(ctx, c, t0); err != nil { // no window yet
			t.Fatalf("give back without a window: %v", err)
		}
		for range 2 {
			if ok, _, err := s.Take(ctx, c, t0); !ok || err != nil {
				t.Fatalf("take: %v %v", ok, err)
			}
		}
		if ok, _, _ := s.Take(ctx, c, t0); ok {
			t.Fatal("a third take within the limit of 2")
		}
		if err := s.GiveBack(ctx, c, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if ok, reset, err := s.Take(ctx, c, t0.Add(2*time.Minute)); !ok || err != nil || !reset.Equal(t0.Add(time.Hour)) {
			t.Fatalf("take after a give-back: %v %v %v (the window must not move)", ok, reset, err)
		}
		for range 4 {
			if err := s.GiveBack(ctx, c, t0.Add(3*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 { // given back to zero, not below: two takes again, not more
			if ok, _, err := s.Take(ctx, c, t0.Add(4*time.Minute)); !ok || err != nil {
				t.Fatalf("take %d after giving everything back: %v %v", i+1, ok, err)
			}
		}
		if ok, _, _ := s.Take(ctx, c, t0.Add(4*time.Minute)); ok {
			t.Fatal("the count went below zero: a third take succeeded")
		}
		if err := s.GiveBack(ctx, c, t0.Add(2*time.Hour)); err != nil { // the window has ended
			t.Fatalf("give back after the window: %v", err)
		}
	})

	t.Run("concurrent takes never exceed the limit", func(t *testing.T) {
		s := newStore(t)
		c := accessibility.Counter{Key: "TEST#" + hexID(), Limit: 4, Window: time.Hour}
		oks := race(t, 10, func() (bool, error) {
			ok, _, err := s.Take(ctx, c, t0)
			return ok, err
		})
		if oks != 4 {
			t.Fatalf("%d of 10 concurrent takes succeeded, want 4", oks)
		}
	})

	t.Run("a subject's records are found and deleted by its hash", func(t *testing.T) {
		s := newStore(t)
		subject, other := hexID(), hexID()
		su := accessibility.Signup{CodeHash: hexID(), Subject: subject, CreatedAt: t0, ExpiresAt: t0.Add(accessibility.CodeTTL)}
		tok := accessibility.Token{Hash: hexID(), Subject: subject, CreatedAt: t0, ExpiresAt: t0.Add(accessibility.TokenTTL)}
		otherTok := accessibility.Token{Hash: hexID(), Subject: other, CreatedAt: t0, ExpiresAt: t0.Add(accessibility.TokenTTL)}
		for _, err := range []error{s.PutSignup(ctx, su), s.PutToken(ctx, tok), s.PutToken(ctx, otherTok)} {
			if err != nil {
				t.Fatal(err)
			}
		}
		if ok, _, err := s.Take(ctx, accessibility.Counter{Key: "TEST#" + hexID(), Subject: subject, Limit: 3, Window: 24 * time.Hour}, t0); !ok || err != nil {
			t.Fatal(ok, err)
		}
		// A counter without a subject (a network pseudonym) is nobody's record.
		if ok, _, err := s.Take(ctx, accessibility.Counter{Key: "TEST#" + hexID(), Limit: 3, Window: time.Hour}, t0); !ok || err != nil {
			t.Fatal(ok, err)
		}
		recs, err := s.AccessibilityOf(ctx, subject)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		var keys []string
		for _, r := range recs {
			kinds = append(kinds, r.Kind)
			keys = append(keys, r.Key)
			if !r.CreatedAt.Equal(t0) || r.ExpiresAt.Before(t0.Add(time.Hour)) || r.Key == "" {
				t.Errorf("record %+v: want created at %v and a later expiry", r, t0)
			}
		}
		slices.Sort(kinds)
		want := []string{privacy.KindAccessibilityRateLimit, privacy.KindAccessibilitySignup, privacy.KindAccessibilityToken}
		if !slices.Equal(kinds, want) {
			t.Fatalf("kinds %v, want %v", kinds, want)
		}
		if h, err := s.Holds(ctx, subject); err != nil || !slices.Equal(h, []string{privacy.HoldAccessibility}) {
			t.Fatalf("Holds before delete = %v, %v", h, err)
		}
		// Half first, then all: a key already gone is not reported removed again, so an
		// erasure retried after a failure counts each record once.
		if gone, err := s.DeleteAccessibility(ctx, keys[:1]); err != nil || !slices.Equal(gone, keys[:1]) {
			t.Fatalf("deleting %v removed %v, %v", keys[:1], gone, err)
		}
		if gone, err := s.DeleteAccessibility(ctx, keys); err != nil || !slices.Equal(gone, keys[1:]) {
			t.Fatalf("deleting %v after %v removed %v, %v; want only the rest", keys, keys[:1], gone, err)
		}
		if h, err := s.Holds(ctx, subject); err != nil || len(h) != 0 {
			t.Fatalf("Holds after delete = %v, %v", h, err)
		}
		if recs, err := s.AccessibilityOf(ctx, subject); err != nil || len(recs) != 0 {
			t.Fatalf("after delete: %v %v", recs, err)
		}
		if _, err := s.Token(ctx, tok.Hash, t0.Add(time.Minute)); !errors.Is(err, accessibility.ErrTokenRequired) {
			t.Fatalf("deleted token still works: %v", err)
		}
		if _, err := s.TakeSignup(ctx, su.CodeHash, t0.Add(time.Minute)); !errors.Is(err, accessibility.ErrInvalidCode) {
			t.Fatalf("deleted sign-up still works: %v", err)
		}
		if _, err := s.Token(ctx, otherTok.Hash, t0.Add(time.Minute)); err != nil {
			t.Fatalf("another subject's token was touched: %v", err)
		}
		if gone, err := s.DeleteAccessibility(ctx, keys); err != nil || len(gone) != 0 {
			t.Fatalf("deleting again removed %v, %v; want none, no error", gone, err)
		}
	})
}

// storeFence checks an erasure's fence (FenceAccessibility) on top of the Store
// contract: from the fence on, no token of the subject is stored and none stored before
// works — a token made a moment before, which the erasure's listing may miss, included —
// until the fence expires; other subjects see no change, and the fence is no record of
// the subject's that an erasure or access request finds.
func storeFence(t *testing.T, newStore func(t *testing.T) FullStore) {
	ctx := context.Background()
	t0 := futureHour()
	s := newStore(t)
	subject, other := hexID(), hexID()
	mk := func(subject string, at time.Time) accessibility.Token {
		return accessibility.Token{Hash: hexID(), Subject: subject, CreatedAt: at, ExpiresAt: at.Add(accessibility.TokenTTL)}
	}
	before, others := mk(subject, t0), mk(other, t0)
	for _, tok := range []accessibility.Token{before, others} {
		if err := s.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	fencedAt := t0.Add(time.Minute)
	if err := s.FenceAccessibility(ctx, subject, fencedAt); err != nil {
		t.Fatal(err)
	}
	if err := s.FenceAccessibility(ctx, subject, fencedAt); err != nil {
		t.Fatalf("fencing again: %v", err)
	}
	if _, err := s.Token(ctx, before.Hash, fencedAt.Add(time.Second)); !errors.Is(err, accessibility.ErrTokenRequired) {
		t.Fatalf("a token made before the fence still works: %v", err)
	}
	late := mk(subject, fencedAt.Add(time.Second))
	if err := s.PutToken(ctx, late); !errors.Is(err, accessibility.ErrErasing) {
		t.Fatalf("PutToken after the fence: %v, want ErrErasing", err)
	}
	if _, err := s.Token(ctx, late.Hash, fencedAt.Add(2*time.Second)); !errors.Is(err, accessibility.ErrTokenRequired) {
		t.Fatalf("a refused token works: %v", err)
	}
	if _, err := s.Token(ctx, others.Hash, fencedAt.Add(time.Second)); err != nil {
		t.Fatalf("another subject's token stopped working: %v", err)
	}
	if err := s.PutToken(ctx, mk(other, fencedAt.Add(time.Second))); err != nil {
		t.Fatalf("another subject's new token was refused: %v", err)
	}
	recs, err := s.AccessibilityOf(ctx, subject)
	if err != nil || len(recs) != 1 || recs[0].Kind != privacy.KindAccessibilityToken {
		t.Fatalf("AccessibilityOf = %+v, %v; want the token alone, not the fence", recs, err)
	}
	// Once the fence has expired (whether or not it is deleted yet), the address may sign
	// up afresh.
	after := mk(subject, fencedAt.Add(accessibility.FenceTTL))
	if err := s.PutToken(ctx, after); err != nil {
		t.Fatalf("PutToken once the fence expired: %v", err)
	}
	if _, err := s.Token(ctx, after.Hash, after.CreatedAt.Add(time.Second)); err != nil {
		t.Fatalf("a token made after the fence expired: %v", err)
	}
}

// TestChallenges checks the Challenges contract; NewChallenges and
// shared/dynamo.TextChallenges run it.
func TestChallenges(t *testing.T, newStore func(t *testing.T) accessibility.Challenges) {
	ctx := context.Background()
	t0 := futureHour()
	mk := func() accessibility.TextChallenge {
		return accessibility.TextChallenge{
			ID: accessibility.ChallengeIDPrefix + hexID(), Sitekey: "6f1c7d4e-2a3b-4c5d-8e9f-0a1b2c3d4e5f", Host: "shop.example.com",
			Answers: []string{"11", "eleven"}, IssuedAt: t0, ExpiresAt: t0.Add(5 * time.Minute),
		}
	}

	t.Run("round trip and single use", func(t *testing.T) {
		s := newStore(t)
		c := mk()
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, c.ID, t0.Add(time.Minute))
		if err != nil || got.ID != c.ID || got.Sitekey != c.Sitekey || got.Host != c.Host || !slices.Equal(got.Answers, c.Answers) ||
			!got.IssuedAt.Equal(c.IssuedAt) || !got.ExpiresAt.Equal(c.ExpiresAt) || got.Used {
			t.Fatalf("Get = %+v, %v; want %+v", got, err, c)
		}
		if err := s.Consume(ctx, c.ID, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(ctx, c.ID, t0.Add(time.Minute)); err != nil || !got.Used {
			t.Fatalf("after Consume: %+v %v", got, err)
		}
		if err := s.Consume(ctx, c.ID, t0.Add(2*time.Minute)); !errors.Is(err, accessibility.ErrUsed) {
			t.Fatalf("second Consume: %v, want ErrUsed", err)
		}
	})

	t.Run("unknown and expired", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Get(ctx, accessibility.ChallengeIDPrefix+hexID(), t0); !errors.Is(err, accessibility.ErrNotFound) {
			t.Fatalf("Get unknown: %v", err)
		}
		if err := s.Consume(ctx, accessibility.ChallengeIDPrefix+hexID(), t0); !errors.Is(err, accessibility.ErrNotFound) {
			t.Fatalf("Consume unknown: %v", err)
		}
		c := mk()
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, c.ID, c.ExpiresAt); !errors.Is(err, accessibility.ErrExpired) {
			t.Fatalf("Get at expiry: %v, want ErrExpired", err)
		}
		if err := s.Consume(ctx, c.ID, c.ExpiresAt); !errors.Is(err, accessibility.ErrExpired) {
			t.Fatalf("Consume at expiry: %v, want ErrExpired", err)
		}
	})

	t.Run("concurrent answers: exactly one consumes", func(t *testing.T) {
		s := newStore(t)
		c := mk()
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
		wins := race(t, 8, func() (bool, error) {
			err := s.Consume(ctx, c.ID, t0.Add(time.Second))
			return err == nil, lost(err, accessibility.ErrUsed)
		})
		if wins != 1 {
			t.Fatalf("%d consumes won, want 1", wins)
		}
	})
}

package verifytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/token"
)

// TestTokenStore checks the TokenStore contract; the in-memory Tokens and the DynamoDB
// adapter both run it. Every subtest uses token ids of its own, so newStore may hand out
// one shared store.
func TestTokenStore(t *testing.T, newStore func(t *testing.T) TokenStore) {
	ctx := context.Background()
	// Records expire on the clock: DynamoDB Local's ttl sweeper deletes items whose ttl has
	// passed, so a fixed date would turn into "not found" once it is a day old.
	t0 := time.Now().UTC().Truncate(time.Second)
	rec := func(id string) token.Record {
		return token.Record{ID: id, Sitekey: "3f2e1d0c-9b8a-4766-a544-332211000fed", Hostname: "shop.example.com",
			ChallengeTS: t0, ExpiresAt: t0.Add(token.TTL), Score: 0.25, ScoreReasons: []string{"new_ip", "fast_solve"}}
	}

	t.Run("redeem once returns the record", func(t *testing.T) {
		s := newStore(t)
		want := rec("a1")
		if err := s.Put(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Redeem(ctx, "a1", t0.Add(10*time.Second), "")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != want.ID || got.Sitekey != want.Sitekey || got.Hostname != want.Hostname || !got.ChallengeTS.Equal(want.ChallengeTS) ||
			!got.ExpiresAt.Equal(want.ExpiresAt) || got.Score != want.Score || !slices.Equal(got.ScoreReasons, want.ScoreReasons) {
			t.Fatalf("Redeem = %+v, want %+v", got, want)
		}
		if _, err := s.Redeem(ctx, "a1", t0.Add(11*time.Second), ""); !errors.Is(err, token.ErrAlreadyRedeemed) {
			t.Fatalf("second Redeem: %v, want ErrAlreadyRedeemed", err)
		}
	})

	t.Run("unknown id", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Redeem(ctx, "nope", t0, ""); !errors.Is(err, token.ErrNotFound) {
			t.Fatalf("Redeem unknown: %v, want ErrNotFound", err)
		}
	})

	t.Run("expired record is refused even before it is deleted", func(t *testing.T) {
		s := newStore(t)
		if err := s.Put(ctx, rec("e1")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Redeem(ctx, "e1", t0.Add(token.TTL), ""); !errors.Is(err, token.ErrExpired) {
			t.Fatalf("Redeem at expiry: %v, want ErrExpired", err)
		}
		if _, err := s.Redeem(ctx, "e1", t0.Add(token.TTL-time.Second), ""); err != nil {
			t.Fatalf("a refused expired redemption consumed the record: %v", err)
		}
	})

	t.Run("no record without ttl and no overwrite", func(t *testing.T) {
		s := newStore(t)
		if err := s.Put(ctx, token.Record{ID: "n1", Sitekey: "x"}); err == nil {
			t.Fatal("Put accepted a record without expiry")
		}
		if err := s.Put(ctx, rec("d1")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Redeem(ctx, "d1", t0, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, rec("d1")); err == nil {
			t.Fatal("Put overwrote a record (a redeemed token would work again)")
		}
		if _, err := s.Redeem(ctx, "d1", t0, ""); !errors.Is(err, token.ErrAlreadyRedeemed) {
			t.Fatalf("after refused overwrite: %v, want ErrAlreadyRedeemed", err)
		}
	})

	t.Run("a retried Put of the same record is not an error", func(t *testing.T) {
		// The SDK retries a put whose first attempt landed but whose response was lost;
		// refusing the retry would fail a visitor who passed (500, challenge used up).
		s := newStore(t)
		want := rec("r1")
		if err := s.Put(ctx, want); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, want); err != nil {
			t.Fatalf("retried Put: %v", err)
		}
		other := want
		other.Hostname = "evil.example"
		if err := s.Put(ctx, other); err == nil {
			t.Fatal("Put of a different record under a stored id succeeded")
		}
		got, err := s.Redeem(ctx, "r1", t0.Add(time.Second), "")
		if err != nil || got.Hostname != want.Hostname {
			t.Fatalf("Redeem after retried Put = %+v, %v", got, err)
		}
		if err := s.Put(ctx, want); err == nil {
			t.Fatal("Put of the same record after redemption succeeded (it would look unused)")
		}
		if _, err := s.Redeem(ctx, "r1", t0.Add(2*time.Second), ""); !errors.Is(err, token.ErrAlreadyRedeemed) {
			t.Fatalf("second Redeem: %v, want ErrAlreadyRedeemed", err)
		}
	})

	t.Run("200 concurrent redemptions: exactly one succeeds", func(t *testing.T) {
		s := newStore(t)
		if err := s.Put(ctx, rec("c1")); err != nil {
			t.Fatal(err)
		}
		const n = 200
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { _, errs[i] = s.Redeem(ctx, "c1", t0.Add(time.Second), "") })
		}
		wg.Wait()
		ok, seen := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, token.ErrAlreadyRedeemed):
				seen++
			default:
				t.Errorf("Redeem: %v", err)
			}
		}
		if ok != 1 || seen != n-1 {
			t.Fatalf("%d succeeded and %d already redeemed, want 1 and %d", ok, seen, n-1)
		}
	})

	t.Run("a redemption's idempotency key gets the record again, no other", func(t *testing.T) {
		// An integrator whose siteverify answer was lost retries with the same key and
		// must get the same pass; a replay (another key, or none) must not.
		s := newStore(t)
		want := rec("k1")
		if err := s.Put(ctx, want); err != nil {
			t.Fatal(err)
		}
		const key = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
		if _, err := s.Redeem(ctx, "k1", t0.Add(time.Second), key); err != nil {
			t.Fatal(err)
		}
		got, err := s.Redeem(ctx, "k1", t0.Add(5*time.Second), key)
		if err != nil || got.ID != want.ID || got.Hostname != want.Hostname || got.Score != want.Score ||
			!got.ChallengeTS.Equal(want.ChallengeTS) || !slices.Equal(got.ScoreReasons, want.ScoreReasons) {
			t.Fatalf("retry with the key = %+v, %v; want the record", got, err)
		}
		for _, other := range []string{"", "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4c"} {
			if _, err := s.Redeem(ctx, "k1", t0.Add(6*time.Second), other); !errors.Is(err, token.ErrAlreadyRedeemed) {
				t.Fatalf("retry with key %q: %v, want ErrAlreadyRedeemed", other, err)
			}
		}
		if _, err := s.Redeem(ctx, "k1", t0.Add(token.TTL), key); err == nil {
			t.Fatal("the key got the record again after the token expired")
		}

		// Without a key at first, no key later can claim the redemption.
		if err := s.Put(ctx, rec("k2")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Redeem(ctx, "k2", t0, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Redeem(ctx, "k2", t0, key); !errors.Is(err, token.ErrAlreadyRedeemed) {
			t.Fatalf("key after a redemption without one: %v, want ErrAlreadyRedeemed", err)
		}
	})

	t.Run("concurrent redemptions: all with the winner's key succeed, every other is refused", func(t *testing.T) {
		s := newStore(t)
		if err := s.Put(ctx, rec("c2")); err != nil {
			t.Fatal(err)
		}
		const n = 100
		keys := []string{"0a1b2c3d-0000-4000-8000-000000000001", "0a1b2c3d-0000-4000-8000-000000000002"}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { _, errs[i] = s.Redeem(ctx, "c2", t0.Add(time.Second), keys[i%2]) })
		}
		wg.Wait()
		ok := [2]int{}
		for i, err := range errs {
			switch {
			case err == nil:
				ok[i%2]++
			case !errors.Is(err, token.ErrAlreadyRedeemed):
				t.Errorf("Redeem: %v", err)
			}
		}
		if !(ok[0] == n/2 && ok[1] == 0) && !(ok[1] == n/2 && ok[0] == 0) {
			t.Fatalf("successes per key %v: want every call of one key and none of the other", ok)
		}
	})

	t.Run("records are independent", func(t *testing.T) {
		s := newStore(t)
		for i := range 3 {
			if err := s.Put(ctx, rec(fmt.Sprint("i", i))); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Redeem(ctx, "i1", t0, ""); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"i0", "i2"} {
			if _, err := s.Redeem(ctx, id, t0, ""); err != nil {
				t.Fatalf("redeeming i1 affected %s: %v", id, err)
			}
		}
	})
}

package token_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/token"
)

// source is a key list that can be rotated or broken, counting reads.
type source struct {
	mu    sync.Mutex
	keys  string
	err   error
	reads int
}

func (s *source) load(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return s.keys, s.err
}

func (s *source) set(keys string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.err = keys, err
}

func (s *source) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func keyring(t *testing.T, src *source, opts token.KeyringOptions) *token.Keyring {
	t.Helper()
	k, err := token.NewKeyring(context.Background(), src.load, opts)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return k
}

func TestKeyringSignsWithARotatedKeyAfterMaxAge(t *testing.T) {
	src := &source{keys: "old:" + keyA}
	k := keyring(t, src, token.KeyringOptions{})
	if _, c, _ := k.Issue("site-1", t0); c.KeyID != "old" {
		t.Fatalf("signs with %q, want old", c.KeyID)
	}
	src.set("new:"+keyB+",old:"+keyA, nil)
	if _, c, _ := k.Issue("site-1", t0.Add(token.RefreshEvery-time.Second)); c.KeyID != "old" {
		t.Errorf("before the refresh interval signs with %q, want the cached old key", c.KeyID)
	}
	if src.count() != 1 {
		t.Errorf("%d reads before the interval, want 1 (the constructor's)", src.count())
	}
	tok, c, _ := k.Issue("site-1", t0.Add(token.RefreshEvery))
	if c.KeyID != "new" {
		t.Fatalf("after the refresh interval signs with %q, want new", c.KeyID)
	}
	if _, err := signer(t, "new:"+keyB).Parse(tok, t0.Add(token.RefreshEvery)); err != nil {
		t.Errorf("token of the rotated keyring: %v", err)
	}
}

func TestKeyringRereadsWhenATokenNamesANewerKey(t *testing.T) {
	src := &source{keys: "old:" + keyA}
	verifier := keyring(t, src, token.KeyringOptions{})
	oldTok, _, _ := signer(t, "old:"+keyA).Issue("site-1", t0)
	if _, err := verifier.Parse(oldTok, t0); err != nil {
		t.Fatal(err)
	}
	// Another instance re-read the rotated list first and signs with the new key.
	src.set("new:"+keyB+",old:"+keyA, nil)
	at := t0.Add(time.Minute)
	newTok, _, _ := signer(t, "new:"+keyB+",old:"+keyA).Issue("site-1", at)
	c, err := verifier.Parse(newTok, at)
	if err != nil || c.KeyID != "new" {
		t.Fatalf("token of the rotated key before this instance's refresh: %+v, %v", c, err)
	}
	if _, err := verifier.Parse(oldTok, t0.Add(time.Minute)); err != nil {
		t.Errorf("token of the previous key after the re-read: %v", err)
	}

	// Made-up kids cause at most one read per RefreshRetry.
	reads := src.count()
	forged, _, _ := signer(t, "made-up:"+keyA).Issue("site-1", at)
	for i := range 10 {
		if _, err := verifier.Parse(forged, at.Add(time.Duration(i)*100*time.Millisecond)); !errors.Is(err, token.ErrForged) {
			t.Fatalf("unknown kid: %v, want ErrForged", err)
		}
	}
	if got := src.count() - reads; got != 0 {
		t.Errorf("%d reads for unknown kids within RefreshRetry of the last read, want 0", got)
	}
	if _, err := verifier.Parse(forged, at.Add(token.RefreshRetry)); !errors.Is(err, token.ErrForged) {
		t.Fatalf("unknown kid: %v, want ErrForged", err)
	}
	if got := src.count() - reads; got != 1 {
		t.Errorf("%d reads for an unknown kid RefreshRetry later, want 1", got)
	}
	// A known kid with a bad MAC is a plain forgery: no read.
	reads = src.count()
	impostor, _, _ := signer(t, "new:"+keyA).Issue("site-1", at)
	if _, err := verifier.Parse(impostor, at.Add(time.Hour)); !errors.Is(err, token.ErrForged) {
		t.Fatalf("bad MAC: %v, want ErrForged", err)
	}
	if src.count()-reads > 1 { // the hour-old list itself is due once
		t.Errorf("a bad MAC caused %d reads", src.count()-reads)
	}
}

func TestKeyringKeepsItsKeysWhenARereadFails(t *testing.T) {
	src := &source{keys: "old:" + keyA}
	var errs []error
	k := keyring(t, src, token.KeyringOptions{MaxAge: time.Minute, OnError: func(err error) { errs = append(errs, err) }})
	_, _, _ = k.Issue("site-1", t0)
	boom := errors.New("secrets manager unavailable")
	src.set("", boom)
	_, c, err := k.Issue("site-1", t0.Add(time.Minute))
	if err != nil || c.KeyID != "old" {
		t.Fatalf("after a failed re-read: kid %q, %v; want the old key", c.KeyID, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], boom) {
		t.Fatalf("OnError got %v, want the read error once", errs)
	}
	// Not retried on every request, but again after RefreshRetry.
	_, _, _ = k.Issue("site-1", t0.Add(time.Minute+time.Second))
	if len(errs) != 1 {
		t.Errorf("retried within RefreshRetry: %d errors", len(errs))
	}
	src.set("bad list", nil)
	_, c, _ = k.Issue("site-1", t0.Add(time.Minute+token.RefreshRetry))
	if len(errs) != 2 || c.KeyID != "old" {
		t.Errorf("an invalid list: errors %v, kid %q; want an error and the old key", errs, c.KeyID)
	}
	src.set("new:"+keyB, nil)
	if _, c, _ = k.Issue("site-1", t0.Add(time.Minute+2*token.RefreshRetry)); c.KeyID != "new" {
		t.Errorf("after the source recovered signs with %q, want new", c.KeyID)
	}
}

func TestNewKeyringFailsWithoutAUsableList(t *testing.T) {
	for name, src := range map[string]*source{
		"read error":   {err: errors.New("denied")},
		"invalid list": {keys: "a:short"},
	} {
		if _, err := token.NewKeyring(context.Background(), src.load, token.KeyringOptions{}); err == nil {
			t.Errorf("%s: NewKeyring succeeded", name)
		}
	}
}

func TestKeyringIsSafeForConcurrentUse(t *testing.T) {
	src := &source{keys: "old:" + keyA}
	k := keyring(t, src, token.KeyringOptions{MaxAge: time.Second})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				at := t0.Add(time.Duration(i*200+j) * 50 * time.Millisecond)
				if j == 100 {
					src.set("new:"+keyB+",old:"+keyA, nil)
				}
				tok, _, err := k.Issue("site-1", at)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := k.Parse(tok, at); err != nil {
					t.Errorf("own token: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// The keyring adds a mutex and a clock comparison to every call; the signature check is
// the same as Signer's.
func BenchmarkParse(b *testing.B) {
	tok, _, _ := signer(b, "a:"+keyA).Issue("site-1", t0)
	b.Run("signer", func(b *testing.B) {
		s := signer(b, "a:"+keyA)
		for b.Loop() {
			if _, err := s.Parse(tok, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("keyring", func(b *testing.B) {
		src := &source{keys: "a:" + keyA}
		k, err := token.NewKeyring(context.Background(), src.load, token.KeyringOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := k.Parse(tok, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

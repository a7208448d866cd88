package token_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/crowdgate/crowdgate/shared/token"
)

// issueAt signs a token for site-1 at "at" with the first key of keys.
func issueAt(t testing.TB, keys string, at time.Time) string {
	t.Helper()
	tok, _, err := signer(t, keys).Issue("site-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Another instance may re-read the list a moment after this one did and sign with the
// key it found there; its visitor's siteverify must not fail on this instance.
func TestKeyringVerifiesATokenOfAJustPublishedKeyAtOnce(t *testing.T) {
	rotated := "new:" + keyB + ",old:" + keyA
	for name, readAt := range map[string]time.Time{
		"right after the first use":        t0,
		"right after the periodic re-read": t0.Add(token.RefreshEvery),
	} {
		t.Run(name, func(t *testing.T) {
			src := &source{keys: "old:" + keyA}
			k := keyring(t, src, token.KeyringOptions{})
			_, _, _ = k.Issue("site-1", t0)
			if _, c, _ := k.Issue("site-1", readAt); c.KeyID != "old" {
				t.Fatalf("signs with %q before the rotation", c.KeyID)
			}
			src.set(rotated, nil)
			tok := issueAt(t, rotated, readAt.Add(time.Second))
			if c, err := k.Parse(tok, readAt.Add(2*time.Second)); err != nil || c.KeyID != "new" {
				t.Fatalf("a token of the key published a second after this instance's read: %+v, %v", c, err)
			}
		})
	}
}

// A key id reused by hand for other key material (docs/DEPLOY.md: a list written by
// hand) is picked up as soon as a token of the new material arrives.
func TestKeyringPicksUpAReusedKeyIDAtOnce(t *testing.T) {
	src := &source{keys: "k1:" + keyA}
	k := keyring(t, src, token.KeyringOptions{})
	_, _, _ = k.Issue("site-1", t0)
	src.set("k1:"+keyB, nil)
	at := t0.Add(10 * time.Second)
	tok := issueAt(t, "k1:"+keyB, at)
	if _, err := k.Parse(tok, at.Add(time.Second)); err != nil {
		t.Fatalf("a token of the new k1 before the periodic re-read: %v", err)
	}
	// A token of the replaced k1 material is now a forgery.
	if _, err := k.Parse(issueAt(t, "k1:"+keyA, at), at.Add(time.Second)); !errors.Is(err, token.ErrForged) {
		t.Fatalf("a token of the replaced k1: %v, want ErrForged", err)
	}
}

// Made-up kids and bad MACs, however many and whatever issue time they claim, cost at
// most one read per RefreshRetry; those claiming an issue time the list read last already
// covers cost none.
func TestKeyringBoundsRereadsForForgedTokens(t *testing.T) {
	const flood = time.Minute
	maxReads := int(flood/token.RefreshRetry) + 1
	forgeries := map[string]func(i int) string{
		"made-up kids":         func(i int) string { return fmt.Sprintf("bogus%d:%s", i%50, keyB) },
		"known kid, other key": func(int) string { return "k1:" + keyB },
	}
	for name, keysOf := range forgeries {
		t.Run(name, func(t *testing.T) {
			src := &source{keys: "k1:" + keyA}
			k := keyring(t, src, token.KeyringOptions{})
			_, _, _ = k.Issue("site-1", t0)
			before := src.count()
			for i := range int(flood / (10 * time.Millisecond)) {
				at := t0.Add(time.Duration(i) * 10 * time.Millisecond)
				if _, err := k.Parse(issueAt(t, keysOf(i), at), at); !errors.Is(err, token.ErrForged) {
					t.Fatalf("forgery %d: %v, want ErrForged", i, err)
				}
			}
			if got := src.count() - before; got > maxReads {
				t.Errorf("%d reads for forgeries claiming a fresh issue time over %v, want at most %d", got, flood, maxReads)
			}

			// After a read, forgeries claiming to be older than it cost nothing.
			end := t0.Add(flood + token.RefreshRetry)
			_, _ = k.Parse(issueAt(t, keysOf(0), end), end) // the list is read at end
			before = src.count()
			for i := range 100 {
				at := end.Add(time.Duration(i) * time.Second)
				if _, err := k.Parse(issueAt(t, keysOf(i), end.Add(-time.Minute)), at); !errors.Is(err, token.ErrForged) {
					t.Fatalf("old forgery %d: %v, want ErrForged", i, err)
				}
			}
			if got := src.count() - before; got != 0 {
				t.Errorf("%d reads for forgeries issued before the last read, want 0", got)
			}
		})
	}
}

// gatedSource is a key list whose reads wait until the test opens the gate.
type gatedSource struct {
	mu    sync.Mutex
	keys  string
	gate  chan struct{}
	reads int
}

func (s *gatedSource) load(context.Context) (string, error) {
	s.mu.Lock()
	s.reads++
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys, nil
}

func (s *gatedSource) close(keys string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
	close(s.gate)
	s.gate = nil
}

// Tokens of a new key that arrive while a read is in progress wait for it rather than
// being refused with the keys read before, and share one read.
func TestKeyringTokensOfANewKeyShareTheReadInProgress(t *testing.T) {
	rotated := "new:" + keyB + ",old:" + keyA
	synctest.Test(t, func(t *testing.T) {
		src := &gatedSource{keys: "old:" + keyA}
		k, err := token.NewKeyring(context.Background(), src.load, token.KeyringOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, _, _ = k.Issue("site-1", t0)
		src.gate = make(chan struct{})
		due := t0.Add(token.RefreshEvery)
		go func() { _, _, _ = k.Issue("site-1", due) }() // the periodic read, held at the gate
		synctest.Wait()

		tok := issueAt(t, rotated, due)
		errs := make(chan error, 20)
		for range cap(errs) {
			go func() {
				_, err := k.Parse(tok, due.Add(time.Second))
				errs <- err
			}()
		}
		synctest.Wait()
		src.close(rotated)
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Errorf("a token of the new key during the read: %v", err)
			}
		}
		if src.reads != 2 {
			t.Errorf("%d reads, want 2 (the constructor's and the periodic one)", src.reads)
		}
	})
}

// A loader that panics (the runtime recovers it) leaves no read in progress behind for
// later tokens to wait on forever.
func TestKeyringSurvivesAPanickingRead(t *testing.T) {
	src := &source{keys: "old:" + keyA}
	panicking := true
	k, err := token.NewKeyring(context.Background(), func(ctx context.Context) (string, error) {
		if src.count() > 0 && panicking {
			panic("loader bug")
		}
		return src.load(ctx)
	}, token.KeyringOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, _ = k.Issue("site-1", t0)
	rotated := "new:" + keyB + ",old:" + keyA
	src.set(rotated, nil)
	tok := issueAt(t, rotated, t0.Add(time.Second))
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the loader's panic was swallowed")
			}
		}()
		_, _ = k.Parse(tok, t0.Add(time.Second))
	}()
	panicking = false
	done := make(chan error, 1)
	go func() {
		_, err := k.Parse(tok, t0.Add(time.Second+token.RefreshRetry))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after a panicked read, RefreshRetry later: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Parse hangs after a panicked read")
	}
}

// The error callback may use the keyring: it runs outside the keyring's lock.
func TestKeyringErrorCallbackMayUseTheKeyring(t *testing.T) {
	key, err := token.NewKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	var k *token.Keyring
	var seen string
	k, err = token.NewKeyring(context.Background(), func(context.Context) (string, error) {
		calls++
		if calls > 1 {
			return "", errors.New("secrets manager down")
		}
		return key, nil
	}, token.KeyringOptions{OnError: func(error) { seen = k.KeyID() }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		k.Issue("sk", start)
		k.Issue("sk", start.Add(token.RefreshEvery+time.Second)) // due: the failing read
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the error callback deadlocked on the keyring's lock")
	}
	if seen != "k1" {
		t.Errorf("callback saw key %q, want k1", seen)
	}
}

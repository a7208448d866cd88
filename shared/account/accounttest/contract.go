package accounttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
)

// TestStore checks the account.Store contract; the in-memory Store and the DynamoDB adapter
// both run it, so tests written against one hold for the other. newStore returns the store
// under test for a subtest; it may return the same store every time.
func TestStore(t *testing.T, newStore func(t *testing.T) account.Store) {
	ctx, at := context.Background(), contractTime
	// Every subtest uses ids and secrets of its own, so newStore may hand out one shared
	// store (a DynamoDB table is slow to create).
	var n atomic.Int64
	hash := func(i int64) string { return account.HashSecret(fmt.Sprintf("0x%040x", i)) }
	type fixture struct {
		integrator account.Integrator
		site       account.Site
		unknown    string // a sitekey and integrator id that is never stored
	}
	fresh := func() fixture {
		i := n.Add(1)
		integrator := account.Integrator{ID: fmt.Sprintf("7d2c1f0e-4b3a-4c5d-8e9f-%012x", i), Name: "Example GmbH", Email: "ops@example.com", Country: "DE", CreatedAt: at}
		return fixture{
			integrator: integrator,
			site: account.Site{
				Sitekey: fmt.Sprintf("3f2e1d0c-9b8a-4766-a544-%012x", i), IntegratorID: integrator.ID, Name: "shop",
				Hostnames: []string{"example.com", "203.0.113.7"}, SecretHash: hash(i * 1000),
				RequireRemoteIP: true, CreatedAt: at, SecretRotatedAt: at,
			},
			unknown: fmt.Sprintf("00000000-0000-4000-8000-%012x", i),
		}
	}
	withIntegrator := func(t *testing.T) (account.Store, fixture) {
		s, f := newStore(t), fresh()
		if err := s.CreateIntegrator(ctx, f.integrator); err != nil {
			t.Fatalf("CreateIntegrator: %v", err)
		}
		return s, f
	}
	withSite := func(t *testing.T) (account.Store, fixture) {
		s, f := withIntegrator(t)
		if err := s.CreateSite(ctx, f.site); err != nil {
			t.Fatalf("CreateSite: %v", err)
		}
		return s, f
	}

	t.Run("integrator round trip", func(t *testing.T) {
		s, f := withIntegrator(t)
		checkRoundTrip(t, "Integrator", f.integrator, f.integrator.ID, f.unknown, s.CreateIntegrator, s.GetIntegrator)
	})

	t.Run("site round trip and secret lookup", func(t *testing.T) {
		s, f := withSite(t)
		got, err := s.GetSite(ctx, f.site.Sitekey)
		if err != nil || !equalSite(got, f.site) {
			t.Fatalf("GetSite = %+v, %v; want %+v", got, err, f.site)
		}
		got, err = s.SiteBySecretHash(ctx, f.site.SecretHash)
		if err != nil || !equalSite(got, f.site) {
			t.Fatalf("SiteBySecretHash = %+v, %v", got, err)
		}
		if _, err := s.SiteBySecretHash(ctx, hash(-1)); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("unknown secret: %v, want ErrNotFound", err)
		}
		if _, err := s.GetSite(ctx, f.unknown); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("unknown site: %v, want ErrNotFound", err)
		}
	})

	t.Run("site of unknown integrator is refused and leaves nothing behind", func(t *testing.T) {
		s, f := newStore(t), fresh()
		if err := s.CreateSite(ctx, f.site); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("CreateSite without integrator: %v, want ErrNotFound", err)
		}
		if _, err := s.SiteBySecretHash(ctx, f.site.SecretHash); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("secret lookup of a refused site: %v, want ErrNotFound", err)
		}
		if _, err := s.GetSite(ctx, f.site.Sitekey); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("refused site was stored: %v", err)
		}
	})

	// A site inherits its integrator's choices: written without one the integrator has (an
	// opt-out landed after they were read), it would keep publishing.
	t.Run("site lacking a choice of its integrator's is a conflict", func(t *testing.T) {
		s, f := newStore(t), fresh()
		f.integrator.Choices = account.Choices{OptOutSale: true}
		if err := s.CreateIntegrator(ctx, f.integrator); err != nil {
			t.Fatalf("CreateIntegrator: %v", err)
		}
		if err := s.CreateSite(ctx, f.site); !errors.Is(err, account.ErrConflict) {
			t.Fatalf("CreateSite with stale choices: %v, want ErrConflict", err)
		}
		if _, err := s.GetSite(ctx, f.site.Sitekey); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("refused site was stored: %v", err)
		}
		f.site.Choices = f.integrator.Choices
		if err := s.CreateSite(ctx, f.site); err != nil {
			t.Fatalf("CreateSite with the integrator's choices: %v", err)
		}
		if got, _ := s.GetSite(ctx, f.site.Sitekey); got.PublishesAnswers() {
			t.Fatalf("stored site publishes answers: %+v", got.Choices)
		}
	})

	t.Run("duplicate sitekey or secret hash is a conflict", func(t *testing.T) {
		s, f := withSite(t)
		other := f.site
		other.SecretHash = hash(-2)
		if err := s.CreateSite(ctx, other); !errors.Is(err, account.ErrConflict) {
			t.Fatalf("same sitekey: %v, want ErrConflict", err)
		}
		if _, err := s.SiteBySecretHash(ctx, other.SecretHash); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("a refused site left its secret lookup behind: %v", err)
		}
		other = f.site
		other.Sitekey = f.unknown
		if err := s.CreateSite(ctx, other); !errors.Is(err, account.ErrConflict) {
			t.Fatalf("same secret hash: %v, want ErrConflict", err)
		}
		if _, err := s.GetSite(ctx, f.unknown); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("a refused site was stored: %v", err)
		}
		if got, _ := s.SiteBySecretHash(ctx, f.site.SecretHash); got.Sitekey != f.site.Sitekey {
			t.Fatalf("secret lookup now points at %q", got.Sitekey)
		}
	})

	t.Run("update changes only the given fields", func(t *testing.T) {
		s, f := withSite(t)
		name := "renamed"
		got, err := s.UpdateSite(ctx, f.site.Sitekey, account.SiteUpdate{Name: &name})
		if err != nil {
			t.Fatal(err)
		}
		want := f.site
		want.Name = name
		if !equalSite(got, want) {
			t.Fatalf("after name update %+v, want %+v", got, want)
		}
		hosts, off := []string{"example.org"}, false
		got, err = s.UpdateSite(ctx, f.site.Sitekey, account.SiteUpdate{Hostnames: &hosts, RequireRemoteIP: &off})
		if err != nil {
			t.Fatal(err)
		}
		want.Hostnames, want.RequireRemoteIP = hosts, false
		if !equalSite(got, want) {
			t.Fatalf("after hostnames update %+v, want %+v", got, want)
		}
		if stored, _ := s.GetSite(ctx, f.site.Sitekey); !equalSite(stored, want) {
			t.Fatalf("stored %+v, want %+v", stored, want)
		}
		if stored, _ := s.SiteBySecretHash(ctx, f.site.SecretHash); !equalSite(stored, want) {
			t.Fatalf("secret lookup sees stale site %+v", stored)
		}
		if _, err := s.UpdateSite(ctx, f.unknown, account.SiteUpdate{Name: &name}); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("update of unknown site: %v, want ErrNotFound", err)
		}
		if _, err := s.GetSite(ctx, f.unknown); !errors.Is(err, account.ErrNotFound) {
			t.Fatal("update of an unknown site created it")
		}
	})

	t.Run("rotation swaps the lookup at once", func(t *testing.T) {
		s, f := withSite(t)
		newHash := hash(n.Add(1) * 1000)
		later := at.Add(time.Hour)
		if err := s.RotateSecret(ctx, f.site.Sitekey, f.site.SecretHash, newHash, later); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SiteBySecretHash(ctx, f.site.SecretHash); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("old secret after rotation: %v, want ErrNotFound", err)
		}
		got, err := s.SiteBySecretHash(ctx, newHash)
		if err != nil || got.SecretHash != newHash || !got.SecretRotatedAt.Equal(later) || got.Sitekey != f.site.Sitekey {
			t.Fatalf("new secret: %+v, %v", got, err)
		}
		// A rotation based on a stale hash loses.
		if err := s.RotateSecret(ctx, f.site.Sitekey, f.site.SecretHash, hash(n.Add(1)*1000), later); !errors.Is(err, account.ErrConflict) {
			t.Fatalf("stale rotation: %v, want ErrConflict", err)
		}
		if _, err := s.SiteBySecretHash(ctx, newHash); err != nil {
			t.Fatalf("a refused rotation broke the current secret: %v", err)
		}
		if err := s.RotateSecret(ctx, f.unknown, f.site.SecretHash, hash(n.Add(1)*1000), later); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("rotation of an unknown site: %v, want ErrNotFound", err)
		}
	})

	t.Run("concurrent rotations: exactly one wins", func(t *testing.T) {
		s, f := withSite(t)
		const k = 8
		base := n.Add(1) * 1000
		var wg sync.WaitGroup
		errs := make([]error, k)
		for i := range k {
			wg.Go(func() {
				errs[i] = s.RotateSecret(ctx, f.site.Sitekey, f.site.SecretHash, hash(base+int64(i)), at)
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, account.ErrConflict):
				t.Fatalf("rotation failed with %v, want nil or ErrConflict", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d rotations won, want 1", won)
		}
		live := 0
		for i := range k {
			if _, err := s.SiteBySecretHash(ctx, hash(base+int64(i))); err == nil {
				live++
			}
		}
		if live != 1 {
			t.Fatalf("%d secrets work after concurrent rotations, want 1", live)
		}
	})
}

// contractTime is when the contract tests' records were created.
var contractTime = time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC)

// checkRoundTrip checks what every kind of account holder's Create and Get promise, given a
// holder a that is stored under id: Get returns a, a second Create with the same id is
// ErrConflict, and an id never stored (unknown) is ErrNotFound.
func checkRoundTrip[A comparable](t *testing.T, kind string, a A, id, unknown string,
	create func(context.Context, A) error, get func(context.Context, string) (A, error)) {
	t.Helper()
	ctx := context.Background()
	got, err := get(ctx, id)
	if err != nil || got != a {
		t.Fatalf("Get%s = %+v, %v; want %+v", kind, got, err, a)
	}
	if err := create(ctx, a); !errors.Is(err, account.ErrConflict) {
		t.Fatalf("second Create%s with the same id: %v, want ErrConflict", kind, err)
	}
	if _, err := get(ctx, unknown); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("unknown %s: %v, want ErrNotFound", strings.ToLower(kind), err)
	}
}

func equalSite(a, b account.Site) bool {
	return a.Sitekey == b.Sitekey && a.IntegratorID == b.IntegratorID && a.Name == b.Name &&
		slices.Equal(a.Hostnames, b.Hostnames) && a.SecretHash == b.SecretHash &&
		a.RequireRemoteIP == b.RequireRemoteIP && a.CreatedAt.Equal(b.CreatedAt) &&
		a.SecretRotatedAt.Equal(b.SecretRotatedAt)
}

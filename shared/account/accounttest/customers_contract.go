package accounttest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
)

// TestCustomerStore checks the account.CustomerStore contract; the in-memory Store and the
// DynamoDB adapter both run it. newStore may return the same store every time: every
// subtest uses ids of its own.
func TestCustomerStore(t *testing.T, newStore func(t *testing.T) account.CustomerStore) {
	ctx, at := context.Background(), contractTime
	var n atomic.Int64
	customer := func() account.Customer {
		return account.Customer{ID: fmt.Sprintf("5b1e0c2d-3a4f-4e6d-9c8b-%012x", n.Add(1)), Name: "Label Buyer Ltd", Email: "data@buyer.example", Country: "GB", CreatedAt: at}
	}
	key := func(c account.Customer, created time.Time) account.APIKey {
		i := n.Add(1)
		return account.APIKey{ID: fmt.Sprintf("%016x", i), CustomerID: c.ID, Name: "ci", Hash: account.HashAPIKey(fmt.Sprint("key-", i)), CreatedAt: created}
	}
	addCustomer := func(t *testing.T, s account.CustomerStore) account.Customer {
		c := customer()
		if err := s.CreateCustomer(ctx, c); err != nil {
			t.Fatalf("CreateCustomer: %v", err)
		}
		return c
	}
	withCustomer := func(t *testing.T) (account.CustomerStore, account.Customer) {
		s := newStore(t)
		return s, addCustomer(t, s)
	}

	t.Run("customer round trip", func(t *testing.T) {
		s, c := withCustomer(t)
		checkRoundTrip(t, "Customer", c, c.ID, customer().ID, s.CreateCustomer, s.GetCustomer)
	})

	t.Run("key round trip and duplicate id", func(t *testing.T) {
		s, c := withCustomer(t)
		k := key(c, at)
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetAPIKey(ctx, k.ID)
		if err != nil || !equalKey(got, k) {
			t.Fatalf("GetAPIKey = %+v, %v; want %+v", got, err, k)
		}
		dup := k
		dup.Hash = account.HashAPIKey("another")
		if err := s.CreateAPIKey(ctx, dup); !errors.Is(err, account.ErrConflict) {
			t.Fatalf("same key id: %v, want ErrConflict", err)
		}
		if got, _ := s.GetAPIKey(ctx, k.ID); got.Hash != k.Hash {
			t.Fatal("a refused key replaced the stored one")
		}
		if _, err := s.GetAPIKey(ctx, "ffffffffffffffff"); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("unknown key: %v, want ErrNotFound", err)
		}
	})

	t.Run("key of an unknown customer is refused and not stored", func(t *testing.T) {
		s := newStore(t)
		k := key(customer(), at)
		if err := s.CreateAPIKey(ctx, k); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("CreateAPIKey without customer: %v, want ErrNotFound", err)
		}
		if _, err := s.GetAPIKey(ctx, k.ID); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("refused key was stored: %v", err)
		}
	})

	t.Run("list shows only the customer's keys, oldest first", func(t *testing.T) {
		s, c := withCustomer(t)
		other := addCustomer(t, s)
		second, first := key(c, at.Add(time.Hour)), key(c, at)
		for _, k := range []account.APIKey{second, first, key(other, at)} {
			if err := s.CreateAPIKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ListAPIKeys(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !equalKey(got[0], first) || !equalKey(got[1], second) {
			t.Fatalf("ListAPIKeys = %+v, want [%+v %+v]", got, first, second)
		}
		if got, err := s.ListAPIKeys(ctx, customer().ID); err != nil || len(got) != 0 {
			t.Fatalf("keys of an unknown customer: %+v, %v", got, err)
		}
	})

	t.Run("revocation is immediate, sticky and scoped to the owner", func(t *testing.T) {
		s, c := withCustomer(t)
		other := addCustomer(t, s)
		k := key(c, at)
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RevokeAPIKey(ctx, other.ID, k.ID, at); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("revoke through another customer: %v, want ErrNotFound", err)
		}
		if got, _ := s.GetAPIKey(ctx, k.ID); got.Revoked() {
			t.Fatal("another customer revoked the key")
		}
		first := at.Add(time.Minute)
		got, err := s.RevokeAPIKey(ctx, c.ID, k.ID, first)
		if err != nil || !got.RevokedAt.Equal(first) || got.Hash != k.Hash {
			t.Fatalf("RevokeAPIKey = %+v, %v", got, err)
		}
		if got, _ := s.GetAPIKey(ctx, k.ID); !got.RevokedAt.Equal(first) {
			t.Fatalf("stored key after revocation: %+v", got)
		}
		got, err = s.RevokeAPIKey(ctx, c.ID, k.ID, first.Add(time.Hour))
		if err != nil || !got.RevokedAt.Equal(first) {
			t.Fatalf("second revocation: %+v, %v; want the first time kept", got, err)
		}
		if _, err := s.RevokeAPIKey(ctx, c.ID, "ffffffffffffffff", at); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("revoke unknown key: %v, want ErrNotFound", err)
		}
		if _, err := s.GetAPIKey(ctx, "ffffffffffffffff"); !errors.Is(err, account.ErrNotFound) {
			t.Fatal("revoking an unknown key created it")
		}
	})
}

func equalKey(a, b account.APIKey) bool {
	return a.ID == b.ID && a.CustomerID == b.CustomerID && a.Name == b.Name && a.Hash == b.Hash &&
		a.CreatedAt.Equal(b.CreatedAt) && a.RevokedAt.Equal(b.RevokedAt)
}

package privacy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

// lateInt is an integrator Jane registered under her address after she filed: the
// request's account ids do not name it, only a lookup by e-mail finds it, and only while
// its profile exists.
const lateInt = "55555555-5555-4555-8555-555555555555"

// The accounts step deletes a profile, then passes once more over what may have been
// created meanwhile. If that second pass fails (throttling, a timeout), the retry must
// still reach the account whose profile is gone, though the address no longer finds it.
func TestErasureRetriedAfterASecondPassFailsLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		profile  int    // which delete_profile call is the account's
		failOp   string // the second pass that fails once after it
		create   func(w *world)
		leftover func(w *world) []string
	}{
		{"integrator registered after filing", 2, "delete_sites", func(w *world) {
			w.h.AddSite(account.Site{Sitekey: lateInt[:8] + "-site-late", IntegratorID: lateInt, Name: "late", Hostnames: []string{"late.example"},
				SecretHash: "e" + janeSecret[1:63] + "9", CreatedAt: t0})
		}, func(w *world) []string {
			var left []string
			if _, ok := w.h.Integrators[lateInt]; ok {
				left = append(left, "integrator")
			}
			for _, s := range w.h.Sites {
				if s.IntegratorID == lateInt {
					left = append(left, "site "+s.Sitekey)
				}
			}
			for h, sk := range w.h.Secrets {
				if sk[:8] == lateInt[:8] {
					left = append(left, "secret lookup "+h)
				}
			}
			return left
		}},
		{"customer", 3, "delete_api_keys", func(w *world) {
			w.h.Keys["ffffffffffff0002"] = account.APIKey{ID: "ffffffffffff0002", CustomerID: janeCust, Name: "late", Hash: janeKeyH[:63] + "2", CreatedAt: t0}
		}, func(w *world) []string { return w.janeTraces() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 3)
			r, _ := w.verified(t, janeMail, privacy.TypeDelete)
			w.h.Integrators[lateInt] = account.Integrator{ID: lateInt, Name: "Jane Two", Email: janeMail, Country: "US", CreatedAt: t0}
			w.h.AddSite(account.Site{Sitekey: lateInt[:8] + "-site-0", IntegratorID: lateInt, Name: "shop", Hostnames: []string{"two.example"},
				SecretHash: "e" + janeSecret[1:], CreatedAt: t0})
			profiles, failed := 0, false
			w.h.Fail = func(op string) error {
				switch {
				case op == "delete_profile":
					profiles++
					if profiles == tc.profile {
						tc.create(w) // just before the profile went: its creation saw the profile
					}
				case op == tc.failOp && profiles == tc.profile && !failed:
					failed = true
					return errors.New("throttled")
				}
				return nil
			}
			if _, err := w.svc.Approve(ctx, r.ID, operator); err != nil {
				t.Fatal(err)
			}
			if _, err := w.run(r.ID); err == nil || !failed {
				t.Fatalf("first run: %v (second pass failed: %v), want the injected failure", err, failed)
			}
			done, err := w.run(r.ID)
			if err != nil || done.Status != privacy.StatusCompleted {
				t.Fatalf("retry: %v, %v", done.Status, err)
			}
			if left := tc.leftover(w); len(left) > 0 {
				t.Fatalf("after the retried erasure, left: %v", left)
			}
			w.checkBobUntouched(t)
			for name, cp := range done.Progress {
				for _, id := range []string{janeInt, janeCust, lateInt} {
					if strings.Contains(cp.Cursor, id) {
						t.Errorf("finished %s cursor names %s: %s", name, id, cp.Cursor)
					}
				}
			}
		})
	}
}

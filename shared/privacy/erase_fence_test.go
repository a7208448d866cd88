package privacy_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
)

// An erasure fences every profile of the subject before it revokes the first API key (a
// key an operator creates from then on is refused by the store, so none outlives the
// customer), and each executor only once: a retry after a failed revocation resumes after
// the fence.
func TestErasureFencesTheProfilesOnceBeforeAnyKeyIsRevoked(t *testing.T) {
	w := newWorld(t, 3)
	r, _ := w.verified(t, janeMail, privacy.TypeDelete)
	var ops []string
	fencedAtFirstRevocation := map[string]string{}
	failed := false
	w.h.Fail = func(op string) error {
		if op != "mark_erasing" && op != "revoke_api_key" {
			return nil
		}
		ops = append(ops, op)
		if op == "revoke_api_key" && !failed {
			failed = true
			for k, v := range w.h.Erasing {
				fencedAtFirstRevocation[k] = v
			}
			return errors.New("throttled")
		}
		return nil
	}
	if _, err := w.svc.Approve(ctx, r.ID, operator); err != nil {
		t.Fatal(err)
	}
	if _, err := w.run(r.ID); err == nil || !failed {
		t.Fatalf("first run: %v (revocation failed: %v), want the injected failure", err, failed)
	}
	done, err := w.run(r.ID)
	if err != nil || done.Status != privacy.StatusCompleted {
		t.Fatalf("retry: %v, %v", done.Status, err)
	}
	want := map[string]string{
		privacytest.FenceKey(privacy.HolderIntegrator, janeInt): r.ID,
		privacytest.FenceKey(privacy.HolderCustomer, janeCust):  r.ID,
	}
	if len(fencedAtFirstRevocation) != len(want) {
		t.Fatalf("fences when the first key was revoked: %v, want %v", fencedAtFirstRevocation, want)
	}
	for k, v := range want {
		if fencedAtFirstRevocation[k] != v {
			t.Fatalf("fences when the first key was revoked: %v, want %v", fencedAtFirstRevocation, want)
		}
	}
	// Every executor fences once (a request carried part-way by an older release is fenced
	// by whichever step it reaches next), the jobs step before its first revocation; the
	// retry resumes after it.
	execs, err := privacy.Executors(r, w.deps)
	if err != nil {
		t.Fatal(err)
	}
	marks := 0
	for _, op := range ops {
		if op == "mark_erasing" {
			marks++
		}
	}
	if n := slices.Index(ops, "revoke_api_key"); n != 2 || marks != 2*len(execs) {
		t.Fatalf("calls %v: want the 2 fences before the first revocation, and 2 for each of the %d executors in all", ops, len(execs))
	}
	if len(w.h.Erasing) != 0 {
		t.Fatalf("fences left after the erasure: %v (they go with the profiles; Bob's was never set)", w.h.Erasing)
	}
	w.checkBobUntouched(t)
}

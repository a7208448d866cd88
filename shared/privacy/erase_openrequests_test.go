package privacy_test

import (
	"slices"
	"testing"

	"github.com/crowdgate/crowdgate/shared/privacy"
)

// Jane's requests that are still open while her erasure runs name her integrator account
// (matched at filing). Once the erasure has deleted that account, none of them may keep
// its id in the request log after it closes, whether it completes or is denied, before
// the erasure completes or after.
func TestErasureLeavesNoErasedAccountIDOnRequestsOpenWhileItRan(t *testing.T) {
	for _, tc := range []struct {
		name string
		// open files Jane's other request before the erasure and returns its id.
		open func(t *testing.T, w *world) string
		// finish closes it; during says whether that happens while the accounts step runs.
		finish func(t *testing.T, w *world, id string)
		during bool
	}{
		{"access completed after", func(t *testing.T, w *world) string {
			r, _ := w.verified(t, janeMail, privacy.TypeAccess)
			return r.ID
		}, func(t *testing.T, w *world, id string) { w.approveAndRun(t, id) }, false},
		{"opt-out denied after", func(t *testing.T, w *world) string { return w.file(t, janeMail, privacy.TypeOptOut).ID },
			func(t *testing.T, w *world, id string) {
				if _, err := w.svc.Deny(ctx, id, privacy.DenyNoMatch, "", operator); err != nil {
					t.Fatal(err)
				}
			}, false},
		{"opt-out denied while the accounts step runs", func(t *testing.T, w *world) string { return w.file(t, janeMail, privacy.TypeOptOut).ID },
			func(t *testing.T, w *world, id string) {
				if _, err := w.svc.Deny(ctx, id, privacy.DenyNoMatch, "", operator); err != nil {
					t.Fatal(err)
				}
			}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 3)
			other := tc.open(t, w)
			if got := w.get(t, other); !slices.Contains(got.AccountIDs, janeInt) {
				t.Fatalf("Jane's open request names %v, want her integrator", got.AccountIDs)
			}
			erasure, _ := w.verified(t, janeMail, privacy.TypeDelete)
			if tc.during {
				finished := false
				w.h.Fail = func(op string) error {
					if op == "delete_sites" && !finished {
						finished = true
						tc.finish(t, w, other)
					}
					return nil
				}
			}
			done := w.approveAndRun(t, erasure.ID)
			if !tc.during {
				tc.finish(t, w, other)
			}
			got := w.get(t, other)
			if got.Status.Open() {
				t.Fatalf("the other request is still %s", got.Status)
			}
			if slices.Contains(got.AccountIDs, janeInt) {
				t.Errorf("Jane's %s request, closed %s, keeps the id of her erased integrator: %v", got.Type, got.Status, got.AccountIDs)
			}
			if n := privacy.ReportOf(done)[privacy.ExecAccounts][privacy.KindRequestScrubbed]; n != 1 {
				t.Errorf("accounts report counts %d requests cleared of account ids, want 1", n)
			}
			if left := w.janeTraces(); len(left) > 0 {
				t.Errorf("Jane's data left: %v", left)
			}
		})
	}
}

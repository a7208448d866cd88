package privacy_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/crowdgate/crowdgate/shared/privacy"
)

// An access request filed with an erasure ("send me my data and delete it") whose parts
// the erasure deleted before the package was joined completes with what is still held,
// instead of failing on the missing parts at every retry and staying in progress for good.
func TestAccessRequestWhosePartsAnErasureDeletedStillCompletes(t *testing.T) {
	w := newWorld(t, 3)
	acc, _ := w.verified(t, janeMail, privacy.TypeAccess)
	del, _ := w.verified(t, janeMail, privacy.TypeDelete)
	for _, id := range []string{acc.ID, del.ID} {
		if _, err := w.svc.Approve(ctx, id, operator); err != nil {
			t.Fatal(err)
		}
	}
	failed := false
	w.files.Fail = func(op string) error {
		if op == "create" && !failed {
			failed = true
			return errors.New("throttled") // the package step: every part is written
		}
		return nil
	}
	if _, err := w.run(acc.ID); err == nil || !failed {
		t.Fatalf("first run of the access request: %v, want the injected failure", err)
	}
	w.files.Fail = nil
	if done, err := w.run(del.ID); err != nil || done.Status != privacy.StatusCompleted {
		t.Fatalf("erasure: %v, %v", done.Status, err)
	}
	done, err := w.run(acc.ID)
	if err != nil || done.Status != privacy.StatusCompleted {
		t.Fatalf("access request after the erasure: %v, %v; want it completed", done.Status, err)
	}
	raw, ok := w.files.Object(privacy.PackageKey(acc.ID, privacy.PackageJSON))
	if !ok {
		t.Fatalf("no package; files: %v", w.files.Keys(""))
	}
	if bytes.Contains(raw, []byte(janeMail)) {
		t.Errorf("the package holds Jane's erased address: %s", raw)
	}
	if left := w.files.Keys("access/" + acc.ID + "/parts/"); len(left) > 0 {
		t.Errorf("parts left: %v", left)
	}
}

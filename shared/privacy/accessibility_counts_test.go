package privacy_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/privacy"
)

// The deletion of a subject's accessibility records fails after removing the first one
// (throttling). The report must count each record once: the one the failed attempt
// removed (the retry no longer finds it), and the others when the retry removes them —
// also when the index the records are listed by still lists the removed one on the retry
// (gsi1 lags behind a deletion).
func TestAccessibilityErasureCountsEachRecordOnceAfterAFailure(t *testing.T) {
	for _, lag := range []bool{false, true} {
		name := "index caught up"
		if lag {
			name = "index lags"
		}
		t.Run(name, func(t *testing.T) { testA11yErasureAfterAFailure(t, lag) })
	}
}

func testA11yErasureAfterAFailure(t *testing.T, lag bool) {
	w := newA11yWorld(t)
	w.enrol(t, readerMail)
	r, _ := w.verified(t, strings.ToLower(readerMail), privacy.TypeDelete)
	if _, err := w.svc.Approve(ctx, r.ID, operator); err != nil {
		t.Fatal(err)
	}

	list, del := w.store.AccessibilityOfFunc, w.store.DeleteAccessibilityFunc
	var listed []privacy.AccessibilityRecord // what a lagging index shows: as before any deletion
	w.store.AccessibilityOfFunc = func(ctx context.Context, subject string) ([]privacy.AccessibilityRecord, error) {
		if !lag {
			return list(ctx, subject)
		}
		if listed == nil {
			recs, err := list(ctx, subject)
			if err != nil {
				return nil, err
			}
			listed = recs
		}
		return slices.Clone(listed), nil
	}
	failed := false
	w.store.DeleteAccessibilityFunc = func(ctx context.Context, keys []string) ([]string, error) {
		if failed {
			return del(ctx, keys)
		}
		failed = true
		gone, err := del(ctx, keys[:1])
		return gone, errors.Join(err, errors.New("throttled"))
	}

	if _, err := w.run(r.ID); err == nil || !failed {
		t.Fatalf("first run: %v, want the injected failure", err)
	}
	done, err := w.run(r.ID)
	if err != nil || done.Status != privacy.StatusCompleted {
		t.Fatalf("retry: %v, %v", done.Status, err)
	}
	if slices.Contains(w.mem.Subjects(), privacy.SubjectHash(key, strings.ToLower(readerMail))) {
		t.Fatal("records of the address are left")
	}
	got := privacy.ReportOf(done)[privacy.ExecAccessibility]
	want := map[string]int{privacy.KindAccessibilityToken: 1, privacy.KindAccessibilitySignup: 1, privacy.KindAccessibilityRateLimit: 1}
	if !mapsEqual(got, want) {
		t.Errorf("erasure report %v, want %v (each record once)", got, want)
	}
}

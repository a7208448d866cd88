package job_test

import (
	"context"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/job"
)

// The item a commit checked expires and its id is added again (with a new object key)
// between the commit's check of the upload and its write: the new item, whose image was
// never uploaded, must stay pending, not join the pool on the old upload's check (whose
// object the sweep then removes, leaving a pool item without an image).
func TestCommitDoesNotCommitAnItemAddedAgainDuringItsCheck(t *testing.T) {
	ctx := context.Background()
	f := newUploadFix(t)
	first := f.announce(t, []string{"photo"}, "photo")
	var second map[string]string
	readd := func() {
		if second != nil {
			return
		}
		f.set(svcNow.Add(job.PendingTTL + time.Minute))
		second = f.announce(t, []string{"photo"})
	}
	clock := func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
	svc := job.NewService(f.store, racingMedia{Media: f.media, afterRead: readd}, clock)
	got := f.commit(t, svc, "photo")
	if second == nil || second["photo"] == first["photo"] {
		t.Fatalf("the id was not added again with a new key: %v, %v", first, second)
	}
	e, err := f.store.GetEntry(ctx, f.job.ID, "photo")
	if err != nil || e.Status != job.ItemPending || e.MediaKey != second["photo"] {
		t.Fatalf("commit %+v; the re-added item is now %+v, %v; want it pending with its own key", got, e, err)
	}
	if got.Status == job.ItemOpen && got.Err == nil {
		t.Fatalf("commit %+v reports the re-added item open", got)
	}
}

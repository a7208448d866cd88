package job_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/job/jobtest"
)

// racingStore runs beforeAdd between the service's read of the job and its write of the
// items: what a concurrent request does in that window.
type racingStore struct {
	*jobtest.Store
	beforeAdd func()
}

func (r racingStore) AddEntries(ctx context.Context, j job.Job, entries []job.Entry) error {
	if r.beforeAdd != nil {
		r.beforeAdd()
	}
	return r.Store.AddEntries(ctx, j, entries)
}

// Items added while a DELETE of the job runs must not outlive the job: once the job
// record is gone, nothing (no API call, no later DELETE, no erasure) reaches them.
func TestItemsAddedDuringADeleteDoNotOutliveTheJob(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		// race is what the concurrent DELETE gets done inside the window.
		race func(t *testing.T, f svcFix, j job.Job)
		want error
	}{
		{"deletion started", func(t *testing.T, f svcFix, j job.Job) {
			if err := f.store.ChangeStatus(ctx, j.ID, job.StatusActive, job.StatusDeleting); err != nil {
				t.Fatal(err)
			}
		}, job.ErrDeleting},
		{"deletion finished", func(t *testing.T, f svcFix, j job.Job) {
			if d, err := f.svc.Delete(ctx, cust, j.ID); err != nil || !d.Done {
				t.Fatalf("delete %+v, %v", d, err)
			}
		}, job.ErrNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newSvc()
			j := f.create(t, job.NewJob{Name: "Reviews", Kind: job.KindMultipleChoice, Classes: []string{"good", "bad"}})
			racing := racingStore{Store: f.store}
			racing.beforeAdd = func() { c.race(t, f, j) }
			svc := job.NewService(racing, f.media, func() time.Time { return svcNow })
			_, err := svc.AddItems(ctx, cust, j.ID, []job.NewItem{{ID: "late", Text: "added while deleting"}})
			if !errors.Is(err, c.want) {
				t.Fatalf("AddItems: %v, want %v", err, c.want)
			}
			left := 0
			if err := f.store.EachEntry(ctx, j.ID, func(job.Entry) error { left++; return nil }); err != nil {
				t.Fatal(err)
			}
			if left != 0 {
				t.Fatalf("%d items stored for a job being deleted", left)
			}
		})
	}
}

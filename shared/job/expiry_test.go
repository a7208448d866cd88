package job_test

import (
	"context"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/job"
)

// A customer's job with expires_at: at expiry the API forgets it and its records expire,
// and the daily sweep removes its images, which nothing else would ever reach again.
func TestSweepRemovesWhatExpiredJobsLeave(t *testing.T) {
	ctx := context.Background()
	f := newSvc()
	expiring := func(in job.NewJob, after time.Duration) job.NewJob {
		in.ExpiresAt = new(svcNow.Add(after))
		return in
	}
	soon := f.create(t, expiring(job.NewJob{Name: "Soon", Kind: job.KindBinary, Question: map[string]string{"en": "Positive?"}}, time.Hour))
	later := f.create(t, expiring(job.NewJob{Name: "Later", Kind: job.KindBinary, Question: map[string]string{"en": "Positive?"}}, 48*time.Hour))
	kept := f.create(t, job.NewJob{Name: "Kept", Kind: job.KindBinary, Question: map[string]string{"en": "Positive?"}})
	for _, j := range []job.Job{soon, later, kept} {
		f.add(t, j.ID, job.NewItem{ID: "a", Text: "great"}, job.NewItem{ID: "b", Text: "awful"})
		for _, item := range []string{"a", "b", "c"} {
			f.media.Upload(job.MediaKey(j.ID, item), []byte("image"))
		}
	}

	// The store's clock is the sweep's: it deletes jobs it sees expired without a marker.
	f.store.Now = func() time.Time { return svcNow.Add(2 * time.Hour) }
	sw, err := job.SweepExpired(ctx, f.store, f.media, svcNow.Add(2*time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sw != (job.Sweep{Jobs: 1, Items: 2, Objects: 3, Done: true}) {
		t.Errorf("sweep %+v", sw)
	}
	if f.store.Items(soon.ID) != 0 || f.media.Has(job.MediaKey(soon.ID, "c")) {
		t.Errorf("the expired job left %d items, image c %v", f.store.Items(soon.ID), f.media.Has(job.MediaKey(soon.ID, "c")))
	}
	for _, j := range []job.Job{later, kept} {
		if f.store.Items(j.ID) != 2 || !f.media.Has(job.MediaKey(j.ID, "c")) {
			t.Errorf("job %s (not expired) lost items or images", j.Name)
		}
	}
	// Done markers are gone: the same sweep again removes nothing.
	if sw, err := job.SweepExpired(ctx, f.store, f.media, svcNow.Add(2*time.Hour), nil); err != nil || sw != (job.Sweep{Done: true}) {
		t.Errorf("second sweep %+v, %v", sw, err)
	}

	// A sweep told to stop leaves the rest for the next call, which finishes it.
	steps := 0
	f.store.Now = func() time.Time { return svcNow.Add(72 * time.Hour) }
	sw, err = job.SweepExpired(ctx, f.store, f.media, svcNow.Add(72*time.Hour), func() bool { steps++; return steps > 1 })
	if err != nil || sw.Done || sw.Jobs != 0 || !f.media.Has(job.MediaKey(later.ID, "c")) {
		t.Fatalf("stopped sweep %+v, %v", sw, err)
	}
	sw, err = job.SweepExpired(ctx, f.store, f.media, svcNow.Add(72*time.Hour), nil)
	if err != nil || sw != (job.Sweep{Jobs: 1, Objects: 3, Done: true}) || f.media.Has(job.MediaKey(later.ID, "c")) {
		t.Fatalf("continued sweep %+v, %v", sw, err)
	}
	if f.store.Items(kept.ID) != 2 || !f.media.Has(job.MediaKey(kept.ID, "a")) {
		t.Error("a job without an expiry was swept")
	}
}

// A job the customer deleted before it expired leaves its marker and the deletion's: the
// sweep finds nothing else and removes both.
func TestSweepAfterTheCustomerDeletedTheJob(t *testing.T) {
	ctx := context.Background()
	f := newSvc()
	j := f.create(t, job.NewJob{Name: "Gone", Kind: job.KindBinary, Question: map[string]string{"en": "Positive?"}, ExpiresAt: new(svcNow.Add(time.Hour))})
	if d, err := f.svc.Delete(ctx, cust, j.ID); err != nil || !d.Done {
		t.Fatalf("delete %+v, %v", d, err)
	}
	sw, err := job.SweepExpired(ctx, f.store, f.media, svcNow.Add(2*time.Hour), nil)
	if err != nil || sw != (job.Sweep{Jobs: 2, Done: true}) {
		t.Fatalf("sweep %+v, %v", sw, err)
	}
	if due, _ := f.store.DueExpiries(ctx, svcNow.Add(2*time.Hour), 10); len(due) != 0 {
		t.Fatalf("markers left: %v", due)
	}
}

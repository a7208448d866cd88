package job_test

import (
	"context"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/job/jobtest"
)

// lateFix is a service whose clock the test moves.
type lateFix struct {
	now   time.Time
	svc   *job.Service
	store *jobtest.Store
	media *jobtest.Media
}

func newLateFix() *lateFix {
	f := &lateFix{now: svcNow, media: &jobtest.Media{}}
	clock := func() time.Time { return f.now }
	f.store = &jobtest.Store{Now: clock}
	f.svc = job.NewService(f.store, f.media, clock)
	return f
}

// image adds an image item to j and returns its object's key; its upload link works for
// job.UploadTTL from now.
func (f *lateFix) image(t *testing.T, j job.Job) string {
	t.Helper()
	added, err := f.svc.AddItems(context.Background(), cust, j.ID, []job.NewItem{{Image: &job.ImageUpload{ContentType: "image/png", Size: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	return added[0].Entry.MediaKey
}

func (f *lateFix) sweep(t *testing.T, at time.Time) job.Sweep {
	t.Helper()
	sw, err := job.SweepExpired(context.Background(), f.store, f.media, at, nil)
	if err != nil || !sw.Done {
		t.Fatalf("sweep at %v: %+v, %v", at, sw, err)
	}
	return sw
}

func (f *lateFix) noMarkersLeft(t *testing.T) {
	t.Helper()
	if due, err := f.store.DueExpiries(context.Background(), svcNow.Add(10*365*24*time.Hour), 100); err != nil || len(due) != 0 {
		t.Errorf("markers left for ever: %v, %v", due, err)
	}
}

// An upload link signed before a job's deletion works for job.UploadTTL: an image sent
// through it after the deletion removed the job's media lands under the job's prefix,
// where no item, marker or job names it. The daily sweep removes it once every link
// signed before the deletion has expired, whenever in that window it runs, and leaves
// nothing behind.
func TestAnImageUploadedAfterTheJobsDeletionIsSwept(t *testing.T) {
	ctx := context.Background()
	for name, expires := range map[string]time.Duration{"without an expiry": 0, "deleted long before its expiry": 30 * 24 * time.Hour} {
		t.Run(name, func(t *testing.T) {
			f := newLateFix()
			in := job.NewJob{Name: "Pets", Kind: job.KindImageGrid, Classes: []string{"cat", "dog"}}
			if expires > 0 {
				in.ExpiresAt = new(svcNow.Add(expires))
			}
			j, err := f.svc.Create(ctx, cust, in)
			if err != nil {
				t.Fatal(err)
			}
			key := f.image(t, j)
			f.now = f.now.Add(time.Minute)
			deleted := f.now
			if d, err := f.svc.Delete(ctx, cust, j.ID); err != nil || !d.Done {
				t.Fatalf("delete %+v, %v", d, err)
			}
			// A sweep running right after the deletion, then the upload, still within its link.
			f.sweep(t, deleted.Add(time.Minute))
			f.media.Upload(key, []byte("late"))
			if sw := f.sweep(t, deleted.Add(job.UploadGrace)); sw.Objects != 1 || f.media.Has(key) {
				t.Fatalf("the image uploaded after the deletion is still there (sweep %+v)", sw)
			}
			if expires > 0 {
				// The job's own marker, due at its expiry, finds nothing left.
				if sw := f.sweep(t, in.ExpiresAt.Add(job.UploadGrace)); sw.Objects != 0 || sw.Jobs != 1 {
					t.Errorf("sweep at the expiry %+v", sw)
				}
			}
			f.noMarkersLeft(t)
		})
	}
}

// The same race at a job's expiry: a link signed just before it works for UploadTTL after
// it, so a sweep running right after the expiry cannot be the last word on the job's
// images.
func TestAnImageUploadedAfterTheJobsExpiryIsSwept(t *testing.T) {
	ctx := context.Background()
	f := newLateFix()
	expiry := svcNow.Add(time.Hour)
	j, err := f.svc.Create(ctx, cust, job.NewJob{Name: "Pets", Kind: job.KindImageGrid, Classes: []string{"cat", "dog"}, ExpiresAt: &expiry})
	if err != nil {
		t.Fatal(err)
	}
	f.now = expiry.Add(-time.Minute)
	key := f.image(t, j)
	f.sweep(t, expiry.Add(time.Minute))
	f.media.Upload(key, []byte("late"))
	if sw := f.sweep(t, expiry.Add(job.UploadGrace)); f.media.Has(key) {
		t.Fatalf("the image uploaded after the expiry is still there (sweep %+v)", sw)
	}
	f.noMarkersLeft(t)
}

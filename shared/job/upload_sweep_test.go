package job_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/job/jobtest"
)

// uploadFix is a service whose clock a test moves, with one image_grid job.
type uploadFix struct {
	svcFix
	mu  sync.Mutex
	now time.Time
	job job.Job
	png []byte
}

func newUploadFix(t *testing.T) *uploadFix {
	f := &uploadFix{now: svcNow, png: encode(t, "png", 20, 20)}
	clock := func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
	f.store, f.media = &jobtest.Store{Now: clock}, &jobtest.Media{}
	f.svc = job.NewService(f.store, f.media, clock)
	f.job = f.create(t, job.NewJob{Name: "Pets", Kind: job.KindImageGrid, Classes: []string{"cat", "dog"}})
	return f
}

func (f *uploadFix) set(now time.Time) { f.mu.Lock(); f.now = now; f.mu.Unlock() }

// announce adds image items and uploads the objects of those in uploaded; it returns the
// media key of every item.
func (f *uploadFix) announce(t *testing.T, ids []string, uploaded ...string) map[string]string {
	t.Helper()
	var items []job.NewItem
	for _, id := range ids {
		items = append(items, job.NewItem{ID: id, Image: &job.ImageUpload{ContentType: "image/png", Size: int64(len(f.png))}})
	}
	keys := map[string]string{}
	for _, a := range f.add(t, f.job.ID, items...) {
		keys[a.Entry.ID] = a.Entry.MediaKey
	}
	for _, id := range uploaded {
		f.media.Upload(keys[id], f.png)
	}
	return keys
}

func (f *uploadFix) commit(t *testing.T, svc *job.Service, id string) job.Committed {
	t.Helper()
	res, err := svc.Commit(context.Background(), cust, f.job.ID, []string{id})
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

// The customer uploaded an image but never committed its item: the item is forgotten after
// job.PendingTTL, and the daily sweep removes the object once the item has been expired for
// job.UploadGrace. A committed upload of the same batch stays, and so does one whose item
// is still pending.
func TestSweepRemovesUploadsNeverCommitted(t *testing.T) {
	ctx := context.Background()
	f := newUploadFix(t)
	keys := f.announce(t, []string{"kept", "abandoned", "never-uploaded"}, "kept", "abandoned")
	if c := f.commit(t, f.svc, "kept"); c.Status != job.ItemOpen || c.Err != nil {
		t.Fatalf("commit: %+v", c)
	}
	f.set(svcNow.Add(job.PendingTTL / 2))
	later := f.announce(t, []string{"still-pending"}, "still-pending")

	// Expired, but not yet for job.UploadGrace: a commit racing the expiry on a skewed
	// clock must not find its object gone.
	f.set(svcNow.Add(job.PendingTTL + job.UploadGrace - time.Second))
	if _, err := job.SweepExpired(ctx, f.store, f.media, f.now, nil); err != nil {
		t.Fatal(err)
	}
	if !f.media.Has(keys["abandoned"]) {
		t.Fatal("an upload was swept before its item had been expired for job.UploadGrace")
	}

	f.set(svcNow.Add(job.PendingTTL + job.UploadGrace))
	sw, err := job.SweepExpired(ctx, f.store, f.media, f.now, nil)
	if err != nil || !sw.Done {
		t.Fatalf("sweep %+v, %v", sw, err)
	}
	if f.media.Has(keys["abandoned"]) {
		t.Error("the object of an item never committed outlived the item")
	}
	if sw.Abandoned != 2 || sw.Objects != 1 {
		t.Errorf("sweep %+v; want 2 abandoned uploads, 1 object removed", sw)
	}
	if !f.media.Has(keys["kept"]) {
		t.Error("the sweep removed a committed item's image")
	}
	if e, err := f.store.GetEntry(ctx, f.job.ID, "kept"); err != nil || e.Status != job.ItemOpen {
		t.Errorf("committed item after the sweep: %+v, %v", e, err)
	}
	if !f.media.Has(later["still-pending"]) {
		t.Error("the sweep removed the upload of an item still pending")
	}
	// The pending one is committed in time; later sweeps never touch it.
	if c := f.commit(t, f.svc, "still-pending"); c.Status != job.ItemOpen {
		t.Fatalf("commit: %+v", c)
	}
	if _, err := job.SweepExpired(ctx, f.store, f.media, svcNow.Add(30*24*time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	if !f.media.Has(later["still-pending"]) || !f.media.Has(keys["kept"]) {
		t.Error("a later sweep removed a committed image")
	}
	if due, _ := f.store.DueUploads(ctx, svcNow.Add(30*24*time.Hour), 10); len(due) != 0 {
		t.Errorf("upload markers left after the sweeps: %+v", due)
	}
}

// An id added again after its first upload expired gets a new object; the sweep of the
// first announcement removes only the old object.
func TestSweepOfAReAddedIDRemovesOnlyTheOldObject(t *testing.T) {
	ctx := context.Background()
	f := newUploadFix(t)
	first := f.announce(t, []string{"photo"}, "photo")
	f.set(svcNow.Add(job.PendingTTL + time.Minute))
	second := f.announce(t, []string{"photo"}, "photo")
	if c := f.commit(t, f.svc, "photo"); c.Status != job.ItemOpen {
		t.Fatalf("commit: %+v", c)
	}
	if _, err := job.SweepExpired(ctx, f.store, f.media, svcNow.Add(job.PendingTTL+job.UploadGrace), nil); err != nil {
		t.Fatal(err)
	}
	if f.media.Has(first["photo"]) || !f.media.Has(second["photo"]) {
		t.Errorf("old object kept %v, committed object kept %v", f.media.Has(first["photo"]), f.media.Has(second["photo"]))
	}
}

// racingMedia runs afterRead once the service has read an upload's head, before it
// commits the item: what the sweep does if it runs in that window.
type racingMedia struct {
	*jobtest.Media
	afterRead func()
}

func (m racingMedia) ReadHead(ctx context.Context, key string, n int64) ([]byte, int64, error) {
	head, size, err := m.Media.ReadHead(ctx, key, n)
	if m.afterRead != nil {
		m.afterRead()
	}
	return head, size, err
}

// racingExpiryStore runs beforeDrop before the sweep takes a pending item.
type racingExpiryStore struct {
	*jobtest.Store
	beforeDrop func()
}

func (s racingExpiryStore) DropPending(ctx context.Context, jobID, itemID, key string) (bool, error) {
	if s.beforeDrop != nil {
		s.beforeDrop()
	}
	return s.Store.DropPending(ctx, jobID, itemID, key)
}

// A commit and the sweep at the same moment: exactly one wins. Either the item is
// committed and keeps its image, or it is gone with its image and the commit says
// not_found; never a committed item without its image. (The sweep is told a time past the
// item's expiry while the item is still committable, which only a skewed clock could do.)
func TestCommitRacingTheSweepNeverLosesACommittedImage(t *testing.T) {
	ctx := context.Background()
	due := svcNow.Add(job.PendingTTL + job.UploadGrace)
	sweep := func(t *testing.T, f *uploadFix, store job.ExpiryStore) {
		if _, err := job.SweepExpired(ctx, store, f.media, due, nil); err != nil {
			t.Error(err)
		}
	}
	for _, c := range []struct {
		name string
		run  func(t *testing.T, f *uploadFix) job.Committed
		// committed: the commit wins.
		committed bool
	}{
		{"the sweep runs between the commit's check and its write", func(t *testing.T, f *uploadFix) job.Committed {
			svc := job.NewService(f.store, racingMedia{Media: f.media, afterRead: func() { sweep(t, f, f.store) }}, func() time.Time { return svcNow })
			return f.commit(t, svc, "photo")
		}, false},
		{"the commit runs just before the sweep takes the item", func(t *testing.T, f *uploadFix) job.Committed {
			var c job.Committed
			sweep(t, f, racingExpiryStore{Store: f.store, beforeDrop: func() { c = f.commit(t, f.svc, "photo") }})
			return c
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newUploadFix(t)
			keys := f.announce(t, []string{"photo"}, "photo")
			got := c.run(t, f)
			e, err := f.store.GetEntry(ctx, f.job.ID, "photo")
			has := f.media.Has(keys["photo"])
			if c.committed {
				if got.Status != job.ItemOpen || got.Err != nil || err != nil || e.Status != job.ItemOpen || !has {
					t.Fatalf("commit %+v; item %+v, %v; image kept %v", got, e, err, has)
				}
				return
			}
			if !errors.Is(got.Err, job.ErrNotFound) || !errors.Is(err, job.ErrNotFound) || has {
				t.Fatalf("commit %+v; item %+v, %v; image kept %v", got, e, err, has)
			}
		})
	}
}

// Deleting a job (as the customer's DELETE, an erasure or the expiry sweep do) leaves no
// upload marker behind: markers name the job and its items.
func TestDeletingAJobRemovesItsUploadMarkers(t *testing.T) {
	ctx := context.Background()
	f := newUploadFix(t)
	keys := f.announce(t, []string{"a", "b"}, "a")
	other := f.create(t, job.NewJob{Name: "Other", Kind: job.KindImageGrid, Classes: []string{"cat", "dog"}})
	if _, err := f.svc.AddItems(ctx, cust, other.ID, []job.NewItem{{ID: "x", Image: &job.ImageUpload{ContentType: "image/png", Size: 10}}}); err != nil {
		t.Fatal(err)
	}
	if d, err := f.svc.Delete(ctx, cust, f.job.ID); err != nil || !d.Done || d.Items != 2 || d.Objects != 1 {
		t.Fatalf("delete %+v, %v", d, err)
	}
	if f.media.Has(keys["a"]) {
		t.Fatal("the deleted job's upload is kept")
	}
	due, err := f.store.DueUploads(ctx, svcNow.Add(30*24*time.Hour), 10)
	if err != nil || len(due) != 1 || due[0].JobID != other.ID {
		t.Fatalf("upload markers after deleting the job: %+v, %v; want only the other job's", due, err)
	}
}

// staleIndex answers DueUploads as a lagging index would: markers removed during this
// sweep are still listed.
type staleIndex struct {
	*jobtest.Store
	listed       []job.UploadMarker
	lists, drops int
}

func (s *staleIndex) DueUploads(ctx context.Context, now time.Time, limit int) ([]job.UploadMarker, error) {
	if s.lists++; s.lists > 5 {
		return nil, errors.New("the sweep keeps listing markers it has handled")
	}
	if s.listed == nil {
		var err error
		if s.listed, err = s.Store.DueUploads(ctx, now, limit); err != nil {
			return nil, err
		}
	}
	return s.listed, nil
}

func (s *staleIndex) DropPending(ctx context.Context, jobID, itemID, key string) (bool, error) {
	s.drops++
	return s.Store.DropPending(ctx, jobID, itemID, key)
}

// The sweep's index of upload markers (gsi1 on DynamoDB) is eventually consistent: markers
// it has just removed may be listed again. The sweep handles each once and finishes.
func TestSweepFinishesWhenTheIndexLags(t *testing.T) {
	f := newUploadFix(t)
	f.announce(t, []string{"a", "b"}, "a")
	idx := &staleIndex{Store: f.store}
	sw, err := job.SweepExpired(context.Background(), idx, f.media, svcNow.Add(job.PendingTTL+job.UploadGrace), nil)
	if err != nil || !sw.Done || sw.Abandoned != 2 || idx.drops != 2 {
		t.Fatalf("sweep %+v, %v after %d drops", sw, err, idx.drops)
	}
}

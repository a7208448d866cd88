package dynamo_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/job/jobtest"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// On DynamoDB Local: an image uploaded through a link signed before the customer deleted
// the job, landing after the deletion, is removed by the daily sweep once the link has
// expired, and the sweep leaves no marker behind.
func TestSweepRemovesAnImageUploadedAfterTheJobsDeletionOnDynamoDB(t *testing.T) {
	s, _, _ := jobStore(t)
	ctx := context.Background()
	media := &jobtest.Media{}
	svc := job.NewService(s, media, time.Now)
	j, err := svc.Create(ctx, "cust-late", job.NewJob{Name: "Pets", Kind: job.KindImageGrid, Classes: []string{"cat", "dog"}})
	if err != nil {
		t.Fatal(err)
	}
	added, err := svc.AddItems(ctx, "cust-late", j.ID, []job.NewItem{{Image: &job.ImageUpload{ContentType: "image/png", Size: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := svc.Delete(ctx, "cust-late", j.ID); err != nil || !d.Done {
		t.Fatalf("delete %+v, %v", d, err)
	}
	key := added[0].Entry.MediaKey
	media.Upload(key, []byte("late"))
	if _, err := job.SweepExpired(ctx, s, media, time.Now(), nil); err != nil || !media.Has(key) {
		// Not yet: the link may still be used after this sweep.
		t.Fatalf("sweep while the link works: %v; image kept %v", err, media.Has(key))
	}
	sw, err := job.SweepExpired(ctx, s, media, time.Now().Add(job.UploadGrace+time.Minute), nil)
	if err != nil || sw.Jobs != 1 || sw.Objects != 1 || media.Has(key) {
		t.Fatalf("sweep %+v, %v; image kept %v", sw, err, media.Has(key))
	}
	if due, err := s.DueExpiries(ctx, time.Now().Add(365*24*time.Hour), 10); err != nil || len(due) != 0 {
		t.Fatalf("markers left: %v, %v", due, err)
	}
}

// An erasure deletes the subject's jobs; an image uploaded through a link signed before
// (an API key is revoked, not its links) can land after the media step. The erasure's job
// deletion leaves a marker holding the job id and time only, and the daily sweep removes
// the image and the marker once the link has expired: then nothing of the job is left.
func TestSweepRemovesAnImageUploadedAfterTheErasureOnDynamoDB(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	media := &privacytest.Bucket{}
	w.deps.Media = media
	jane := w.people["jane"]
	w.run(t, jane.email, privacy.TypeDelete)
	late := job.MediaKey(jane.jobs[0], "m_late")
	if err := media.Put(ctx, late, "image/png", []byte("late")); err != nil {
		t.Fatal(err)
	}
	var marker []string
	for _, it := range w.dump(t)[schema.TableLabels] {
		if strings.Contains(it, jane.jobs[0]) {
			marker = append(marker, it)
		}
	}
	if len(marker) != 1 || !strings.Contains(marker[0], `"pk":"expiry"`) || !strings.Contains(marker[0], `"job_id":"`+jane.jobs[0]+`"`) {
		t.Fatalf("records naming the erased job: %v; want its expiry marker", marker)
	}

	jobs := dynamo.NewJobs(w.c, w.tables[schema.TableLabels])
	sw, err := job.SweepExpired(ctx, jobs, media, time.Now().Add(job.UploadGrace+time.Minute), nil)
	if err != nil || sw.Jobs != 1 || sw.Objects != 1 {
		t.Fatalf("sweep %+v, %v", sw, err)
	}
	if keys := media.Keys(job.MediaPrefix(jane.jobs[0])); len(keys) != 0 {
		t.Fatalf("objects of the erased job left: %v", keys)
	}
	for table, items := range w.dump(t) {
		if i := slices.IndexFunc(items, func(it string) bool { return strings.Contains(it, jane.jobs[0]) }); i >= 0 {
			t.Errorf("table %s still names the erased job: %s", table, items[i])
		}
	}
}

// The local stack's DynamoDB stand-in (minidyn) runs the same deletion: a marker for a
// live job, none and no error for one that is gone (as the sweep deletes it).
func TestDeleteJobLeavesItsMarkerOnMinidyn(t *testing.T) {
	ctx := context.Background()
	s, j := minidynJob(t)
	for range 2 {
		if err := s.DeleteJob(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	due, err := s.DueExpiries(ctx, time.Now().Add(time.Hour), 10)
	if err != nil || len(due) != 1 || due[0].JobID != j.ID {
		t.Fatalf("markers %v, %v; want the deletion's", due, err)
	}
	if _, err := s.GetJob(ctx, j.ID); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("deleted job: %v", err)
	}
}

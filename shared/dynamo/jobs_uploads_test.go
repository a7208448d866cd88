package dynamo_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/job/jobtest"
)

// On DynamoDB Local: an image uploaded but never committed is removed by the daily sweep
// once its item has been expired for job.UploadGrace; a committed one of the same batch
// stays, with its item.
func TestSweepRemovesUploadsNeverCommittedOnDynamoDB(t *testing.T) {
	s, _, _ := jobStore(t)
	ctx := context.Background()
	media := &jobtest.Media{}
	svc := job.NewService(s, media, time.Now)
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	j, err := svc.Create(ctx, "cust-uploads", job.NewJob{Name: "Pets", Kind: job.KindImageGrid, Classes: []string{"cat", "dog"}})
	if err != nil {
		t.Fatal(err)
	}
	img := &job.ImageUpload{ContentType: "image/png", Size: int64(buf.Len())}
	added, err := svc.AddItems(ctx, "cust-uploads", j.ID, []job.NewItem{{ID: "kept", Image: img}, {ID: "abandoned", Image: img}})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, a := range added {
		keys[a.Entry.ID] = a.Entry.MediaKey
		media.Upload(a.Entry.MediaKey, buf.Bytes())
	}
	if res, err := svc.Commit(ctx, "cust-uploads", j.ID, []string{"kept"}); err != nil || res[0].Status != job.ItemOpen {
		t.Fatalf("commit %+v, %v", res, err)
	}
	sw, err := job.SweepExpired(ctx, s, media, time.Now().Add(job.PendingTTL+job.UploadGrace+time.Minute), nil)
	if err != nil || !sw.Done || sw.Abandoned != 1 || sw.Objects != 1 {
		t.Fatalf("sweep %+v, %v", sw, err)
	}
	if media.Has(keys["abandoned"]) || !media.Has(keys["kept"]) {
		t.Fatalf("abandoned upload kept %v, committed upload kept %v", media.Has(keys["abandoned"]), media.Has(keys["kept"]))
	}
	if e, err := s.GetEntry(ctx, j.ID, "kept"); err != nil || e.Status != job.ItemOpen {
		t.Fatalf("committed item after the sweep: %+v, %v", e, err)
	}
	if due, err := s.DueUploads(ctx, time.Now().Add(30*24*time.Hour), 10); err != nil || len(due) != 0 {
		t.Fatalf("upload markers left: %+v, %v", due, err)
	}
}

package job_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/job/jobtest"
)

// A job is created in whole seconds, and so is its expiry: an expiry within the creation
// second would make the job that 201 answers already gone. It must fall after that second;
// any later expiry is kept (whole seconds) and the job is there until then.
func TestCreateRefusesAnExpiryWithinItsCreationSecond(t *testing.T) {
	ctx := context.Background()
	now := svcNow.Add(300 * time.Millisecond)
	clock := func() time.Time { return now }
	svc := job.NewService(&jobtest.Store{Now: clock}, &jobtest.Media{}, clock)
	in := job.NewJob{Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}}
	for _, exp := range []time.Time{svcNow.Add(100 * time.Millisecond), svcNow.Add(800 * time.Millisecond)} {
		in.ExpiresAt = &exp
		if j, err := svc.Create(ctx, cust, in); !errors.Is(err, job.ErrInvalid) {
			t.Errorf("expiry %v, created at %v: %+v, %v, want ErrInvalid", exp, now, j, err)
		}
	}
	for _, exp := range []time.Time{svcNow.Add(time.Second), svcNow.Add(1500 * time.Millisecond)} {
		in.ExpiresAt = &exp
		j, err := svc.Create(ctx, cust, in)
		if err != nil || !j.ExpiresAt.Equal(svcNow.Add(time.Second)) {
			t.Fatalf("expiry %v: %+v, %v", exp, j, err)
		}
		if _, err := svc.Get(ctx, cust, j.ID); err != nil {
			t.Errorf("expiry %v: the created job is %v", exp, err)
		}
	}
}

// gold.items counts the gold items that grade visitors: an image gold item grades nobody
// before its upload is committed.
func TestProgressCountsOnlyCommittedGold(t *testing.T) {
	f := newSvc()
	ctx := context.Background()
	j := f.create(t, job.NewJob{Name: "MC", Kind: job.KindMultipleChoice, Classes: []string{"cat", "dog"}})
	png := encode(t, "png", 4, 4)
	added := f.add(t, j.ID,
		job.NewItem{ID: "g", Text: "gold", Gold: "cat"},
		job.NewItem{ID: "gimg", Image: &job.ImageUpload{ContentType: "image/png", Size: int64(len(png))}, Gold: "dog"},
		job.NewItem{ID: "img", Image: &job.ImageUpload{ContentType: "image/png", Size: int64(len(png))}},
	)
	_, p, err := f.svc.Progress(ctx, cust, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Gold != 1 || p.Pending != 1 || p.Open != 0 {
		t.Fatalf("progress with a pending gold image %+v, want gold 1, pending 1 (the non-gold image)", p)
	}
	f.media.Upload(added[1].Entry.MediaKey, png)
	if c, err := f.svc.Commit(ctx, cust, j.ID, []string{"gimg"}); err != nil || c[0].Err != nil {
		t.Fatalf("commit %+v, %v", c, err)
	}
	if _, p, err = f.svc.Progress(ctx, cust, j.ID); err != nil || p.Gold != 2 || p.Pending != 1 {
		t.Fatalf("progress after the commit %+v, %v, want gold 2", p, err)
	}
}

package job_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/job"
)

// A listing cursor continues the listing it came from. A cursor of another job (the
// customer's own or another customer's) or one made up by hand is a bad cursor (400), not
// a position in this job: used there it would silently skip this job's items before it.
func TestItemCursorOfAnotherJobIsRefused(t *testing.T) {
	f := newSvc()
	ctx := context.Background()
	mc := job.NewJob{Name: "MC", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}}
	a, b := f.create(t, mc), f.create(t, mc)
	theirs, err := f.svc.Create(ctx, other, mc)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"m", "n", "o"} {
		f.add(t, a.ID, job.NewItem{ID: id, Text: id})
	}
	for _, id := range []string{"b", "c", "x", "y"} {
		f.add(t, b.ID, job.NewItem{ID: id, Text: id})
	}
	if _, err := f.svc.AddItems(ctx, other, theirs.ID, []job.NewItem{{ID: "p", Text: "p"}, {ID: "q", Text: "q"}}); err != nil {
		t.Fatal(err)
	}
	pageA, err := f.svc.Items(ctx, cust, a.ID, "", 1)
	if err != nil || pageA.Next == "" {
		t.Fatalf("first page of a: %+v, %v", pageA, err)
	}
	pageTheirs, err := f.svc.Items(ctx, other, theirs.ID, "", 1)
	if err != nil || pageTheirs.Next == "" {
		t.Fatalf("first page of another customer's job: %+v, %v", pageTheirs, err)
	}
	for name, cursor := range map[string]string{
		"another job's":        pageA.Next,
		"another customer's":   pageTheirs.Next,
		"made from an item id": base64.RawURLEncoding.EncodeToString([]byte("c")),
	} {
		if p, err := f.svc.Items(ctx, cust, b.ID, cursor, 10); !errors.Is(err, job.ErrInvalid) {
			t.Errorf("%s cursor on job b: %d items, %v, want ErrInvalid", name, len(p.Items), err)
		}
	}
	// The job's own cursor still works.
	pageB, err := f.svc.Items(ctx, cust, b.ID, "", 2)
	if err != nil || pageB.Next == "" {
		t.Fatalf("first page of b: %+v, %v", pageB, err)
	}
	rest, err := f.svc.Items(ctx, cust, b.ID, pageB.Next, 10)
	if err != nil || len(rest.Items) != 2 || rest.Items[0].ID != "x" || rest.Next != "" {
		t.Fatalf("second page of b: %+v, %v", rest, err)
	}
}

// The job listing pages like the item listing: a caller that sends no limit or cursor gets
// the first DefaultJobPage jobs, oldest first, and a cursor when there are more; following
// the cursors lists every job once, in the same order. A cursor of another customer's
// listing, of a job's items, or one made by hand is a bad cursor (400), as is a limit out
// of range.
func TestJobListingPagesWithCursors(t *testing.T) {
	f := newSvc()
	ctx := context.Background()
	mc := job.NewJob{Name: "MC", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}}
	for range job.DefaultJobPage + 3 {
		f.create(t, mc)
	}
	for range 2 {
		if _, err := f.svc.Create(ctx, other, mc); err != nil {
			t.Fatal(err)
		}
	}
	first, err := f.svc.List(ctx, cust, "", 0)
	if err != nil || len(first.Jobs) != job.DefaultJobPage || first.Next == "" {
		t.Fatalf("first page without parameters: %d jobs, next %q, %v", len(first.Jobs), first.Next, err)
	}
	var all []job.Job
	for page, cursor := 0, ""; ; page++ {
		p, err := f.svc.List(ctx, cust, cursor, 40)
		if err != nil || page > 3 {
			t.Fatalf("page %d: %+v, %v", page, p, err)
		}
		all = append(all, p.Jobs...)
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if len(all) != job.DefaultJobPage+3 {
		t.Fatalf("paging listed %d jobs, want %d", len(all), job.DefaultJobPage+3)
	}
	for i := range all {
		if i < len(first.Jobs) && all[i].ID != first.Jobs[i].ID || i > 0 && all[i-1].Position().Compare(all[i].Position()) >= 0 {
			t.Fatalf("job %d: %s, not in the order of the first page or not after %s", i, all[i].ID, all[i-1].ID)
		}
	}

	theirs, err := f.svc.List(ctx, other, "", 1)
	if err != nil || theirs.Next == "" {
		t.Fatalf("another customer's first page: %+v, %v", theirs, err)
	}
	f.add(t, all[0].ID, job.NewItem{ID: "x", Text: "x"}, job.NewItem{ID: "y", Text: "y"})
	items, err := f.svc.Items(ctx, cust, all[0].ID, "", 1)
	if err != nil || items.Next == "" {
		t.Fatalf("items page: %+v, %v", items, err)
	}
	at := all[0].Position().Created.Format(time.RFC3339)
	for name, cursor := range map[string]string{
		"another customer's":  theirs.Next,
		"an item listing's":   items.Next,
		"not base64":          "%%%",
		"made from a job id":  base64.RawURLEncoding.EncodeToString([]byte(all[0].ID)),
		"with a bad time":     base64.RawURLEncoding.EncodeToString([]byte(cust + "/yesterday/" + all[0].ID)),
		"with a non-UTC time": base64.RawURLEncoding.EncodeToString([]byte(cust + "/2026-11-30T20:30:00+01:00/" + all[0].ID)),
		"with a bad id":       base64.RawURLEncoding.EncodeToString([]byte(cust + "/" + at + "/job 1")),
		"with no id":          base64.RawURLEncoding.EncodeToString([]byte(cust + "/" + at)),
	} {
		if p, err := f.svc.List(ctx, cust, cursor, 10); !errors.Is(err, job.ErrInvalid) {
			t.Errorf("%s cursor: %d jobs, %v, want ErrInvalid", name, len(p.Jobs), err)
		}
	}
	// A job listing's cursor is no item cursor either.
	if _, err := f.svc.Items(ctx, cust, all[0].ID, first.Next, 10); !errors.Is(err, job.ErrInvalid) {
		t.Errorf("a job listing's cursor on the item listing: %v, want ErrInvalid", err)
	}
	for _, limit := range []int{-1, job.MaxJobPage + 1} {
		if _, err := f.svc.List(ctx, cust, "", limit); !errors.Is(err, job.ErrInvalid) {
			t.Errorf("limit %d: %v, want ErrInvalid", limit, err)
		}
	}
	if p, err := f.svc.List(ctx, cust, "", job.MaxJobPage); err != nil || len(p.Jobs) != job.DefaultJobPage+3 || p.Next != "" {
		t.Errorf("one page of MaxJobPage: %d jobs, next %q, %v", len(p.Jobs), p.Next, err)
	}
}

package job_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"

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

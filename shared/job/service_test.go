package job_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/job/jobtest"
)

var svcNow = time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC)

type svcFix struct {
	svc   *job.Service
	store *jobtest.Store
	media *jobtest.Media
}

func newSvc() svcFix {
	clock := func() time.Time { return svcNow }
	f := svcFix{store: &jobtest.Store{Now: clock}, media: &jobtest.Media{}}
	f.svc = job.NewService(f.store, f.media, clock)
	return f
}

const cust, other = "cust-a", "cust-b"

func encode(t *testing.T, format string, w, h int) []byte {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.White, color.Black})
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, nil)
	case "gif":
		err = gif.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (f svcFix) create(t *testing.T, in job.NewJob) job.Job {
	t.Helper()
	j, err := f.svc.Create(context.Background(), cust, in)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (f svcFix) add(t *testing.T, jobID string, items ...job.NewItem) []job.Added {
	t.Helper()
	out, err := f.svc.AddItems(context.Background(), cust, jobID, items)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCreateAppliesDefaults(t *testing.T) {
	f := newSvc()
	mc := f.create(t, job.NewJob{Name: " Animals ", Kind: job.KindMultipleChoice, Classes: []string{"cat", "dog", "bird"}})
	if !strings.HasPrefix(mc.ID, "job_") || mc.CustomerID != cust || mc.Name != "Animals" || mc.Status != job.StatusActive ||
		mc.MinAnswers != 3 || mc.MaxAnswers != 9 || mc.Target != 0.95 || mc.Priority != 1 || !mc.CreatedAt.Equal(svcNow) {
		t.Fatalf("job %+v", mc)
	}
	if q := mc.QuestionFor("de", "dog"); q != "Zeigt dies: dog?" {
		t.Fatalf("default German question %q", q)
	}
	bin := f.create(t, job.NewJob{Name: "Sentiment", Kind: job.KindBinary, Question: map[string]string{"en": "Is this review positive?"}, MaxAnswers: new(2)})
	if !slices.Equal(bin.Classes, []string{"yes", "no"}) || bin.MinAnswers != 2 || bin.MaxAnswers != 2 {
		t.Fatalf("binary job %+v", bin)
	}
	stored, err := f.svc.Get(context.Background(), cust, mc.ID)
	if err != nil || stored.ID != mc.ID || stored.Status != job.StatusActive {
		t.Fatalf("stored %+v, %v", stored, err)
	}
}

func TestCreateRefusesBadJobs(t *testing.T) {
	f := newSvc()
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprint("c", i)
	}
	bad := map[string]job.NewJob{
		"no name":              {Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}},
		"no type":              {Name: "x", Classes: []string{"a", "b"}},
		"unknown type":         {Name: "x", Kind: "boxes", Classes: []string{"a", "b"}},
		"one class":            {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a"}},
		"eleven classes":       {Name: "x", Kind: job.KindMultipleChoice, Classes: eleven},
		"binary no question":   {Name: "x", Kind: job.KindBinary},
		"binary other classes": {Name: "x", Kind: job.KindBinary, Question: map[string]string{"en": "?"}, Classes: []string{"pos", "neg"}},
		"question w/o class":   {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, Question: map[string]string{"en": "Which?"}},
		"min above max":        {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, MinAnswers: new(5), MaxAnswers: new(4)},
		"too many answers":     {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, MaxAnswers: new(51)},
		"target above 1":       {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, Target: new(1.2)},
		"priority too high":    {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, Priority: new(1001)},
		"zero min answers":     {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, MinAnswers: new(0)},
		"zero max answers":     {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, MaxAnswers: new(0)},
		"zero target":          {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, Target: new(0.0)},
		"zero priority":        {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, Priority: new(0)},
		"class with newline":   {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a\n", "b"}},
		"blank class name":     {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, ClassNames: map[string][]string{"de": {"  ", "B"}}},
		"expiry in the past":   {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, ExpiresAt: new(svcNow.Add(-time.Hour))},
		"item lang a word":     {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, ItemLang: new("Deutsch")},
		"item lang unknown":    {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, ItemLang: new("xyz")},
		"item lang und":        {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, ItemLang: new("und")},
		"item lang malformed":  {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, ItemLang: new("en--US")},
		"item lang empty":      {Name: "x", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, ItemLang: new("")},
	}
	for name, in := range bad {
		if _, err := f.svc.Create(context.Background(), cust, in); !errors.Is(err, job.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if page, _ := f.svc.List(context.Background(), cust, "", 0); len(page.Jobs) != 0 {
		t.Fatalf("refused jobs were stored: %+v", page.Jobs)
	}
}

func TestJobsOfOtherCustomersAreNotFound(t *testing.T) {
	f := newSvc()
	ctx := context.Background()
	j := f.create(t, job.NewJob{Name: "Mine", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}})
	f.add(t, j.ID, job.NewItem{Text: "hello"})
	calls := map[string]func() error{
		"get":      func() error { _, err := f.svc.Get(ctx, other, j.ID); return err },
		"pause":    func() error { _, err := f.svc.Pause(ctx, other, j.ID); return err },
		"resume":   func() error { _, err := f.svc.Resume(ctx, other, j.ID); return err },
		"add":      func() error { _, err := f.svc.AddItems(ctx, other, j.ID, []job.NewItem{{Text: "x"}}); return err },
		"commit":   func() error { _, err := f.svc.Commit(ctx, other, j.ID, []string{"x"}); return err },
		"items":    func() error { _, err := f.svc.Items(ctx, other, j.ID, "", 0); return err },
		"progress": func() error { _, _, err := f.svc.Progress(ctx, other, j.ID); return err },
		"delete":   func() error { _, err := f.svc.Delete(ctx, other, j.ID); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, job.ErrNotFound) {
			t.Errorf("%s by another customer: %v, want ErrNotFound", name, err)
		}
	}
	if got, err := f.svc.Get(ctx, cust, j.ID); err != nil || got.Status != job.StatusActive {
		t.Fatalf("the owner's job changed: %+v, %v", got, err)
	}
	if page, _ := f.svc.List(ctx, other, "", 0); len(page.Jobs) != 0 {
		t.Fatalf("another customer lists %+v", page.Jobs)
	}
	if page, _ := f.svc.Items(ctx, cust, j.ID, "", 0); len(page.Items) != 1 {
		t.Fatalf("items after refused calls: %+v", page.Items)
	}
}

func TestAddItemsValidatesTheWholeBatch(t *testing.T) {
	f := newSvc()
	ctx := context.Background()
	grid := f.create(t, job.NewJob{Name: "Grid", Kind: job.KindImageGrid, Classes: []string{"cat", "dog"}})
	mc := f.create(t, job.NewJob{Name: "MC", Kind: job.KindMultipleChoice, Classes: []string{"cat", "dog"}})
	png := &job.ImageUpload{ContentType: "image/png", Size: 100}
	bad := map[string]struct {
		jobID string
		items []job.NewItem
	}{
		"text in image_grid":    {grid.ID, []job.NewItem{{Text: "a cat"}}},
		"gold not a class":      {mc.ID, []job.NewItem{{Text: "a", Gold: "cow"}}},
		"holdout without gold":  {mc.ID, []job.NewItem{{Text: "a", Holdout: true}}},
		"text and image":        {mc.ID, []job.NewItem{{Text: "a", Image: png}}},
		"neither":               {mc.ID, []job.NewItem{{ID: "x"}}},
		"webp":                  {mc.ID, []job.NewItem{{Image: &job.ImageUpload{ContentType: "image/webp", Size: 100}}}},
		"too large":             {mc.ID, []job.NewItem{{Image: &job.ImageUpload{ContentType: "image/png", Size: job.MaxImageBytes + 1}}}},
		"bad id":                {mc.ID, []job.NewItem{{ID: "a/b", Text: "a"}}},
		"same id twice":         {mc.ID, []job.NewItem{{ID: "a", Text: "a"}, {ID: "a", Text: "b"}}},
		"text too long":         {mc.ID, []job.NewItem{{Text: strings.Repeat("x", job.MaxTextLen+1)}}},
		"text with a NUL":       {mc.ID, []job.NewItem{{Text: "a\x00b"}}},
		"text with an escape":   {mc.ID, []job.NewItem{{Text: "a\x1b[2Jb"}}},
		"empty batch":           {mc.ID, nil},
		"one good then one bad": {mc.ID, []job.NewItem{{ID: "good", Text: "fine"}, {Text: "b", Gold: "cow"}}},
	}
	for name, c := range bad {
		if _, err := f.svc.AddItems(ctx, cust, c.jobID, c.items); !errors.Is(err, job.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	over := make([]job.NewItem, job.MaxBatch+1)
	for i := range over {
		over[i] = job.NewItem{Text: "x"}
	}
	if _, err := f.svc.AddItems(ctx, cust, mc.ID, over); !errors.Is(err, job.ErrInvalid) {
		t.Errorf("%d items: %v, want ErrInvalid", len(over), err)
	}
	if page, _ := f.svc.Items(ctx, cust, mc.ID, "", 0); len(page.Items) != 0 {
		t.Fatalf("refused batches stored %+v", page.Items)
	}
	if f.media.Presigned != 0 {
		t.Fatalf("%d upload links signed for refused batches", f.media.Presigned)
	}

	f.add(t, mc.ID, job.NewItem{ID: "a", Text: "first"})
	if _, err := f.svc.AddItems(ctx, cust, mc.ID, []job.NewItem{{ID: "b", Text: "x"}, {ID: "a", Text: "again"}}); !errors.Is(err, job.ErrConflict) {
		t.Fatalf("existing id: %v, want ErrConflict", err)
	}
	if _, err := f.svc.Items(ctx, cust, mc.ID, "", 0); err != nil {
		t.Fatal(err)
	}
	if page, _ := f.svc.Items(ctx, cust, mc.ID, "", 0); len(page.Items) != 1 || page.Items[0].Text != "first" {
		t.Fatalf("a refused batch changed the items: %+v", page.Items)
	}
}

func TestImageUploadAndCommit(t *testing.T) {
	f := newSvc()
	ctx := context.Background()
	j := f.create(t, job.NewJob{Name: "Pets", Kind: job.KindImageGrid, Classes: []string{"cat", "dog"}})
	good := encode(t, "png", 40, 30)
	jpg := encode(t, "jpeg", 20, 20)
	gf := encode(t, "gif", 20, 20)
	up := func(ct string, b []byte) *job.ImageUpload {
		return &job.ImageUpload{ContentType: ct, Size: int64(len(b))}
	}
	added := f.add(t, j.ID,
		job.NewItem{ID: "good", Image: up("image/png", good), Gold: "cat"},
		job.NewItem{ID: "jpeg", Image: up("image/jpeg", jpg)},
		job.NewItem{ID: "gif", Image: up("image/gif", gf)},
		job.NewItem{ID: "missing", Image: up("image/png", good)},
		job.NewItem{ID: "garbage", Image: &job.ImageUpload{ContentType: "image/png", Size: 11}},
		job.NewItem{ID: "liar", Image: up("image/jpeg", good)}, // a PNG announced as JPEG
		job.NewItem{ID: "short", Image: &job.ImageUpload{ContentType: "image/png", Size: int64(len(good)) + 5}},
	)
	keys := map[string]string{}
	for _, a := range added {
		if a.Entry.Status != job.ItemPending || a.Upload == nil || a.Upload.Headers["Content-Type"] != a.Entry.ContentType ||
			a.Upload.Headers["Content-Length"] != fmt.Sprint(a.Entry.Size) || !a.Upload.ExpiresAt.Equal(svcNow.Add(job.UploadTTL)) ||
			!strings.Contains(a.Upload.URL, a.Entry.MediaKey) || !strings.HasPrefix(a.Entry.MediaKey, job.MediaPrefix(j.ID)) {
			t.Fatalf("added %+v upload %+v", a.Entry, a.Upload)
		}
		// Visitors' browsers load the key: it must not carry the customer's item id.
		if strings.Contains(strings.TrimPrefix(a.Entry.MediaKey, job.MediaPrefix(j.ID)), a.Entry.ID) || keys[a.Entry.MediaKey] != "" {
			t.Fatalf("media key %q of item %q is not an opaque name of its own", a.Entry.MediaKey, a.Entry.ID)
		}
		keys[a.Entry.ID], keys[a.Entry.MediaKey] = a.Entry.MediaKey, a.Entry.ID
	}
	// Uploaded but not committed: not in the pool yet.
	if st := f.store.Stocks(); len(st) != 1 || len(st[0].Gold)+len(st[0].Open) != 0 {
		t.Fatalf("pending items are in the pool: %+v", st)
	}
	f.media.Upload(keys["good"], good)
	f.media.Upload(keys["jpeg"], jpg)
	f.media.Upload(keys["gif"], gf)
	f.media.Upload(keys["garbage"], []byte("hello world"))
	f.media.Upload(keys["liar"], good)
	f.media.Upload(keys["short"], good)

	res, err := f.svc.Commit(ctx, cust, j.ID, []string{"good", "jpeg", "gif", "missing", "garbage", "liar", "short", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		status job.ItemStatus
		err    error
	}{
		"good": {job.ItemOpen, nil}, "jpeg": {job.ItemOpen, nil}, "gif": {job.ItemOpen, nil},
		"missing": {job.ItemPending, job.ErrNotUploaded},
		"garbage": {job.ItemRejected, job.ErrNotImage}, "liar": {job.ItemRejected, job.ErrNotImage}, "short": {job.ItemRejected, job.ErrNotImage},
		"nope": {"", job.ErrNotFound},
	}
	for _, c := range res {
		w := want[c.ID]
		if c.Status != w.status || !errors.Is(c.Err, w.err) || (w.err == nil) != (c.Err == nil) {
			t.Errorf("commit %s: %s %v, want %s %v", c.ID, c.Status, c.Err, w.status, w.err)
		}
	}
	for _, id := range []string{"garbage", "liar", "short"} {
		if f.media.Has(keys[id]) {
			t.Errorf("rejected upload %s kept", id)
		}
		if _, err := f.store.GetEntry(ctx, j.ID, id); !errors.Is(err, job.ErrNotFound) {
			t.Errorf("rejected item %s kept: %v", id, err)
		}
	}
	// The good uploads are in the pool now: the gold one as gold, the others open.
	st := f.store.Stocks()
	if len(st[0].Gold) != 1 || st[0].Gold[0].ID != "good" || len(st[0].Open) != 2 {
		t.Fatalf("pool after commit: gold %+v open %+v", st[0].Gold, st[0].Open)
	}
	// A second commit of a committed item is harmless; a rejected id can be added again.
	if res, err := f.svc.Commit(ctx, cust, j.ID, []string{"good"}); err != nil || res[0].Status != job.ItemOpen || res[0].Err != nil {
		t.Fatalf("recommit: %+v, %v", res, err)
	}
	if again := f.add(t, j.ID, job.NewItem{ID: "garbage", Image: up("image/png", good)}); again[0].Entry.MediaKey == keys["garbage"] {
		t.Error("an id added again reuses the rejected upload's key")
	}
}

func TestCheckImageRejectsHugeDimensions(t *testing.T) {
	// A PNG header claiming 9000×10 pixels: only the header is read, never the pixels.
	b := encode(t, "png", 9000, 10)
	if err := job.CheckImage(b, int64(len(b)), "image/png", int64(len(b))); !errors.Is(err, job.ErrNotImage) {
		t.Fatalf("9000 px wide: %v", err)
	}
	ok := encode(t, "png", 8192, 1)
	if err := job.CheckImage(ok[:100], int64(len(ok)), "image/png", int64(len(ok))); err != nil {
		t.Fatalf("header only of a good PNG: %v", err)
	}
}

// drawYesNo asks the pool built from the store for a yes/no task as the challenge service
// does.
func drawYesNo(f svcFix, maxOpen int, seed uint64) (job.Draw, error) {
	return job.NewCatalog(f.store.Stocks()).Draw(context.Background(), job.Request{
		Kinds: []job.Kind{job.KindBinary, job.KindMultipleChoice}, Size: 1, MaxOpen: maxOpen,
		Rand: rand.New(rand.NewPCG(seed, 1)),
	})
}

// Binary and multiple_choice jobs with text items reach visitors through the challenge's
// yes/no task, and pausing and resuming take them out of and back into the pool.
func TestTextJobsReachTheYesNoTaskAndFollowPauseResume(t *testing.T) {
	f := newSvc()
	ctx := context.Background()
	bin := f.create(t, job.NewJob{Name: "Sentiment", Kind: job.KindBinary, Question: map[string]string{"en": "Is this review positive?"}})
	f.add(t, bin.ID,
		job.NewItem{ID: "g1", Text: "Love it", Gold: "yes"},
		job.NewItem{ID: "g2", Text: "Broke in a day", Gold: "no"},
		job.NewItem{ID: "o1", Text: "Arrived on time"},
	)
	seen := map[string]bool{}
	for seed := range uint64(40) {
		// The challenge asks an open item in some yes/no tasks and a gold one in the rest.
		d, err := drawYesNo(f, int(seed%2), seed)
		if err != nil {
			t.Fatal(err)
		}
		if d.Job.ID != bin.ID || d.Class != "yes" || d.Job.QuestionFor("en", d.Class) != "Is this review positive?" {
			t.Fatalf("draw %+v", d)
		}
		for _, it := range append(d.Gold, d.Open...) {
			seen[it.ID] = true
			if it.Text == "" {
				t.Fatalf("text item without text: %+v", it)
			}
		}
	}
	if !seen["g1"] || !seen["g2"] || !seen["o1"] {
		t.Fatalf("items drawn: %v", seen)
	}

	if _, err := f.svc.Pause(ctx, cust, bin.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := drawYesNo(f, 1, 1); !errors.Is(err, job.ErrNoMaterial) {
		t.Fatalf("paused job still drawn: %v", err)
	}
	if j, err := f.svc.Pause(ctx, cust, bin.ID); err != nil || j.Status != job.StatusPaused {
		t.Fatalf("pausing twice: %+v, %v", j, err)
	}
	if _, err := f.svc.Resume(ctx, cust, bin.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := drawYesNo(f, 1, 1); err != nil {
		t.Fatalf("resumed job not drawn: %v", err)
	}

	// A multiple_choice job asks about one class at a time; a gold item is a "yes" for its
	// own class and a "no" for the others.
	if _, err := f.svc.Pause(ctx, cust, bin.ID); err != nil {
		t.Fatal(err)
	}
	mc := f.create(t, job.NewJob{Name: "Topic", Kind: job.KindMultipleChoice, Classes: []string{"sports", "politics", "science"},
		Question: map[string]string{"en": "Is this headline about {class}?"}})
	f.add(t, mc.ID,
		job.NewItem{ID: "s", Text: "Team wins cup", Gold: "sports"},
		job.NewItem{ID: "p", Text: "Parliament votes", Gold: "politics"},
		job.NewItem{ID: "c", Text: "New comet found", Gold: "science"},
	)
	classes := map[string]bool{}
	for seed := range uint64(60) {
		d, err := drawYesNo(f, 0, seed)
		if err != nil {
			t.Fatal(err)
		}
		if d.Job.ID != mc.ID || len(d.Gold) != 1 || d.Job.QuestionFor("en", d.Class) != "Is this headline about "+d.Class+"?" {
			t.Fatalf("draw %+v", d)
		}
		classes[d.Class] = true
	}
	if len(classes) != 3 {
		t.Fatalf("classes asked about: %v", classes)
	}
}

func TestProgressAndAccuracyOnHoldoutGold(t *testing.T) {
	f := newSvc()
	ctx := context.Background()
	j := f.create(t, job.NewJob{Name: "MC", Kind: job.KindMultipleChoice, Classes: []string{"cat", "dog"}})
	f.add(t, j.ID,
		job.NewItem{ID: "g", Text: "gold", Gold: "cat"},
		job.NewItem{ID: "h1", Text: "h1", Gold: "cat", Holdout: true},
		job.NewItem{ID: "h2", Text: "h2", Gold: "dog", Holdout: true},
		job.NewItem{ID: "h3", Text: "h3", Gold: "dog", Holdout: true},
		job.NewItem{ID: "o1", Text: "o1"},
		job.NewItem{ID: "o2", Text: "o2"},
		job.NewItem{ID: "img", Image: &job.ImageUpload{ContentType: "image/png", Size: 10}},
	)
	// Holdout items are labeled by visitors: they are open items to the pool.
	st := f.store.Stocks()
	if len(st[0].Gold) != 1 || len(st[0].Open) != 5 {
		t.Fatalf("pool: %d gold, %d open", len(st[0].Gold), len(st[0].Open))
	}
	_, p, err := f.svc.Progress(ctx, cust, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Accuracy(); ok || p.Gold != 1 || p.Holdout != 3 || p.Open != 5 || p.Pending != 1 || p.Done != 0 {
		t.Fatalf("progress before answers %+v", p)
	}
	results := []struct {
		id     string
		status job.ItemStatus
		n      int
		label  string
	}{
		{"h1", job.ItemDone, 3, "cat"}, // right
		{"h2", job.ItemDone, 5, "cat"}, // wrong
		{"h3", job.ItemOpen, 2, "dog"}, // not done: not scored
		{"o1", job.ItemDone, 4, "dog"},
	}
	for _, r := range results {
		if err := f.store.SetResult(j.ID, r.id, r.status, r.n, r.label, 0.9); err != nil {
			t.Fatal(err)
		}
	}
	_, p, err = f.svc.Progress(ctx, cust, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	acc, ok := p.Accuracy()
	if !ok || acc != 0.5 || p.HoldoutScored != 2 || p.Done != 3 || p.Open != 2 || p.Answers != 14 {
		t.Fatalf("progress %+v accuracy %v", p, acc)
	}
}

func TestItemsArePaginated(t *testing.T) {
	f := newSvc()
	ctx := context.Background()
	j := f.create(t, job.NewJob{Name: "MC", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}})
	for _, id := range []string{"e", "a", "d", "b", "c"} {
		f.add(t, j.ID, job.NewItem{ID: id, Text: id})
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("too many pages")
		}
		p, err := f.svc.Items(ctx, cust, j.ID, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Items {
			got = append(got, e.ID)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if strings.Join(got, "") != "abcde" {
		t.Fatalf("listed %v", got)
	}
	for _, c := range []struct {
		cursor string
		limit  int
	}{{"%%%", 2}, {"", -1}, {"", job.MaxPage + 1}} {
		if _, err := f.svc.Items(ctx, cust, j.ID, c.cursor, c.limit); !errors.Is(err, job.ErrInvalid) {
			t.Errorf("cursor %q limit %d: %v, want ErrInvalid", c.cursor, c.limit, err)
		}
	}
}

func TestDeleteIsBoundedAndRemovesEverything(t *testing.T) {
	f := newSvc()
	ctx := context.Background()
	j := f.create(t, job.NewJob{Name: "Big", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}})
	keep := f.create(t, job.NewJob{Name: "Other", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}})
	f.add(t, keep.ID, job.NewItem{ID: "k", Text: "stays", Gold: "a"})
	img := encode(t, "png", 4, 4)
	for b := range 6 {
		batch := make([]job.NewItem, job.MaxBatch)
		for i := range batch {
			batch[i] = job.NewItem{ID: fmt.Sprintf("t%d-%03d", b, i), Text: "x", Gold: "a"}
		}
		f.add(t, j.ID, batch...)
	}
	f.add(t, j.ID, job.NewItem{ID: "img", Image: &job.ImageUpload{ContentType: "image/png", Size: int64(len(img))}})
	f.media.Upload(job.MediaKey(j.ID, "img"), img)
	f.media.Upload(job.MediaKey(j.ID, "never-committed"), img)
	f.media.Upload(job.MediaKey(keep.ID, "k"), img)

	d, err := f.svc.Delete(ctx, cust, j.ID)
	if err != nil || d.Done || d.Items != job.DeleteBatch {
		t.Fatalf("first delete call %+v, %v", d, err)
	}
	// Out of the pool at once, and closed for changes.
	for _, st := range f.store.Stocks() {
		if st.Job.ID == j.ID {
			t.Fatal("a job being deleted is still in the pool")
		}
	}
	if got, _ := f.svc.Get(ctx, cust, j.ID); got.Status != job.StatusDeleting {
		t.Fatalf("status during deletion %q", got.Status)
	}
	if _, err := f.svc.AddItems(ctx, cust, j.ID, []job.NewItem{{Text: "late"}}); !errors.Is(err, job.ErrDeleting) {
		t.Fatalf("add during deletion: %v", err)
	}
	if _, err := f.svc.Resume(ctx, cust, j.ID); !errors.Is(err, job.ErrDeleting) {
		t.Fatalf("resume during deletion: %v", err)
	}
	d, err = f.svc.Delete(ctx, cust, j.ID)
	if err != nil || !d.Done || d.Items != 101 || d.Objects != 2 {
		t.Fatalf("second delete call %+v, %v", d, err)
	}
	if _, err := f.svc.Get(ctx, cust, j.ID); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("deleted job: %v", err)
	}
	if f.media.Len() != 1 || !f.media.Has(job.MediaKey(keep.ID, "k")) {
		t.Fatalf("%d objects left; the other job's must stay", f.media.Len())
	}
	if p, err := f.svc.Items(ctx, cust, keep.ID, "", 0); err != nil || len(p.Items) != 1 {
		t.Fatalf("other job's items: %+v, %v", p.Items, err)
	}
	if _, err := f.svc.Delete(ctx, cust, j.ID); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("deleting again: %v", err)
	}
}

// Item text is shown to visitors as written, over several lines if it has them.
func TestTextItemsKeepLineBreaksAndTabs(t *testing.T) {
	f := newSvc()
	mc := f.create(t, job.NewJob{Name: "MC", Kind: job.KindMultipleChoice, Classes: []string{"cat", "dog"}})
	text := "Line one\r\nLine two\n\tindented"
	if _, err := f.svc.AddItems(context.Background(), cust, mc.ID, []job.NewItem{{ID: "m", Text: text}}); err != nil {
		t.Fatalf("multi-line text refused: %v", err)
	}
	page, err := f.svc.Items(context.Background(), cust, mc.ID, "", 0)
	if err != nil || len(page.Items) != 1 || page.Items[0].Text != text {
		t.Fatalf("stored %+v, %v; want text %q", page.Items, err, text)
	}
}

// A job's item language is any known BCP 47 tag, not only the four question locales (a
// customer's texts can be in Portuguese or Arabic), kept in its canonical form, which is
// what the widget marks item texts with. Without it the job has none.
func TestCreateKeepsTheItemLanguageCanonical(t *testing.T) {
	f := newSvc()
	for in, want := range map[string]string{"": "", "de": "de", "pt-br": "pt-BR", "ZH-hant-tw": "zh-Hant-TW", "ar": "ar", "iw": "he"} {
		var lang *string // "": not given
		if in != "" {
			lang = &in
		}
		j := f.create(t, job.NewJob{Name: "Reviews", Kind: job.KindBinary, Question: map[string]string{"en": "Positive?"}, ItemLang: lang})
		stored, err := f.svc.Get(context.Background(), cust, j.ID)
		if j.ItemLang != want || err != nil || stored.ItemLang != want {
			t.Errorf("item_lang %q: created %q, stored %q (%v); want %q", in, j.ItemLang, stored.ItemLang, err, want)
		}
	}
}

// A question given in a locale must say something, whatever the job's type: an empty (or
// blank) German question is refused for a binary job as for a multiple_choice one, with
// the same reason, rather than stored for a binary job and shown as an empty prompt.
func TestCreateRefusesAnEmptyQuestionInAnyLocale(t *testing.T) {
	f := newSvc()
	ctx := context.Background()
	for _, blank := range []string{"", "   "} {
		binary := job.NewJob{Name: "B", Kind: job.KindBinary, Question: map[string]string{"en": "Is it positive?", "de": blank}}
		mc := job.NewJob{Name: "MC", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"}, Question: map[string]string{"en": "A {class}?", "de": blank}}
		var reasons []string
		for _, in := range []job.NewJob{binary, mc} {
			j, err := f.svc.Create(ctx, cust, in)
			if !errors.Is(err, job.ErrInvalid) {
				t.Fatalf("%s job with de %q: %+v, %v; want ErrInvalid", in.Kind, blank, j.Question, err)
			}
			reasons = append(reasons, err.Error())
		}
		if reasons[0] != reasons[1] || !strings.Contains(reasons[0], "question (de)") {
			t.Errorf("de %q: binary says %q, multiple_choice %q; want the same reason naming the locale", blank, reasons[0], reasons[1])
		}
	}
	if page, _ := f.svc.List(ctx, cust, "", 0); len(page.Jobs) != 0 {
		t.Fatalf("refused jobs were stored: %+v", page.Jobs)
	}
}

// An id listed twice in one commit is refused as a whole (ErrInvalid, 400 invalid_items),
// as in an add, before anything is checked: both copies would check the same upload at
// once, and when it is rejected one could report "rejected" and the other "pending" with
// a link to an item that was just removed. The item and its upload stay as they were.
func TestCommitRefusesAnIDListedTwice(t *testing.T) {
	f := newSvc()
	ctx := context.Background()
	j := f.create(t, job.NewJob{Name: "Pets", Kind: job.KindImageGrid, Classes: []string{"cat", "dog"}})
	added := f.add(t, j.ID,
		job.NewItem{ID: "bad", Image: &job.ImageUpload{ContentType: "image/png", Size: 11}},
		job.NewItem{ID: "good", Image: &job.ImageUpload{ContentType: "image/png", Size: int64(len(encode(t, "png", 2, 2)))}})
	f.media.Upload(added[0].Entry.MediaKey, []byte("hello world"))
	f.media.Upload(added[1].Entry.MediaKey, encode(t, "png", 2, 2))
	for _, ids := range [][]string{{"bad", "bad"}, {"good", "bad", "good"}} {
		res, err := f.svc.Commit(ctx, cust, j.ID, ids)
		if !errors.Is(err, job.ErrInvalid) || !strings.Contains(fmt.Sprint(err), "list each id once") {
			t.Fatalf("commit %v: %+v, %v; want ErrInvalid: list each id once", ids, res, err)
		}
	}
	page, err := f.svc.Items(ctx, cust, j.ID, "", 0)
	if err != nil || len(page.Items) != 2 || page.Items[0].Status != job.ItemPending || page.Items[1].Status != job.ItemPending ||
		!f.media.Has(added[0].Entry.MediaKey) || !f.media.Has(added[1].Entry.MediaKey) {
		t.Fatalf("after refused commits: %+v, %v; want both items pending with their uploads", page.Items, err)
	}
	// Each once, the same commit is answered item by item.
	res, err := f.svc.Commit(ctx, cust, j.ID, []string{"good", "bad"})
	if err != nil || len(res) != 2 || res[0].Status != job.ItemOpen || res[1].Status != job.ItemRejected {
		t.Fatalf("commit of each once: %+v, %v", res, err)
	}
}

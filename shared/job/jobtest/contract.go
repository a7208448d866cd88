package jobtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/job"
)

// TestStore checks the job.Store contract; the in-memory Store and the DynamoDB adapter
// both run it, so handler tests written against one hold for the other. newStore may
// return the same store every time (every subtest uses ids of its own). stocks returns
// what the challenge pool would load from the store.
func TestStore(t *testing.T, newStore func(t *testing.T) job.Store, stocks func(t *testing.T, s job.Store) []job.Stock) {
	ctx := context.Background()
	created := time.Now().UTC().Truncate(time.Second)
	var n atomic.Int64
	newJob := func(customer string) job.Job {
		return job.Job{
			ID: fmt.Sprintf("job_contract_%d_%d", created.Unix(), n.Add(1)), CustomerID: customer, Name: "Pets",
			Kind: job.KindMultipleChoice, Question: map[string]string{"en": "Does this show a {class}?"},
			Classes: []string{"cat", "dog"}, ItemLang: "pt-BR", Priority: 2, Status: job.StatusActive,
			MinAnswers: 3, MaxAnswers: 9, Target: 0.95, CreatedAt: created,
		}
	}
	withJob := func(t *testing.T) (job.Store, job.Job) {
		s, j := newStore(t), newJob(fmt.Sprint("cust-", n.Add(1)))
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		return s, j
	}
	text := func(j job.Job, id string) job.Entry {
		return job.Entry{Item: job.Item{JobID: j.ID, ID: id, Text: "text " + id, Status: job.ItemOpen}, CreatedAt: created}
	}
	pending := func(j job.Job, id string, expires time.Time) job.Entry {
		return job.Entry{
			Item:        job.Item{JobID: j.ID, ID: id, MediaKey: job.MediaKey(j.ID, id), Status: job.ItemPending},
			ContentType: "image/png", Size: 1234, CreatedAt: created, ExpiresAt: expires,
		}
	}
	inPool := func(t *testing.T, s job.Store, j job.Job) (job.Stock, bool) {
		for _, st := range stocks(t, s) {
			if st.Job.ID == j.ID {
				return st, true
			}
		}
		return job.Stock{}, false
	}

	t.Run("job round trip and listing", func(t *testing.T) {
		s, j := withJob(t)
		got, err := s.GetJob(ctx, j.ID)
		got.CreatedAt = got.CreatedAt.UTC()
		if err != nil || !reflect.DeepEqual(got, j) {
			t.Fatalf("GetJob = %+v, %v; want %+v", got, err, j)
		}
		if err := s.CreateJob(ctx, j); !errors.Is(err, job.ErrConflict) {
			t.Fatalf("second CreateJob: %v, want ErrConflict", err)
		}
		later := newJob(j.CustomerID)
		later.CreatedAt = created.Add(time.Minute)
		if err := s.CreateJob(ctx, later); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateJob(ctx, newJob("someone-else")); err != nil {
			t.Fatal(err)
		}
		list, more, err := s.ListJobs(ctx, j.CustomerID, job.JobPosition{}, 10)
		if err != nil || len(list) != 2 || list[0].ID != j.ID || list[1].ID != later.ID || more {
			t.Fatalf("ListJobs = %+v, more %v, %v", list, more, err)
		}
		if _, err := s.GetJob(ctx, "job_never_created"); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("unknown job: %v", err)
		}
		st, ok := inPool(t, s, j)
		if !ok {
			t.Fatal("a new active job is not in the pool")
		}
		// Challenges take the job from the pool: its item language must be there too.
		if st.Job.ItemLang != j.ItemLang {
			t.Fatalf("pool job item language %q, want %q", st.Job.ItemLang, j.ItemLang)
		}
	})

	t.Run("job listing pages are exact: creation second, then id; expired jobs skipped", func(t *testing.T) {
		s, customer := newStore(t), fmt.Sprint("cust-", n.Add(1))
		base := fmt.Sprintf("job_list_%d_%d", created.Unix(), n.Add(1))
		mk := func(suffix string, at time.Time) job.Job {
			j := newJob(customer)
			j.ID, j.CreatedAt = base+"-"+suffix, at
			return j
		}
		gone := mk("x", created.Add(2*time.Minute))
		gone.ExpiresAt = time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
		theirs := mk("y", created.Add(time.Minute))
		theirs.CustomerID = "someone-else"
		// Stored out of order; a and b share a second.
		for _, j := range []job.Job{mk("d", created.Add(3*time.Minute)), mk("b", created), gone, mk("c", created.Add(time.Minute)), theirs, mk("a", created)} {
			if err := s.CreateJob(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		page := func(after job.JobPosition, limit int) (string, bool, job.JobPosition) {
			t.Helper()
			jobs, more, err := s.ListJobs(ctx, customer, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			var last job.JobPosition
			for _, j := range jobs {
				ids = append(ids, strings.TrimPrefix(j.ID, base+"-"))
				last = j.Position()
			}
			return strings.Join(ids, ","), more, last
		}
		var pages []string
		after := job.JobPosition{}
		for range 5 {
			ids, more, last := page(after, 2)
			pages = append(pages, fmt.Sprint(ids, " more=", more))
			if !more {
				break
			}
			after = last
		}
		if fmt.Sprint(pages) != "[a,b more=true c,d more=false]" {
			t.Fatalf("pages of 2: %v", pages)
		}
		if ids, more, _ := page(job.JobPosition{}, 4); ids != "a,b,c,d" || more {
			t.Fatalf("one page of exactly all: %s, more %v", ids, more)
		}
		// The job a cursor was made from may be deleted before the next page is asked for.
		b := mk("b", created)
		if err := s.DeleteJob(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		if ids, more, _ := page(b.Position(), 10); ids != "c,d" || more {
			t.Fatalf("after a deleted job: %s, more %v", ids, more)
		}
	})

	t.Run("a create's key names its job once", func(t *testing.T) {
		s := newStore(t)
		key := job.CreateKey(fmt.Sprint("cust-", n.Add(1)), "retry-me")
		if _, err := s.JobOfKey(ctx, key); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("JobOfKey before: %v, want ErrNotFound", err)
		}
		j := newJob("cust-key")
		if err := s.CreateJobOnce(ctx, j, key, time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("CreateJobOnce: %v", err)
		}
		if id, err := s.JobOfKey(ctx, key); err != nil || id != j.ID {
			t.Fatalf("JobOfKey: %q, %v, want %s", id, err, j.ID)
		}
		if got, err := s.GetJob(ctx, j.ID); err != nil || got.Name != j.Name {
			t.Fatalf("the job: %+v, %v", got, err)
		}
		other := newJob("cust-key")
		if err := s.CreateJobOnce(ctx, other, key, time.Now().Add(time.Hour)); !errors.Is(err, job.ErrConflict) {
			t.Fatalf("a second job under the key: %v, want ErrConflict", err)
		}
		if _, err := s.GetJob(ctx, other.ID); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("the refused job was stored: %v", err)
		}
		// An expired key (DynamoDB removes it lazily) names nothing and may be used again.
		old := job.CreateKey("cust-key", fmt.Sprint("expired-", n.Add(1)))
		if err := s.CreateJobOnce(ctx, newJob("cust-key"), old, time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.JobOfKey(ctx, old); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("JobOfKey of an expired key: %v, want ErrNotFound", err)
		}
		again := newJob("cust-key")
		if err := s.CreateJobOnce(ctx, again, old, time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("CreateJobOnce over an expired key: %v", err)
		}
		if id, err := s.JobOfKey(ctx, old); err != nil || id != again.ID {
			t.Fatalf("JobOfKey after reuse: %q, %v", id, err)
		}
	})

	t.Run("status changes are conditional and move the job in and out of the pool", func(t *testing.T) {
		s, j := withJob(t)
		if err := s.ChangeStatus(ctx, j.ID, job.StatusPaused, job.StatusActive); !errors.Is(err, job.ErrConflict) {
			t.Fatalf("change from the wrong status: %v, want ErrConflict", err)
		}
		if err := s.ChangeStatus(ctx, j.ID, job.StatusActive, job.StatusPaused); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetJob(ctx, j.ID); got.Status != job.StatusPaused {
			t.Fatalf("status %q after pause", got.Status)
		}
		if _, ok := inPool(t, s, j); ok {
			t.Fatal("a paused job is in the pool")
		}
		if err := s.ChangeStatus(ctx, j.ID, job.StatusPaused, job.StatusActive); err != nil {
			t.Fatal(err)
		}
		if _, ok := inPool(t, s, j); !ok {
			t.Fatal("a resumed job is not in the pool")
		}
		if err := s.ChangeStatus(ctx, j.ID, job.StatusActive, job.StatusDeleting); err != nil {
			t.Fatal(err)
		}
		if _, ok := inPool(t, s, j); ok {
			t.Fatal("a job being deleted is in the pool")
		}
		if err := s.ChangeStatus(ctx, "job_never_created", job.StatusActive, job.StatusPaused); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("unknown job: %v, want ErrNotFound", err)
		}
	})

	t.Run("entries: all or nothing, round trip, pool membership", func(t *testing.T) {
		s, j := withJob(t)
		gold := text(j, "g")
		gold.Gold, gold.GoldLabel = true, "cat"
		hold := text(j, "h")
		hold.Holdout = "dog"
		img := pending(j, "p", created.Add(time.Hour))
		if err := s.AddEntries(ctx, j, []job.Entry{gold, hold, img, text(j, "o")}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []job.Entry{gold, hold, img} {
			got, err := s.GetEntry(ctx, j.ID, want.ID)
			got.CreatedAt, got.ExpiresAt = got.CreatedAt.UTC(), got.ExpiresAt.UTC()
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("GetEntry = %+v, %v; want %+v", got, err, want)
			}
		}
		if err := s.AddEntries(ctx, j, []job.Entry{text(j, "new"), text(j, "o")}); !errors.Is(err, job.ErrConflict) {
			t.Fatalf("batch with a taken id: %v, want ErrConflict", err)
		}
		if _, err := s.GetEntry(ctx, j.ID, "new"); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("a refused batch stored an item: %v", err)
		}
		st, ok := inPool(t, s, j)
		var gids, oids []string
		for _, it := range st.Gold {
			gids = append(gids, it.ID)
		}
		for _, it := range st.Open {
			oids = append(oids, it.ID)
		}
		slices.Sort(oids)
		if !ok || !slices.Equal(gids, []string{"g"}) || !slices.Equal(oids, []string{"h", "o"}) {
			t.Fatalf("pool holds gold %v open %v; want [g] and [h o] (pending uploads stay out)", gids, oids)
		}
	})

	t.Run("listing pages are exact and in id order", func(t *testing.T) {
		s, j := withJob(t)
		var es []job.Entry
		for _, id := range []string{"e", "b", "a", "d", "c"} {
			es = append(es, text(j, id))
		}
		if err := s.AddEntries(ctx, j, es); err != nil {
			t.Fatal(err)
		}
		var pages [][]string
		after := ""
		for range 5 {
			got, next, err := s.ListEntries(ctx, j.ID, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			pages = append(pages, ids)
			if next == "" {
				break
			}
			after = next
		}
		if fmt.Sprint(pages) != "[[a b] [c d] [e]]" {
			t.Fatalf("pages %v", pages)
		}
		got, next, err := s.ListEntries(ctx, j.ID, "", 5)
		if err != nil || len(got) != 5 || next != "" {
			t.Fatalf("one full page: %d items, next %q, %v", len(got), next, err)
		}
		count := 0
		if err := s.EachEntry(ctx, j.ID, func(job.Entry) error { count++; return nil }); err != nil || count != 5 {
			t.Fatalf("EachEntry saw %d, %v", count, err)
		}
	})

	t.Run("expired pending uploads are gone and their ids free", func(t *testing.T) {
		s, j := withJob(t)
		if err := s.AddEntries(ctx, j, []job.Entry{pending(j, "old", created.Add(-time.Minute)), text(j, "o")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetEntry(ctx, j.ID, "old"); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("expired item: %v, want ErrNotFound", err)
		}
		if err := s.CommitEntry(ctx, j, "old", job.MediaKey(j.ID, "old")); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("commit of an expired item: %v, want ErrNotFound", err)
		}
		got, _, err := s.ListEntries(ctx, j.ID, "", 10)
		if err != nil || len(got) != 1 || got[0].ID != "o" {
			t.Fatalf("listing shows %+v, %v", got, err)
		}
		again := pending(j, "old", created.Add(time.Hour))
		again.MediaKey = job.MediaKey(j.ID, "old-again")
		if err := s.AddEntries(ctx, j, []job.Entry{again}); err != nil {
			t.Fatalf("re-adding an expired id: %v", err)
		}
		// A commit that checked the expired item's upload does not commit the new one.
		if err := s.CommitEntry(ctx, j, "old", job.MediaKey(j.ID, "old")); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("commit of the re-added id with the expired item's key: %v, want ErrNotFound", err)
		}
		if e, err := s.GetEntry(ctx, j.ID, "old"); err != nil || e.Status != job.ItemPending || e.MediaKey != again.MediaKey {
			t.Fatalf("re-added item after a commit with the old key: %+v, %v", e, err)
		}
		if err := s.CommitEntry(ctx, j, "old", again.MediaKey); err != nil {
			t.Fatalf("commit of the re-added id with its own key: %v", err)
		}
	})

	t.Run("commit turns a pending upload into a pool item once", func(t *testing.T) {
		s, j := withJob(t)
		gold := pending(j, "pg", created.Add(time.Hour))
		gold.Gold, gold.GoldLabel = true, "dog"
		if err := s.AddEntries(ctx, j, []job.Entry{pending(j, "p", created.Add(time.Hour)), gold}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"p", "pg"} {
			if err := s.CommitEntry(ctx, j, id, job.MediaKey(j.ID, id)); err != nil {
				t.Fatalf("commit %s: %v", id, err)
			}
		}
		got, err := s.GetEntry(ctx, j.ID, "p")
		if err != nil || got.Status != job.ItemOpen || !got.ExpiresAt.IsZero() || got.ContentType != "image/png" {
			t.Fatalf("committed item %+v, %v", got, err)
		}
		if err := s.CommitEntry(ctx, j, "p", job.MediaKey(j.ID, "p")); !errors.Is(err, job.ErrConflict) {
			t.Fatalf("second commit: %v, want ErrConflict", err)
		}
		if err := s.CommitEntry(ctx, j, "nope", job.MediaKey(j.ID, "nope")); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("commit of an unknown item: %v, want ErrNotFound", err)
		}
		st, _ := inPool(t, s, j)
		if len(st.Open) != 1 || st.Open[0].ID != "p" || len(st.Gold) != 1 || st.Gold[0].ID != "pg" {
			t.Fatalf("pool after commit: open %+v gold %+v", st.Open, st.Gold)
		}
	})

	t.Run("bounded deletion", func(t *testing.T) {
		s, j := withJob(t)
		var es []job.Entry
		for i := range 7 {
			es = append(es, text(j, fmt.Sprint("i", i)))
		}
		if err := s.AddEntries(ctx, j, es); err != nil {
			t.Fatal(err)
		}
		var calls [][2]any
		for range 4 {
			n, more, err := s.DeleteEntries(ctx, j.ID, 3)
			if err != nil {
				t.Fatal(err)
			}
			calls = append(calls, [2]any{n, more})
			if !more {
				break
			}
		}
		if fmt.Sprint(calls) != "[[3 true] [3 true] [1 false]]" {
			t.Fatalf("deletion calls %v", calls)
		}
		if err := s.DeleteEntry(ctx, j.ID, "never-there"); err != nil {
			t.Fatalf("deleting a missing item: %v", err)
		}
		if err := s.DeleteJob(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetJob(ctx, j.ID); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("deleted job: %v", err)
		}
		if _, ok := inPool(t, s, j); ok {
			t.Fatal("a deleted job is in the pool")
		}
	})

	t.Run("pending uploads leave a marker; dropping one is decided against its commit", func(t *testing.T) {
		s, j := withJob(t)
		es, ok := s.(job.ExpiryStore)
		if !ok {
			t.Fatalf("%T is not a job.ExpiryStore", s)
		}
		exp := created.Add(time.Hour)
		if err := s.AddEntries(ctx, j, []job.Entry{pending(j, "a", exp), pending(j, "b", exp), pending(j, "c", exp), text(j, "t")}); err != nil {
			t.Fatal(err)
		}
		ours := func(now time.Time) []job.UploadMarker {
			t.Helper()
			due, err := es.DueUploads(ctx, now, 1000)
			if err != nil {
				t.Fatal(err)
			}
			var ms []job.UploadMarker
			for _, m := range due {
				if m.JobID == j.ID {
					ms = append(ms, m)
				}
			}
			return ms
		}
		// The marker is no item: listings from any point show items only.
		for _, after := range []string{"", "b", "t"} {
			page, next, err := s.ListEntries(ctx, j.ID, after, 10)
			var ids []string
			for _, e := range page {
				ids = append(ids, e.ID)
			}
			want := map[string]string{"": "[a b c t]", "b": "[c t]", "t": "[]"}[after]
			if err != nil || next != "" || fmt.Sprint(ids) != want {
				t.Fatalf("items after %q: %v next %q, %v; want %s", after, ids, next, err, want)
			}
		}
		if got := ours(exp.Add(job.UploadGrace - time.Second)); len(got) != 0 {
			t.Fatalf("due before the grace after the items' expiry: %+v", got)
		}
		got := ours(exp.Add(job.UploadGrace))
		want := []job.PendingUpload{{ItemID: "a", MediaKey: job.MediaKey(j.ID, "a")}, {ItemID: "b", MediaKey: job.MediaKey(j.ID, "b")}, {ItemID: "c", MediaKey: job.MediaKey(j.ID, "c")}}
		if len(got) != 1 || !got[0].Due.Equal(exp.Add(job.UploadGrace)) || !reflect.DeepEqual(got[0].Uploads, want) {
			t.Fatalf("markers %+v; want one due at %v naming %+v", got, exp.Add(job.UploadGrace), want)
		}
		if err := s.CommitEntry(ctx, j, "a", job.MediaKey(j.ID, "a")); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			item, key string
			abandoned bool
		}{
			{"a", job.MediaKey(j.ID, "a"), false}, // committed: its image stays
			{"b", job.MediaKey(j.ID, "b"), true},  // still pending: dropped
			{"b", job.MediaKey(j.ID, "b"), true},  // again: gone
			{"c", job.MediaKey(j.ID, "other"), true},
			{"never", job.MediaKey(j.ID, "never"), true},
		} {
			if abandoned, err := es.DropPending(ctx, j.ID, c.item, c.key); err != nil || abandoned != c.abandoned {
				t.Errorf("DropPending(%s, %s) = %v, %v; want %v", c.item, c.key, abandoned, err, c.abandoned)
			}
		}
		if err := s.CommitEntry(ctx, j, "b", job.MediaKey(j.ID, "b")); !errors.Is(err, job.ErrNotFound) {
			t.Errorf("commit after the drop: %v, want ErrNotFound", err)
		}
		if e, err := s.GetEntry(ctx, j.ID, "a"); err != nil || e.Status != job.ItemOpen {
			t.Errorf("committed item after DropPending: %+v, %v", e, err)
		}
		if e, err := s.GetEntry(ctx, j.ID, "c"); err != nil || e.Status != job.ItemPending {
			t.Errorf("item of another upload after DropPending: %+v, %v", e, err)
		}
		for range 2 { // deleting is idempotent
			if err := es.DeleteUploadMarker(ctx, got[0]); err != nil {
				t.Fatal(err)
			}
		}
		if left := ours(exp.Add(job.UploadGrace)); len(left) != 0 {
			t.Fatalf("marker left: %+v", left)
		}
	})

	t.Run("deleting a job's items removes its upload markers too, within the limit", func(t *testing.T) {
		s, j := withJob(t)
		es := s.(job.ExpiryStore)
		exp := created.Add(time.Hour)
		for _, batch := range [][]job.Entry{{pending(j, "a", exp), text(j, "t")}, {pending(j, "b", exp)}} {
			if err := s.AddEntries(ctx, j, batch); err != nil {
				t.Fatal(err)
			}
		}
		var calls [][2]any
		for range 5 {
			n, more, err := s.DeleteEntries(ctx, j.ID, 2)
			if err != nil {
				t.Fatal(err)
			}
			calls = append(calls, [2]any{n, more})
			if !more {
				break
			}
		}
		// Three items, then two markers (not counted), two at a time.
		if c := fmt.Sprint(calls); c != "[[2 true] [1 true] [0 false]]" {
			t.Errorf("deletion calls %v", c)
		}
		due, err := es.DueUploads(ctx, exp.Add(24*time.Hour), 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range due {
			if m.JobID == j.ID {
				t.Fatalf("upload marker left after the job's items were deleted: %+v", m)
			}
		}
	})

	t.Run("a commit and a drop of the same item at once: exactly one wins", func(t *testing.T) {
		s, j := withJob(t)
		es := s.(job.ExpiryStore)
		var entries []job.Entry
		for i := range 20 {
			entries = append(entries, pending(j, fmt.Sprint("r", i), created.Add(time.Hour)))
		}
		if err := s.AddEntries(ctx, j, entries); err != nil {
			t.Fatal(err)
		}
		type outcome struct {
			commit    error
			abandoned bool
			drop      error
		}
		out := make([]outcome, len(entries))
		var wg sync.WaitGroup
		for i, e := range entries {
			wg.Go(func() { out[i].commit = s.CommitEntry(ctx, j, e.ID, e.MediaKey) })
			wg.Go(func() { out[i].abandoned, out[i].drop = es.DropPending(ctx, j.ID, e.ID, e.MediaKey) })
		}
		wg.Wait()
		for i, o := range out {
			if o.drop != nil || (o.commit != nil && !errors.Is(o.commit, job.ErrNotFound)) {
				t.Fatalf("item %d: commit %v, drop %v", i, o.commit, o.drop)
			}
			e, err := s.GetEntry(ctx, j.ID, entries[i].ID)
			if committed := o.commit == nil; committed == o.abandoned || committed != (err == nil && e.Status == job.ItemOpen) {
				t.Fatalf("item %d: commit %v, abandoned %v, item now %+v, %v", i, o.commit, o.abandoned, e, err)
			}
		}
	})

	t.Run("a job with an expiry leaves a marker the sweep finds when it is due", func(t *testing.T) {
		s := newStore(t)
		es, ok := s.(job.ExpiryStore)
		if !ok {
			t.Fatalf("%T is not a job.ExpiryStore", s)
		}
		cust := fmt.Sprint("cust-", n.Add(1))
		soon, later, never := newJob(cust), newJob(cust), newJob(cust)
		soon.ExpiresAt, later.ExpiresAt = created.Add(time.Hour), created.Add(2*time.Hour)
		for _, j := range []job.Job{later, never, soon} {
			if err := s.CreateJob(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		// Other subtests' markers may share the store: only these jobs' are checked.
		ours := func(now time.Time) []string {
			t.Helper()
			due, err := es.DueExpiries(ctx, now, 1000)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range due {
				switch e.JobID {
				case soon.ID, later.ID, never.ID:
					want := map[string]time.Time{soon.ID: soon.ExpiresAt, later.ID: later.ExpiresAt}[e.JobID]
					if !e.At.Equal(want) {
						t.Errorf("marker of %s due at %v, want %v", e.JobID, e.At, want)
					}
					ids = append(ids, e.JobID)
				}
			}
			return ids
		}
		if got := ours(created.Add(59 * time.Minute)); len(got) != 0 {
			t.Errorf("due before any expiry: %v", got)
		}
		if got := ours(created.Add(time.Hour)); !slices.Equal(got, []string{soon.ID}) {
			t.Errorf("due at the first expiry: %v", got)
		}
		if got := ours(created.Add(3 * time.Hour)); !slices.Equal(got, []string{soon.ID, later.ID}) {
			t.Errorf("due after both, earliest first: %v", got)
		}
		if due, err := es.DueExpiries(ctx, created.Add(3*time.Hour), 1); err != nil || len(due) != 1 {
			t.Errorf("limit 1: %v, %v", due, err)
		}
		for range 2 { // deleting is idempotent
			if err := es.DeleteExpiry(ctx, job.Expiry{JobID: soon.ID, At: soon.ExpiresAt}); err != nil {
				t.Fatal(err)
			}
		}
		if got := ours(created.Add(3 * time.Hour)); !slices.Equal(got, []string{later.ID}) {
			t.Errorf("after deleting the first marker: %v", got)
		}
	})

	t.Run("deleting a job leaves a marker of the deletion, unless its own expiry has come", func(t *testing.T) {
		s := newStore(t)
		es, ok := s.(job.ExpiryStore)
		if !ok {
			t.Fatalf("%T is not a job.ExpiryStore", s)
		}
		cust := fmt.Sprint("cust-", n.Add(1))
		plain, later, past := newJob(cust), newJob(cust), newJob(cust)
		later.ExpiresAt, past.ExpiresAt = created.Add(30*24*time.Hour), created.Add(-time.Hour)
		for _, j := range []job.Job{plain, later, past} {
			if err := s.CreateJob(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		ours := func() map[string][]time.Time {
			t.Helper()
			due, err := es.DueExpiries(ctx, created.Add(365*24*time.Hour), 100000)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]time.Time{}
			for _, e := range due {
				switch e.JobID {
				case plain.ID, later.ID, past.ID:
					got[e.JobID] = append(got[e.JobID], e.At)
				}
			}
			return got
		}
		before := time.Now().Truncate(time.Second)
		for _, j := range []job.Job{plain, later, past} {
			if err := s.DeleteJob(ctx, j.ID); err != nil {
				t.Fatal(err)
			}
		}
		after := time.Now()
		got := ours()
		deleted := func(ats []time.Time) bool {
			return len(ats) == 1 && !ats[0].Before(before) && !ats[0].After(after)
		}
		if !deleted(got[plain.ID]) {
			t.Errorf("markers of a deleted job %v, want one at the deletion (%v to %v)", got[plain.ID], before, after)
		}
		// A job deleted before its expiry: its images may be uploaded through a link until
		// well before its own marker is due.
		if ats := got[later.ID]; len(ats) != 2 || !ats[1].Equal(later.ExpiresAt) || !deleted(ats[:1]) {
			t.Errorf("markers of a job deleted before its expiry %v, want the deletion's and %v", ats, later.ExpiresAt)
		}
		// An expired job's own marker is already due: the sweep deleting it leaves no other.
		if ats := got[past.ID]; len(ats) != 1 || !ats[0].Equal(past.ExpiresAt) {
			t.Errorf("markers of an expired job %v, want only its own at %v", ats, past.ExpiresAt)
		}
		// Deleting a job that is gone (the sweep of a deletion marker does) leaves none.
		for _, at := range got[plain.ID] {
			if err := es.DeleteExpiry(ctx, job.Expiry{JobID: plain.ID, At: at}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteJob(ctx, plain.ID); err != nil {
			t.Fatal(err)
		}
		if ats := ours()[plain.ID]; len(ats) != 0 {
			t.Errorf("deleting a deleted job left markers %v", ats)
		}
	})
}

package privacytest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/privacy"
)

// TestStore checks the privacy.Store contract; the in-memory Store and the DynamoDB adapter
// both run it. newStore must return an empty store for every subtest. Times are relative
// to the wall clock because stores judge expiry by their own clock.
func TestStore(t *testing.T, newStore func(t *testing.T) privacy.Store) {
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Millisecond)
	var n atomic.Int64
	// fresh returns a request received at `at` with an id and subject of its own.
	fresh := func(at time.Time, typ privacy.Type) (privacy.Request, privacy.Code) {
		i := n.Add(1)
		id := fmt.Sprintf("pr_%032x", i)
		r := privacy.Request{
			ID: id, Type: typ, Regulation: privacy.CCPA, Status: privacy.StatusReceived,
			SubjectHash: fmt.Sprintf("%064x", i), Email: "Subject@Example.com", AccountIDs: []string{"7d2c1f0e-4b3a-4c5d-8e9f-0a1b2c3d4e5f"},
			Details: "please\nhurry", ReceivedAt: at, Deadlines: privacy.ComputeDeadlines(privacy.CCPA, typ, at),
			AckedAt: at, CodesSent: 1, CodeWindowStart: at, Version: 1,
		}
		c := privacy.Code{RequestID: id, Hash: fmt.Sprintf("%064x", i*7), ExpiresAt: base.Add(10 * time.Minute)}
		return r, c
	}
	filed := func(r privacy.Request) []privacy.AuditEntry {
		return []privacy.AuditEntry{{RequestID: r.ID, At: r.ReceivedAt, Actor: privacy.Actor{Kind: privacy.ActorRequester}, Action: privacy.ActionFiled, To: privacy.StatusReceived}}
	}
	create := func(t *testing.T, s privacy.Store, at time.Time, typ privacy.Type) (privacy.Request, privacy.Code) {
		t.Helper()
		r, c := fresh(at, typ)
		if err := s.Create(ctx, r, c, filed(r)); err != nil {
			t.Fatalf("Create: %v", err)
		}
		return r, c
	}

	t.Run("round trip keeps every field", func(t *testing.T) {
		s := newStore(t)
		r, _ := fresh(base, privacy.TypeCorrect)
		r.Corrections = []privacy.Correction{{Field: "name", Value: "Jane Q. Doe"}, {Field: "country", Value: "FR"}}
		r.Regulation = privacy.GDPR
		r.Deadlines = privacy.ComputeDeadlines(privacy.GDPR, privacy.TypeCorrect, base)
		r.Deadlines.Extended, r.Deadlines.ExtensionReason = r.Deadlines.Response.AddMonths(2), "large account"
		r.VerifiedAt, r.ApprovedAt = base.Add(time.Minute), base.Add(2*time.Minute)
		r.Status, r.SecretHash = privacy.StatusInProgress, "ab12"
		r.Progress = map[string]privacy.Checkpoint{"accounts": {Cursor: "k#1", Items: 3}, "labels": {Done: true, Items: 7}}
		if err := s.Create(ctx, r, privacy.Code{RequestID: r.ID, Hash: "h", ExpiresAt: base.Add(time.Minute)}, filed(r)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normal(got), normal(r)) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
		}
		if _, err := s.Get(ctx, "pr_ffffffffffffffffffffffffffffffff"); !errors.Is(err, privacy.ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}
	})

	t.Run("one open request per subject and type", func(t *testing.T) {
		s := newStore(t)
		r, _ := create(t, s, base, privacy.TypeDelete)
		if id, err := s.OpenRequest(ctx, r.SubjectHash, privacy.TypeDelete); err != nil || id != r.ID {
			t.Fatalf("OpenRequest = %q, %v", id, err)
		}
		if _, err := s.OpenRequest(ctx, r.SubjectHash, privacy.TypeAccess); !errors.Is(err, privacy.ErrNotFound) {
			t.Fatalf("other type: %v", err)
		}
		dup, c := fresh(base, privacy.TypeDelete)
		dup.SubjectHash = r.SubjectHash
		if err := s.Create(ctx, dup, c, filed(dup)); !errors.Is(err, privacy.ErrDuplicate) {
			t.Fatalf("duplicate Create: %v", err)
		}
		if _, err := s.Get(ctx, dup.ID); !errors.Is(err, privacy.ErrNotFound) {
			t.Fatalf("a refused duplicate was stored: %v", err)
		}
		other, c := fresh(base, privacy.TypeAccess)
		other.SubjectHash = r.SubjectHash
		if err := s.Create(ctx, other, c, filed(other)); err != nil {
			t.Fatalf("another type for the same subject: %v", err)
		}
	})

	t.Run("concurrent filings: exactly one wins", func(t *testing.T) {
		s := newStore(t)
		var wins, dups atomic.Int32
		var wg sync.WaitGroup
		subject := fmt.Sprintf("%064x", n.Add(1000))
		for range 6 {
			r, c := fresh(base, privacy.TypeOptOut)
			r.SubjectHash = subject
			wg.Go(func() {
				switch err := s.Create(ctx, r, c, filed(r)); {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, privacy.ErrDuplicate):
					dups.Add(1)
				default:
					t.Errorf("Create: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || dups.Load() != 5 {
			t.Fatalf("%d created, %d duplicates; want 1 and 5", wins.Load(), dups.Load())
		}
	})

	t.Run("saves are conditional on the version", func(t *testing.T) {
		s := newStore(t)
		r, _ := create(t, s, base, privacy.TypeAccess)
		a := r
		a.Status, a.Version = privacy.StatusVerified, 2
		b := r
		b.Status, b.Version = privacy.StatusDenied, 2
		if err := s.Save(ctx, privacy.Change{Request: a}); err != nil {
			t.Fatalf("first save: %v", err)
		}
		if err := s.Save(ctx, privacy.Change{Request: b}); !errors.Is(err, privacy.ErrConflict) {
			t.Fatalf("a save made from a stale version: %v", err)
		}
		skip := a
		skip.Version = 4
		if err := s.Save(ctx, privacy.Change{Request: skip}); !errors.Is(err, privacy.ErrConflict) {
			t.Fatalf("a save that skips a version: %v", err)
		}
		if got, _ := s.Get(ctx, r.ID); got.Status != privacy.StatusVerified || got.Version != 2 {
			t.Fatalf("stored %s v%d", got.Status, got.Version)
		}
		ghost, _ := fresh(base, privacy.TypeAccess)
		ghost.Version = 2
		if err := s.Save(ctx, privacy.Change{Request: ghost}); !errors.Is(err, privacy.ErrConflict) {
			t.Fatalf("save of a request never created: %v", err)
		}
		if _, err := s.Get(ctx, ghost.ID); !errors.Is(err, privacy.ErrNotFound) {
			t.Fatalf("a conflicting save created a request: %v", err)
		}
	})

	t.Run("closing frees the subject and drops what the request no longer needs", func(t *testing.T) {
		s := newStore(t)
		r, _ := create(t, s, base, privacy.TypeDelete)
		done := r
		done.Status, done.Version, done.ClosedAt = privacy.StatusDenied, 2, base.Add(time.Hour)
		done.Email, done.Details, done.DenyReason = "", "", privacy.DenyNoMatch
		if err := s.Save(ctx, privacy.Change{Request: done, Close: true}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, r.ID)
		if err != nil || got.Email != "" || got.Details != "" || got.DenyReason != privacy.DenyNoMatch {
			t.Fatalf("closed request %+v, %v", got, err)
		}
		if _, err := s.OpenRequest(ctx, r.SubjectHash, privacy.TypeDelete); !errors.Is(err, privacy.ErrNotFound) {
			t.Fatalf("closed request still open: %v", err)
		}
		again, c := fresh(base.Add(2*time.Hour), privacy.TypeDelete)
		again.SubjectHash = r.SubjectHash
		if err := s.Create(ctx, again, c, filed(again)); err != nil {
			t.Fatalf("new request after closing: %v", err)
		}
	})

	t.Run("codes: attempts counted once, consumed once, replaced", func(t *testing.T) {
		s := newStore(t)
		r, c := create(t, s, base, privacy.TypeAccess)
		got, err := s.Code(ctx, r.ID)
		if err != nil || got.Hash != c.Hash || got.Attempts != 0 || !got.ExpiresAt.Equal(c.ExpiresAt) {
			t.Fatalf("Code = %+v, %v", got, err)
		}
		fail := privacy.AuditEntry{RequestID: r.ID, At: base.Add(time.Second), Actor: privacy.Actor{Kind: privacy.ActorRequester}, Action: privacy.ActionVerifyFailed}
		if err := s.FailAttempt(ctx, r, got, fail); err != nil {
			t.Fatal(err)
		}
		if err := s.FailAttempt(ctx, r, got, fail); !errors.Is(err, privacy.ErrConflict) {
			t.Fatalf("second failure counted from the same reading: %v", err)
		}
		got, _ = s.Code(ctx, r.ID)
		if got.Attempts != 1 {
			t.Fatalf("attempts = %d", got.Attempts)
		}
		next := r
		next.Version = 2
		if err := s.Save(ctx, privacy.Change{Request: next, ConsumeCode: &c}); !errors.Is(err, privacy.ErrConflict) {
			t.Fatalf("consumed a code read before a failed attempt: %v", err)
		}
		if err := s.Save(ctx, privacy.Change{Request: next, ConsumeCode: &got}); err != nil {
			t.Fatalf("consume: %v", err)
		}
		if _, err := s.Code(ctx, r.ID); !errors.Is(err, privacy.ErrNotFound) {
			t.Fatalf("consumed code still there: %v", err)
		}
		next.Version = 3
		nc := privacy.Code{RequestID: r.ID, Hash: "new", ExpiresAt: base.Add(time.Hour)}
		if err := s.Save(ctx, privacy.Change{Request: next, PutCode: &nc}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Code(ctx, r.ID); err != nil || got.Hash != "new" || got.Attempts != 0 {
			t.Fatalf("replaced code %+v, %v", got, err)
		}
	})

	t.Run("expired records are not returned", func(t *testing.T) {
		s := newStore(t)
		r, c := fresh(base, privacy.TypeAccess)
		c.ExpiresAt = base.Add(-time.Second)
		if err := s.Create(ctx, r, c, filed(r)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Code(ctx, r.ID); !errors.Is(err, privacy.ErrNotFound) {
			t.Fatalf("expired code: %v", err)
		}
		old := base.AddDate(0, -privacy.RetentionMonths, -1)
		gone, c := fresh(old, privacy.TypeAccess)
		if err := s.Create(ctx, gone, c, filed(gone)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, gone.ID); !errors.Is(err, privacy.ErrNotFound) {
			t.Fatalf("request past retention: %v", err)
		}
		if _, err := s.OpenRequest(ctx, gone.SubjectHash, privacy.TypeAccess); !errors.Is(err, privacy.ErrNotFound) {
			t.Fatalf("open marker past retention: %v", err)
		}
		page, err := s.List(ctx, privacy.Query{Statuses: privacy.Statuses, Limit: 10})
		if err != nil || len(page.Requests) != 1 || page.Requests[0].ID != r.ID {
			t.Fatalf("listing shows %d requests, %v", len(page.Requests), err)
		}
	})

	t.Run("audit log in order with every field", func(t *testing.T) {
		s := newStore(t)
		r, c := create(t, s, base, privacy.TypeDelete)
		op := privacy.Actor{Kind: privacy.ActorOperator, ID: "arn:aws:sts::123456789012:assumed-role/compliance/jane"}
		if err := s.FailAttempt(ctx, r, c, privacy.AuditEntry{RequestID: r.ID, At: base.Add(time.Second), Actor: privacy.Actor{Kind: privacy.ActorRequester}, Action: privacy.ActionVerifyFailed}); err != nil {
			t.Fatal(err)
		}
		next := r
		next.Version, next.Status = 2, privacy.StatusDenied
		deny := privacy.AuditEntry{RequestID: r.ID, At: base.Add(2 * time.Second), Actor: op, Action: privacy.ActionDenied,
			From: privacy.StatusReceived, To: privacy.StatusDenied, Reason: "other", Note: "ünïcode note"}
		if err := s.Save(ctx, privacy.Change{Request: next, Close: true, Audit: []privacy.AuditEntry{deny}}); err != nil {
			t.Fatal(err)
		}
		// Appended out of order on purpose: the log is ordered by time.
		if err := s.AppendAudit(ctx, next,
			privacy.AuditEntry{RequestID: r.ID, At: base.Add(4 * time.Second), Actor: privacy.Actor{Kind: privacy.ActorSystem}, Action: privacy.ActionNoticeSent, Note: "denial"},
			privacy.AuditEntry{RequestID: r.ID, At: base.Add(3 * time.Second), Actor: privacy.Actor{Kind: privacy.ActorSystem}, Action: privacy.ActionNoticeFailed, Note: "denial"},
		); err != nil {
			t.Fatal(err)
		}
		log, err := s.Audit(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var actions []privacy.Action
		for _, e := range log {
			actions = append(actions, e.Action)
		}
		want := []privacy.Action{privacy.ActionFiled, privacy.ActionVerifyFailed, privacy.ActionDenied, privacy.ActionNoticeFailed, privacy.ActionNoticeSent}
		if !reflect.DeepEqual(actions, want) {
			t.Fatalf("actions %v, want %v", actions, want)
		}
		if got := log[2]; !got.At.Equal(deny.At) || got.Actor != op || got.From != deny.From || got.To != deny.To || got.Reason != "other" || got.Note != deny.Note || got.RequestID != r.ID {
			t.Fatalf("deny entry %+v", got)
		}
		if other, err := s.Audit(ctx, "pr_ffffffffffffffffffffffffffffffff"); err != nil || len(other) != 0 {
			t.Fatalf("audit of unknown request: %v, %v", other, err)
		}
	})

	t.Run("listing: filters, newest first, pages", func(t *testing.T) {
		s := newStore(t)
		var ids []string // newest first
		for i := range 7 {
			typ := privacy.TypeAccess
			if i%2 == 1 {
				typ = privacy.TypeDelete
			}
			r, _ := create(t, s, base.Add(-time.Duration(i)*time.Hour), typ)
			ids = append(ids, r.ID)
		}
		// Two requests received at the same instant are ordered by id.
		twinA, _ := create(t, s, base.Add(-10*time.Hour), privacy.TypeAccess)
		twinB, _ := create(t, s, base.Add(-10*time.Hour), privacy.TypeAccess)
		ids = append(ids, twinB.ID, twinA.ID)
		var got []string
		q := privacy.Query{Statuses: privacy.Statuses, Limit: 3}
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("listing does not end")
			}
			page, err := s.List(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.Requests {
				got = append(got, r.ID)
			}
			if !page.More {
				break
			}
			last := page.Requests[len(page.Requests)-1]
			q.After = &privacy.Position{ReceivedAt: last.ReceivedAt, ID: last.ID}
		}
		if !reflect.DeepEqual(got, ids) {
			t.Fatalf("paged listing\n got %v\nwant %v", got, ids)
		}

		page, err := s.List(ctx, privacy.Query{Statuses: privacy.Statuses, Type: privacy.TypeDelete, Limit: 10})
		if err != nil || len(page.Requests) != 3 || page.More {
			t.Fatalf("delete requests: %d (more %v), %v", len(page.Requests), page.More, err)
		}
		for _, r := range page.Requests {
			if r.Type != privacy.TypeDelete {
				t.Fatalf("type filter let %s through", r.Type)
			}
		}
		// Status filter: verify one.
		r, _ := s.Get(ctx, ids[2])
		r.Status, r.Version = privacy.StatusVerified, r.Version+1
		if err := s.Save(ctx, privacy.Change{Request: r}); err != nil {
			t.Fatal(err)
		}
		page, err = s.List(ctx, privacy.Query{Statuses: []privacy.Status{privacy.StatusVerified}, Limit: 10})
		if err != nil || len(page.Requests) != 1 || page.Requests[0].ID != ids[2] {
			t.Fatalf("verified listing %v, %v", page.Requests, err)
		}
		page, err = s.List(ctx, privacy.Query{Statuses: []privacy.Status{privacy.StatusReceived}, Limit: 10})
		if err != nil || len(page.Requests) != len(ids)-1 {
			t.Fatalf("received listing has %d, %v", len(page.Requests), err)
		}
	})

	t.Run("listing overdue requests", func(t *testing.T) {
		s := newStore(t)
		now := base
		today := privacy.DateOf(now)
		// late: received 50 days ago, response due after 45.
		late, _ := create(t, s, now.AddDate(0, 0, -50), privacy.TypeAccess)
		// extended: as old, but extended to 90 days: not overdue.
		ext, _ := fresh(now.AddDate(0, 0, -50), privacy.TypeAccess)
		ext.Deadlines.Extended = privacy.ReceiptDate(ext.ReceivedAt).AddDays(90)
		if err := s.Create(ctx, ext, privacy.Code{RequestID: ext.ID, Hash: "x", ExpiresAt: now.Add(time.Minute)}, filed(ext)); err != nil {
			t.Fatal(err)
		}
		// unacked: 20 days old, never acknowledged (10 business days passed).
		unacked, _ := fresh(now.AddDate(0, 0, -20), privacy.TypeDelete)
		unacked.AckedAt = time.Time{}
		if err := s.Create(ctx, unacked, privacy.Code{RequestID: unacked.ID, Hash: "y", ExpiresAt: now.Add(time.Minute)}, filed(unacked)); err != nil {
			t.Fatal(err)
		}
		// acked: 20 days old and acknowledged: on time.
		create(t, s, now.AddDate(0, 0, -20), privacy.TypeDelete)
		// finished: old but completed.
		done, _ := create(t, s, now.AddDate(0, 0, -60), privacy.TypeAccess)
		done.Status, done.Version = privacy.StatusCompleted, 2
		if err := s.Save(ctx, privacy.Change{Request: done, Close: true}); err != nil {
			t.Fatal(err)
		}
		page, err := s.List(ctx, privacy.Query{Statuses: privacy.OpenStatuses, OverdueOn: today, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range page.Requests {
			got = append(got, r.ID)
		}
		if want := []string{unacked.ID, late.ID}; !reflect.DeepEqual(got, want) {
			t.Fatalf("overdue %v, want %v", got, want)
		}
		page, err = s.List(ctx, privacy.Query{Statuses: privacy.OpenStatuses, OverdueOn: today, Type: privacy.TypeAccess, Limit: 10})
		if err != nil || len(page.Requests) != 1 || page.Requests[0].ID != late.ID {
			t.Fatalf("overdue access requests %v, %v", page.Requests, err)
		}
	})
}

// normal makes two requests comparable: times in UTC at millisecond precision (stores keep
// RFC 3339 with nanoseconds, but monotonic readings and zones differ), empty maps as nil.
func normal(r privacy.Request) privacy.Request {
	for _, t := range []*time.Time{&r.ReceivedAt, &r.AckedAt, &r.VerifiedAt, &r.ApprovedAt, &r.ClosedAt, &r.CodeWindowStart} {
		*t = t.UTC().Round(0)
	}
	if len(r.Progress) == 0 {
		r.Progress = nil
	}
	if len(r.AccountIDs) == 0 {
		r.AccountIDs = nil
	}
	if len(r.Corrections) == 0 {
		r.Corrections = nil
	}
	return r
}

// TestFilingCounter checks a privacy.FilingCounter: each key counts up to its limit and
// refuses beyond it, without counting the refusals, whatever the concurrency; keys are
// independent.
func TestFilingCounter(t *testing.T, fc privacy.FilingCounter) {
	ctx := context.Background()
	now := time.Now().UTC()
	end := now.Add(time.Hour)
	const limit = 5
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range 3 * limit {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := fc.TakeFiling(ctx, "contract-a", limit, end, now)
			if err != nil {
				t.Error(err)
			}
			if ok {
				granted.Add(1)
			}
		}()
	}
	wg.Wait()
	if granted.Load() != limit {
		t.Errorf("%d of %d concurrent filings counted, want the limit %d", granted.Load(), 3*limit, limit)
	}
	if ok, err := fc.TakeFiling(ctx, "contract-a", limit+1, end, now); err != nil || !ok {
		t.Errorf("a higher limit after refusals: %v %v; want counted (refusals do not count)", ok, err)
	}
	if ok, err := fc.TakeFiling(ctx, "contract-b", limit, end, now); err != nil || !ok {
		t.Errorf("another key: %v %v, want counted", ok, err)
	}
}

package privacy_test

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
)

// Erasures already under way when the release with the fence is deployed: their cursors
// were saved by a release that never fenced, so the fence must not hang on a phase number
// or on the jobs step having still to run.

// fenceAtFirstDeletion records the fences set when the erasure first deletes anything, in
// any store, and passes every call ("store:op", the store one of holdings, media, exports,
// files) to fail.
func (w *world) fenceAtFirstDeletion(fail func(call string) error) (fences func() map[string]string) {
	var at map[string]string
	hook := func(store string) func(string) error {
		return func(op string) error {
			if at == nil && (strings.HasPrefix(op, "delete") || op == "scrub") {
				at = maps.Clone(w.h.Erasing)
			}
			if fail != nil {
				return fail(store + ":" + op)
			}
			return nil
		}
	}
	w.h.Fail, w.media.Fail, w.exports.Fail, w.files.Fail = hook("holdings"), hook("media"), hook("exports"), hook("files")
	return func() map[string]string { return at }
}

// asLeftByOldRelease turns the request into what a release without the fence left: the
// finished executors' checkpoints (which keep only counts, as before), no other cursor and
// no fence on any profile.
func (w *world) asLeftByOldRelease(t *testing.T, id string, progress map[string]privacy.Checkpoint) {
	t.Helper()
	r := w.get(t, id)
	r.Progress = progress
	r.Version++
	if err := w.store.Save(ctx, privacy.Change{Request: r}); err != nil {
		t.Fatal(err)
	}
	clear(w.h.Erasing)
}

func checkJaneFenced(t *testing.T, when string, got map[string]string, id string) {
	t.Helper()
	want := map[string]string{
		privacytest.FenceKey(privacy.HolderIntegrator, janeInt): id,
		privacytest.FenceKey(privacy.HolderCustomer, janeCust):  id,
	}
	if !maps.Equal(got, want) {
		t.Fatalf("fences %s: %v, want %v", when, got, want)
	}
}

// The old release saved the jobs cursor {"phase":1} after revoking the customer's keys
// (then phase 1 was the jobs pass). Jane's keys are live again here: an operator created
// them after that revocation. The erasure fences her profiles before it deletes anything,
// revokes every key before the jobs pass (none can add a job any more), and still erases
// her jobs.
func TestErasureSavedBeforeTheFenceAtTheJobsPassIsFencedFirst(t *testing.T) {
	w := newWorld(t, 3)
	r, _ := w.verified(t, janeMail, privacy.TypeDelete)
	if _, err := w.svc.Approve(ctx, r.ID, operator); err != nil {
		t.Fatal(err)
	}
	w.asLeftByOldRelease(t, r.ID, map[string]privacy.Checkpoint{privacy.ExecJobs: {Cursor: `{"phase":1}`}})
	live := -1
	fences := w.fenceAtFirstDeletion(func(call string) error {
		if call == "holdings:delete_entries" && live < 0 {
			live = 0
			for _, k := range w.h.Keys {
				if k.CustomerID == janeCust && !k.Revoked() {
					live++
				}
			}
		}
		return nil
	})
	done, err := w.run(r.ID)
	if err != nil || done.Status != privacy.StatusCompleted {
		t.Fatalf("run: %v, %v", done.Status, err)
	}
	checkJaneFenced(t, "when the first record was deleted", fences(), r.ID)
	if live != 0 {
		t.Fatalf("%d of Jane's API keys live when her jobs were erased, want every one revoked after the fence", live)
	}
	if left := w.janeTraces(); len(left) > 0 {
		t.Fatalf("after the erasure, left: %v", left)
	}
	if n := privacy.ReportOf(done)[privacy.ExecJobs][privacy.KindJob]; n != len(w.janeJobs) {
		t.Fatalf("report: %d jobs erased, want %d", n, len(w.janeJobs))
	}
	if len(w.h.Erasing) != 0 {
		t.Fatalf("fences left after the erasure: %v", w.h.Erasing)
	}
	w.checkBobUntouched(t)
}

// A request the old release carried past the jobs step (and past exports, disclosures,
// requests) is fenced before the next step it reaches deletes anything: the step that
// deletes the disclosures (and the accounts step, whose last pass over them must be the
// last) among them.
func TestErasureSavedBeforeTheFencePastTheJobsStepIsFencedBeforeItsNextDeletion(t *testing.T) {
	for _, tc := range []struct {
		next   string // the executor the request is at
		failAt string // its first deletion, where the old release stopped
	}{
		{privacy.ExecExports, "exports:delete"}, // an export's file
		{privacy.ExecDisclosures, "holdings:delete_disclosures"},
		{privacy.ExecRequests, "files:delete_prefix"}, // the earlier access package
		{privacy.ExecAccounts, "holdings:delete_api_keys"},
	} {
		t.Run(tc.next, func(t *testing.T) {
			w := newWorld(t, 3)
			r, _ := w.verified(t, janeMail, privacy.TypeDelete)
			if _, err := w.svc.Approve(ctx, r.ID, operator); err != nil {
				t.Fatal(err)
			}
			// Carry the erasure up to the first deletion of tc.next, so the executors
			// before it finished as the old release would have.
			failed := false
			w.fenceAtFirstDeletion(func(call string) error {
				if call == tc.failAt && !failed {
					failed = true
					return errors.New("throttled")
				}
				return nil
			})
			mid, err := w.run(r.ID)
			if err == nil || !failed {
				t.Fatalf("first run: %v (failed: %v), want the injected failure", err, failed)
			}
			finished := map[string]privacy.Checkpoint{}
			for name, cp := range mid.Progress {
				if cp.Done {
					finished[name] = cp
				}
			}
			execs, err := privacy.Executors(r, w.deps)
			if err != nil {
				t.Fatal(err)
			}
			for _, ex := range execs {
				if ex.Name() == tc.next {
					break
				}
				if _, ok := finished[ex.Name()]; !ok {
					t.Fatalf("the first run stopped before %s (finished: %v), want it at %s", ex.Name(), finished, tc.next)
				}
			}
			if mid.Progress[tc.next].Done || len(finished) == len(execs) {
				t.Fatalf("%s finished in the first run: %v", tc.next, mid.Progress)
			}
			w.asLeftByOldRelease(t, r.ID, finished)

			fences := w.fenceAtFirstDeletion(nil)
			done, err := w.run(r.ID)
			if err != nil || done.Status != privacy.StatusCompleted {
				t.Fatalf("run: %v, %v", done.Status, err)
			}
			checkJaneFenced(t, "when "+tc.next+" first deleted", fences(), r.ID)
			if left := w.janeTraces(); len(left) > 0 {
				t.Fatalf("after the erasure, left: %v", left)
			}
			if len(w.h.Erasing) != 0 {
				t.Fatalf("fences left after the erasure: %v", w.h.Erasing)
			}
			w.checkBobUntouched(t)
		})
	}
}

// An account registered under the address after an executor fenced the holders it knew
// (here: while the jobs pass ran, between two worker runs) is fenced, and its keys revoked,
// before that executor deletes anything more; the erasure then removes it whole.
func TestErasureFencesAnAccountRegisteredAfterItsExecutorFenced(t *testing.T) {
	const lateCust, lateKey, lateJob = "55555555-5555-4555-8555-555555555555", "5555555500000001", "late-job"
	w := newWorld(t, 3)
	r, _ := w.verified(t, janeMail, privacy.TypeDelete)
	if _, err := w.svc.Approve(ctx, r.ID, operator); err != nil {
		t.Fatal(err)
	}
	failed := false
	w.h.Fail = func(op string) error {
		if op == "delete_entries" && !failed {
			failed = true
			return errors.New("throttled")
		}
		return nil
	}
	if _, err := w.run(r.ID); err == nil || !failed {
		t.Fatalf("first run: %v (failed: %v), want the injected failure", err, failed)
	}
	w.h.Customers[lateCust] = account.Customer{ID: lateCust, Name: "Jane Three", Email: janeMail, Country: "US", CreatedAt: t0}
	w.h.Keys[lateKey] = account.APIKey{ID: lateKey, CustomerID: lateCust, Name: "late", Hash: strings.Repeat("5", 64), CreatedAt: t0}
	w.h.Jobs[lateJob] = job.Job{ID: lateJob, CustomerID: lateCust, Name: "late dataset", Kind: job.KindBinary, Classes: []string{"yes", "no"},
		Question: map[string]string{"en": "Is it?"}, Status: job.StatusActive, CreatedAt: t0}
	checked := false
	w.h.Fail = func(op string) error {
		if op == "delete_entries" && !checked {
			checked = true
			if w.h.Erasing[privacytest.FenceKey(privacy.HolderCustomer, lateCust)] != r.ID {
				t.Errorf("the late customer was not fenced when the jobs pass went on: %v", w.h.Erasing)
			}
			if k := w.h.Keys[lateKey]; !k.Revoked() {
				t.Errorf("the late customer's key was live when the jobs pass went on")
			}
		}
		return nil
	}
	done, err := w.run(r.ID)
	if err != nil || done.Status != privacy.StatusCompleted || !checked {
		t.Fatalf("retry: %v, %v (jobs pass seen: %v)", done.Status, err, checked)
	}
	if _, ok := w.h.Customers[lateCust]; ok {
		t.Errorf("the late customer's profile survived the erasure")
	}
	if _, ok := w.h.Jobs[lateJob]; ok {
		t.Errorf("the late customer's job survived the erasure")
	}
	w.checkBobUntouched(t)
}

// An account registered under the address after the jobs step finished is fenced by the
// next step, and its API keys are revoked with the fence: no later step erases jobs, so a
// key left working until the accounts step deletes it could add jobs, items and exports
// that outlive the erasure.
func TestErasureRevokesTheKeysOfAnAccountFencedAfterTheJobsStep(t *testing.T) {
	const lateCust, lateKey = "55555555-5555-4555-8555-555555555555", "5555555500000001"
	w := newWorld(t, 3)
	r, _ := w.verified(t, janeMail, privacy.TypeDelete)
	if _, err := w.svc.Approve(ctx, r.ID, operator); err != nil {
		t.Fatal(err)
	}
	failed := false
	w.exports.Fail = func(op string) error {
		if strings.HasPrefix(op, "delete") && !failed {
			failed = true
			return errors.New("throttled")
		}
		return nil
	}
	mid, err := w.run(r.ID)
	if err == nil || !failed || !mid.Progress[privacy.ExecJobs].Done {
		t.Fatalf("first run: %v (failed: %v, jobs done: %v), want the injected failure after the jobs step", err, failed, mid.Progress[privacy.ExecJobs].Done)
	}
	w.h.Customers[lateCust] = account.Customer{ID: lateCust, Name: "Jane Three", Email: janeMail, Country: "US", CreatedAt: t0}
	w.h.Keys[lateKey] = account.APIKey{ID: lateKey, CustomerID: lateCust, Name: "late", Hash: strings.Repeat("5", 64), CreatedAt: t0}
	checked := false
	w.exports.Fail = func(op string) error {
		if strings.HasPrefix(op, "delete") && !checked {
			checked = true
			if w.h.Erasing[privacytest.FenceKey(privacy.HolderCustomer, lateCust)] != r.ID {
				t.Errorf("the late customer was not fenced when the exports step went on: %v", w.h.Erasing)
			}
			if k := w.h.Keys[lateKey]; !k.Revoked() {
				t.Errorf("the late customer's key still worked once it was fenced: it can add jobs no step erases")
			}
		}
		return nil
	}
	done, err := w.run(r.ID)
	if err != nil || done.Status != privacy.StatusCompleted || !checked {
		t.Fatalf("retry: %v, %v (exports step seen: %v)", done.Status, err, checked)
	}
	if _, ok := w.h.Customers[lateCust]; ok {
		t.Errorf("the late customer's profile survived the erasure")
	}
	if _, ok := w.h.Keys[lateKey]; ok {
		t.Errorf("the late customer's key survived the erasure")
	}
	w.checkBobUntouched(t)
}

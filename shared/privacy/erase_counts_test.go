package privacy_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

// halfDeletes is the labels table failing once half-way through a batch of items, as a
// DynamoDB batch write that is throttled after its first writes: some items are gone, and
// the error says so (deleted > 0).
type halfDeletes struct {
	privacy.LabelData
	failed bool
}

var _ privacy.LabelData = (*halfDeletes)(nil)

func (h *halfDeletes) DeleteEntries(ctx context.Context, jobID string, limit int) (int, bool, error) {
	if h.failed {
		return h.LabelData.DeleteEntries(ctx, jobID, limit)
	}
	h.failed = true
	n, _, err := h.LabelData.DeleteEntries(ctx, jobID, 2)
	if err != nil {
		return n, true, err
	}
	return n, true, errors.New("throttled")
}

// The items a step deleted before it failed are gone, so the retry cannot count them:
// the report must still count every item of the subject, once.
func TestErasureReportCountsWhatAFailedStepDeleted(t *testing.T) {
	want := uninterruptedReport(t, privacy.TypeDelete)
	w := newWorld(t, 3)
	labels := &halfDeletes{LabelData: w.h}
	w.deps.Labels = labels
	id := w.fileReady(t, privacy.TypeDelete)
	if _, err := w.svc.Approve(ctx, id, operator); err != nil {
		t.Fatal(err)
	}
	if _, err := w.run(id); err == nil || !labels.failed {
		t.Fatalf("first run: %v, want the injected failure", err)
	}
	if got := w.get(t, id); got.Status != privacy.StatusInProgress {
		t.Fatalf("after the failure the request is %s, want in_progress (retried by the queue)", got.Status)
	}
	done, err := w.run(id)
	if err != nil || done.Status != privacy.StatusCompleted {
		t.Fatalf("retry: %v, %v", done.Status, err)
	}
	if left := w.janeTraces(); len(left) > 0 {
		t.Fatalf("Jane's data left: %v", left)
	}
	if got := privacy.ReportOf(done); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("report\n got %v\nwant %v (uninterrupted)", got, want)
	}
	if got := privacy.ReportOf(done)[privacy.ExecJobs][privacy.KindItem]; got != w.janeItems {
		t.Errorf("report counts %d items, want %d", got, w.janeItems)
	}
}

// Choices and corrections rewrite records rather than remove them: a retry after a
// failure writes every one again, and the report must not count the first ones twice.
func TestChoiceReportCountsEachRecordOnceAfterAFailure(t *testing.T) {
	for _, op := range []string{"set_choices", "set_site_choices"} {
		t.Run(op, func(t *testing.T) {
			want := uninterruptedReport(t, privacy.TypeOptOut)
			w := newWorld(t, 3)
			calls := 0
			w.h.Fail = func(o string) error {
				if o != op {
					return nil
				}
				if calls++; calls == 2 {
					return errors.New("throttled")
				}
				return nil
			}
			id := w.fileReady(t, privacy.TypeOptOut)
			if _, err := w.svc.Approve(ctx, id, operator); err != nil {
				t.Fatal(err)
			}
			if _, err := w.run(id); err == nil {
				t.Fatal("first run: no error, want the injected failure")
			}
			done, err := w.run(id)
			if err != nil || done.Status != privacy.StatusCompleted {
				t.Fatalf("retry: %v, %v", done.Status, err)
			}
			if got := privacy.ReportOf(done); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("report\n got %v\nwant %v (uninterrupted)", got, want)
			}
		})
	}
}

// A site stored without a secret hash has no secret lookup: the report counts the secret
// lookups the erasure removed, not one per site.
func TestErasureReportCountsOnlySecretLookupsThatExisted(t *testing.T) {
	w := newWorld(t, 3)
	w.h.AddSite(account.Site{Sitekey: janeInt[:8] + "-site-nosecret", IntegratorID: janeInt, Name: "old", Hostnames: []string{"old.example"}, CreatedAt: t0})
	done := w.approveAndRun(t, w.fileReady(t, privacy.TypeDelete))
	if left := w.janeTraces(); len(left) > 0 {
		t.Fatalf("Jane's data left: %v", left)
	}
	if rep := privacy.ReportOf(done)[privacy.ExecAccounts]; rep[privacy.KindSite] != 3 || rep[privacy.KindSiteSecret] != 2 {
		t.Errorf("report %v, want 3 sites and 2 secret lookups", rep)
	}
}

package handler_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/functions/export/handler"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
)

// jobsFn is a handler.Jobs of a func field.
type jobsFn struct {
	GetJobFn func(ctx context.Context, id string) (job.Job, error)
}

func (f jobsFn) GetJob(ctx context.Context, id string) (job.Job, error) { return f.GetJobFn(ctx, id) }

func TestExportOfAJobBeingDeletedFails(t *testing.T) {
	id := "exp_0123456789abcdef01234567"
	ex := &fakeExports{StartFn: running(id, export.FormatManifest)}
	up := &memUploads{}
	deleting := shapes
	deleting.Status = job.StatusDeleting
	h := handler.New(handler.Deps{Exports: ex, Jobs: fakeJobs{"shapes": deleting}, Rows: labeled, Bucket: up})
	resp, _ := h(context.Background(), loadEvent(t, "export-manifest.json"))
	if len(resp.BatchItemFailures) > 0 || len(ex.finished) > 0 || !slices.Equal(ex.fails, []string{id + "/1/the job no longer exists"}) {
		t.Errorf("failures %v finished %v fails %v", platformtest.FailedIDs(resp), ex.finished, ex.fails)
	}
}

// The customer deletes the job while its rows are being written: the rows written are
// only part of the job, and the export must not be offered as done.
func TestExportOfAJobWhoseDeletionStartsDuringTheRunFails(t *testing.T) {
	id := "exp_0123456789abcdef01234567"
	ex := &fakeExports{StartFn: running(id, export.FormatCSV)}
	var mu sync.Mutex
	reads := 0
	jobs := jobsFn{GetJobFn: func(context.Context, string) (job.Job, error) {
		mu.Lock()
		defer mu.Unlock()
		reads++
		j := shapes
		if reads > 1 {
			j.Status = job.StatusDeleting
		}
		return j, nil
	}}
	h := handler.New(handler.Deps{Exports: ex, Jobs: jobs, Rows: labeled, Bucket: &memUploads{}})
	resp, _ := h(context.Background(), loadEvent(t, "export-manifest.json"))
	if len(resp.BatchItemFailures) > 0 || len(ex.finished) > 0 || !slices.Equal(ex.fails, []string{id + "/1/the job no longer exists"}) {
		t.Errorf("failures %v finished %v fails %v", platformtest.FailedIDs(resp), ex.finished, ex.fails)
	}
}

// ctxExports is fakeExports whose Fail needs a live context, as a DynamoDB call does.
type ctxExports struct{ *fakeExports }

func (f ctxExports) Fail(ctx context.Context, id string, attempt int, reason string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return f.fakeExports.Fail(ctx, id, attempt, reason, at)
}

// slowRows is a source that is still reading when the invocation's time runs out.
type slowRows struct{}

func (slowRows) EachRow(ctx context.Context, _ string, fn func(export.Row) error) error {
	if err := fn(labeled[0]); err != nil {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

// Lambda ends an invocation at its deadline without running any more of its code: a run
// still writing then must stop early enough to abort its upload and, on the queue's last
// receive, mark the export failed — not leave it "running" until it expires.
func TestAnExportOutOfTimeOnTheLastReceiveIsMarkedFailed(t *testing.T) {
	id := "exp_89abcdef0123456789abcdef"
	ex := &fakeExports{StartFn: running(id, export.FormatCSV)}
	up := &memUploads{}
	h := handler.New(handler.Deps{Exports: ctxExports{ex}, Jobs: fakeJobs{"shapes": shapes}, Rows: slowRows{}, Bucket: up, Reserve: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second+200*time.Millisecond)
	defer cancel()
	ev := loadEvent(t, "export-csv-last-attempt.json")
	resp, _ := h(ctx, ev)
	if ctx.Err() != nil {
		t.Fatal("the handler ran until the invocation's deadline")
	}
	if !slices.Equal(platformtest.FailedIDs(resp), []string{ev.Records[0].MessageId}) || len(ex.finished) > 0 ||
		!slices.Equal(ex.fails, []string{id + "/1/the export could not be written; ask for a new one"}) || up.aborted != 1 {
		t.Errorf("failures %v finished %v fails %v aborted %d", platformtest.FailedIDs(resp), ex.finished, ex.fails, up.aborted)
	}
}

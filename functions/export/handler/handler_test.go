package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/functions/export/handler"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

func loadEvent(t testing.TB, name string) events.SQSEvent {
	t.Helper()
	return platformtest.SQSEvent(t, filepath.Join("..", "..", "..", "events", "export", name))
}

var (
	when   = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	shapes = job.Job{ID: "shapes", CustomerID: "cust-1", Kind: job.KindImageGrid, Classes: []string{"circle", "square"}, Status: job.StatusActive}
)

// fakeExports is a handler.Exports of func fields that records the final transitions.
type fakeExports struct {
	StartFn func(ctx context.Context, id string, at time.Time) (export.Export, error)
	// FinishFn, if set, answers Finish before it is recorded; an error is not recorded.
	FinishFn func(ctx context.Context, id string, attempt int) error

	mu       sync.Mutex
	finished []string // "<id>/<attempt>/<rows>"
	fails    []string // "<id>/<attempt>/<reason>"
}

func (f *fakeExports) Start(ctx context.Context, id string, at time.Time) (export.Export, error) {
	return f.StartFn(ctx, id, at)
}

func (f *fakeExports) Finish(ctx context.Context, id string, attempt int, rows int64, _ time.Time) error {
	if f.FinishFn != nil {
		if err := f.FinishFn(ctx, id, attempt); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished = append(f.finished, strings.Join([]string{id, itoa(attempt), itoa(int(rows))}, "/"))
	return nil
}

func (f *fakeExports) Fail(_ context.Context, id string, attempt int, reason string, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails = append(f.fails, strings.Join([]string{id, itoa(attempt), reason}, "/"))
	return nil
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func running(id string, f export.Format) func(context.Context, string, time.Time) (export.Export, error) {
	return func(_ context.Context, got string, _ time.Time) (export.Export, error) {
		if got != id {
			return export.Export{}, export.ErrNotFound
		}
		return export.Export{ID: id, CustomerID: "cust-1", JobID: "shapes", Format: f, Status: export.StatusRunning,
			MediaBucket: "media", Key: export.ObjectKey("shapes", id, f), Attempt: 1}, nil
	}
}

type fakeJobs map[string]job.Job

func (f fakeJobs) GetJob(_ context.Context, id string) (job.Job, error) {
	if j, ok := f[id]; ok {
		return j, nil
	}
	return job.Job{}, job.ErrNotFound
}

// rows is an in-memory export.Source.
type rows []export.Row

func (r rows) EachRow(_ context.Context, _ string, fn func(export.Row) error) error {
	for _, x := range r {
		if err := fn(x); err != nil {
			return err
		}
	}
	return nil
}

// memUploads keeps uploaded objects in memory.
type memUploads struct {
	mu      sync.Mutex
	objects map[string]string
	aborted int
	failAt  int // fail the Nth write (0: never)
}

type memUpload struct {
	u    *memUploads
	key  string
	buf  bytes.Buffer
	fail bool
}

func (m *memUploads) Upload(_ context.Context, key, _ string) (handler.Upload, error) {
	return &memUpload{u: m, key: key, fail: m.failAt > 0}, nil
}

func (w *memUpload) Write(p []byte) (int, error) {
	if w.fail {
		return 0, errors.New("connection reset")
	}
	return w.buf.Write(p)
}

func (w *memUpload) Close() error {
	w.u.mu.Lock()
	defer w.u.mu.Unlock()
	if w.u.objects == nil {
		w.u.objects = map[string]string{}
	}
	w.u.objects[w.key] = w.buf.String()
	return nil
}

func (w *memUpload) Abort(context.Context) error {
	w.u.mu.Lock()
	defer w.u.mu.Unlock()
	w.u.aborted++
	return nil
}

var labeled = rows{
	{ItemID: "img-1", MediaKey: "shapes/img-1.png", Label: "circle", Confidence: 0.97, Answers: 3, CompletedAt: when},
	{ItemID: "img-2", MediaKey: "shapes/img-2.png", Label: "square", Confidence: 0.93, Answers: 5, CompletedAt: when},
}

func TestExportWritesTheObjectAndFinishes(t *testing.T) {
	ev := loadEvent(t, "export-manifest.json")
	id := "exp_0123456789abcdef01234567"
	ex := &fakeExports{StartFn: running(id, export.FormatManifest)}
	up := &memUploads{}
	h := handler.New(handler.Deps{Exports: ex, Jobs: fakeJobs{"shapes": shapes}, Rows: labeled, Bucket: up})
	resp, err := h(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("%v %v", err, platformtest.FailedIDs(resp))
	}
	if !slices.Equal(ex.finished, []string{id + "/1/2"}) || len(ex.fails) != 0 {
		t.Errorf("finished %v fails %v", ex.finished, ex.fails)
	}
	obj := up.objects["jobs/shapes/"+id+".jsonl"]
	lines := strings.Split(strings.TrimSpace(obj), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"source-ref":"s3://media/shapes/img-1.png"`) || !strings.Contains(lines[1], `"class-name":"square"`) {
		t.Errorf("object:\n%s", obj)
	}
}

func TestARedeliveredFinishedExportIsIgnored(t *testing.T) {
	ex := &fakeExports{StartFn: func(context.Context, string, time.Time) (export.Export, error) {
		return export.Export{}, export.ErrConflict
	}}
	up := &memUploads{}
	h := handler.New(handler.Deps{Exports: ex, Jobs: fakeJobs{"shapes": shapes}, Rows: labeled, Bucket: up})
	resp, _ := h(context.Background(), loadEvent(t, "export-manifest.json"))
	if len(resp.BatchItemFailures) > 0 || len(up.objects) > 0 || len(ex.finished)+len(ex.fails) > 0 {
		t.Errorf("failures %v objects %d transitions %v %v", platformtest.FailedIDs(resp), len(up.objects), ex.finished, ex.fails)
	}
}

func TestExportOfADeletedJobFails(t *testing.T) {
	id := "exp_0123456789abcdef01234567"
	ex := &fakeExports{StartFn: running(id, export.FormatManifest)}
	h := handler.New(handler.Deps{Exports: ex, Jobs: fakeJobs{}, Rows: labeled, Bucket: &memUploads{}})
	resp, _ := h(context.Background(), loadEvent(t, "export-manifest.json"))
	if len(resp.BatchItemFailures) > 0 || !slices.Equal(ex.fails, []string{id + "/1/the job no longer exists"}) {
		t.Errorf("failures %v fails %v", platformtest.FailedIDs(resp), ex.fails)
	}
}

func TestALabelOutsideTheJobsClassesFailsTheExportAndAbortsTheUpload(t *testing.T) {
	id := "exp_0123456789abcdef01234567"
	ex := &fakeExports{StartFn: running(id, export.FormatManifest)}
	up := &memUploads{}
	bad := append(slices.Clone(labeled), export.Row{ItemID: "img-3", MediaKey: "k", Label: "hexagon", CompletedAt: when})
	h := handler.New(handler.Deps{Exports: ex, Jobs: fakeJobs{"shapes": shapes}, Rows: bad, Bucket: up})
	resp, _ := h(context.Background(), loadEvent(t, "export-manifest.json"))
	if len(resp.BatchItemFailures) > 0 || len(ex.fails) != 1 || up.aborted != 1 || len(up.objects) != 0 {
		t.Errorf("failures %v fails %v aborted %d objects %d", platformtest.FailedIDs(resp), ex.fails, up.aborted, len(up.objects))
	}
}

func TestAFailingUploadIsRetriedAndMarkedFailedOnTheLastReceive(t *testing.T) {
	for _, tc := range []struct {
		event    string
		id       string
		wantFail bool
		wantLog  string // the ERROR line: what becomes of the message
	}{
		{"export-manifest.json", "exp_0123456789abcdef01234567", false, "export failed; it will be retried"}, // receive 1 of 3
		{"export-csv-last-attempt.json", "exp_89abcdef0123456789abcdef", true, "export failed; that was its last receive (3): it moves to the dead-letter queue"},
	} {
		ex := &fakeExports{StartFn: running(tc.id, export.FormatCSV)}
		up := &memUploads{failAt: 1}
		h := handler.New(handler.Deps{Exports: ex, Jobs: fakeJobs{"shapes": shapes}, Rows: labeled, Bucket: up})
		ev := loadEvent(t, tc.event)
		var logged platformtest.Logged
		resp, _ := h(logged.Context(context.Background()), ev)
		if got := logged.Errors(t); !slices.Equal(got, []string{tc.wantLog}) {
			t.Errorf("%s: logged errors %q, want %q", tc.event, got, tc.wantLog)
		}
		if !slices.Equal(platformtest.FailedIDs(resp), []string{ev.Records[0].MessageId}) {
			t.Errorf("%s: failures %v, want the message retried", tc.event, platformtest.FailedIDs(resp))
		}
		if got := len(ex.fails) == 1; got != tc.wantFail {
			t.Errorf("%s: marked failed %v, want %v (%v)", tc.event, got, tc.wantFail, ex.fails)
		}
		if up.aborted != 1 {
			t.Errorf("%s: %d aborts", tc.event, up.aborted)
		}
	}
}

func TestPoisonExportMessagesFail(t *testing.T) {
	ex := &fakeExports{StartFn: func(context.Context, string, time.Time) (export.Export, error) {
		t.Error("a malformed message started an export")
		return export.Export{}, export.ErrNotFound
	}}
	h := handler.New(handler.Deps{Exports: ex, Jobs: fakeJobs{}, Rows: rows{}, Bucket: &memUploads{}})
	ev := loadEvent(t, "export-poison.json")
	resp, _ := h(context.Background(), ev)
	if len(resp.BatchItemFailures) != len(ev.Records) {
		t.Errorf("failures %v, want all %d", platformtest.FailedIDs(resp), len(ev.Records))
	}
}

package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/functions/privacyworker/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/job/jobtest"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Runner is a fake handler.Runner.
type Runner struct {
	RunJobFunc          func(ctx context.Context, j privacy.Job, build func(privacy.Request) ([]privacy.Executor, error)) (privacy.Request, error)
	CloseUnverifiedFunc func(ctx context.Context, olderThan time.Duration, late func() bool) (privacy.Closing, error)

	mu   sync.Mutex
	jobs []privacy.Job
	// sweeps counts CloseUnverified calls.
	sweeps int
}

var _ handler.Runner = (*Runner)(nil)

func (r *Runner) RunJob(ctx context.Context, j privacy.Job, build func(privacy.Request) ([]privacy.Executor, error)) (privacy.Request, error) {
	r.mu.Lock()
	r.jobs = append(r.jobs, j)
	r.mu.Unlock()
	if r.RunJobFunc == nil {
		return privacy.Request{ID: j.RequestID, Type: j.Type, Status: privacy.StatusCompleted}, nil
	}
	return r.RunJobFunc(ctx, j, build)
}

func (r *Runner) CloseUnverified(ctx context.Context, olderThan time.Duration, late func() bool) (privacy.Closing, error) {
	r.mu.Lock()
	r.sweeps++
	r.mu.Unlock()
	if r.CloseUnverifiedFunc == nil {
		return privacy.Closing{Done: true}, nil
	}
	return r.CloseUnverifiedFunc(ctx, olderThan, late)
}

func loadEvent(t *testing.T, name string) events.SQSEvent {
	t.Helper()
	return platformtest.SQSEvent(t, filepath.Join("..", "..", "..", "events", "privacyworker", name))
}

func noExecutors(privacy.Request) ([]privacy.Executor, error) { return nil, nil }

// Every events/privacyworker file: which messages fail (and so are retried or end in the
// dead-letter queue), and what reaches the workflow.
func TestEventFilesAreCarriedOutOrRefused(t *testing.T) {
	cases := []struct {
		file   string
		run    func(context.Context, privacy.Job, func(privacy.Request) ([]privacy.Executor, error)) (privacy.Request, error)
		failed []string
		jobs   int
		sweeps int
	}{
		{file: "job-access.json", jobs: 1},
		{file: "job-delete.json", jobs: 1},
		{file: "close-unverified.json", sweeps: 1},
		{file: "expire-jobs.json"}, // the expired-jobs sweep touches no request
		{file: "poison.json", failed: []string{"00000001-7a1e-4b2c-9d3e-000000000001", "00000001-7a1e-4b2c-9d3e-000000000002",
			"00000001-7a1e-4b2c-9d3e-000000000003", "00000001-7a1e-4b2c-9d3e-000000000004"}},
		{file: "batch-mixed.json", failed: []string{"00000001-7a1e-4b2c-9d3e-000000000002"}, jobs: 2},
		// A request that no longer exists, or was denied meanwhile: nothing to do, no retry.
		{file: "job-redelivered.json", jobs: 1, run: func(context.Context, privacy.Job, func(privacy.Request) ([]privacy.Executor, error)) (privacy.Request, error) {
			return privacy.Request{}, privacy.ErrNotFound
		}},
		{file: "job-redelivered.json", jobs: 1, run: func(context.Context, privacy.Job, func(privacy.Request) ([]privacy.Executor, error)) (privacy.Request, error) {
			return privacy.Request{}, &privacy.TransitionError{Action: privacy.ActionCompleted, From: privacy.StatusDenied}
		}},
		// A store failure or a lost race is retried.
		{file: "job-delete.json", jobs: 1, failed: []string{"00000001-7a1e-4b2c-9d3e-000000000001"}, run: func(context.Context, privacy.Job, func(privacy.Request) ([]privacy.Executor, error)) (privacy.Request, error) {
			return privacy.Request{}, privacy.ErrConflict
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			r := &Runner{RunJobFunc: c.run}
			h := handler.New(handler.Deps{Runner: r, Executors: noExecutors, Queue: &privacytest.Queue{}, ExpiredJobs: &jobtest.Store{}, Media: &jobtest.Media{}})
			resp, err := h(context.Background(), loadEvent(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := platformtest.FailedIDs(resp); !slices.Equal(got, c.failed) {
				t.Errorf("failed %v, want %v", got, c.failed)
			}
			if len(r.jobs) != c.jobs || r.sweeps != c.sweeps {
				t.Errorf("%d jobs and %d sweeps reached the workflow, want %d and %d", len(r.jobs), r.sweeps, c.jobs, c.sweeps)
			}
			for _, j := range r.jobs {
				if !privacy.IsRequestID(j.RequestID) || !j.Type.Valid() {
					t.Errorf("job %+v reached the workflow", j)
				}
			}
		})
	}
}

// worker is the real workflow over an in-memory world holding Jane's integrator account.
type worker struct {
	svc   *privacy.Service
	store *privacytest.Store
	mail  *privacytest.Mailer
	queue *privacytest.Queue
	world *privacytest.Holdings
	deps  privacy.ExecDeps
	jobs  *jobtest.Store
	media *jobtest.Media
}

// handlerDeps are the worker's ports over w's world.
func (w *worker) handlerDeps() handler.Deps {
	return handler.Deps{Runner: w.svc, Executors: func(r privacy.Request) ([]privacy.Executor, error) { return privacy.Executors(r, w.deps) },
		Queue: w.queue, ExpiredJobs: w.jobs, Media: w.media}
}

func newWorker(t *testing.T) *worker {
	t.Helper()
	return newWorkerOn(t, privacy.ClockFunc(time.Now))
}

// newWorkerOn is newWorker with the workflow (and its store) on clock.
func newWorkerOn(t *testing.T, clock privacy.Clock) *worker {
	t.Helper()
	w := &worker{store: &privacytest.Store{Now: clock.Now}, mail: &privacytest.Mailer{}, queue: &privacytest.Queue{}, jobs: &jobtest.Store{}, media: &jobtest.Media{}}
	w.world = privacytest.NewHoldings(w.store)
	w.world.Integrators["0b6f8a52-7c1e-4d3a-9b2f-5e4d3c2b1a09"] = account.Integrator{ID: "0b6f8a52-7c1e-4d3a-9b2f-5e4d3c2b1a09", Name: "Jane", Email: "jane@example.com"}
	for _, sk := range []string{"s1", "s2", "s3"} {
		w.world.AddSite(account.Site{Sitekey: sk, IntegratorID: "0b6f8a52-7c1e-4d3a-9b2f-5e4d3c2b1a09", SecretHash: "h" + sk})
	}
	svc, err := privacy.NewService(privacy.Deps{Store: w.store, Mailer: w.mail, Accounts: w.world, Queue: w.queue,
		Clock: clock, Key: bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	w.svc = svc
	w.deps = privacy.ExecDeps{Accounts: w.world, Labels: w.world, Log: w.world, Media: &privacytest.Bucket{}, Exports: &privacytest.Bucket{}, Files: &privacytest.Bucket{}}
	return w
}

// approved files, verifies and approves a delete and returns its queue message.
func (w *worker) approved(t *testing.T) events.SQSEvent {
	t.Helper()
	ctx := context.Background()
	filed, err := w.svc.File(ctx, privacy.FileInput{Email: "jane@example.com", Type: privacy.TypeDelete, Regulation: privacy.GDPR})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.svc.Verify(ctx, filed.ID, w.mail.LastCode("jane@example.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Approve(ctx, filed.ID, privacy.Actor{Kind: privacy.ActorOperator}); err != nil {
		t.Fatal(err)
	}
	return w.lastJob(t)
}

func (w *worker) lastJob(t *testing.T) events.SQSEvent {
	t.Helper()
	jobs := w.queue.Jobs()
	body, err := json.Marshal(jobs[len(jobs)-1])
	if err != nil {
		t.Fatal(err)
	}
	return events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: string(body), Attributes: map[string]string{"ApproximateReceiveCount": "1"}}}}
}

// An invocation that nears its deadline stops between steps, sends the job again and
// acknowledges the message, so the retries of the message are not used up; the next
// message finishes the request from the checkpoints.
func TestNearTheDeadlineTheJobContinuesInANewMessage(t *testing.T) {
	w := newWorker(t)
	msg := w.approved(t)
	sent := len(w.queue.Jobs())
	deps := w.handlerDeps()
	deps.Reserve = time.Minute
	h := handler.New(deps)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // less than the reserve
	defer cancel()
	resp, err := h(ctx, msg)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("out of time: %+v, %v; want the message acknowledged", resp, err)
	}
	if got := len(w.queue.Jobs()); got != sent+1 {
		t.Fatalf("%d jobs sent again, want 1", got-sent)
	}
	if len(w.world.Sites) != 3 {
		t.Fatal("a step ran although no time was left")
	}
	resp, err = h(context.Background(), w.lastJob(t))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("second message: %+v, %v", resp, err)
	}
	if len(w.world.Sites) != 0 || len(w.world.Integrators) != 0 {
		t.Fatalf("after the second message: %d sites, %d integrators left", len(w.world.Sites), len(w.world.Integrators))
	}
}

// A failing store fails only that message, keeps the checkpoint, and the redelivery
// completes the erasure.
func TestAFailedRunIsRetriedFromItsCheckpoint(t *testing.T) {
	w := newWorker(t)
	msg := w.approved(t)
	fail := true
	w.world.Fail = func(op string) error {
		if op == "delete_profile" && fail {
			fail = false
			return errors.New("throttled")
		}
		return nil
	}
	h := handler.New(w.handlerDeps())
	resp, _ := h(context.Background(), msg)
	if got := platformtest.FailedIDs(resp); !slices.Equal(got, []string{"m1"}) {
		t.Fatalf("failed %v, want the message retried", got)
	}
	if len(w.world.Sites) != 0 {
		t.Fatal("the sites were not erased before the failure")
	}
	resp, _ = h(context.Background(), msg)
	if len(resp.BatchItemFailures) != 0 || len(w.world.Integrators) != 0 {
		t.Fatalf("redelivery: %+v, integrators left %d", resp, len(w.world.Integrators))
	}
}

// The daily sweep removes the images of a job past its expires_at (its records went by
// their ttl; nothing else would ever reach its media prefix again) and leaves other jobs
// alone. Near the deadline it removes nothing more and continues in a new message.
func TestExpiredJobsSweepRemovesTheirImages(t *testing.T) {
	ctx := context.Background()
	w := newWorker(t)
	now := time.Now().UTC().Truncate(time.Second)
	expired := job.Job{ID: "job_expired", CustomerID: "c1", Name: "Old", Kind: job.KindBinary, Classes: []string{"yes", "no"},
		Status: job.StatusActive, CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
	current := expired
	current.ID, current.ExpiresAt = "job_current", now.Add(time.Hour)
	for _, j := range []job.Job{expired, current} {
		if err := w.jobs.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		w.media.Upload(job.MediaKey(j.ID, "photo-1"), []byte("png"))
	}
	sweep := loadEvent(t, "expire-jobs.json")

	deps := w.handlerDeps()
	deps.Reserve = time.Minute
	late, cancel := context.WithTimeout(ctx, 30*time.Second) // less than the reserve
	defer cancel()
	resp, err := handler.New(deps)(late, sweep)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("out of time: %+v, %v", resp, err)
	}
	if !w.media.Has(job.MediaKey(expired.ID, "photo-1")) {
		t.Fatal("a step ran although no time was left")
	}
	jobs := w.queue.Jobs()
	if len(jobs) != 1 {
		t.Fatalf("%d messages sent, want the sweep again", len(jobs))
	}
	again, err := json.Marshal(jobs[0])
	if err != nil {
		t.Fatal(err)
	}
	if m, err := privacy.ParseMessage(string(again)); err != nil || m.Kind != privacy.KindExpireJobs {
		t.Fatalf("sent %s: %+v, %v", again, m, err)
	}

	sweep.Records[0].Body = string(again)
	resp, err = handler.New(w.handlerDeps())(ctx, sweep)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("sweep: %+v, %v", resp, err)
	}
	if w.media.Has(job.MediaKey(expired.ID, "photo-1")) || !w.media.Has(job.MediaKey(current.ID, "photo-1")) {
		t.Errorf("expired job's image kept %v, current job's image kept %v",
			w.media.Has(job.MediaKey(expired.ID, "photo-1")), w.media.Has(job.MediaKey(current.ID, "photo-1")))
	}
	if due, _ := w.jobs.DueExpiries(ctx, now, 10); len(due) != 0 {
		t.Errorf("markers left: %v", due)
	}
}

// The daily sweep of unverified requests stops between denials when the invocation nears
// its deadline (judged by the worker's clock) and sends itself again; the next message
// denies the rest. Whatever it did not reach stays open until then, never lost.
func TestUnverifiedSweepNearTheDeadlineContinuesInANewMessage(t *testing.T) {
	ctx := context.Background()
	clock := privacytest.NewClock(time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC))
	w := newWorkerOn(t, clock)
	var filed []string
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		f, err := w.svc.File(ctx, privacy.FileInput{Email: email, Type: privacy.TypeDelete, Regulation: privacy.GDPR})
		if err != nil {
			t.Fatal(err)
		}
		filed = append(filed, f.ID)
	}
	clock.Add(privacy.UnverifiedWindow + time.Hour)
	open := func() int {
		n := 0
		for _, id := range filed {
			r, err := w.store.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status == privacy.StatusReceived {
				n++
			}
		}
		return n
	}

	// The invocation's deadline is an hour off; the worker's clock reads 3.5, 2.5, 1.5 …
	// minutes before it, one minute later on every reading, so with a two-minute reserve
	// two denials start and the third does not.
	deadline := time.Now().Add(time.Hour)
	tick := deadline.Add(-3*time.Minute - 30*time.Second)
	deps := w.handlerDeps()
	deps.Reserve = 2 * time.Minute
	deps.Now = func() time.Time { now := tick; tick = tick.Add(time.Minute); return now }
	bounded, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	sweep := loadEvent(t, "close-unverified.json")
	resp, err := handler.New(deps)(bounded, sweep)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("near the deadline: %+v, %v; want the message acknowledged", resp, err)
	}
	if got := open(); got != 1 {
		t.Fatalf("%d requests left unverified, want 1 (two denials before the reserve)", got)
	}
	jobs := w.queue.Jobs()
	if len(jobs) != 1 {
		t.Fatalf("%d messages sent, want the sweep again", len(jobs))
	}
	again, err := json.Marshal(jobs[0])
	if err != nil {
		t.Fatal(err)
	}
	if m, err := privacy.ParseMessage(string(again)); err != nil || m.Kind != privacy.KindCloseUnverified {
		t.Fatalf("sent %s: %+v, %v", again, m, err)
	}

	sweep.Records[0].Body = string(again)
	resp, err = handler.New(w.handlerDeps())(ctx, sweep)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("second message: %+v, %v", resp, err)
	}
	if got := open(); got != 0 {
		t.Errorf("%d requests left unverified after the second message", got)
	}
	if got := len(w.queue.Jobs()); got != 1 {
		t.Errorf("the finished sweep sent %d more messages", got-1)
	}
}

// With nothing to deny the sweep is done however late it is, so it does not send itself
// again for ever (the SAM-parity replay runs it under a 30 s timeout, inside the reserve).
func TestUnverifiedSweepWithNothingToDenyIsDoneWhenLate(t *testing.T) {
	w := newWorker(t)
	deps := w.handlerDeps()
	deps.Reserve = time.Hour
	bounded, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Minute))
	defer cancel()
	resp, err := handler.New(deps)(bounded, loadEvent(t, "close-unverified.json"))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("%+v, %v", resp, err)
	}
	if got := len(w.queue.Jobs()); got != 0 {
		t.Errorf("%d messages sent, want none", got)
	}
}

// A privacy job that fails is logged as one to be retried on every receive but the privacy
// queue's last, and on the last as one that moves to the dead-letter queue.
func TestAFailedRunIsLoggedRetriedOrDeadLetteredByItsReceive(t *testing.T) {
	last := schema.QueueNamed(schema.QueuePrivacy).MaxReceives
	for count, want := range map[int]string{
		1:    "privacy job failed; it will be retried",
		last: fmt.Sprintf("privacy job failed; that was its last receive (%d): it moves to the dead-letter queue", last),
	} {
		w := newWorker(t)
		msg := w.approved(t)
		msg.Records[0].Attributes = map[string]string{"ApproximateReceiveCount": fmt.Sprint(count)}
		w.world.Fail = func(op string) error {
			if op == "delete_profile" {
				return errors.New("throttled")
			}
			return nil
		}
		var logged platformtest.Logged
		resp, _ := handler.New(w.handlerDeps())(logged.Context(context.Background()), msg)
		if got := platformtest.FailedIDs(resp); !slices.Equal(got, []string{msg.Records[0].MessageId}) {
			t.Fatalf("receive %d: failed %v, want the message", count, got)
		}
		if got := logged.Errors(t); !slices.Equal(got, []string{want}) {
			t.Errorf("receive %d of %d: logged errors %q, want %q", count, last, got, want)
		}
	}
}

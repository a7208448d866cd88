// Package handler is the privacy worker: the consumer of the privacy queue. For each
// approved request it runs the request's executors (shared/privacy) through
// privacy.Service, which checkpoints after every step, so a redelivered or re-sent job
// resumes where the last run stopped. When an invocation nears its deadline the worker
// stops between steps and sends the job to the queue again, so a large erasure takes as
// many invocations as it needs without using up the message's receives; the scheduled
// sweeps likewise stop between requests or batches and send themselves again. The sweeps
// deny requests left unverified (privacy.UnverifiedWindow) and remove what jobs past
// their expires_at or deleted, and uploads never committed, leave behind
// (job.SweepExpired).
package handler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// maxReceives is the privacy queue's receive on which a failing message, instead of coming
// back, moves to the dead-letter queue (what the log line of a failure says).
var maxReceives = schema.QueueNamed(schema.QueuePrivacy).MaxReceives

// Runner carries requests out (*privacy.Service).
type Runner interface {
	RunJob(ctx context.Context, j privacy.Job, build func(privacy.Request) ([]privacy.Executor, error)) (privacy.Request, error)
	CloseUnverified(ctx context.Context, olderThan time.Duration, late func() bool) (privacy.Closing, error)
}

var _ Runner = (*privacy.Service)(nil)

// Deps are the worker's ports.
type Deps struct {
	Runner Runner
	// Executors builds a fresh executor set for a request (privacy.Executors over the
	// real stores).
	Executors func(privacy.Request) ([]privacy.Executor, error)
	// Queue is the privacy queue: a job or sweep that ran out of time is sent again.
	Queue platform.Sender
	// ExpiredJobs and Media are what the expired-jobs sweep removes from: the jobs'
	// expiry markers, items and records, and their images.
	ExpiredJobs job.ExpiryStore
	Media       job.PrefixDeleter
	// Now is the clock the deadline is judged by; nil means time.Now.
	Now func() time.Time
	// Reserve is how long before the invocation's deadline no new step starts (default
	// DefaultReserve): a step must fit in it.
	Reserve time.Duration
}

// DefaultReserve leaves a step (at most a few hundred DynamoDB or S3 calls, or assembling
// one package) time to finish before Lambda's timeout.
const DefaultReserve = 2 * time.Minute

// errOutOfTime stops a run between steps.
var errOutOfTime = errors.New("privacy worker: invocation deadline near; continuing in a new message")

// New returns the privacy queue's handler. Messages run one after the other; a message
// that fails is reported as a batch item failure, so SQS retries only it, and a
// malformed one fails every time and ends in the dead-letter queue.
func New(d Deps) platform.SQSHandler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Reserve == 0 {
		d.Reserve = DefaultReserve
	}
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		for _, rec := range ev.Records {
			log := web.Logger(ctx).With("message_id", rec.MessageId)
			if err := handle(web.WithLogger(ctx, log), d, rec); err != nil {
				if errors.Is(err, privacy.ErrBadMessage) {
					log.WarnContext(ctx, "poison message: failing it until it moves to the dead-letter queue", "reason", err.Error())
				} else {
					log.ErrorContext(ctx, "privacy job failed; "+platform.NextForFailed(rec, maxReceives), "err", err, "receive_count", rec.Attributes["ApproximateReceiveCount"])
				}
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			}
		}
		return resp, nil
	}
}

func handle(ctx context.Context, d Deps, rec events.SQSMessage) error {
	m, err := privacy.ParseMessage(rec.Body)
	if err != nil {
		return err
	}
	log := web.Logger(ctx)
	var until time.Time
	if deadline, ok := ctx.Deadline(); ok {
		until = deadline.Add(-d.Reserve)
	}
	late := func() bool { return !until.IsZero() && !d.Now().Before(until) }
	switch m.Kind {
	case privacy.KindCloseUnverified:
		c, err := d.Runner.CloseUnverified(ctx, privacy.UnverifiedWindow, late)
		log.InfoContext(ctx, "unverified privacy requests denied", "denied", c.Denied, "done", c.Done)
		if err != nil {
			return fmt.Errorf("close unverified requests: %w", err)
		}
		if !c.Done {
			if err := d.Queue.SendJSON(ctx, sweepMessage(privacy.KindCloseUnverified)); err != nil {
				return fmt.Errorf("send the sweep again: %w", err)
			}
			log.InfoContext(ctx, "unverified requests sweep continues in a new message (invocation deadline near)")
		}
		return nil
	case privacy.KindExpireJobs:
		if d.ExpiredJobs == nil || d.Media == nil {
			return errors.New("expired-jobs sweep: no job store or media bucket wired")
		}
		sw, err := job.SweepExpired(ctx, d.ExpiredJobs, d.Media, d.Now(), late)
		log.InfoContext(ctx, "expired jobs swept", "jobs", sw.Jobs, "items", sw.Items, "objects", sw.Objects, "abandoned_uploads", sw.Abandoned, "done", sw.Done)
		if err != nil {
			return fmt.Errorf("sweep expired jobs: %w", err)
		}
		if !sw.Done {
			if err := d.Queue.SendJSON(ctx, sweepMessage(privacy.KindExpireJobs)); err != nil {
				return fmt.Errorf("send the sweep again: %w", err)
			}
			log.InfoContext(ctx, "expired jobs sweep continues in a new message (invocation deadline near)")
		}
		return nil
	}
	log = log.With("privacy_request", m.RequestID, "type", string(m.Type))
	build := func(r privacy.Request) ([]privacy.Executor, error) {
		execs, err := d.Executors(r)
		if err != nil {
			return nil, err
		}
		for i, ex := range execs {
			execs[i] = budgeted{Executor: ex, until: until, now: d.Now}
		}
		return execs, nil
	}
	r, err := d.Runner.RunJob(ctx, m.Job, build)
	var te *privacy.TransitionError
	switch {
	case err == nil:
		log.InfoContext(ctx, "privacy request carried out", "status", string(r.Status), "report", privacy.ReportOf(r))
		return nil
	case errors.Is(err, errOutOfTime):
		if err := d.Queue.SendJSON(ctx, m.Job); err != nil {
			return fmt.Errorf("send the job again: %w", err)
		}
		log.InfoContext(ctx, "privacy request continues in a new message (invocation deadline near)")
		return nil
	case errors.Is(err, privacy.ErrNotFound):
		// Expired or never existed: nothing can be carried out.
		log.WarnContext(ctx, "privacy request not found; job dropped")
		return nil
	case errors.As(err, &te):
		// Denied, or not approved: the job is stale (approval re-sends it when due).
		log.WarnContext(ctx, "privacy request is not in progress; job dropped", "reason", te.Error())
		return nil
	}
	return err
}

// sweepMessage is a scheduled sweep's message, as the daily schedule sends it.
func sweepMessage(kind string) any {
	return struct {
		V    int    `json:"v"`
		Kind string `json:"kind"`
	}{privacy.JobVersion, kind}
}

// budgeted refuses to start a step once the invocation's time is nearly up.
type budgeted struct {
	privacy.Executor
	until time.Time
	now   func() time.Time
}

func (b budgeted) Step(ctx context.Context, r privacy.Request, cursor string) (privacy.Step, error) {
	if !b.until.IsZero() && !b.now().Before(b.until) {
		return privacy.Step{}, errOutOfTime
	}
	return b.Executor.Step(ctx, r, cursor)
}

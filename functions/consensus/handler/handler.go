// Package handler is the consensus function: the consumer of the answers queue. It turns
// each passed task's answers into online Dawid-Skene updates (shared/consensus) of the
// items' labels and confidences, stored on the labels table, and runs the scheduled
// re-estimation pass that corrects the online updates' drift. README.md describes the
// model mapping and the guarantees.
package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// Jobs reads job definitions (*dynamo.Jobs).
type Jobs interface {
	GetJob(ctx context.Context, id string) (job.Job, error)
}

// Store keeps consensus state (*dynamo.Consensus).
type Store interface {
	Load(ctx context.Context, jobID, answerer string, itemIDs []string, k int) (dynamo.ConsensusSnapshot, error)
	Commit(ctx context.Context, c dynamo.ConsensusCommit) error
	Credit(ctx context.Context, jobID string, k int, credits []consensus.Credit) error
	AddJobCounts(ctx context.Context, jobID string, class, confusion []float64, expires time.Time) error

	ActiveJobs(ctx context.Context) ([]string, error)
	LoadJob(ctx context.Context, jobID string, k int) (dynamo.JobConsensus, error)
	PutItem(ctx context.Context, jobID string, it dynamo.ConsensusItem) error
	PutAnswerer(ctx context.Context, jobID string, w consensus.AnswererState, expires time.Time) error
	PutJobState(ctx context.Context, jobID string, st consensus.JobState, expires time.Time) error
}

var (
	_ Jobs  = (*dynamo.Jobs)(nil)
	_ Store = (*dynamo.Consensus)(nil)
)

// Deps are the consensus function's ports.
type Deps struct {
	Jobs  Jobs
	Store Store
	// Queue is the answers queue: a re-estimation request for every job fans out into
	// one message per active job.
	Queue platform.Sender
	Now   func() time.Time
	// Parallel bounds how many messages of a batch are handled at once (default 4).
	Parallel int
	// JobCache is how long a job definition is reused (default 30 s): a job's settings
	// change rarely and reading it for every answer would double the reads.
	JobCache time.Duration
	// PassReserve is how much of the invocation must be left to start a re-estimation pass
	// (default DefaultPassReserve); with less, the request is sent again for a later
	// invocation instead of being cut off by the timeout with its batch.
	PassReserve time.Duration
	// Wall is the clock the invocation's deadline is measured on (default time.Now); tests
	// drive it to run out of time.
	Wall func() time.Time
}

// DefaultPassReserve is half the function's 50 s timeout.
const DefaultPassReserve = 25 * time.Second

// Conflict retries: a message whose records moved under it is re-read and re-applied.
const (
	maxAttempts  = 8
	retryBackoff = 10 * time.Millisecond
)

type consumer struct {
	d Deps

	mu   sync.Mutex
	jobs map[string]cachedJob
	// passes runs one re-estimation pass at a time, also when batches are handled
	// concurrently (handle runs a batch's passes in one lane already): a pass holds a
	// whole job's consensus state in memory, and a batch can carry up to ten of them.
	passes sync.Mutex
}

type cachedJob struct {
	job job.Job
	at  time.Time
}

// New returns the consensus function's SQS handler. Messages that fail are reported as
// batch item failures; SQS retries them and moves them to the dead-letter queue after
// the queue's maximum receives (poison messages fail every time).
func New(d Deps) platform.SQSHandler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Parallel <= 0 {
		d.Parallel = 4
	}
	if d.JobCache == 0 {
		d.JobCache = 30 * time.Second
	}
	if d.PassReserve == 0 {
		d.PassReserve = DefaultPassReserve
	}
	if d.Wall == nil {
		d.Wall = time.Now
	}
	c := &consumer{d: d, jobs: map[string]cachedJob{}}
	return c.handle
}

func (c *consumer) handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	errs := make([]error, len(ev.Records))
	msgs := make([]message, len(ev.Records))
	// A panic fails its message alone.
	run := func(i int) {
		errs[i] = platform.Recovered(func() error { return c.message(ctx, ev.Records[i].MessageId, msgs[i]) })
	}
	// Re-estimation passes run one after another in a lane of their own, beside the slots:
	// a pass holds a whole job's state, so one at a time, and the batch's answers must not
	// wait behind the passes (the hourly fan-out puts one request per job on the queue).
	var passes []int
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.d.Parallel)
	for i, rec := range ev.Records {
		// Each body is decoded once, here; one that does not decode fails alone.
		if errs[i] = platform.Recovered(func() (err error) { msgs[i], err = decode(rec.Body); return err }); errs[i] != nil {
			continue
		}
		if msgs[i].Kind == KindReestimate && msgs[i].JobID != "" {
			passes = append(passes, i)
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			run(i)
		}()
	}
	if len(passes) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range passes {
				run(i)
			}
		}()
	}
	wg.Wait()
	var resp events.SQSEventResponse
	for i, err := range errs {
		if err == nil {
			continue
		}
		rec := ev.Records[i]
		log := web.Logger(ctx).With("message_id", rec.MessageId, "receive_count", rec.Attributes["ApproximateReceiveCount"])
		if errors.Is(err, errPoison) {
			log.WarnContext(ctx, "poison message: failing it until it moves to the dead-letter queue", "reason", err.Error())
		} else {
			log.ErrorContext(ctx, "message failed; "+platform.NextForFailed(rec, maxReceives), "err", err)
		}
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
	}
	return resp, nil
}

// maxReceives is the answers queue's receive on which a failing message, instead of coming
// back, moves to the dead-letter queue (what the log line of a failure says).
var maxReceives = schema.QueueNamed(schema.QueueAnswers).MaxReceives

// message handles one decoded message of the batch.
func (c *consumer) message(ctx context.Context, messageID string, m message) error {
	ctx = web.WithLogger(ctx, web.Logger(ctx).With("message_id", messageID))
	if m.Kind == KindReestimate {
		if m.JobID == "" {
			return c.fanOut(ctx)
		}
		return c.reestimate(ctx, m)
	}
	return c.answers(ctx, m)
}

// job returns a job definition, cached for JobCache.
func (c *consumer) job(ctx context.Context, id string) (job.Job, error) {
	now := c.d.Now()
	c.mu.Lock()
	cj, ok := c.jobs[id]
	c.mu.Unlock()
	if ok && now.Sub(cj.at) < c.d.JobCache {
		return cj.job, nil
	}
	j, err := c.d.Jobs.GetJob(ctx, id)
	if err != nil {
		return job.Job{}, err
	}
	c.mu.Lock()
	if len(c.jobs) > 1000 {
		c.jobs = map[string]cachedJob{}
	}
	c.jobs[id] = cachedJob{job: j, at: now}
	c.mu.Unlock()
	return j, nil
}

// answers applies one task's answers: read everything it touches, apply, write it all in
// one transaction conditioned on the versions read (re-read and retry if another consumer
// got there first), then add the commuting deltas to the other answerers and the job.
// A redelivered message finds its id in every item it answered and changes nothing.
func (c *consumer) answers(ctx context.Context, m message) error {
	j, err := c.job(ctx, m.JobID)
	log := web.Logger(ctx)
	// The challenge function sends answers only for jobs it drew from the pool, so a job
	// that is gone was deleted (or expired) while answers were in flight: the pool is
	// cached for 30 s and challenges live 5 minutes. Nothing is left to apply them to, and
	// retrying them into the dead-letter queue would only raise an alarm on every deletion.
	if errors.Is(err, job.ErrNotFound) {
		log.InfoContext(ctx, "answers to a job that no longer exists are dropped", "job_id", m.JobID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read job: %w", err)
	}
	if j.Status == job.StatusDeleting {
		log.InfoContext(ctx, "answers to a job being deleted are dropped", "job_id", j.ID)
		return nil
	}
	// The definition first: askable reads the job's classes.
	if len(j.Classes) < 2 || j.MinAnswers < 1 {
		return fmt.Errorf("job %s has an unusable definition", j.ID)
	}
	if !askable(j, m.Class) {
		return poison("class is not one the job asks about")
	}
	var ch change
	for attempt := 1; ; attempt++ {
		snap, err := c.d.Store.Load(ctx, j.ID, m.answererID(), m.itemIDs(), questionClasses)
		if err != nil {
			return err
		}
		ch, err = apply(j, snap, m, c.d.Now())
		if err != nil {
			return err
		}
		if !ch.changed() {
			break
		}
		err = c.d.Store.Commit(ctx, ch.commit)
		if err == nil {
			break
		}
		if !errors.Is(err, job.ErrConflict) || attempt == maxAttempts {
			return fmt.Errorf("commit answers (attempt %d): %w", attempt, err)
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
	// The deltas are best effort: once the items hold this message's id a redelivery
	// applies nothing, so failing here would not bring them back; re-estimation rebuilds
	// what they would have added.
	if len(ch.credits) > 0 {
		if err := c.d.Store.Credit(ctx, j.ID, questionClasses, ch.credits); err != nil {
			log.WarnContext(ctx, "crediting earlier answerers failed; the next re-estimation corrects it", "err", err)
		}
	}
	if ch.outcomes[outApplied] > 0 {
		if err := c.d.Store.AddJobCounts(ctx, j.ID, ch.classDelta, ch.confusionDelta, c.d.Now().Add(ClassCountsRetention)); err != nil {
			log.WarnContext(ctx, "adding job counts failed; the next re-estimation corrects it", "err", err)
		}
	}
	if log.Enabled(ctx, slog.LevelDebug) {
		log.DebugContext(ctx, "answers applied", "job_id", j.ID, "applied", ch.outcomes[outApplied], "duplicate", ch.outcomes[outDuplicate],
			"repeat", ch.outcomes[outRepeat], "closed", ch.outcomes[outClosed], "missing", ch.outcomes[outMissing], "completed", ch.completed)
	}
	return nil
}

// backoff is a jittered, growing pause between conflict retries.
func backoff(attempt int) time.Duration {
	d := retryBackoff << min(attempt, 6)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Wire builds the handler from the function's environment: the labels table (jobs and
// consensus state) and the answers queue (re-estimation fan-out).
func Wire(ctx context.Context, env *platform.Env) (platform.SQSHandler, error) {
	labels, err := env.Config.Table(schema.TableLabels)
	if err != nil {
		return nil, err
	}
	q, err := env.Queue(schema.QueueAnswers)
	if err != nil {
		return nil, err
	}
	now := env.Clock()
	db := env.DynamoDB()
	store := dynamo.NewConsensus(db, labels)
	store.Now = now
	return New(Deps{Jobs: dynamo.NewJobs(db, labels), Store: store, Queue: q, Now: now}), nil
}

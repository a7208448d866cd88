package handler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/web"
)

// fanOut turns a re-estimation request for every job into one request per active job, so
// each pass runs (and is retried) on its own within the function's timeout.
func (c *consumer) fanOut(ctx context.Context) error {
	ids, err := c.d.Store.ActiveJobs(ctx)
	if err != nil {
		return err
	}
	if c.d.Queue == nil {
		return errors.New("re-estimation fan-out: no answers queue configured")
	}
	msgs := make([]any, len(ids))
	for i, id := range ids {
		msgs[i] = ReestimateMessage{V: MessageVersion, Kind: KindReestimate, JobID: id}
	}
	if len(msgs) > 0 {
		if err := c.d.Queue.SendJSON(ctx, msgs...); err != nil {
			return fmt.Errorf("fan out re-estimation: %w", err)
		}
	}
	web.Logger(ctx).InfoContext(ctx, "re-estimation scheduled", "jobs", len(ids))
	return nil
}

// ReestimateReport says what one pass over a job did.
type ReestimateReport struct {
	Items, Questions, Answerers int
	ItemsWritten, Completed     int
	AnswerersWritten, Conflicts int
	Iterations                  int
	Converged                   bool
}

// reestimate runs the batch pass over one job: full Dawid-Skene EM over every answer its
// items hold (consensus.Params.Reestimate), then writes back each item whose result moved
// (and every open item, whose likelihoods future answers build on) and every answerer,
// conditioned on the versions read. A record that moved in between is left alone; the
// next pass corrects it.
func (c *consumer) reestimate(ctx context.Context, jobID string) error {
	j, err := c.d.Jobs.GetJob(ctx, jobID)
	if errors.Is(err, job.ErrNotFound) || err == nil && j.Status == job.StatusDeleting {
		// Deleted since it was scheduled: a pass would only write back records of a job
		// whose items are being removed.
		return nil
	}
	if err != nil {
		return fmt.Errorf("read job: %w", err)
	}
	c.passes.Lock()
	defer c.passes.Unlock()
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < c.d.PassReserve {
		// Too little of the invocation is left (passes before this one took it): run in a
		// later invocation rather than be cut off with the whole batch.
		if c.d.Queue == nil {
			return errors.New("re-estimation: no time left and no answers queue to continue on")
		}
		if err := c.d.Queue.SendJSON(ctx, ReestimateMessage{V: MessageVersion, Kind: KindReestimate, JobID: jobID}); err != nil {
			return fmt.Errorf("send re-estimation again: %w", err)
		}
		web.Logger(ctx).InfoContext(ctx, "re-estimation continues in a new message (invocation deadline near)", "job_id", jobID)
		return nil
	}
	rep, err := Reestimate(ctx, c.d.Store, j, c.d.Now())
	if err != nil {
		return err
	}
	web.Logger(ctx).InfoContext(ctx, "re-estimated job", "job_id", j.ID, "items", rep.Items, "items_written", rep.ItemsWritten,
		"completed", rep.Completed, "answerers_written", rep.AnswerersWritten, "conflicts", rep.Conflicts,
		"iterations", rep.Iterations, "converged", rep.Converged)
	return nil
}

// Reestimate runs one re-estimation pass over job j (see reestimate). It holds the job's
// whole consensus state in memory.
func Reestimate(ctx context.Context, store Store, j job.Job, now time.Time) (ReestimateReport, error) {
	jc, err := store.LoadJob(ctx, j.ID, questionClasses)
	if err != nil {
		return ReestimateReport{}, err
	}
	rep := ReestimateReport{Items: len(jc.Items), Answerers: len(jc.Answerers)}
	type ref struct {
		item  int
		class string
	}
	var states []consensus.ItemState
	var refs []ref
	for i, it := range jc.Items {
		for _, class := range slices.Sorted(maps.Keys(it.Questions)) {
			states = append(states, it.Questions[class])
			refs = append(refs, ref{i, class})
		}
	}
	rep.Questions = len(states)
	est, err := questionParams.Reestimate(jc.Job, states, jc.Answerers)
	if err != nil {
		return rep, fmt.Errorf("re-estimate job %s: %w", j.ID, err)
	}
	rep.Iterations, rep.Converged = est.Iterations, est.Converged

	// New item states, then the items worth writing.
	next := make([]dynamo.ConsensusItem, len(jc.Items))
	for i, it := range jc.Items {
		next[i] = it
		next[i].Questions = make(map[string]consensus.ItemState, len(it.Questions))
	}
	for n, r := range refs {
		next[r.item].Questions[r.class] = est.Items[n]
	}
	var writes []dynamo.ConsensusItem
	for i := range next {
		old := jc.Items[i]
		it := &next[i]
		became, err := settle(j, it, &est.Job, now)
		if err != nil {
			return rep, err
		}
		if became {
			rep.Completed++
		}
		// A done item's likelihoods are no longer used (no answer arrives, and the next
		// pass recomputes them): write it only when what the customer sees moved.
		if old.Status == job.ItemDone && !resultMoved(old.Result, it.Result) {
			continue
		}
		writes = append(writes, *it)
	}

	var conflicts int
	rep.ItemsWritten, conflicts, err = putAll(ctx, len(writes), func(ctx context.Context, i int) error {
		return store.PutItem(ctx, j.ID, writes[i])
	})
	if err != nil {
		return rep, fmt.Errorf("write re-estimated items: %w", err)
	}
	rep.Conflicts += conflicts

	// Answerers the items mention whose records expired are not written back.
	answerers := est.Answerers[:len(jc.Answerers)]
	rep.AnswerersWritten, conflicts, err = putAll(ctx, len(answerers), func(ctx context.Context, i int) error {
		w := answerers[i]
		return store.PutAnswerer(ctx, j.ID, w, answererExpiry(answererDay(w.Answerer)))
	})
	if err != nil {
		return rep, fmt.Errorf("write re-estimated answerers: %w", err)
	}
	rep.Conflicts += conflicts
	if err := store.PutJobState(ctx, j.ID, est.Job, now.Add(ClassCountsRetention)); err != nil {
		return rep, err
	}
	return rep, nil
}

// resultMoved reports whether a customer would see a different result.
func resultMoved(a, b job.Result) bool {
	return a.Label != b.Label || a.Status != b.Status || a.Answers != b.Answers || math.Abs(a.Confidence-b.Confidence) >= 1e-4
}

// parallel runs fn(0..n-1) with at most k at a time and returns the first error.
func parallel(ctx context.Context, n, k int, fn func(context.Context, int) error) error {
	sem := make(chan struct{}, k)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { first = err })
			}
		}()
	}
	wg.Wait()
	return first
}

// putAll runs n conditional writes, eight at a time, and counts the ones written and the
// ones that lost a version race: a record that moved since it was read is left to the
// next pass, which reads it afresh.
func putAll(ctx context.Context, n int, put func(ctx context.Context, i int) error) (written, conflicts int, err error) {
	var w, c atomic.Int64
	err = parallel(ctx, n, 8, func(ctx context.Context, i int) error {
		switch err := put(ctx, i); {
		case errors.Is(err, job.ErrConflict):
			c.Add(1)
		case err != nil:
			return err
		default:
			w.Add(1)
		}
		return nil
	})
	return int(w.Load()), int(c.Load()), err
}

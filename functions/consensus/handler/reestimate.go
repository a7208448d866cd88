package handler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform"
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

// ReestimateReport says what one pass, or one part of a pass, over a job did.
type ReestimateReport struct {
	Items, Questions, Answerers int
	ItemsWritten, Completed     int
	AnswerersWritten, Conflicts int
	Iterations                  int
	Converged                   bool
	// Cursor is how far the pass has written; Finished says that it wrote everything,
	// the answerers and the class counts included.
	Cursor   Cursor
	Finished bool
	// Loading and Estimating are the time the part took to load the job and run EM.
	Loading, Estimating time.Duration
}

// Cursor is how far a re-estimation pass has written: every item up to Item (in id order),
// then every answerer up to Answerer.
type Cursor struct{ Item, Answerer string }

// writeReserve is how much of the invocation a pass leaves when it stops starting writes:
// for the writes under way (at most eight) and sending its continuation.
const writeReserve = 5 * time.Second

// maxStalls is how many parts in a row may write nothing (loading the job and EM took the
// whole invocation) before the pass gives up until the next scheduled one: a fresh
// invocation has more time than a part that started behind another pass, but a job too
// large to load and estimate in any invocation must not go round the queue for ever.
const maxStalls = 3

// reestimate runs a part of the batch pass over one job: full Dawid-Skene EM over every
// answer its items hold (consensus.Params.Reestimate), then writes back, from m's cursor
// on, each item whose result moved (and every open item, whose likelihoods future answers
// build on), then every answerer and the class counts, conditioned on the versions read.
// A record that moved in between is left alone; the next pass corrects it. When the
// invocation's deadline nears, the part stops starting writes and sends the pass on with
// its cursor; the next part recomputes the same EM (it depends only on the answers).
func (c *consumer) reestimate(ctx context.Context, m message) error {
	j, err := c.d.Jobs.GetJob(ctx, m.JobID)
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
	log := web.Logger(ctx).With("job_id", j.ID)
	from := Cursor{Item: m.After, Answerer: m.AfterAnswerer}
	again := func(cur Cursor, stalls int) error {
		if c.d.Queue == nil {
			return errors.New("re-estimation: no time left and no answers queue to continue on")
		}
		next := ReestimateMessage{V: MessageVersion, Kind: KindReestimate, JobID: j.ID, After: cur.Item, AfterAnswerer: cur.Answerer, Stalls: stalls}
		if err := c.d.Queue.SendJSON(ctx, next); err != nil {
			return fmt.Errorf("send re-estimation again: %w", err)
		}
		return nil
	}
	deadline, bounded := ctx.Deadline()
	if bounded && deadline.Sub(c.d.Wall()) < c.d.PassReserve {
		// Too little of the invocation is left (passes before this one took it): run in a
		// later invocation rather than be cut off with the whole batch.
		if err := again(from, m.Stalls); err != nil {
			return err
		}
		log.InfoContext(ctx, "re-estimation continues in a new message (invocation deadline near)")
		return nil
	}
	part := Part{From: from}
	if bounded {
		stopAt := deadline.Add(-writeReserve)
		part.Stop = func() bool { return !c.d.Wall().Before(stopAt) }
		part.LoadBy = stopAt
	}
	rep, err := ReestimatePart(ctx, c.d.Store, j, c.d.Now(), part)
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "re-estimated job", "items", rep.Items, "items_written", rep.ItemsWritten,
		"completed", rep.Completed, "answerers_written", rep.AnswerersWritten, "conflicts", rep.Conflicts,
		"iterations", rep.Iterations, "converged", rep.Converged, "finished", rep.Finished, "after", rep.Cursor.Item,
		"load_ms", rep.Loading.Milliseconds(), "estimate_ms", rep.Estimating.Milliseconds())
	if rep.Finished {
		return nil
	}
	stalls := 0
	if rep.Cursor == from {
		stalls = m.Stalls + 1
		if stalls > maxStalls {
			log.ErrorContext(ctx, "re-estimation gave up: loading and estimating the job leaves no time to write back in an invocation; online consensus continues and the next scheduled pass tries again",
				"items", rep.Items, "questions", rep.Questions, "answerers", rep.Answerers, "tries", stalls,
				"load_ms", rep.Loading.Milliseconds(), "estimate_ms", rep.Estimating.Milliseconds())
			return nil
		}
		log.WarnContext(ctx, "re-estimation wrote nothing before the invocation deadline; trying again in a new message", "tries", stalls,
			"load_ms", rep.Loading.Milliseconds(), "estimate_ms", rep.Estimating.Milliseconds())
	}
	return again(rep.Cursor, stalls)
}

// Reestimate runs one whole re-estimation pass over job j (see reestimate). It holds the
// job's whole consensus state in memory.
func Reestimate(ctx context.Context, store Store, j job.Job, now time.Time) (ReestimateReport, error) {
	return ReestimatePart(ctx, store, j, now, Part{})
}

// Part is where a part of a pass starts and what bounds it.
type Part struct {
	From Cursor
	// Stop reports that the invocation's deadline nears: no further write starts (nil:
	// never).
	Stop func() bool
	// LoadBy, when set, cuts off loading the job: a part whose load takes longer ends with
	// nothing written, as when Stop fires, instead of failing with the invocation.
	LoadBy time.Time
}

// ReestimatePart runs the part of a pass over job j that starts after cursor p.From: it
// loads the job and runs EM in full, then writes the items after p.From.Item in id order,
// then (every item written) the answerers after p.From.Answerer in id order and the class
// counts. Before each write it asks p.Stop whether to stop; then it returns with Finished
// false and Cursor at the last record it wrote.
func ReestimatePart(ctx context.Context, store Store, j job.Job, now time.Time, p Part) (ReestimateReport, error) {
	from, stop := p.From, p.Stop
	if stop == nil {
		stop = func() bool { return false }
	}
	rep := ReestimateReport{Cursor: from}
	start := time.Now()
	lctx := ctx
	if !p.LoadBy.IsZero() {
		var cancel context.CancelFunc
		lctx, cancel = context.WithDeadline(ctx, p.LoadBy)
		defer cancel()
	}
	jc, err := store.LoadJob(lctx, j.ID, questionClasses)
	rep.Loading = time.Since(start)
	if err != nil && lctx.Err() != nil && ctx.Err() == nil {
		return rep, nil // the load took the time there was to write
	}
	if err != nil {
		return rep, err
	}
	rep.Items, rep.Answerers = len(jc.Items), len(jc.Answerers)
	if stop() {
		return rep, nil // no time left to estimate and write anything
	}
	// The questions of item i are states[first[i]:first[i+1]], about classes[…]. Memory
	// bounds the jobs a pass can take, so the job is held once: each item's map of
	// questions (about 1 KB even for one question) is dropped once its states are out and
	// rebuilt only to settle and write the item, and EM runs in place.
	n := 0
	for _, it := range jc.Items {
		n += len(it.Questions)
	}
	states := make([]consensus.ItemState, 0, n)
	classes := make([]string, 0, n)
	first := make([]int, len(jc.Items)+1)
	for i := range jc.Items {
		it := &jc.Items[i]
		first[i] = len(states)
		for _, class := range slices.Sorted(maps.Keys(it.Questions)) {
			states = append(states, it.Questions[class])
			classes = append(classes, class)
		}
		it.Questions = nil
	}
	first[len(jc.Items)] = len(states)
	rep.Questions = len(states)
	est, err := questionParams.ReestimateInPlace(jc.Job, states, jc.Answerers)
	if err != nil {
		return rep, fmt.Errorf("re-estimate job %s: %w", j.ID, err)
	}
	rep.Iterations, rep.Converged = est.Iterations, est.Converged
	rep.Estimating = time.Since(start) - rep.Loading
	questions := func(i int) map[string]consensus.ItemState {
		q := make(map[string]consensus.ItemState, first[i+1]-first[i])
		for n := first[i]; n < first[i+1]; n++ {
			q[classes[n]] = est.Items[n]
		}
		return q
	}

	// The items after the cursor in id order, with their new states; then the ones worth
	// writing.
	var tail []int
	for i, it := range jc.Items {
		if it.ID > from.Item {
			tail = append(tail, i)
		}
	}
	slices.SortFunc(tail, func(a, b int) int { return strings.Compare(jc.Items[a].ID, jc.Items[b].ID) })
	// writes are the items to write, settled in jc.Items and est.Items.
	var writes []int
	for _, i := range tail {
		old := jc.Items[i]
		it := old
		it.Questions = questions(i)
		became, err := settle(j, &it, &est.Job, now)
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
		for n := first[i]; n < first[i+1]; n++ {
			est.Items[n] = it.Questions[classes[n]]
		}
		it.Questions = nil
		jc.Items[i] = it
		writes = append(writes, i)
	}
	started, written, conflicts, err := putInOrder(ctx, len(writes), stop, func(ctx context.Context, n int) error {
		it := jc.Items[writes[n]]
		it.Questions = questions(writes[n])
		return store.PutItem(ctx, j.ID, it)
	})
	rep.ItemsWritten, rep.Conflicts = written, conflicts
	if err != nil {
		return rep, fmt.Errorf("write re-estimated items: %w", err)
	}
	if started > 0 {
		rep.Cursor.Item = jc.Items[writes[started-1]].ID
	}
	if started < len(writes) {
		return rep, nil
	}

	// Answerers the items mention whose records expired are not written back.
	var answerers []consensus.AnswererState
	for _, w := range est.Answerers[:len(jc.Answerers)] {
		if w.Answerer > from.Answerer {
			answerers = append(answerers, w)
		}
	}
	slices.SortFunc(answerers, func(a, b consensus.AnswererState) int { return strings.Compare(a.Answerer, b.Answerer) })
	started, written, conflicts, err = putInOrder(ctx, len(answerers), stop, func(ctx context.Context, i int) error {
		w := answerers[i]
		return store.PutAnswerer(ctx, j.ID, w, answererExpiry(answererDay(w.Answerer)))
	})
	rep.AnswerersWritten = written
	rep.Conflicts += conflicts
	if err != nil {
		return rep, fmt.Errorf("write re-estimated answerers: %w", err)
	}
	if started > 0 {
		rep.Cursor.Answerer = answerers[started-1].Answerer
	}
	if started < len(answerers) {
		return rep, nil
	}
	if err := store.PutJobState(ctx, j.ID, est.Job, now.Add(ClassCountsRetention)); err != nil {
		return rep, err
	}
	rep.Finished = true
	return rep, nil
}

// resultMoved reports whether a customer would see a different result.
func resultMoved(a, b job.Result) bool {
	return a.Label != b.Label || a.Status != b.Status || a.Answers != b.Answers || math.Abs(a.Confidence-b.Confidence) >= 1e-4
}

// putInOrder runs put(0..n-1), eight at a time and started in order, until stop says the
// invocation's deadline nears or a write fails. It waits for the writes under way, so the
// first started writes have all finished and the caller's cursor can be the last of them.
// A write that lost a version race counts as a conflict: the record moved since it was
// read and is left to the next pass, which reads it afresh.
func putInOrder(ctx context.Context, n int, stop func() bool, put func(ctx context.Context, i int) error) (started, written, conflicts int, err error) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var w, c atomic.Int64
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return err != nil
	}
	for ; started < n; started++ {
		sem <- struct{}{}
		if failed() || stop() {
			<-sem
			break
		}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			switch perr := platform.Recovered(func() error { return put(ctx, i) }); {
			case errors.Is(perr, job.ErrConflict):
				c.Add(1)
			case perr != nil:
				mu.Lock()
				if err == nil {
					err = perr
				}
				mu.Unlock()
			default:
				w.Add(1)
			}
		}(started)
	}
	wg.Wait()
	return started, int(w.Load()), int(c.Load()), err
}

package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/crowdgate/crowdgate/functions/consensus/handler"
	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
	"github.com/crowdgate/crowdgate/shared/web"
)

// fakeClock is the wall clock an invocation's deadline is measured on; the store's calls
// advance it, so running out of time does not depend on the machine's speed.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// passWorld is one job's consensus records in memory (memConsensus: the store's version
// conditions) with its class counts, on a clock that each item write advances by perWrite
// and loading the job by loadTime.
type passWorld struct {
	*memConsensus
	j        job.Job
	clock    *fakeClock
	perWrite time.Duration
	loadTime time.Duration
	counts   *consensus.JobState
	written  []string // item ids, in the order written
}

var passNow = time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)

// newPassWorld stores the answers of a crowd of answerers to every one of items items of
// a binary job whose items stay open, so that every pass writes every item back.
func newPassWorld(t *testing.T, items, answerers int) *passWorld {
	t.Helper()
	j := crowdJob("crowd", 2, 50, 1)
	m := &memConsensus{items: map[string]dynamo.ConsensusItem{}, answerers: map[string]consensus.AnswererState{}}
	for _, it := range crowdItems(j, items) {
		m.items[j.ID+"/"+it.ID] = dynamo.ConsensusItem{ID: it.ID, Gold: it.Gold, Status: job.ItemOpen, Questions: map[string]consensus.ItemState{}}
	}
	h := handler.New(handler.Deps{Jobs: fakeJobs{j.ID: j}, Store: m.store(), Now: func() time.Time { return passNow }})
	deliver(t, h, crowd(j.ID, items, answerers, 1), 1)
	return &passWorld{memConsensus: m, j: j, clock: &fakeClock{t: time.Now()}, perWrite: time.Second}
}

// clone is an independent copy of the records, on a clock of its own.
func (w *passWorld) clone() *passWorld {
	m := &memConsensus{items: map[string]dynamo.ConsensusItem{}, answerers: map[string]consensus.AnswererState{}}
	for k, it := range w.items {
		m.items[k] = cloneItem(it)
	}
	for k, a := range w.answerers {
		m.answerers[k] = cloneAnswerer(a)
	}
	c := *w
	c.memConsensus, c.clock, c.written = m, &fakeClock{t: w.clock.Now()}, nil
	return &c
}

func (w *passWorld) store() *fakeStore {
	s := w.memConsensus.store()
	s.LoadJobFn = func(_ context.Context, jobID string, k int) (dynamo.JobConsensus, error) {
		w.clock.Advance(w.loadTime)
		w.mu.Lock()
		defer w.mu.Unlock()
		jc := dynamo.JobConsensus{Job: consensus.NewJob(k)}
		if w.counts != nil {
			jc.Job = *w.counts
		}
		// Map order: the pass must not depend on the order the store returns.
		for key, it := range w.items {
			if strings.HasPrefix(key, jobID+"/") && it.Version > 0 {
				jc.Items = append(jc.Items, cloneItem(it))
			}
		}
		for key, a := range w.answerers {
			if strings.HasPrefix(key, jobID+"/") {
				jc.Answerers = append(jc.Answerers, cloneAnswerer(a))
			}
		}
		return jc, nil
	}
	s.PutItemFn = func(ctx context.Context, jobID string, it dynamo.ConsensusItem) error {
		w.clock.Advance(w.perWrite)
		err := w.commit(ctx, dynamo.ConsensusCommit{JobID: jobID, Items: []dynamo.ConsensusItem{it}})
		if err == nil {
			w.mu.Lock()
			w.written = append(w.written, it.ID)
			w.mu.Unlock()
		}
		return err
	}
	s.PutAnswererFn = func(ctx context.Context, jobID string, a consensus.AnswererState, _ time.Time) error {
		w.clock.Advance(w.perWrite)
		return w.commit(ctx, dynamo.ConsensusCommit{JobID: jobID, Answerer: &a})
	}
	s.PutJobStateFn = func(_ context.Context, _ string, st consensus.JobState, _ time.Time) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.counts = &st
		return nil
	}
	return s
}

// consumer is the consensus function over the world, with the answers queue q.
func (w *passWorld) consumer(q *queueBox) platform.SQSHandler {
	return handler.New(handler.Deps{Jobs: fakeJobs{w.j.ID: w.j}, Store: w.store(), Queue: q,
		Now: func() time.Time { return passNow }, Wall: w.clock.Now})
}

// invoke delivers body in one invocation with the function's 50 s on the world's clock.
func (w *passWorld) invoke(ctx context.Context, t *testing.T, h platform.SQSHandler, body string) {
	t.Helper()
	ctx, cancel := context.WithDeadline(ctx, w.clock.Now().Add(50*time.Second))
	defer cancel()
	resp, err := h(ctx, batch([]string{body}, 0))
	if err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("deliver %s: %v, failures %v", body, err, platformtest.FailedIDs(resp))
	}
}

// drain delivers what is on q, one message per invocation, until it is empty, and returns
// the bodies delivered.
func (w *passWorld) drain(ctx context.Context, t *testing.T, h platform.SQSHandler, q *queueBox) []string {
	t.Helper()
	var sent []string
	for len(q.msgs) > 0 {
		if len(sent) > 50 {
			t.Fatalf("still continuing after %d messages: %q", len(sent), sent)
		}
		body := q.msgs[0]
		q.msgs = q.msgs[1:]
		sent = append(sent, body)
		w.invoke(ctx, t, h, body)
	}
	return sent
}

// state is the stored records; without versions, the results only.
func (w *passWorld) state(t *testing.T, versions bool) string {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	items := map[string]dynamo.ConsensusItem{}
	for k, it := range w.items {
		if !versions {
			it.Version = 0
		}
		items[k] = it
	}
	answerers := map[string]consensus.AnswererState{}
	for k, a := range w.answerers {
		if !versions {
			a.Version = 0
		}
		answerers[k] = a
	}
	return platformtest.Snapshot(t, items, answerers, w.counts)
}

type reestimateBody struct {
	JobID         string `json:"job_id"`
	After         string `json:"after"`
	AfterAnswerer string `json:"after_answerer"`
	Stalls        int    `json:"stalls"`
}

func parseBody(t *testing.T, body string) reestimateBody {
	t.Helper()
	var b reestimateBody
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// A job too large to write back in one invocation is written in parts: each stops near
// the deadline and sends a continuation that resumes after the last item it wrote, so
// every item is written once, and the records end exactly as after one uninterrupted pass.
func TestALargePassContinuesAndEndsAsOneUninterruptedPass(t *testing.T) {
	w := newPassWorld(t, 120, 3)
	whole := w.clone()
	if _, err := handler.Reestimate(context.Background(), whole.store(), w.j, passNow); err != nil {
		t.Fatal(err)
	}

	q := &queueBox{}
	h := w.consumer(q)
	w.invoke(context.Background(), t, h, `{"v":1,"kind":"reestimate","job_id":"crowd"}`)
	continuations := w.drain(context.Background(), t, h, q)
	if len(continuations) < 2 {
		t.Fatalf("%d continuations (%q); want the 120 writes of a second each spread over at least three invocations", len(continuations), continuations)
	}
	last := ""
	for _, c := range continuations {
		b := parseBody(t, c)
		if b.JobID != w.j.ID || b.After <= last || b.Stalls != 0 {
			t.Errorf("continuation %s after %q: want the job and a cursor past the last one", c, last)
		}
		last = b.After
	}
	if got := len(w.written); got != 120 || len(slices.Compact(slices.Sorted(slices.Values(w.written)))) != 120 {
		t.Errorf("items written %d times (%v); want each of the 120 once", got, w.written)
	}
	if a, b := w.state(t, true), whole.state(t, true); a != b {
		t.Errorf("records after the continued pass differ from one uninterrupted pass:\n%s\n%s", a, b)
	}
}

// A continuation delivered twice (SQS delivers at least once), one after the other or to
// two consumers at once, writes nothing that differs from the uninterrupted pass: the
// writes are conditioned on the versions read, and a pass depends only on the answers.
func TestARedeliveredContinuationEndsAsOneUninterruptedPass(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		t.Run(fmt.Sprint("concurrent=", concurrent), func(t *testing.T) {
			w := newPassWorld(t, 120, 3)
			whole := w.clone()
			if _, err := handler.Reestimate(context.Background(), whole.store(), w.j, passNow); err != nil {
				t.Fatal(err)
			}
			q := &queueBox{}
			h := w.consumer(q)
			w.invoke(context.Background(), t, h, `{"v":1,"kind":"reestimate","job_id":"crowd"}`)
			if len(q.msgs) != 1 {
				t.Fatalf("sent %q, want one continuation", q.msgs)
			}
			cont := q.msgs[0]
			q.msgs = nil
			if concurrent {
				other := w.consumer(q)
				var wg sync.WaitGroup
				for _, h := range []platform.SQSHandler{h, other} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ctx, cancel := context.WithDeadline(context.Background(), w.clock.Now().Add(50*time.Second))
						defer cancel()
						if resp, err := h(ctx, batch([]string{cont}, 0)); err != nil || len(resp.BatchItemFailures) > 0 {
							t.Errorf("concurrent delivery: %v, failures %v", err, platformtest.FailedIDs(resp))
						}
					}()
				}
				wg.Wait()
			} else {
				w.invoke(context.Background(), t, h, cont)
				w.invoke(context.Background(), t, h, cont)
			}
			w.drain(context.Background(), t, h, q)
			if a, b := w.state(t, false), whole.state(t, false); a != b {
				t.Errorf("results after a redelivered continuation differ from one uninterrupted pass:\n%s\n%s", a, b)
			}
		})
	}
}

// Requests sent before passes could continue carry no cursor: they run from the first
// item. A cursor that is not an item id can never be applied.
func TestAReestimateRequestWithoutACursorStartsAtTheFirstItem(t *testing.T) {
	w := newPassWorld(t, 120, 3)
	q := &queueBox{}
	h := w.consumer(q)
	w.invoke(context.Background(), t, h, `{"v":1,"kind":"reestimate","job_id":"crowd"}`)
	if len(w.written) == 0 || len(w.written) >= 120 || len(q.msgs) != 1 {
		t.Fatalf("wrote %v and sent %q; want a first part and one continuation", w.written, q.msgs)
	}
	// The first part wrote the first items in id order, and the continuation resumes
	// after the last of them.
	written := slices.Sorted(slices.Values(w.written))
	var want []string
	for i := range len(written) {
		want = append(want, fmt.Sprintf("i-%03d", i))
	}
	if b := parseBody(t, q.msgs[0]); !slices.Equal(written, want) || b.After != want[len(want)-1] {
		t.Errorf("wrote %v and sent %s; want %v and a cursor at the last of them", written, q.msgs[0], want)
	}
	for _, body := range []string{
		`{"v":1,"kind":"reestimate","job_id":"crowd","after":"../x"}`,
		`{"v":1,"kind":"reestimate","after":"i-001"}`,
		`{"v":1,"kind":"reestimate","job_id":"crowd","after":"i-001","after_answerer":"2026-11-30/<script>"}`,
		`{"v":1,"kind":"reestimate","job_id":"crowd","stalls":-1}`,
	} {
		resp, _ := h(context.Background(), batch([]string{body}, 0))
		if len(resp.BatchItemFailures) != 1 {
			t.Errorf("%s was accepted; want it failed as poison", body)
		}
	}
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A job whose loading and estimation alone take up the invocation makes no progress: its
// pass tries again in a few fresh invocations, then gives up with an error in the log
// instead of sending itself round the queue for ever.
func TestAPassThatCannotWriteGivesUpAfterAFewTries(t *testing.T) {
	w := newPassWorld(t, 30, 3)
	w.loadTime = 48 * time.Second
	var logs lockedBuffer
	ctx := web.WithLogger(context.Background(), slog.New(slog.NewJSONHandler(&logs, nil)))
	q := &queueBox{}
	h := w.consumer(q)
	w.invoke(ctx, t, h, `{"v":1,"kind":"reestimate","job_id":"crowd"}`)
	sent := w.drain(ctx, t, h, q)
	if len(sent) == 0 || len(sent) > 5 {
		t.Fatalf("sent %q; want a few tries, then none", sent)
	}
	for i, body := range sent {
		if b := parseBody(t, body); b.Stalls != i+1 || b.After != "" {
			t.Errorf("try %d: %s; want stalls %d and no cursor", i+1, body, i+1)
		}
	}
	if len(w.written) > 0 {
		t.Errorf("wrote %v with no time left", w.written)
	}
	if out := logs.String(); !strings.Contains(out, `"level":"ERROR"`) || !strings.Contains(out, `"job_id":"crowd"`) {
		t.Errorf("no error names the job:\n%s", out)
	}
}

// Loading a job can itself take the invocation: the load is cut off in time for the part
// to end like one that wrote nothing (a continuation that counts the stall), not with the
// invocation's timeout, which would fail the whole batch.
func TestALoadThatRunsOutOfTimeEndsThePartWithoutFailing(t *testing.T) {
	store := &fakeStore{LoadJobFn: func(ctx context.Context, _ string, _ int) (dynamo.JobConsensus, error) {
		<-ctx.Done()
		return dynamo.JobConsensus{}, fmt.Errorf("query items: %w", ctx.Err())
	}}
	q := &queueBox{}
	h := handler.New(handler.Deps{Jobs: jobs(), Store: store, Queue: q, PassReserve: time.Second})
	// The part stops starting work 5 s before the deadline: 100 ms from now.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second+100*time.Millisecond)
	defer cancel()
	resp, err := h(ctx, batch([]string{`{"v":1,"kind":"reestimate","job_id":"reviews","after":"r-1"}`}, 0))
	if err != nil || len(resp.BatchItemFailures) > 0 || ctx.Err() != nil {
		t.Fatalf("failures %v, err %v, invocation ctx %v; want the part ended before the deadline", platformtest.FailedIDs(resp), err, ctx.Err())
	}
	if len(q.msgs) != 1 || parseBody(t, q.msgs[0]) != (reestimateBody{JobID: "reviews", After: "r-1", Stalls: 1}) {
		t.Errorf("sent %q; want the same cursor again with one stall", q.msgs)
	}
}

// A pass whose write-back panics (the writes run on goroutines of their own) fails its
// message alone; the answers in its batch still apply.
func TestAPassWhoseWriteBackPanicsFailsAlone(t *testing.T) {
	w := newPassWorld(t, 4, 3)
	store := w.store()
	store.PutItemFn = func(ctx context.Context, jobID string, it dynamo.ConsensusItem) error {
		var m map[string]int
		m[it.ID]++ // a nil map: a bug in the write path
		return nil
	}
	h := platform.IsolatePanics(handler.New(handler.Deps{Jobs: fakeJobs{"reviews": reviewsJob(), w.j.ID: w.j}, Store: store, Queue: &queueBox{},
		Now: func() time.Time { return passNow }}), slog.New(slog.DiscardHandler))
	ev := loadEvent(t, "answers-binary.json")
	ev.Records = append(ev.Records, batch([]string{`{"v":1,"kind":"reestimate","job_id":"crowd"}`}, 0).Records...)
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := platformtest.FailedIDs(resp); !slices.Equal(got, []string{"m-000000"}) {
		t.Errorf("failed %v, want only the pass", got)
	}
}

// Every log line of an invocation carries Lambda's request id (platform.StartSQS wraps
// the consumer in platform.InvocationLogged), so that an operator can join a pass's line
// (which job, how long loading and EM took) or a failed message's to Lambda's REPORT line
// for the invocation (duration, memory used) and to its timeout.
func TestEveryLogLineNamesTheInvocation(t *testing.T) {
	w := newPassWorld(t, 30, 3)
	var logs lockedBuffer
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "4f1c1d3e-invocation"})
	h := platform.InvocationLogged(w.consumer(&queueBox{}), slog.New(slog.NewJSONHandler(&logs, nil)))
	ev := batch([]string{`{"v":1,"kind":"reestimate","job_id":"crowd"}`, `{"v":2}`}, 0)
	if _, err := h(ctx, ev); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("want the pass's line and the poison message's, got:\n%s", logs.String())
	}
	for _, line := range lines {
		if !strings.Contains(line, `"request_id":"4f1c1d3e-invocation"`) || !strings.Contains(line, `"message_id":`) {
			t.Errorf("a line names not both the invocation and the message: %s", line)
		}
	}
}

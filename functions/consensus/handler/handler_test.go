package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/functions/consensus/handler"
	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// The handler logs through slog's default logger; tests keep it quiet.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// loadEvent reads an events/consensus file as Lambda delivers it.
func loadEvent(t testing.TB, name string) events.SQSEvent {
	t.Helper()
	return platformtest.SQSEvent(t, filepath.Join("..", "..", "..", "events", "consensus", name))
}

// The jobs the events/consensus files answer.
func reviewsJob() job.Job {
	return job.Job{ID: "reviews", CustomerID: "cust-1", Name: "Reviews", Kind: job.KindBinary, Question: map[string]string{"en": "Is this review positive?"},
		Classes: []string{"yes", "no"}, Priority: 1, Status: job.StatusActive, MinAnswers: 2, MaxAnswers: 5, Target: 0.9,
		CreatedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
}

func shapesJob() job.Job {
	return job.Job{ID: "shapes", CustomerID: "cust-1", Name: "Shapes", Kind: job.KindImageGrid,
		Question: map[string]string{"en": "Select every image that shows a {class}"}, Classes: []string{"circle", "square", "triangle"},
		Priority: 1, Status: job.StatusActive, MinAnswers: 2, MaxAnswers: 6, Target: 0.9, CreatedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
}

// fakeJobs serves job definitions from a map.
type fakeJobs map[string]job.Job

func (f fakeJobs) GetJob(_ context.Context, id string) (job.Job, error) {
	if j, ok := f[id]; ok {
		return j, nil
	}
	return job.Job{}, job.ErrNotFound
}

// fakeStore is a handler.Store of func fields; unset ones behave as an empty store in
// which every asked-for item exists and is open.
type fakeStore struct {
	LoadFn       func(ctx context.Context, jobID, answerer string, itemIDs []string, k int) (dynamo.ConsensusSnapshot, error)
	CommitFn     func(ctx context.Context, c dynamo.ConsensusCommit) error
	ActiveJobsFn func(ctx context.Context) ([]string, error)
	// The re-estimation pass's reads and writes.
	LoadJobFn     func(ctx context.Context, jobID string, k int) (dynamo.JobConsensus, error)
	PutItemFn     func(ctx context.Context, jobID string, it dynamo.ConsensusItem) error
	PutAnswererFn func(ctx context.Context, jobID string, w consensus.AnswererState, expires time.Time) error
	PutJobStateFn func(ctx context.Context, jobID string, st consensus.JobState, expires time.Time) error

	mu      sync.Mutex
	commits []dynamo.ConsensusCommit
	loads   int
}

var _ handler.Store = (*fakeStore)(nil)

func (f *fakeStore) Load(ctx context.Context, jobID, answerer string, itemIDs []string, k int) (dynamo.ConsensusSnapshot, error) {
	f.mu.Lock()
	f.loads++
	f.mu.Unlock()
	if f.LoadFn != nil {
		return f.LoadFn(ctx, jobID, answerer, itemIDs, k)
	}
	snap := dynamo.ConsensusSnapshot{Job: consensus.NewJob(k), Answerer: consensus.NewAnswerer(answerer, k), Items: map[string]dynamo.ConsensusItem{}}
	for _, id := range itemIDs {
		snap.Items[id] = dynamo.ConsensusItem{ID: id, Status: job.ItemOpen, Questions: map[string]consensus.ItemState{}}
	}
	return snap, nil
}

func (f *fakeStore) Commit(ctx context.Context, c dynamo.ConsensusCommit) error {
	if f.CommitFn != nil {
		if err := f.CommitFn(ctx, c); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commits = append(f.commits, c)
	return nil
}

func (f *fakeStore) Credit(context.Context, string, int, []consensus.Credit) error { return nil }

func (f *fakeStore) AddJobCounts(context.Context, string, []float64, []float64, time.Time) error {
	return nil
}

func (f *fakeStore) ActiveJobs(ctx context.Context) ([]string, error) {
	if f.ActiveJobsFn != nil {
		return f.ActiveJobsFn(ctx)
	}
	return nil, nil
}

func (f *fakeStore) LoadJob(ctx context.Context, jobID string, k int) (dynamo.JobConsensus, error) {
	if f.LoadJobFn != nil {
		return f.LoadJobFn(ctx, jobID, k)
	}
	return dynamo.JobConsensus{Job: consensus.NewJob(2)}, nil
}

func (f *fakeStore) PutItem(ctx context.Context, jobID string, it dynamo.ConsensusItem) error {
	if f.PutItemFn != nil {
		return f.PutItemFn(ctx, jobID, it)
	}
	return nil
}

func (f *fakeStore) PutAnswerer(ctx context.Context, jobID string, w consensus.AnswererState, expires time.Time) error {
	if f.PutAnswererFn != nil {
		return f.PutAnswererFn(ctx, jobID, w, expires)
	}
	return nil
}

func (f *fakeStore) PutJobState(ctx context.Context, jobID string, st consensus.JobState, expires time.Time) error {
	if f.PutJobStateFn != nil {
		return f.PutJobStateFn(ctx, jobID, st, expires)
	}
	return nil
}

func (f *fakeStore) committedItems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, c := range f.commits {
		for _, it := range c.Items {
			ids = append(ids, c.JobID+"/"+it.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// queueBox is an in-process answers queue.
type queueBox struct {
	mu   sync.Mutex
	msgs []string
}

func (q *queueBox) SendJSON(_ context.Context, msgs ...any) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		q.msgs = append(q.msgs, string(b))
	}
	return nil
}

func jobs() fakeJobs {
	return fakeJobs{"reviews": reviewsJob(), "shapes": shapesJob()}
}

func TestPoisonMessagesFailAndTheRestOfTheBatchSucceeds(t *testing.T) {
	store := &fakeStore{}
	h := handler.New(handler.Deps{Jobs: jobs(), Store: store})
	ev := loadEvent(t, "answers-poison.json")
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range ev.Records[1:] {
		want = append(want, r.MessageId)
	}
	if got := platformtest.FailedIDs(resp); !slices.Equal(got, want) {
		t.Errorf("failed %v\nwant   %v", got, want)
	}
	if got := store.committedItems(); !slices.Equal(got, []string{"reviews/r-1", "reviews/r-2"}) {
		t.Errorf("committed %v, want the good message's two items", got)
	}
}

// storeFailingOn is a store whose Load for the answerer of ev's record i returns fail(k)
// (fail may panic); every other load finds nothing stored.
func storeFailingOn(t *testing.T, ev events.SQSEvent, i int, fail func(k int) error) *fakeStore {
	t.Helper()
	var answerer string
	if err := json.Unmarshal([]byte(ev.Records[i].Body), &struct {
		Answerer *string `json:"answerer"`
	}{&answerer}); err != nil {
		t.Fatal(err)
	}
	empty := &fakeStore{}
	return &fakeStore{LoadFn: func(ctx context.Context, jobID, a string, ids []string, k int) (dynamo.ConsensusSnapshot, error) {
		if a == "2026-11-30/"+answerer {
			return dynamo.ConsensusSnapshot{}, fail(k)
		}
		return empty.Load(ctx, jobID, a, ids, k)
	}}
}

func TestAStoreFailureFailsOnlyThatMessage(t *testing.T) {
	ev := loadEvent(t, "answers-binary.json")
	store := storeFailingOn(t, ev, 1, func(int) error { return errors.New("throttled") })
	h := handler.New(handler.Deps{Jobs: jobs(), Store: store, Parallel: 1})
	resp, _ := h(context.Background(), ev)
	if got := platformtest.FailedIDs(resp); !slices.Equal(got, []string{ev.Records[1].MessageId}) {
		t.Errorf("failed %v, want only the second message", got)
	}
}

func TestALostRaceIsRetriedFromAFreshRead(t *testing.T) {
	conflicts := 2
	store := &fakeStore{}
	store.CommitFn = func(context.Context, dynamo.ConsensusCommit) error {
		if conflicts > 0 {
			conflicts--
			return job.ErrConflict
		}
		return nil
	}
	h := handler.New(handler.Deps{Jobs: jobs(), Store: store})
	resp, _ := h(context.Background(), loadEvent(t, "answers-image-grid.json"))
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", platformtest.FailedIDs(resp))
	}
	if store.loads != 3 || len(store.commits) != 1 {
		t.Errorf("%d reads and %d commits, want 3 reads (two lost races) and 1 commit", store.loads, len(store.commits))
	}
	c := store.commits[0]
	if c.Answerer == nil || len(c.Items) != 3 || c.Answerer.Answers != 3 {
		t.Fatalf("commit %+v", c)
	}
	// Six gold answers trained the answerer: 2 yes→yes, 4 no→no.
	if g := c.Answerer.Gold; g[0] != 2 || g[3] != 4 || g[1] != 0 || g[2] != 0 {
		t.Errorf("gold counts %v", g)
	}
	if exp := c.AnswererExpires; !exp.Equal(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("answerer expires %v", exp)
	}
}

func TestAnswersToAJobBeingDeletedAreDropped(t *testing.T) {
	j := reviewsJob()
	j.Status = job.StatusDeleting
	store := &fakeStore{}
	h := handler.New(handler.Deps{Jobs: fakeJobs{"reviews": j}, Store: store})
	resp, _ := h(context.Background(), loadEvent(t, "answers-binary.json"))
	if len(resp.BatchItemFailures) != 0 || len(store.commits) != 0 {
		t.Errorf("failures %v, %d commits; want the answers acknowledged and dropped", platformtest.FailedIDs(resp), len(store.commits))
	}
}

func TestScheduledReestimationFansOutOneMessagePerActiveJob(t *testing.T) {
	q := &queueBox{}
	store := &fakeStore{ActiveJobsFn: func(context.Context) ([]string, error) { return []string{"reviews", "shapes"}, nil }}
	h := handler.New(handler.Deps{Jobs: jobs(), Store: store, Queue: q})
	resp, _ := h(context.Background(), loadEvent(t, "reestimate-all.json"))
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", platformtest.FailedIDs(resp))
	}
	want := []string{`{"v":1,"kind":"reestimate","job_id":"reviews"}`, `{"v":1,"kind":"reestimate","job_id":"shapes"}`}
	if !slices.Equal(q.msgs, want) {
		t.Errorf("sent %q", q.msgs)
	}
	if handler.ScheduleBody() != `{"v":1,"kind":"reestimate"}` {
		t.Errorf("schedule body %s", handler.ScheduleBody())
	}
}

// A stored job whose definition is broken (no classes) fails its messages without touching
// the store; it must not panic, which would fail the whole batch.
func TestAJobWithoutClassesFailsItsMessagesWithoutPanicking(t *testing.T) {
	j := reviewsJob()
	j.Classes = nil
	store := &fakeStore{}
	h := handler.New(handler.Deps{Jobs: fakeJobs{"reviews": j}, Store: store})
	ev := loadEvent(t, "answers-binary.json")
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := platformtest.FailedIDs(resp); len(got) != len(ev.Records) || store.loads != 0 {
		t.Errorf("failed %v of %d messages after %d reads; want every message failed, nothing read", got, len(ev.Records), store.loads)
	}
}

// loadJobCounter counts re-estimation passes: each starts by loading the job's state.
type loadJobCounter struct {
	*fakeStore
	passes int
}

func (s *loadJobCounter) LoadJob(ctx context.Context, jobID string, k int) (dynamo.JobConsensus, error) {
	s.passes++
	return s.fakeStore.LoadJob(ctx, jobID, k)
}

// A customer deletes a job (or it expires) while visitors' answers to it are still on the
// queue: they are acknowledged and dropped, not retried into the dead-letter queue, and so
// is the hourly pass over a job being deleted.
func TestAnswersAndPassesForAJobThatIsGoneAreDropped(t *testing.T) {
	deleting := reviewsJob()
	deleting.Status = job.StatusDeleting
	for name, jobs := range map[string]fakeJobs{"gone": {}, "deleting": {"reviews": deleting}} {
		t.Run(name, func(t *testing.T) {
			store := &loadJobCounter{fakeStore: &fakeStore{}}
			h := handler.New(handler.Deps{Jobs: jobs, Store: store})
			for _, file := range []string{"answers-binary.json", "answers-job-gone.json", "reestimate-job.json"} {
				resp, err := h(context.Background(), loadEvent(t, file))
				if err != nil || len(resp.BatchItemFailures) > 0 {
					t.Fatalf("%s: failures %v, err %v", file, platformtest.FailedIDs(resp), err)
				}
			}
			if got := store.committedItems(); len(got) > 0 || store.loads > 0 || store.passes > 0 {
				t.Errorf("committed %v, %d loads, %d passes for a job that is %s", got, store.loads, store.passes, name)
			}
		})
	}
}

// passCounter is a store whose LoadJob (the start of a re-estimation pass) records how
// many passes run at once.
type passCounter struct {
	*fakeStore
	mu            sync.Mutex
	running, most int
	passes        int
}

func (s *passCounter) LoadJob(ctx context.Context, jobID string, k int) (dynamo.JobConsensus, error) {
	s.mu.Lock()
	s.running++
	s.passes++
	s.most = max(s.most, s.running)
	s.mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	s.mu.Lock()
	s.running--
	s.mu.Unlock()
	return s.fakeStore.LoadJob(ctx, jobID, k)
}

// The answers of a batch do not wait behind its re-estimation requests: the passes run one
// after another in a lane of their own while the answers take the slots. Here the first
// pass can end only once the answers are stored; when waiting passes held the slots (four
// requests, four slots), the answers never started.
func TestAnswersDoNotWaitBehindReestimationPasses(t *testing.T) {
	pass := loadEvent(t, "reestimate-job.json").Records[0]
	answers := loadEvent(t, "answers-binary.json").Records[0]
	var ev events.SQSEvent
	for i, id := range []string{"reviews", "shapes", "reviews", "shapes"} {
		r := pass
		r.MessageId, r.Body = fmt.Sprint("p", i), `{"v":1,"kind":"reestimate","job_id":"`+id+`"}`
		ev.Records = append(ev.Records, r)
	}
	ev.Records = append(ev.Records, answers)

	answered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	store := &passCounter{fakeStore: &fakeStore{
		CommitFn: func(context.Context, dynamo.ConsensusCommit) error {
			once.Do(func() { close(answered) })
			return nil
		},
		LoadJobFn: func(context.Context, string, int) (dynamo.JobConsensus, error) {
			select {
			case <-answered:
			case <-release:
			}
			return dynamo.JobConsensus{Job: consensus.NewJob(2)}, nil
		},
	}}
	q := &queueBox{}
	h := handler.New(handler.Deps{Jobs: jobs(), Store: store, Queue: q})
	type result struct {
		resp events.SQSEventResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := h(context.Background(), ev)
		done <- result{resp, err}
	}()
	// Only a guard against hanging: the answers start at once or never.
	select {
	case <-answered:
	case <-time.After(30 * time.Second):
		t.Error("the answers waited behind the re-estimation requests")
		close(release)
	}
	res := <-done
	if res.err != nil || len(res.resp.BatchItemFailures) > 0 {
		t.Fatalf("err %v, failed %v: nothing may fail", res.err, platformtest.FailedIDs(res.resp))
	}
	if store.passes != 4 || store.most != 1 || len(q.msgs) != 0 {
		t.Fatalf("%d passes, at most %d at once, %d re-sent; want all 4 run one at a time in this invocation", store.passes, store.most, len(q.msgs))
	}
}

// A batch of re-estimation requests (the hourly fan-out puts one per job on the queue) runs
// its passes one at a time, each holding one job's state; a request that finds too little
// of the invocation left is sent again instead of being cut off with its batch.
func TestReestimationPassesRunOneAtATimeAndContinueNearTheDeadline(t *testing.T) {
	ev := loadEvent(t, "reestimate-job.json")
	rec := ev.Records[0]
	ev.Records = nil
	for i, id := range []string{"reviews", "shapes", "reviews", "shapes"} {
		r := rec
		r.MessageId = fmt.Sprint("m", i)
		r.Body = `{"v":1,"kind":"reestimate","job_id":"` + id + `"}`
		ev.Records = append(ev.Records, r)
	}
	store := &passCounter{fakeStore: &fakeStore{}}
	q := &queueBox{}
	h := handler.New(handler.Deps{Jobs: jobs(), Store: store, Queue: q})
	resp, err := h(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) > 0 || store.passes != 4 || store.most != 1 || len(q.msgs) != 0 {
		t.Fatalf("failures %v, err %v, %d passes, at most %d at once, %d re-sent", platformtest.FailedIDs(resp), err, store.passes, store.most, len(q.msgs))
	}

	store = &passCounter{fakeStore: &fakeStore{}}
	h = handler.New(handler.Deps{Jobs: jobs(), Store: store, Queue: q, PassReserve: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // less than the reserve
	defer cancel()
	resp, err = h(ctx, ev)
	if err != nil || len(resp.BatchItemFailures) > 0 || store.passes != 0 || len(q.msgs) != 4 {
		t.Fatalf("near the deadline: failures %v, err %v, %d passes run, %d sent again", platformtest.FailedIDs(resp), err, store.passes, len(q.msgs))
	}
	for _, m := range q.msgs {
		if !strings.Contains(m, `"kind":"reestimate"`) || !strings.Contains(m, `"job_id":"`) {
			t.Errorf("sent again: %s", m)
		}
	}
}

// A message whose records make the store (or the model) panic fails alone, as
// platform.IsolatePanics promises every consumer: the batch's messages run on their own
// goroutines, where a panic nothing recovers would end the process (on AWS the whole
// batch returns to the queue, batch after batch; locally `crowdgate serve` dies).
func TestAMessageThatPanicsFailsAloneAndTheRestApply(t *testing.T) {
	ev := loadEvent(t, "answers-binary.json")
	store := storeFailingOn(t, ev, 1, func(k int) error {
		var confusion []float64
		_ = confusion[k] // a record of another shape than the code expects
		return nil
	})
	h := platform.IsolatePanics(handler.New(handler.Deps{Jobs: jobs(), Store: store}), slog.New(slog.DiscardHandler))
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := platformtest.FailedIDs(resp); !slices.Equal(got, []string{ev.Records[1].MessageId}) {
		t.Errorf("failed %v, want only the second message", got)
	}
	if got := len(store.committedItems()); got == 0 {
		t.Error("the other messages of the batch were not applied")
	}
}

// A message that fails is logged as one to be retried on every receive but the answers
// queue's last, and on the last as one that moves to the dead-letter queue, so an operator
// knows which to expect.
func TestAFailedMessageIsLoggedRetriedOrDeadLetteredByItsReceive(t *testing.T) {
	last := schema.QueueNamed(schema.QueueAnswers).MaxReceives
	for count, want := range map[int]string{
		1:        "message failed; it will be retried",
		last - 1: "message failed; it will be retried",
		last:     fmt.Sprintf("message failed; that was its last receive (%d): it moves to the dead-letter queue", last),
	} {
		ev := loadEvent(t, "answers-binary.json")
		ev.Records[1].Attributes = map[string]string{"ApproximateReceiveCount": fmt.Sprint(count)}
		store := storeFailingOn(t, ev, 1, func(int) error { return errors.New("throttled") })
		h := handler.New(handler.Deps{Jobs: jobs(), Store: store, Parallel: 1})
		var logged platformtest.Logged
		resp, _ := h(logged.Context(context.Background()), ev)
		if got := platformtest.FailedIDs(resp); !slices.Equal(got, []string{ev.Records[1].MessageId}) {
			t.Fatalf("receive %d: failed %v, want only the second message", count, got)
		}
		if got := logged.Errors(t); !slices.Equal(got, []string{want}) {
			t.Errorf("receive %d of %d: logged errors %q, want %q", count, last, got, want)
		}
	}
}

package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/crowdgate/crowdgate/functions/consensus/handler"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
	"github.com/crowdgate/crowdgate/shared/queue"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// endpoints names a base endpoint per SDK service, as AWS_ENDPOINT_URL_<SERVICE> would.
type endpoints map[string]string

func (e endpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	u, ok := e[sdkID]
	return u, ok, nil
}

// world is the consensus function as Wire builds it over fresh tables in DynamoDB Local.
type world struct {
	env   *platform.Env
	jobs  *dynamo.Jobs
	store *dynamo.Consensus
	queue *queueBox
}

func newWorld(t testing.TB) *world {
	t.Helper()
	db := dynamotest.Client(t)
	tables := dynamotest.Tables(t, db)
	q := &queueBox{}
	env := &platform.Env{
		Config: config.Config{Tables: tables, Queues: map[string]string{schema.QueueAnswers: "local://answers"}},
		AWS: aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
			ConfigSources: []any{endpoints{"DynamoDB": dynamotest.Endpoint(t)}}},
		Now:    time.Now,
		Queues: func(string) (platform.Sender, error) { return q, nil },
	}
	labels := tables[schema.TableLabels]
	return &world{env: env, jobs: dynamo.NewJobs(env.DynamoDB(), labels), store: dynamo.NewConsensus(env.DynamoDB(), labels), queue: q}
}

// consumer wires one consumer instance (each has its own job cache, as a Lambda instance).
func (w *world) consumer(t testing.TB) platform.SQSHandler {
	t.Helper()
	h, err := handler.Wire(context.Background(), w.env)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (w *world) seed(t testing.TB, j job.Job, items ...job.Item) {
	t.Helper()
	ctx := context.Background()
	if err := w.jobs.PutJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	for start := 0; start < len(items); start += 500 {
		if err := w.jobs.PutItems(ctx, j, items[start:min(start+500, len(items))]...); err != nil {
			t.Fatal(err)
		}
	}
}

// seedEventJobs stores the jobs and items the events/consensus files answer.
func (w *world) seedEventJobs(t testing.TB) {
	r := reviewsJob()
	var items []job.Item
	for i := 1; i <= 4; i++ {
		items = append(items, job.Item{JobID: r.ID, ID: fmt.Sprintf("r-%d", i), Text: fmt.Sprintf("review %d", i), Status: job.ItemOpen})
	}
	items = append(items,
		job.Item{JobID: r.ID, ID: "g-pos", Text: "great", Gold: true, GoldLabel: "yes", Status: job.ItemOpen},
		job.Item{JobID: r.ID, ID: "g-neg", Text: "awful", Gold: true, GoldLabel: "no", Status: job.ItemOpen})
	w.seed(t, r, items...)
	s := shapesJob()
	items = nil
	for i := range 36 {
		it := job.Item{JobID: s.ID, ID: fmt.Sprintf("img-%02d", i), MediaKey: fmt.Sprintf("shapes/img-%02d.png", i), Status: job.ItemOpen}
		if i < 30 {
			it.Gold, it.GoldLabel = true, s.Classes[i/12]
		}
		items = append(items, it)
	}
	w.seed(t, s, items...)
}

func (w *world) entry(t testing.TB, jobID, itemID string) job.Entry {
	t.Helper()
	e, err := w.jobs.GetEntry(context.Background(), jobID, itemID)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustHandle(t testing.TB, h platform.SQSHandler, ev events.SQSEvent) {
	t.Helper()
	resp, err := h(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("handler: %v, failures %v", err, platformtest.FailedIDs(resp))
	}
}

// The events/consensus files through the wired function, on DynamoDB Local.
func TestEventFilesOnDynamoDB(t *testing.T) {
	w := newWorld(t)
	w.seedEventJobs(t)
	h := w.consumer(t)

	// One message at a time, so the outcome does not depend on which of a batch's
	// messages (handled concurrently) commits first.
	for _, rec := range loadEvent(t, "answers-binary.json").Records {
		mustHandle(t, h, events.SQSEvent{Records: []events.SQSMessage{rec}})
	}
	r1, r2 := w.entry(t, "reviews", "r-1"), w.entry(t, "reviews", "r-2")
	// Two agreeing answerers who each got their gold right reach the target of 0.9, so
	// whichever third answer came last found the item done.
	if r1.Status != job.ItemDone || r1.Label != "yes" || r1.Confidence < 0.9 || r1.AnswerCount != 2 {
		t.Errorf("r-1 after three yes answers: %+v", r1)
	}
	if r2.Status != job.ItemOpen || r2.AnswerCount != 2 || r2.Confidence >= 0.9 {
		t.Errorf("r-2 after a split: %+v", r2)
	}
	if r3 := w.entry(t, "reviews", "r-3"); r3.AnswerCount != 0 || r3.Label != "" {
		t.Errorf("unanswered r-3: %+v", r3)
	}

	// The duplicate file redelivers the first binary message three times: nothing moves,
	// not even the records' versions.
	before, _ := w.store.Load(context.Background(), "reviews", "x", []string{"r-1", "r-2"}, 2)
	mustHandle(t, h, loadEvent(t, "answers-duplicate.json"))
	after, _ := w.store.Load(context.Background(), "reviews", "x", []string{"r-1", "r-2"}, 2)
	for _, id := range []string{"r-1", "r-2"} {
		b, _ := json.Marshal(before.Items[id])
		a, _ := json.Marshal(after.Items[id])
		if string(a) != string(b) {
			t.Errorf("%s changed on redelivery:\nbefore %s\nafter  %s", id, b, a)
		}
	}

	mustHandle(t, h, loadEvent(t, "answers-image-grid.json"))
	img := w.entry(t, "shapes", "img-30")
	if img.Label != "circle" || img.AnswerCount != 1 || img.Confidence != 0 || img.Status != job.ItemOpen {
		t.Errorf("img-30 after one yes about circle: %+v", img)
	}
	if e := w.entry(t, "shapes", "img-31"); e.Label == "circle" || e.AnswerCount != 1 {
		t.Errorf("img-31 after one no about circle: %+v", e)
	}
	if g := w.entry(t, "shapes", "img-00"); g.AnswerCount != 0 || g.Label != "" {
		t.Errorf("a gold item got consensus: %+v", g)
	}

	mustHandle(t, h, loadEvent(t, "reestimate-job.json"))
	if r1 := w.entry(t, "reviews", "r-1"); r1.Status != job.ItemDone || r1.Label != "yes" || r1.AnswerCount != 2 {
		t.Errorf("r-1 after re-estimation: %+v", r1)
	}
	mustHandle(t, h, loadEvent(t, "reestimate-all.json"))
	slices.Sort(w.queue.msgs)
	if want := []string{`{"v":1,"kind":"reestimate","job_id":"reviews"}`, `{"v":1,"kind":"reestimate","job_id":"shapes"}`}; !slices.Equal(w.queue.msgs, want) {
		t.Errorf("fan-out sent %q", w.queue.msgs)
	}
}

// crowd generates the answers of a simulated crowd to a binary job: every answerer
// answers every item, in tasks of three items, right with probability 0.8; each task also
// carries a gold answer.
func crowd(jobID string, items, answerers int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 7))
	truth := make([]bool, items)
	for i := range truth {
		truth[i] = r.IntN(2) == 0
	}
	label := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	var bodies []string
	for a := range answerers {
		for start := 0; start < items; start += 3 {
			m := map[string]any{"v": 1, "id": fmt.Sprintf("c_%d_%d:t2", a, start), "job_id": jobID, "class": "yes",
				"answerer": fmt.Sprintf("%064x", a+1), "day": "2026-11-30", "answered_at": "2026-11-30T19:30:00Z", "solve_ms": 4000}
			var answers []map[string]string
			for i := start; i < min(start+3, items); i++ {
				right := r.Float64() < 0.8
				answers = append(answers, map[string]string{"item_id": fmt.Sprintf("i-%03d", i), "label": label(truth[i] == right)})
			}
			m["answers"] = answers
			gt := r.IntN(2) == 0
			m["gold"] = []map[string]string{{"item_id": "gold-" + label(gt), "truth": label(gt), "label": label(gt)}}
			b, _ := json.Marshal(m)
			bodies = append(bodies, string(b))
		}
	}
	return bodies
}

func crowdJob(id string, minAnswers, maxAnswers int, target float64) job.Job {
	j := reviewsJob()
	j.ID, j.MinAnswers, j.MaxAnswers, j.Target = id, minAnswers, maxAnswers, target
	return j
}

func crowdItems(j job.Job, n int) []job.Item {
	items := []job.Item{
		{JobID: j.ID, ID: "gold-yes", Text: "g", Gold: true, GoldLabel: "yes", Status: job.ItemOpen},
		{JobID: j.ID, ID: "gold-no", Text: "g", Gold: true, GoldLabel: "no", Status: job.ItemOpen},
	}
	for i := range n {
		items = append(items, job.Item{JobID: j.ID, ID: fmt.Sprintf("i-%03d", i), Text: fmt.Sprintf("text %d", i), Status: job.ItemOpen})
	}
	return items
}

func batch(bodies []string, firstID int) events.SQSEvent {
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprintf("m-%06d", firstID+i), Body: b,
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
	}
	return ev
}

// deliver hands bodies to h in batches of size, one batch after the other.
func deliver(t testing.TB, h platform.SQSHandler, bodies []string, size int) {
	t.Helper()
	for start := 0; start < len(bodies); start += size {
		mustHandle(t, h, batch(bodies[start:min(start+size, len(bodies))], start))
	}
}

// redelivered returns bodies shuffled, with every message delivered one to three times
// (duplicates both next to each other, inside one batch, and far apart).
func redelivered(bodies []string, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 11))
	var out []string
	for _, b := range bodies {
		for range 1 + r.IntN(3) {
			out = append(out, b)
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

type itemResult struct {
	Label   string
	Status  job.ItemStatus
	Answers int
	Conf    float64
	IDs     []string // the answer ids the item holds
	State   string   // the question states as stored
}

func (w *world) results(t testing.TB, jobID string) map[string]itemResult {
	t.Helper()
	jc, err := w.store.LoadJob(context.Background(), jobID, 2)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]itemResult{}
	for _, it := range jc.Items {
		var ids []string
		for _, q := range it.Questions {
			for _, a := range q.Answers {
				ids = append(ids, a.ID)
			}
		}
		slices.Sort(ids)
		state, _ := json.Marshal(it.Questions)
		out[it.ID] = itemResult{Label: it.Result.Label, Status: it.Result.Status, Answers: it.Result.Answers, Conf: it.Result.Confidence, IDs: ids, State: string(state)}
	}
	return out
}

// Duplicates and any delivery order give the same labels once re-estimation has run: the
// stored answers are the same set, and the batch pass depends on nothing else.
func TestDuplicateAndOutOfOrderDeliveryGiveTheSameResult(t *testing.T) {
	for _, tc := range []struct {
		name       string
		min, max   int
		target     float64
		sameStates bool // open items are always written back, so their states must match bit for bit
	}{
		{name: "items stay open", min: 2, max: 50, target: 1, sameStates: true},
		{name: "items complete at five answers", min: 5, max: 5, target: 0.99},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const items, answerers = 9, 5
			j := crowdJob("crowd", tc.min, tc.max, tc.target)
			bodies := crowd(j.ID, items, answerers, 1)

			inOrder := newWorld(t)
			inOrder.seed(t, j, crowdItems(j, items)...)
			deliver(t, inOrder.consumer(t), bodies, 1)

			shuffled := newWorld(t)
			shuffled.seed(t, j, crowdItems(j, items)...)
			deliver(t, shuffled.consumer(t), redelivered(bodies, 2), 4)

			for _, w := range []*world{inOrder, shuffled} {
				if _, err := handler.Reestimate(context.Background(), w.store, j, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			a, b := inOrder.results(t, j.ID), shuffled.results(t, j.ID)
			if len(a) != items || len(b) != items {
				t.Fatalf("%d and %d items with answers, want %d", len(a), len(b), items)
			}
			for id, x := range a {
				y := b[id]
				if x.Label != y.Label || x.Status != y.Status || x.Answers != y.Answers || !slices.Equal(x.IDs, y.IDs) || math.Abs(x.Conf-y.Conf) >= 1e-4 {
					t.Errorf("%s: in order %+v\nshuffled with duplicates %+v", id, x, y)
				}
				if x.Answers != answerers || len(x.IDs) != answerers {
					t.Errorf("%s holds %d answers (%v), want one per answerer", id, x.Answers, x.IDs)
				}
				if tc.sameStates && x.State != y.State {
					t.Errorf("%s: stored states differ after re-estimation:\n%s\n%s", id, x.State, y.State)
				}
			}
		})
	}
}

// Several consumers at once (Lambda scales out) lose no answer and count none twice:
// every item ends with every answer exactly once, every answerer with all of their
// answers, and the job's class counts add up to one per answered item.
func TestConcurrentConsumersLoseNoAnswer(t *testing.T) {
	const items, answerers = 6, 8
	w := newWorld(t)
	j := crowdJob("busy", 2, 50, 1)
	w.seed(t, j, crowdItems(j, items)...)
	bodies := redelivered(crowd(j.ID, items, answerers, 3), 4)
	var wg sync.WaitGroup
	const consumers = 3
	for c := range consumers {
		h := w.consumer(t)
		var mine []string
		for i := c; i < len(bodies); i += consumers {
			mine = append(mine, bodies[i])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := 0; start < len(mine); start += 5 {
				ev := batch(mine[start:min(start+5, len(mine))], c*10000+start)
				resp, err := h(context.Background(), ev)
				if err != nil || len(resp.BatchItemFailures) > 0 {
					t.Errorf("consumer %d: %v, failures %v", c, err, platformtest.FailedIDs(resp))
				}
			}
		}()
	}
	wg.Wait()

	res := w.results(t, j.ID)
	for id, r := range res {
		if r.Answers != answerers || len(r.IDs) != answerers || len(slices.Compact(slices.Clone(r.IDs))) != answerers {
			t.Errorf("%s: %d answers %v, want %d distinct", id, r.Answers, r.IDs, answerers)
		}
	}
	jc, err := w.store.LoadJob(context.Background(), j.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(jc.Answerers) != answerers {
		t.Fatalf("%d answerer records, want %d", len(jc.Answerers), answerers)
	}
	for _, a := range jc.Answerers {
		if a.Answers != items {
			t.Errorf("answerer %s counted %d answers, want %d", a.Answerer, a.Answers, items)
		}
	}
	sum := jc.Job.ClassCounts[0] + jc.Job.ClassCounts[1]
	if math.Abs(sum-items) > 1e-9 {
		t.Errorf("class counts %v sum to %v, want %d (a lost or doubled delta)", jc.Job.ClassCounts, sum, items)
	}
}

// Poison messages go round until the queue's maximum receives and then into the
// dead-letter queue; the good message of the same batch is applied once.
func TestPoisonMessagesEndInTheDeadLetterQueue(t *testing.T) {
	w := newWorld(t)
	w.seedEventJobs(t)
	b := queue.NewBroker(nil, queue.WithVisibilityScale(0.001))
	t.Cleanup(b.Close)
	for _, q := range schema.Queues {
		b.Declare(q)
	}
	b.Subscribe(schema.QueueAnswers, w.consumer(t), 10)
	send, err := b.Sender(schema.QueueAnswers)
	if err != nil {
		t.Fatal(err)
	}
	ev := loadEvent(t, "answers-poison.json")
	for _, r := range ev.Records {
		if err := send.SendJSON(context.Background(), json.RawMessage(r.Body)); err != nil {
			// The undecodable body cannot travel as json.RawMessage; send it as a string
			// value the consumer cannot decode either.
			if err := send.SendJSON(context.Background(), r.Body); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, dead := b.Stats(schema.QueueAnswers); dead != len(ev.Records)-1 {
		t.Errorf("%d dead letters, want %d", dead, len(ev.Records)-1)
	}
	if e := w.entry(t, "reviews", "r-2"); e.AnswerCount != 1 {
		t.Errorf("the good message's item r-2 has %d answers, want 1", e.AnswerCount)
	}
}

// racingStore loses the version race on the writes it names, as when a consumer moved
// a record between the pass's read and its write.
type racingStore struct {
	handler.Store
	item, answerer string
}

func (s racingStore) PutItem(ctx context.Context, jobID string, it dynamo.ConsensusItem) error {
	if it.ID == s.item {
		return job.ErrConflict
	}
	return s.Store.PutItem(ctx, jobID, it)
}

func (s racingStore) PutAnswerer(ctx context.Context, jobID string, w consensus.AnswererState, expires time.Time) error {
	if w.Answerer == s.answerer {
		return job.ErrConflict
	}
	return s.Store.PutAnswerer(ctx, jobID, w, expires)
}

// A re-estimation pass that loses a race on a record leaves that record as it was, writes
// the rest, and reports the conflicts; the next pass corrects the skipped record.
func TestReestimationSkipsRecordsThatMovedAndCountsThem(t *testing.T) {
	const items, answerers = 6, 4
	w := newWorld(t)
	j := crowdJob("crowd", 2, 50, 1) // items stay open, so every item is written back
	w.seed(t, j, crowdItems(j, items)...)
	deliver(t, w.consumer(t), crowd(j.ID, items, answerers, 3), 1)
	before := w.results(t, j.ID)
	jc, err := w.store.LoadJob(context.Background(), j.ID, 2)
	if err != nil || len(jc.Items) != items || len(jc.Answerers) != answerers {
		t.Fatalf("loaded %d items, %d answerers (%v)", len(jc.Items), len(jc.Answerers), err)
	}
	racing := racingStore{Store: w.store, item: jc.Items[0].ID, answerer: jc.Answerers[0].Answerer}

	rep, err := handler.Reestimate(context.Background(), racing, j, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep.ItemsWritten != items-1 || rep.AnswerersWritten != answerers-1 || rep.Conflicts != 2 {
		t.Errorf("report %+v; want %d items and %d answerers written, 2 conflicts", rep, items-1, answerers-1)
	}
	if after := w.results(t, j.ID)[racing.item]; after.State != before[racing.item].State {
		t.Errorf("the item that moved was overwritten:\n%s\n%s", before[racing.item].State, after.State)
	}

	rep, err = handler.Reestimate(context.Background(), w.store, j, time.Now())
	if err != nil || rep.Conflicts != 0 || rep.ItemsWritten != items || rep.AnswerersWritten != answerers {
		t.Errorf("next pass: %+v (%v); want everything written", rep, err)
	}
}

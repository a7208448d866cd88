package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/functions/consensus/handler"
	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
	"github.com/crowdgate/crowdgate/shared/web"
)

// BenchmarkConsumer measures answers per second through the wired consumer against
// DynamoDB Local: one op is one SQS batch of 10 image-grid messages with 3 open and 6
// gold items each (30 answers), from visitors that each answer once, on a job of 2,000
// open items that never completes an item (so every answer is applied, with credits to
// the items' earlier answerers and a class-count update).
//
//	unshare -rn sh -c 'ip link set lo up && CROWDGATE_ISOLATED_NET=1 go test -run "^$" -bench Consumer -benchtime 30x ./functions/consensus/handler/'
func BenchmarkConsumer(b *testing.B) {
	const items, perBatch, perMessage = 2000, 10, 3
	w := newWorld(b)
	j := crowdJob("bench", 2, 50, 1)
	w.seed(b, j, crowdItems(j, items)...)
	h := w.consumer(b)
	r := rand.New(rand.NewPCG(5, 6))
	next := 0
	message := func() string {
		next++
		m := map[string]any{"v": 1, "id": fmt.Sprintf("c_%d:t0", next), "job_id": j.ID, "class": "yes",
			"answerer": fmt.Sprintf("%064x", next), "day": "2026-11-30", "answered_at": "2026-11-30T19:30:00Z", "solve_ms": 4000}
		var answers, gold []map[string]string
		seen := map[int]bool{}
		for len(answers) < perMessage {
			i := r.IntN(items)
			if seen[i] {
				continue
			}
			seen[i] = true
			answers = append(answers, map[string]string{"item_id": fmt.Sprintf("i-%03d", i), "label": []string{"yes", "no"}[r.IntN(2)]})
		}
		for k := range 6 {
			l := []string{"yes", "no"}[k%2]
			gold = append(gold, map[string]string{"item_id": "gold-" + l, "truth": l, "label": l})
		}
		m["answers"], m["gold"] = answers, gold
		body, _ := json.Marshal(m)
		return string(body)
	}
	batches := make([][]string, b.N)
	for i := range batches {
		for range perBatch {
			batches[i] = append(batches[i], message())
		}
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		resp, err := h(context.Background(), batch(batches[i], i*perBatch))
		if err != nil || len(resp.BatchItemFailures) > 0 {
			b.Fatalf("batch %d: %v, %d failures", i, err, len(resp.BatchItemFailures))
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N*perBatch*perMessage)/elapsed.Seconds(), "answers/s")
	b.ReportMetric(float64(b.N*perBatch)/elapsed.Seconds(), "messages/s")
}

// syntheticJob is the consensus state of a binary job of n open items with perItem answers
// each, right with probability 0.8, from n answerers who each answered perItem items (so
// every answerer record is unexpired, the worst case for the final part).
func syntheticJob(n, perItem int) dynamo.JobConsensus {
	r := rand.New(rand.NewPCG(9, 10))
	p := consensus.Params{Classes: 2, Min: 1, Max: math.MaxInt32, Target: 2}
	jc := dynamo.JobConsensus{Job: consensus.NewJob(2)}
	ws := make([]consensus.AnswererState, n)
	for a := range ws {
		ws[a] = consensus.NewAnswerer(fmt.Sprintf("2026-11-30/%064x", a+1), 2)
		ws[a].Gold = []float64{4, 1, 1, 4}
	}
	for i := range n {
		truth := r.IntN(2)
		q := consensus.NewItem(fmt.Sprintf("i-%06d#yes", i), 2)
		for k := range perItem {
			w := &ws[(i+k*max(n/perItem, 1))%n]
			label := truth
			if r.Float64() >= 0.8 {
				label = 1 - truth
			}
			if _, err := p.Update(&jc.Job, &q, w, consensus.Answer{ID: fmt.Sprintf("c_%d_%d:t0", i, k), Answerer: w.Answerer, Label: label}); err != nil {
				panic(err)
			}
		}
		// Through JSON, as the store decodes it: every answer's strings allocated on their own.
		var qs map[string]consensus.ItemState
		if b, err := json.Marshal(map[string]consensus.ItemState{"yes": q}); err != nil || json.Unmarshal(b, &qs) != nil {
			panic(err)
		}
		jc.Items = append(jc.Items, dynamo.ConsensusItem{ID: fmt.Sprintf("i-%06d", i), Status: job.ItemOpen,
			Questions: qs, Result: job.Result{Status: job.ItemOpen, Answers: perItem}})
	}
	jc.Answerers = ws
	return jc
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkReestimateInMemory measures a pass's in-memory work (loading the job through
// the store's decoding, EM, settling every item, scheduling the writes, against a store
// that writes nothing) over a job of CONSENSUS_BENCH_ITEMS items (default 50,000) with 9
// answers each, stored in minidyn (in memory, read in pages), and the live heap per item
// the pass holds: once loaded, while writing, and at its peak (sampled; ±10%).
//
//	go test -run '^$' -bench ReestimateInMemory -benchtime 2x ./functions/consensus/handler/
func BenchmarkReestimateInMemory(b *testing.B) {
	n := envInt("CONSENSUS_BENCH_ITEMS", 50000)
	j := crowdJob("bench", 2, 50, 1)
	s := storedJob(b, j, syntheticJob(n, 9))
	var loaded, writing, peak float64
	var rep handler.ReestimateReport
	b.ResetTimer()
	for b.Loop() {
		rep, loaded, writing, peak = passMemory(b, s, j, n)
	}
	b.ReportMetric(float64(rep.Iterations), "em-iterations")
	b.ReportMetric(rep.Loading.Seconds(), "load-s")
	b.ReportMetric(rep.Estimating.Seconds(), "em-s")
	b.ReportMetric(loaded, "loaded-B/item")
	b.ReportMetric(writing, "writing-live-B/item")
	b.ReportMetric(peak, "peak-live-B/item")
}

// countingStore counts the items and answerers a pass writes.
type countingStore struct {
	handler.Store
	items, answerers atomic.Int64
}

func (s *countingStore) PutAnswerer(ctx context.Context, jobID string, w consensus.AnswererState, expires time.Time) error {
	err := s.Store.PutAnswerer(ctx, jobID, w, expires)
	if err == nil {
		s.answerers.Add(1)
	}
	return err
}

func (s *countingStore) PutItem(ctx context.Context, jobID string, it dynamo.ConsensusItem) error {
	err := s.Store.PutItem(ctx, jobID, it)
	if err == nil {
		s.items.Add(1)
	}
	return err
}

// BenchmarkReestimatePass measures one whole re-estimation pass over a synthetic job of
// CONSENSUS_BENCH_ITEMS open items (default 5,000) with 9 answers each against DynamoDB
// Local, through the consumer in invocations of the function's 50 s (so continuations
// included): items written per second over the whole pass, the invocations it took, and
// what loading the job and EM alone take.
//
//	unshare -rn sh -c 'ip link set lo up && CROWDGATE_ISOLATED_NET=1 go test -run "^$" -bench ReestimatePass -benchtime 1x -timeout 60m ./functions/consensus/handler/'
func BenchmarkReestimatePass(b *testing.B) {
	n := envInt("CONSENSUS_BENCH_ITEMS", 5000)
	w := newWorld(b)
	j := crowdJob("bench", 2, 50, 1)
	var items []job.Item
	for i := range n {
		items = append(items, job.Item{JobID: j.ID, ID: fmt.Sprintf("i-%06d", i), Text: "t", Status: job.ItemOpen})
	}
	w.seed(b, j, items...)
	jc := syntheticJob(n, 9)
	ctx := context.Background()
	seed := func(k int, put func(i int) error) {
		sem := make(chan struct{}, 16)
		var wg sync.WaitGroup
		for i := range k {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := put(i); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	seed(len(jc.Items), func(i int) error { return w.store.PutItem(ctx, j.ID, jc.Items[i]) })
	seed(len(jc.Answerers), func(i int) error {
		return w.store.PutAnswerer(ctx, j.ID, jc.Answerers[i], time.Now().Add(72*time.Hour))
	})
	if b.Failed() {
		b.FailNow()
	}

	// Loading and EM alone: stop once both are done, before the first write.
	calls := 0
	rep, err := handler.ReestimatePart(ctx, w.store, j, time.Now(), handler.Part{Stop: func() bool { calls++; return calls > 1 }})
	if err != nil || rep.Items != n || rep.ItemsWritten != 0 {
		b.Fatalf("%+v, %v", rep, err)
	}

	store := &countingStore{Store: w.store}
	h := handler.New(handler.Deps{Jobs: w.jobs, Store: store, Queue: w.queue})
	// Each part's log line: what it loaded, wrote, and how long loading and EM took.
	ctx = web.WithLogger(ctx, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	b.ResetTimer()
	start := time.Now()
	invocations := 0
	for b.Loop() {
		w.queue.msgs = []string{`{"v":1,"kind":"reestimate","job_id":"bench"}`}
		for len(w.queue.msgs) > 0 {
			body := w.queue.msgs[0]
			w.queue.msgs = w.queue.msgs[1:]
			invocations++
			ictx, cancel := context.WithTimeout(ctx, 50*time.Second)
			resp, err := h(ictx, batch([]string{body}, invocations))
			cancel()
			if err != nil || len(resp.BatchItemFailures) > 0 {
				b.Fatalf("invocation %d: %v, failures %v", invocations, err, platformtest.FailedIDs(resp))
			}
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(store.items.Load())/elapsed.Seconds(), "items-written/s")
	b.ReportMetric(float64(store.items.Load()+store.answerers.Load())/elapsed.Seconds(), "records-written/s")
	b.ReportMetric(float64(invocations)/float64(b.N), "invocations/op")
	// Reported after the loop: ResetTimer drops metrics reported before it.
	b.ReportMetric(rep.Loading.Seconds(), "load-s")
	b.ReportMetric(rep.Estimating.Seconds(), "em-s")
}

package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
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

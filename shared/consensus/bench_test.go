package consensus

import (
	"fmt"
	"testing"
)

// BenchmarkUpdate measures one in-memory online update (what the consumer does per answer
// besides I/O): items cycle through 1..8 answers, so the cost is averaged over item sizes.
// "open" never completes an item; "curtailing" (max 9, a target never reached) computes
// the completion rule's FlipChance on every answer from the second on.
func BenchmarkUpdate(b *testing.B) {
	rules := []struct {
		name string
		p    Params
	}{{"open", Params{Min: 1, Max: 1 << 20, Target: 2}}, {"curtailing", Params{Min: 2, Max: 9, Target: 0.999999}}}
	for _, rule := range rules {
		for _, k := range []int{2, 10} {
			b.Run(fmt.Sprintf("%s/k=%d", rule.name, k), func(b *testing.B) { benchmarkUpdate(b, k, rule.p) })
		}
	}
}

func benchmarkUpdate(b *testing.B, k int, rule Params) {
	rule.Classes = k
	p, err := rule.Validate()
	if err != nil {
		b.Fatal(err)
	}
	const nItems, nAnswerers, perItem = 64, 8, 8
	job := NewJob(k)
	items := make([]ItemState, nItems)
	for i := range items {
		items[i] = NewItem(fmt.Sprintf("item-%d", i), k)
		items[i].Answers = make([]ItemAnswer, 0, perItem)
	}
	ws := make([]AnswererState, nAnswerers)
	for i := range ws {
		ws[i] = NewAnswerer(fmt.Sprintf("w%d", i), k)
		for c := range k {
			ws[i].Soft[c*k+c] = 20
			ws[i].Soft[c*k+(c+1)%k] = 5
		}
	}
	ids := make([]string, perItem)
	for i := range ids {
		ids[i] = fmt.Sprintf("c_%d:t0", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		it := &items[n%nItems]
		j := len(it.Answers)
		if j == perItem || it.Done {
			it.Answers, it.Posterior, it.Done = it.Answers[:0], nil, false
			j = 0
		}
		w := &ws[j]
		if _, err := p.Update(&job, it, w, Answer{ID: ids[j], Answerer: w.Answerer, Label: n % k}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReestimate measures one batch pass over 1,000 items with 7 answers each.
func BenchmarkReestimate(b *testing.B) {
	crowd := newCrowd(10, 3, 1000, 7, mixedWorkers(20, 5, 2))
	s := newSim(b, allAnswers(3))
	s.run(b, crowd.answers)
	items, ws := s.states()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.p.Reestimate(s.job, items, ws); err != nil {
			b.Fatal(err)
		}
	}
}

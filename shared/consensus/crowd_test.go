package consensus

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// A synthetic crowd with known reliabilities.
type simWorker struct {
	name string
	kind string // "good", "random" or "flip"
	acc  float64
}

type simAnswer struct {
	item   string
	answer Answer
}

type simCrowd struct {
	k       int
	truth   map[string]int
	answers []simAnswer // in arrival order
	workers []simWorker
}

// newCrowd has perItem distinct workers answer each item. good workers are right with
// probability acc and otherwise pick a wrong label at random; random workers pick any label;
// flip workers answer (truth+1) mod k with probability acc.
func newCrowd(seed uint64, k, items, perItem int, workers []simWorker) simCrowd {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	c := simCrowd{k: k, truth: map[string]int{}, workers: workers}
	for i := range items {
		id := fmt.Sprintf("item-%04d", i)
		t := r.IntN(k)
		c.truth[id] = t
		for j, wi := range r.Perm(len(workers))[:perItem] {
			w := workers[wi]
			label := t
			switch w.kind {
			case "good":
				if r.Float64() >= w.acc {
					label = (t + 1 + r.IntN(k-1)) % k
				}
			case "random":
				label = r.IntN(k)
			case "flip":
				label = (t + 1) % k
				if r.Float64() >= w.acc {
					label = r.IntN(k)
				}
			}
			c.answers = append(c.answers, simAnswer{item: id, answer: Answer{ID: fmt.Sprintf("m%d-%d", i, j), Answerer: w.name, Label: label}})
		}
	}
	// Arrival order: interleaved across items, as challenges are served.
	r.Shuffle(len(c.answers), func(i, j int) { c.answers[i], c.answers[j] = c.answers[j], c.answers[i] })
	return c
}

func mixedWorkers(good, random, flip int) []simWorker {
	var ws []simWorker
	for i := range good {
		ws = append(ws, simWorker{name: fmt.Sprintf("good%d", i), kind: "good", acc: 0.8})
	}
	for i := range random {
		ws = append(ws, simWorker{name: fmt.Sprintf("random%d", i), kind: "random"})
	}
	for i := range flip {
		ws = append(ws, simWorker{name: fmt.Sprintf("flip%d", i), kind: "flip", acc: 0.9})
	}
	return ws
}

// sim holds the records the consumer and the store would keep, in memory.
type sim struct {
	p         Params
	job       JobState
	items     map[string]*ItemState
	itemOrder []string
	answerers map[string]*AnswererState
	applied   int
}

func newSim(t testing.TB, p Params) *sim {
	t.Helper()
	p, err := p.Validate()
	if err != nil {
		t.Fatal(err)
	}
	return &sim{p: p, job: NewJob(p.Classes), items: map[string]*ItemState{}, answerers: map[string]*AnswererState{}}
}

func (s *sim) answerer(name string) *AnswererState {
	w := s.answerers[name]
	if w == nil {
		nw := NewAnswerer(name, s.p.Classes)
		w = &nw
		s.answerers[name] = w
	}
	return w
}

// deliver applies one answer as the consumer does, including the deltas for records not in
// hand.
func (s *sim) deliver(t testing.TB, item string, a Answer) Effect {
	t.Helper()
	it := s.items[item]
	if it == nil {
		ni := NewItem(item, s.p.Classes)
		it = &ni
		s.items[item] = it
		s.itemOrder = append(s.itemOrder, item)
	}
	eff, err := s.p.Update(&s.job, it, s.answerer(a.Answerer), a)
	if err != nil {
		t.Fatalf("update %s/%s: %v", item, a.ID, err)
	}
	for _, c := range eff.Credits {
		if err := s.answerer(c.Answerer).Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.job.Apply(eff.ClassDelta); err != nil {
		t.Fatal(err)
	}
	if err := s.job.AddConfusion(eff.ConfusionDelta); err != nil {
		t.Fatal(err)
	}
	if eff.Outcome == Applied {
		s.applied++
	}
	return eff
}

func (s *sim) run(t testing.TB, answers []simAnswer) {
	t.Helper()
	for _, a := range answers {
		s.deliver(t, a.item, a.answer)
	}
}

func (s *sim) states() ([]ItemState, []AnswererState) {
	items := make([]ItemState, 0, len(s.items))
	for _, id := range s.itemOrder {
		items = append(items, *s.items[id])
	}
	var ws []AnswererState
	for _, w := range s.answerers {
		ws = append(ws, *w)
	}
	return items, ws
}

func (s *sim) reestimate(t testing.TB) Estimate {
	t.Helper()
	items, ws := s.states()
	est, err := s.p.Reestimate(s.job, items, ws)
	if err != nil {
		t.Fatal(err)
	}
	return est
}

func accuracy(items []ItemState, truth map[string]int) float64 {
	right := 0
	for _, it := range items {
		if it.Label == truth[it.Item] {
			right++
		}
	}
	return float64(right) / float64(len(items))
}

func majorityAccuracy(c simCrowd) float64 {
	votes := map[string][]int{}
	for _, a := range c.answers {
		if votes[a.item] == nil {
			votes[a.item] = make([]int, c.k)
		}
		votes[a.item][a.answer.Label]++
	}
	var score float64
	for id, v := range votes {
		score += voteCount(v).credit(c.truth[id])
	}
	return score / float64(len(votes))
}

// allAnswers is a stopping rule that never completes an item.
func allAnswers(k int) Params {
	return Params{Classes: k, Min: 1, Max: 1 << 20, Target: 2}
}

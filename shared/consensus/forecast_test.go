package consensus

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func oneCoinMatrix(k int, acc float64) [][]float64 {
	e := make([][]float64, k)
	for c := range e {
		e[c] = make([]float64, k)
		for l := range e[c] {
			e[c][l] = (1 - acc) / float64(k-1)
		}
		e[c][c] = acc
	}
	return e
}

func TestFlipChanceByHand(t *testing.T) {
	f := LabelForecast(oneCoinMatrix(2, 0.7))
	for _, tc := range []struct {
		name      string
		post      []float64
		remaining int
		want      float64
	}{
		// One more answer against 0.8 leaves 0.8·0.3 = 0.24 > 0.2·0.7 = 0.14: no change.
		{"one answer cannot overturn 0.8", []float64{0.8, 0.2}, 1, 0},
		// Against 0.6 it does (0.18 < 0.28); it comes with P(label 1) = 0.6·0.3 + 0.4·0.7.
		{"one answer can overturn 0.6", []float64{0.6, 0.4}, 1, 0.46},
		// Two answers against 0.8: both must say 1 (0.072 < 0.098), P = 0.8·0.09 + 0.2·0.49.
		{"two answers against 0.8", []float64{0.8, 0.2}, 2, 0.17},
		{"no answers left", []float64{0.5, 0.5}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := FlipChance(tc.post, f, tc.remaining)
			if !ok || math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("FlipChance(%v, %d) = %v, %v; want %v", tc.post, tc.remaining, got, ok, tc.want)
			}
		})
	}
}

// bruteFlip walks every sequence (not composition) of future outcomes: an independent check
// of the composition walk and its multinomial coefficients.
func bruteFlip(post []float64, f Forecast, m int) float64 {
	k := len(post)
	cur := 0
	for c := range post {
		if post[c] > post[cur] {
			cur = c
		}
	}
	var total float64
	var walk func(depth int, prob []float64, score []float64)
	walk = func(depth int, prob []float64, score []float64) {
		if depth == m {
			for c := range k {
				if c != cur && score[c] >= score[cur] {
					for t := range k {
						total += prob[t]
					}
					return
				}
			}
			return
		}
		for o := range f.Like {
			np, ns := make([]float64, k), make([]float64, k)
			for t := range k {
				np[t] = prob[t] * f.Prob[t][o]
				ns[t] = score[t] + f.Like[o][t]
			}
			walk(depth+1, np, ns)
		}
	}
	score := make([]float64, k)
	for c, v := range post {
		score[c] = math.Log(v)
	}
	walk(0, append([]float64(nil), post...), score)
	return total
}

func TestFlipChanceMatchesEverySequence(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 60 {
		k := 2 + r.IntN(3)
		e := make([][]float64, k)
		for c := range e {
			e[c] = make([]float64, k)
			for l := range e[c] {
				e[c][l] = 0.05 + r.Float64()
				if l == c {
					e[c][l] += float64(k) * 0.6
				}
			}
			normalise(e[c])
		}
		post := make([]float64, k)
		for c := range post {
			post[c] = 0.01 + r.Float64()
		}
		normalise(post)
		m := 1 + r.IntN(5)
		forecasts := map[string]Forecast{"labels": LabelForecast(e), "questions": QuestionForecast(k, [][]float64{{0.8, 0.2}, {0.15, 0.85}})}
		for name, f := range forecasts {
			got, ok := FlipChance(post, f, m)
			want := bruteFlip(post, f, m)
			if !ok || math.Abs(got-want) > 1e-9 {
				t.Fatalf("case %d (%s, k=%d, m=%d, post %v): FlipChance %v (ok %v), every sequence %v", i, name, k, m, post, got, ok, want)
			}
		}
	}
}

func TestQuestionForecastIsADistribution(t *testing.T) {
	q := [][]float64{{0.7, 0.3}, {0.1, 0.9}}
	f := QuestionForecast(4, q)
	for truth, row := range f.Prob {
		var sum float64
		for _, v := range row {
			sum += v
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("outcomes given truth %d sum to %v", truth, sum)
		}
	}
	// A "yes" about class 2 raises class 2 only, by log(0.7/0.1).
	like := f.Like[2*2+0]
	for c, v := range like {
		want := 0.0
		if c == 2 {
			want = math.Log(0.7 / 0.1)
		}
		if math.Abs(v-want) > 1e-12 {
			t.Errorf("yes about class 2 adds %v to class %d, want %v", v, c, want)
		}
	}
}

func TestFlipChanceGivesUpBeyondTheEnumerationBound(t *testing.T) {
	f := LabelForecast(oneCoinMatrix(10, 0.9))
	post := make([]float64, 10)
	post[0] = 0.91
	for c := 1; c < 10; c++ {
		post[c] = 0.01
	}
	if _, ok := FlipChance(post, f, 40); ok {
		t.Fatal("40 answers over 10 labels enumerated, want ok=false beyond MaxForecastCombinations")
	}
	// Then only the target or the maximum completes the item.
	p := Params{Classes: 10, Min: 1, Max: 41, Target: 0.95}
	done, err := p.Complete(post, 1, f)
	if err != nil || done {
		t.Errorf("Complete = %v, %v; want not done (0.91 < target, chance not computed)", done, err)
	}
	if done, _ := p.Complete(post, 41, f); !done {
		t.Error("not done at max")
	}
}

func TestCurtailmentUsesTheAnswerBudget(t *testing.T) {
	// Two trusted answerers agree; the posterior stays below a strict target. With a
	// budget of three, one more answer cannot overturn two trusted ones, so the item is
	// done; with ten, it stays open for more.
	for _, tc := range []struct {
		max      int
		wantDone bool
	}{{3, true}, {10, false}} {
		t.Run(fmt.Sprintf("max %d", tc.max), func(t *testing.T) {
			s := newSim(t, Params{Classes: 2, Min: 2, Max: tc.max, Target: 0.999})
			for _, name := range []string{"a", "b"} {
				for i := range 6 {
					if _, err := s.answerer(name).ObserveGold(fmt.Sprintf("g%d", i), i%2, i%2); err != nil {
						t.Fatal(err)
					}
				}
			}
			s.deliver(t, "x", Answer{ID: "1", Answerer: "a", Label: 1})
			eff := s.deliver(t, "x", Answer{ID: "2", Answerer: "b", Label: 1})
			it := s.items["x"]
			if it.Posterior[1] >= 0.999 {
				t.Fatalf("posterior %v reaches the target; the case needs it below", it.Posterior)
			}
			if it.Done != tc.wantDone || eff.Completed != tc.wantDone {
				t.Errorf("after two agreeing answers (posterior %.4f): done=%v, want %v", it.Posterior[1], it.Done, tc.wantDone)
			}
		})
	}
}

func TestCompleteRejectsMismatchedShapes(t *testing.T) {
	p := Params{Classes: 3}
	if _, err := p.Complete([]float64{0.5, 0.5}, 2, LabelForecast(oneCoinMatrix(3, 0.7))); err == nil {
		t.Error("2-class posterior with a 3-class rule: no error")
	}
}

func BenchmarkFlipChance(b *testing.B) {
	for _, tc := range []struct {
		k, m int
	}{{2, 1}, {2, 8}, {2, 37}, {3, 8}} {
		f := LabelForecast(oneCoinMatrix(tc.k, 0.75))
		post := make([]float64, tc.k)
		post[0] = 0.9
		for c := 1; c < tc.k; c++ {
			post[c] = 0.1 / float64(tc.k-1)
		}
		b.Run(fmt.Sprintf("k=%d/remaining=%d", tc.k, tc.m), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				FlipChance(post, f, tc.m)
			}
		})
	}
}

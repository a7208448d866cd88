package consensus

import (
	"math"
)

// Stochastic curtailment: an item also completes, before its top posterior reaches the
// target, when the answers it may still take (Max − answers so far) can no longer
// plausibly change its label. "Plausibly" uses the same level as the target: the chance
// that they change it must be below 1 − Target. The chance is computed by enumerating what
// those answers could be, with the item's true class drawn from its posterior and every
// future answer drawn from the job's pooled confusion matrix (the job's average answerer;
// future answerers are unknown). It is what makes a small answer budget count: with at
// most three answers, two that agree under a trusted model usually settle the item.

// MaxForecastCombinations bounds the enumeration of FlipChance. Beyond it (many classes
// and a large remaining budget) the chance is not computed and the item completes by the
// target or the maximum only.
const MaxForecastCombinations = 50_000

// Forecast describes what one more answer to an item can be.
type Forecast struct {
	// Prob[t][o] is the chance of outcome o when the item's true class is t.
	Prob [][]float64
	// Like[o][c] is what outcome o adds to the item's log posterior of class c.
	Like [][]float64
}

// LabelForecast is the forecast for answers that are class labels drawn from the
// confusion matrix e[truth][label] (rows sum to 1), as in Update.
func LabelForecast(e [][]float64) Forecast {
	k := len(e)
	f := Forecast{Prob: e, Like: make([][]float64, k)}
	for l := range k {
		f.Like[l] = make([]float64, k)
		for c := range k {
			f.Like[l][c] = math.Log(e[c][l])
		}
	}
	return f
}

// QuestionForecast is the forecast for an item of k classes whose answers are yes/no
// answers to "does it show class c?", c drawn uniformly, answered by the 2×2 confusion
// matrix q (row: is it c, yes = 0 / no = 1; column: the answer). An answer adds its log
// likelihood ratio to class c only, as the labeling consumer combines questions. Outcome
// c*2+l is answer l about class c.
func QuestionForecast(k int, q [][]float64) Forecast {
	f := Forecast{Prob: make([][]float64, k), Like: make([][]float64, 2*k)}
	for t := range k {
		f.Prob[t] = make([]float64, 2*k)
		for c := range k {
			row := q[1]
			if c == t {
				row = q[0]
			}
			for l := range 2 {
				f.Prob[t][c*2+l] = row[l] / float64(k)
			}
		}
	}
	for c := range k {
		for l := range 2 {
			like := make([]float64, k)
			like[c] = math.Log(q[0][l]) - math.Log(q[1][l])
			f.Like[c*2+l] = like
		}
	}
	return f
}

// FlipChance returns the chance that remaining more answers leave the item with another
// top class than post has now (a tie counts as a change), the true class drawn from post
// and each answer from f. ok is false when the answers have more than
// MaxForecastCombinations combinations; the chance is then not computed.
func FlipChance(post []float64, f Forecast, remaining int) (chance float64, ok bool) {
	if remaining <= 0 {
		return 0, true
	}
	outcomes := len(f.Like)
	if combinations(remaining, outcomes) > MaxForecastCombinations {
		return 0, false
	}
	k := len(post)
	cur := 0
	for c, v := range post {
		if v > post[cur] {
			cur = c
		}
	}
	// Walk every composition (n_0 … n_{O-1}) of remaining answers over the outcomes,
	// keeping per level the log chance of the counts so far under each truth and the log
	// posterior they lead to.
	logFact := make([]float64, remaining+1)
	for n := 2; n <= remaining; n++ {
		logFact[n] = logFact[n-1] + math.Log(float64(n))
	}
	chanceOf := make([][]float64, outcomes+1) // [level][truth]
	score := make([][]float64, outcomes+1)    // [level][class]
	for i := range chanceOf {
		chanceOf[i] = make([]float64, k)
		score[i] = make([]float64, k)
	}
	for t, v := range post {
		chanceOf[0][t] = math.Log(v)
		score[0][t] = math.Log(v)
	}
	flips := func(score []float64) bool {
		for c, s := range score {
			if c != cur && s >= score[cur] {
				return true
			}
		}
		return false
	}
	var walk func(o, left int, coef float64)
	walk = func(o, left int, coef float64) {
		if o == outcomes { // every answer placed
			if flips(score[o]) {
				for _, lp := range chanceOf[o] {
					chance += math.Exp(lp + coef)
				}
			}
			return
		}
		first := 0
		if o == outcomes-1 {
			first = left // the last outcome takes the answers left
		}
		for n := first; n <= left; n++ {
			for t := range k {
				chanceOf[o+1][t] = chanceOf[o][t]
				score[o+1][t] = score[o][t]
				if n > 0 { // skipping n = 0 keeps a zero chance from giving 0·(−Inf)
					chanceOf[o+1][t] += float64(n) * math.Log(f.Prob[t][o])
					score[o+1][t] += float64(n) * f.Like[o][t]
				}
			}
			walk(o+1, left-n, coef-logFact[n])
		}
	}
	walk(0, remaining, logFact[remaining])
	return min(chance, 1), true
}

// combinations is the number of ways to spread n answers over o outcomes, C(n+o-1, o-1),
// as a float so that it cannot overflow.
func combinations(n, o int) float64 {
	c := 1.0
	for i := 1; i < o; i++ {
		c = c * float64(n+i) / float64(i)
	}
	return c
}

// pooled is the job's pooled confusion matrix: the sum of its answerers' soft counts
// (JobState.Confusion) on top of PriorStrength answers of the prior answerer (accuracy
// PriorAccuracy, errors spread evenly), rows normalised. A job without answers forecasts
// the prior answerer, as Update treats a new one.
func (p *Params) pooled(job *JobState) [][]float64 {
	k := p.Classes
	off := (1 - p.PriorAccuracy) / float64(k-1)
	e := make([][]float64, k)
	for c := range e {
		e[c] = make([]float64, k)
		var row float64
		for l := range k {
			v := p.PriorStrength * off
			if l == c {
				v = p.PriorStrength * p.PriorAccuracy
			}
			if len(job.Confusion) == k*k {
				v += max(job.Confusion[c*k+l], 0)
			}
			e[c][l] = v
			row += v
		}
		for l := range k {
			e[c][l] /= row
		}
	}
	return e
}

// PooledMatrix returns the job's pooled confusion matrix e[truth][label] that completion
// forecasts future answers with (see pooled).
func (p Params) PooledMatrix(job *JobState) ([][]float64, error) {
	p, err := p.Validate()
	if err != nil {
		return nil, err
	}
	if err := job.check(p.Classes); err != nil {
		return nil, err
	}
	return p.pooled(job), nil
}

package consensus

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// EM limits of Reestimate (Crowd-Kit's Dawid-Skene defaults).
const (
	// MaxIterations bounds the EM passes of one re-estimation.
	MaxIterations = 100
	// Tolerance is the largest change of any item posterior at which EM has converged.
	Tolerance = 1e-5
)

// Estimate is the result of a re-estimation: new states to write back, conditioned on their
// unchanged Versions, in the order they were given.
type Estimate struct {
	Job       JobState        `json:"job"`
	Items     []ItemState     `json:"items"`
	Answerers []AnswererState `json:"answerers"`
	// Iterations is the number of EM passes; Converged says whether they met Tolerance.
	Iterations int  `json:"iterations"`
	Converged  bool `json:"converged"`
}

// Reestimate is the batch pass the scheduled job runs over all of a job's items and their
// answerers: full Dawid-Skene EM over the answers the items hold, initialised from majority
// vote, with the same priors as the online update and the answerers' gold counts held
// fixed. It recomputes every item posterior, label and confidence, every answerer's soft
// counts and answer count, each answer's Like and the job's class counts from scratch, so
// drift and lost deltas are corrected. The result depends only on the set of answers (and
// gold), not on the order they arrived in, how often they were delivered, or the order of
// the arguments.
//
// Items that now meet the completion rule become done; done items stay done. Answerers the
// items mention but answerers lacks are added (without gold) at the end of
// Estimate.Answerers. The arguments are not modified.
func (p Params) Reestimate(job JobState, items []ItemState, answerers []AnswererState) (Estimate, error) {
	return p.reestimate(job, items, answerers, false)
}

// ReestimateInPlace is Reestimate for a caller that has no further use for its items and
// answerers (the whole of a large job is in memory at once): it builds the estimate in
// their memory instead of in copies, so afterwards they hold parts of it and are not to be
// read. Estimate.Items is items, their answers sorted by id. The estimate is Reestimate's.
// An error leaves the arguments as they were.
func (p Params) ReestimateInPlace(job JobState, items []ItemState, answerers []AnswererState) (Estimate, error) {
	return p.reestimate(job, items, answerers, true)
}

func (p Params) reestimate(job JobState, items []ItemState, answerers []AnswererState, inPlace bool) (Estimate, error) {
	p, err := p.Validate()
	if err != nil {
		return Estimate{}, err
	}
	k := p.Classes
	if err := job.check(k); err != nil {
		return Estimate{}, err
	}

	// Everything is checked before anything is rewritten in place.
	byName := make(map[string]int, len(answerers))
	for i := range answerers {
		w := &answerers[i]
		if err := w.check(k); err != nil {
			return Estimate{}, err
		}
		if _, dup := byName[w.Answerer]; dup {
			// The error may be logged: it names no pseudonym.
			return Estimate{}, fmt.Errorf("%w: answerer %d given twice", ErrState, i)
		}
		byName[w.Answerer] = i
	}
	// Canonical order, items by id and answers by id, so that floating-point sums, and so the
	// result, do not depend on arrival or argument order. Sorting finds an item given twice
	// without a set of every id.
	order := make([]int, len(items))
	answers := 0
	for i := range items {
		if err := items[i].check(k); err != nil {
			return Estimate{}, err
		}
		order[i] = i
		answers += len(items[i].Answers)
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(items[a].Item, items[b].Item) })
	for n := 1; n < len(order); n++ {
		if id := items[order[n]].Item; id == items[order[n-1]].Item {
			return Estimate{}, fmt.Errorf("%w: item %q given twice", ErrState, id)
		}
	}

	// Clipped: answerers added at the end must not land in the caller's spare capacity.
	est := Estimate{Job: job, Items: items, Answerers: slices.Clip(answerers)}
	est.Job.ClassCounts = make([]float64, k)
	if !inPlace {
		est.Items, est.Answerers = make([]ItemState, len(items)), make([]AnswererState, len(answerers))
	}
	for i := range answerers {
		w := &answerers[i]
		c := *w
		if !inPlace {
			c.Gold = slices.Clone(w.Gold)
			c.Soft = make([]float64, k*k)
			c.GoldSeen = slices.Clone(w.GoldSeen)
		}
		c.Answers = 0
		est.Answerers[i] = c
	}
	for i := range items {
		c := items[i]
		c.Posterior = nil
		if !inPlace {
			c.Answers = make([]ItemAnswer, len(items[i].Answers))
			for j, a := range items[i].Answers {
				a.Like = make([]float64, k)
				c.Answers[j] = a
			}
		}
		slices.SortFunc(c.Answers, func(a, b ItemAnswer) int { return cmp.Compare(a.ID, b.ID) })
		est.Items[i] = c
	}

	// The answers flattened in canonical order; one item's answers are contiguous. int32
	// halves what a large job's answers take here.
	type obs struct{ item, answerer, label int32 }
	all := make([]obs, 0, answers)
	for _, i := range order {
		for _, a := range est.Items[i].Answers {
			wi, ok := byName[a.Answerer]
			if !ok {
				wi = len(est.Answerers)
				byName[a.Answerer] = wi
				est.Answerers = append(est.Answerers, NewAnswerer(a.Answerer, k))
			}
			all = append(all, obs{int32(i), int32(wi), int32(a.Label)})
		}
	}

	// t holds the item posteriors, initialised from (soft) majority vote: item i's row is
	// t[i*k:(i+1)*k], in one array rather than one per item.
	flat := make([]float64, len(items)*k)
	row := func(i int32) []float64 { return flat[int(i)*k : (int(i)+1)*k : (int(i)+1)*k] }
	t := make([][]float64, len(items))
	for _, o := range all {
		if t[o.item] == nil {
			t[o.item] = row(o.item)
		}
		t[o.item][o.label]++
	}
	for _, row := range t {
		if row != nil {
			normalise(row)
		}
	}

	like := make([]float64, len(est.Answerers)*k*k) // [answerer][label][class] log e
	logPrior := make([]float64, k)
	likeOf := func(wi, label int) []float64 { return like[(wi*k+label)*k : (wi*k+label+1)*k] }
	mstep := func() {
		clear(est.Job.ClassCounts)
		for i := range est.Answerers {
			clear(est.Answerers[i].Soft)
		}
		for _, i := range order {
			for c, v := range t[i] {
				est.Job.ClassCounts[c] += v
			}
		}
		for _, o := range all {
			soft := est.Answerers[o.answerer].Soft
			for c, v := range t[o.item] {
				soft[c*k+int(o.label)] += v
			}
		}
		for wi := range est.Answerers {
			for l := range k {
				p.logLike(&est.Answerers[wi], l, p.RowStrength, likeOf(wi, l))
			}
		}
		p.logPrior(est.Job.ClassCounts, logPrior)
	}

	next := make([]float64, k)
	for est.Iterations < MaxIterations && !est.Converged {
		mstep()
		est.Iterations++
		var change float64
		for start := 0; start < len(all); {
			i := all[start].item
			copy(next, logPrior)
			end := start
			for ; end < len(all) && all[end].item == i; end++ {
				for c, v := range likeOf(int(all[end].answerer), int(all[end].label)) {
					next[c] += v
				}
			}
			softmax(next)
			for c, v := range next {
				change = max(change, math.Abs(v-t[i][c]))
			}
			copy(t[i], next)
			start = end
		}
		est.Converged = change < Tolerance
	}

	// Leave every record consistent: the soft and class counts are sums of the final
	// posteriors (what the online update assumes), and each answer's Like comes from the
	// matrices those counts give.
	mstep()
	est.Job.Confusion = make([]float64, k*k)
	for _, o := range all {
		est.Answerers[o.answerer].Answers++
		for c, v := range t[o.item] {
			est.Job.Confusion[c*k+int(o.label)] += v
		}
	}
	var forecast Forecast
	lazyForecast := func() Forecast {
		if forecast.Prob == nil {
			forecast = LabelForecast(p.pooled(&est.Job))
		}
		return forecast
	}
	for _, i := range order {
		it := &est.Items[i]
		it.Posterior = t[i]
		for j := range it.Answers {
			a := &it.Answers[j]
			copy(a.Like, likeOf(byName[a.Answerer], a.Label))
		}
		p.settle(it, lazyForecast)
	}
	return est, nil
}

func normalise(x []float64) {
	var z float64
	for _, v := range x {
		z += v
	}
	for i := range x {
		x[i] /= z
	}
}

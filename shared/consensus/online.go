package consensus

import (
	"fmt"
	"math"
	"slices"
)

// Answer is one answerer's label for one item.
type Answer struct {
	// ID identifies the delivery. The consumer uses the answers-queue message id, which is
	// unique per message; a message holds at most one answer per item.
	ID       string `json:"id"`
	Answerer string `json:"answerer"`
	Label    int    `json:"label"`
}

// Outcome says what Update did with an answer.
type Outcome int

const (
	// Applied: the answer was added to the item.
	Applied Outcome = iota
	// Duplicate: an answer with this id was applied before (a redelivery); nothing changed.
	Duplicate
	// Repeat: this answerer already answered the item; a second answer by the same person
	// is not independent evidence, so it is ignored.
	Repeat
	// Closed: the item was already done; the answer is not used.
	Closed
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Duplicate:
		return "duplicate"
	case Repeat:
		return "repeat"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Effect is what an update changed beyond the item and answerer records in hand.
type Effect struct {
	Outcome Outcome
	// Completed is true when this answer made the item done.
	Completed bool
	// Credits move the item's earlier answerers' soft counts by the change of the item's
	// posterior. Apply each with AnswererState.Apply or an atomic update of that record.
	// All credits of one update share one Delta slice: treat it as read only.
	Credits []Credit
	// ClassDelta is the change to the job's class counts (JobState.Apply).
	ClassDelta []float64
	// ConfusionDelta is the change to the job's pooled confusion counts
	// (JobState.AddConfusion): the new answer's full posterior in its label's column, and
	// the change of posterior in the columns of the item's earlier answers.
	ConfusionDelta []float64
}

// Update applies one answer: the online E-step. The item's posterior becomes
// prior × Π e_w[label | class] over its answers (in log space), e_w being each answerer's
// confusion matrix (smoothed with OnlineRowStrength) when their answer arrived or at the
// last re-estimation. The new posterior is then credited (the M-step): in full to the new
// answerer's soft counts, and as the change since the last update to the earlier
// answerers' counts (Effect.Credits) and to the job's class counts (Effect.ClassDelta). So
// an answerer's soft counts are always the sum of the current posteriors of the items they
// answered, as in batch Dawid-Skene.
//
// job is only read (class prior); item and w are modified in place and the caller writes
// both back conditioned on their Version. A redelivered answer (same ID), a second answer by
// the same answerer and an answer to a done item change nothing (see Outcome).
func (p Params) Update(job *JobState, item *ItemState, w *AnswererState, a Answer) (Effect, error) {
	p, err := p.Validate()
	if err != nil {
		return Effect{}, err
	}
	k := p.Classes
	if err := job.check(k); err != nil {
		return Effect{}, err
	}
	if err := item.check(k); err != nil {
		return Effect{}, err
	}
	if err := w.check(k); err != nil {
		return Effect{}, err
	}
	if a.Answerer != w.Answerer {
		return Effect{}, fmt.Errorf("%w: answer by %q applied with the state of %q", ErrState, a.Answerer, w.Answerer)
	}
	if a.Label < 0 || a.Label >= k {
		return Effect{}, fmt.Errorf("%w: label %d of %d classes", ErrLabel, a.Label, k)
	}
	for _, x := range item.Answers {
		if x.ID == a.ID {
			return Effect{Outcome: Duplicate}, nil
		}
	}
	if item.Done {
		return Effect{Outcome: Closed}, nil
	}
	for _, x := range item.Answers {
		if x.Answerer == a.Answerer {
			return Effect{Outcome: Repeat}, nil
		}
	}

	// One allocation for the new answer's likelihood, the new posterior and the two deltas;
	// full slice expressions keep them from growing into each other.
	buf := make([]float64, 4*k)
	like, post, classDelta, credit := buf[:k:k], buf[k:2*k:2*k], buf[2*k:3*k:3*k], buf[3*k:]
	p.logLike(w, a.Label, p.OnlineRowStrength, like)
	old := item.Posterior
	item.Answers = append(item.Answers, ItemAnswer{ID: a.ID, Answerer: a.Answerer, Label: a.Label, Like: like})
	p.posterior(job.ClassCounts, item.Answers, post)
	item.Posterior = post

	copy(classDelta, post)
	if old != nil {
		for c := range classDelta {
			classDelta[c] -= old[c]
		}
	}
	eff := Effect{Outcome: Applied, ClassDelta: classDelta, ConfusionDelta: make([]float64, k*k)}
	for c, v := range post {
		eff.ConfusionDelta[c*k+a.Label] += v
	}
	if n := len(item.Answers) - 1; n > 0 {
		copy(credit, classDelta)
		eff.Credits = make([]Credit, n)
		for i, x := range item.Answers[:n] {
			eff.Credits[i] = Credit{Answerer: x.Answerer, Label: x.Label, Delta: credit}
			for c, d := range credit {
				eff.ConfusionDelta[c*k+x.Label] += d
			}
		}
	}
	for c, v := range post {
		w.Soft[c*k+a.Label] += v
	}
	w.Answers++

	p.settle(item, func() Forecast { return LabelForecast(p.pooled(job)) })
	eff.Completed = item.Done // it was not done, or the answer would be Closed
	return eff, nil
}

// ObserveGold seeds the answerer's matrix from a gold question: one hard count in row truth,
// column label. id identifies the observation (say message id and item id); a redelivery is
// ignored and reported as false.
func (w *AnswererState) ObserveGold(id string, truth, label int) (bool, error) {
	k := w.Classes
	if err := w.check(k); err != nil {
		return false, err
	}
	if truth < 0 || truth >= k || label < 0 || label >= k {
		return false, fmt.Errorf("%w: gold truth %d, label %d of %d classes", ErrLabel, truth, label, k)
	}
	if slices.Contains(w.GoldSeen, id) {
		return false, nil
	}
	w.Gold[truth*k+label]++
	w.GoldSeen = append(w.GoldSeen, id)
	if n := len(w.GoldSeen); n > MaxGoldSeen {
		w.GoldSeen = slices.Delete(w.GoldSeen, 0, n-MaxGoldSeen)
	}
	return true, nil
}

// Matrix returns the answerer's confusion matrix e[truth][label] as the batch pass uses it
// (smoothed with RowStrength; each row sums to 1).
func (p Params) Matrix(w *AnswererState) ([][]float64, error) {
	p, err := p.Validate()
	if err != nil {
		return nil, err
	}
	if err := w.check(p.Classes); err != nil {
		return nil, err
	}
	k := p.Classes
	m := make([][]float64, k)
	for c := range m {
		m[c] = make([]float64, k)
	}
	col := make([]float64, k)
	for l := range k {
		p.logLike(w, l, p.RowStrength, col)
		for c := range m {
			m[c][l] = math.Exp(col[c])
		}
	}
	return m, nil
}

// ClassPrior returns the job's class prior.
func (p Params) ClassPrior(job *JobState) ([]float64, error) {
	p, err := p.Validate()
	if err != nil {
		return nil, err
	}
	if err := job.check(p.Classes); err != nil {
		return nil, err
	}
	out := make([]float64, p.Classes)
	p.logPrior(job.ClassCounts, out)
	for c := range out {
		out[c] = math.Exp(out[c])
	}
	return out, nil
}

// logLike writes log e_w[label | c] for every true class c into dst. The estimate is
// hierarchical: the answerer's accuracy a has a Beta prior (PriorAccuracy, PriorStrength);
// the one-coin matrix (a on the diagonal, the rest spread evenly) is in turn the Dirichlet
// prior of each confusion row with weight rowStrength. An answerer with few answers is thus
// one accuracy shrunk toward the prior, one with many is their own full matrix.
func (p *Params) logLike(w *AnswererState, label int, rowStrength float64, dst []float64) {
	k := p.Classes
	var total, diag float64
	for c := range k {
		for l := range k {
			n := count(w, c*k+l)
			total += n
			if c == l {
				diag += n
			}
		}
	}
	acc := (diag + p.PriorStrength*p.PriorAccuracy) / (total + p.PriorStrength)
	off := (1 - acc) / float64(k-1)
	for c := range k {
		var row float64
		for l := range k {
			row += count(w, c*k+l)
		}
		m := off
		if c == label {
			m = acc
		}
		dst[c] = math.Log((count(w, c*k+label) + rowStrength*m) / (row + rowStrength))
	}
}

// count is the answerer's evidence for cell i. Soft counts built from deltas can sit a
// rounding error below zero.
func count(w *AnswererState, i int) float64 {
	return max(w.Gold[i]+w.Soft[i], 0)
}

// logPrior writes the log class prior from soft class counts.
func (p *Params) logPrior(counts []float64, dst []float64) {
	var total float64
	for _, n := range counts {
		total += max(n, 0)
	}
	z := math.Log(total + p.ClassPriorStrength*float64(len(counts)))
	for c, n := range counts {
		dst[c] = math.Log(max(n, 0)+p.ClassPriorStrength) - z
	}
}

// posterior writes softmax(log prior + Σ answers' Like) into dst.
func (p *Params) posterior(classCounts []float64, answers []ItemAnswer, dst []float64) {
	p.logPrior(classCounts, dst)
	for _, a := range answers {
		for c, v := range a.Like {
			dst[c] += v
		}
	}
	softmax(dst)
}

func softmax(x []float64) {
	hi := math.Inf(-1)
	for _, v := range x {
		hi = max(hi, v)
	}
	var z float64
	for i, v := range x {
		x[i] = math.Exp(v - hi)
		z += x[i]
	}
	for i := range x {
		x[i] /= z
	}
}

// settle sets the item's label and confidence from its posterior and applies the completion
// rule (complete) with future answers forecast by forecast, which is only called when the
// rule needs it. Done is sticky.
func (p *Params) settle(item *ItemState, forecast func() Forecast) {
	n := len(item.Answers)
	if n == 0 {
		item.Label, item.Confidence = -1, 0
		return
	}
	top := 0
	for c, v := range item.Posterior {
		if v > item.Posterior[top] {
			top = c
		}
	}
	item.Label = top
	item.Confidence = item.Posterior[top]
	if n == 1 {
		item.Confidence = 0
	}
	if p.complete(item.Posterior, n, forecast) {
		item.Done = true
	}
}

// Complete is the completion rule for an item with the given posterior and number of
// answers, future answers forecast by f: done at Max answers, or from Min answers on when
// the top posterior reaches Target or when the answers it may still take change its label
// with a chance below 1 − Target (see FlipChance). The labeling consumer applies it to
// items whose posterior it combines itself.
func (p Params) Complete(post []float64, answers int, f Forecast) (bool, error) {
	p, err := p.Validate()
	if err != nil {
		return false, err
	}
	if len(post) != p.Classes || len(f.Prob) != p.Classes {
		return false, fmt.Errorf("%w: posterior of %d and forecast of %d classes, want %d", ErrState, len(post), len(f.Prob), p.Classes)
	}
	return p.complete(post, answers, func() Forecast { return f }), nil
}

func (p *Params) complete(post []float64, n int, forecast func() Forecast) bool {
	switch {
	case n >= p.Max:
		return true
	case n < p.Min:
		return false
	case slices.Max(post) >= p.Target:
		return true
	case p.Target >= 1:
		return false // no chance is below 1 − Target
	}
	chance, ok := FlipChance(post, forecast(), p.Max-n)
	return ok && chance < 1-p.Target
}

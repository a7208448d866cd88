package consensus

import (
	"fmt"
	"math"
)

// The state types below are what the store keeps: one record per job, per item and per
// answerer (per job and day, since the answerer is a daily-rotating pseudonym). Each carries a
// Version that the store increments on every write and conditions its writes on, so two
// consumers never overwrite each other's update of one record. Changes to records that are
// not in hand (other answerers' soft counts, the job's class counts) are returned as deltas:
// plain additions that commute, so the store can apply them with atomic update arithmetic
// without reading first. Whatever the deltas lose (a crash between two writes) is rebuilt by
// Reestimate from the items' answer lists, which are the source of truth.
//
// Matrices are K×K, stored row-major in flat slices: index truth*K + label.

// JobState is the per-job record: the soft class counts behind the class prior.
type JobState struct {
	Version int64 `json:"version"`
	Classes int   `json:"classes"`
	// ClassCounts[c] is the sum over the job's answered items of their posterior for c.
	ClassCounts []float64 `json:"class_counts"`
	// Confusion is the sum of the job's answerers' soft counts (K×K, row = truth): the
	// confusion matrix of the job's average answerer, which the completion rule uses to
	// forecast the answers an item may still get. Empty until the first answer (records
	// written before it existed have none; re-estimation fills it).
	Confusion []float64 `json:"confusion,omitempty"`
}

// ItemState is the per-item record. Answers holds every applied answer: its ids make a
// redelivery a no-op, and Reestimate recomputes everything from it.
type ItemState struct {
	Version int64        `json:"version"`
	Item    string       `json:"item"`
	Classes int          `json:"classes"`
	Answers []ItemAnswer `json:"answers"`
	// Posterior is the item's class posterior as last computed; empty until the first
	// answer. It is exactly what the item contributes to the job's ClassCounts and what each
	// of its answers contributes to column Label of its answerer's soft counts (the EM
	// M-step), so when it changes, the change is credited to all of them as one delta.
	Posterior []float64 `json:"posterior,omitempty"`
	// Done means the item takes no more answers (see Params for the rule). It is sticky:
	// re-estimation may change the label and confidence of a done item but never reopens it.
	Done bool `json:"done"`
	// Label is the class with the top posterior, -1 before the first answer.
	Label int `json:"label"`
	// Confidence is the top posterior, reported as 0 while the item has a single answer
	// (as SageMaker Ground Truth does).
	Confidence float64 `json:"confidence"`
}

// ItemAnswer is one applied answer.
type ItemAnswer struct {
	// ID identifies the delivery; a second delivery with the same id is ignored.
	ID       string `json:"id"`
	Answerer string `json:"answerer"`
	Label    int    `json:"label"`
	// Like[c] is log P(Label | true class c) under the answerer's matrix when it was last
	// computed (on arrival, then by each re-estimation). The item posterior is
	// softmax(log class prior + Σ Like).
	Like []float64 `json:"like"`
}

// AnswererState is the per-answerer record (per job and day).
type AnswererState struct {
	Version  int64  `json:"version"`
	Answerer string `json:"answerer"`
	Classes  int    `json:"classes"`
	// Gold holds hard counts from gold questions (ObserveGold); Soft holds the soft counts
	// from the posteriors of the items the answerer labeled. Both are K×K, row = truth.
	Gold []float64 `json:"gold"`
	Soft []float64 `json:"soft"`
	// Answers counts applied item answers. GoldSeen holds the ids of the latest applied
	// gold observations (at most MaxGoldSeen) so that a redelivered one is ignored.
	Answers  int      `json:"answers"`
	GoldSeen []string `json:"gold_seen,omitempty"`
}

// MaxGoldSeen bounds AnswererState.GoldSeen. A day's pseudonym answering more gold than this
// is a bot that risk scoring stops; a redelivery older than the window would count twice.
const MaxGoldSeen = 1024

// NewJob returns the empty state of a k-class job.
func NewJob(k int) JobState {
	return JobState{Classes: k, ClassCounts: make([]float64, k)}
}

// NewItem returns the empty state of an item.
func NewItem(id string, k int) ItemState {
	return ItemState{Item: id, Classes: k, Label: -1}
}

// NewAnswerer returns the empty state of an answerer.
func NewAnswerer(id string, k int) AnswererState {
	return AnswererState{Answerer: id, Classes: k, Gold: make([]float64, k*k), Soft: make([]float64, k*k)}
}

// Credit is a change to an answerer's soft counts that Update could not apply itself
// because that answerer's record was not in hand: add Delta[c] to Soft[c*K+Label].
type Credit struct {
	Answerer string    `json:"answerer"`
	Label    int       `json:"label"`
	Delta    []float64 `json:"delta"`
}

// Apply adds a credit to the answerer's soft counts.
func (w *AnswererState) Apply(c Credit) error {
	k := w.Classes
	if err := w.check(k); err != nil {
		return err
	}
	if c.Answerer != w.Answerer {
		return fmt.Errorf("%w: credit for %q applied to %q", ErrState, c.Answerer, w.Answerer)
	}
	if c.Label < 0 || c.Label >= k || len(c.Delta) != k {
		return fmt.Errorf("%w: credit for label %d with %d deltas, answerer has %d classes", ErrState, c.Label, len(c.Delta), k)
	}
	for t, d := range c.Delta {
		w.Soft[t*k+c.Label] += d
	}
	return nil
}

// AddConfusion adds a pooled confusion delta (Effect.ConfusionDelta) to the job.
func (j *JobState) AddConfusion(delta []float64) error {
	if len(delta) == 0 {
		return nil
	}
	k := j.Classes
	if err := j.check(k); err != nil {
		return err
	}
	if len(delta) != k*k {
		return fmt.Errorf("%w: confusion delta has %d cells, job has %d classes", ErrState, len(delta), k)
	}
	if len(j.Confusion) == 0 {
		j.Confusion = make([]float64, k*k)
	}
	for i, d := range delta {
		j.Confusion[i] += d
	}
	return nil
}

// Apply adds a class-count delta (Effect.ClassDelta) to the job.
func (j *JobState) Apply(delta []float64) error {
	if len(delta) == 0 {
		return nil
	}
	if err := j.check(len(delta)); err != nil {
		return err
	}
	for c, d := range delta {
		j.ClassCounts[c] += d
	}
	return nil
}

func (j *JobState) check(k int) error {
	if j.Classes != k || len(j.ClassCounts) != k {
		return fmt.Errorf("%w: job has %d classes (%d counts), want %d", ErrState, j.Classes, len(j.ClassCounts), k)
	}
	if n := len(j.Confusion); n != 0 && n != k*k {
		return fmt.Errorf("%w: job confusion has %d cells, want %d", ErrState, n, k*k)
	}
	return nil
}

func (w *AnswererState) check(k int) error {
	if w.Classes != k || len(w.Gold) != k*k || len(w.Soft) != k*k {
		return fmt.Errorf("%w: answerer has %d classes (%d/%d counts), want %d", ErrState, w.Classes, len(w.Gold), len(w.Soft), k)
	}
	return nil
}

func (it *ItemState) check(k int) error {
	if it.Classes != k {
		return fmt.Errorf("%w: item has %d classes, want %d", ErrState, it.Classes, k)
	}
	if len(it.Answers) > 0 && len(it.Posterior) != k {
		return fmt.Errorf("%w: item posterior has %d classes, want %d", ErrState, len(it.Posterior), k)
	}
	for _, a := range it.Answers {
		if a.Label < 0 || a.Label >= k || len(a.Like) != k {
			return fmt.Errorf("%w: item answer %q does not fit %d classes", ErrState, a.ID, k)
		}
		for _, v := range a.Like {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: item answer %q has a non-finite likelihood", ErrState, a.ID)
			}
		}
	}
	return nil
}

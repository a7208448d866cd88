// Package consensus turns crowd answers into labels with a confidence: an online
// Dawid-Skene estimator (one E-step per answer, applied by the answers-queue consumer) plus a
// batch re-estimation pass (full EM) that the scheduled job runs to correct the drift the
// online updates accumulate. It is pure domain code: state is plain JSON-tagged structs that
// the store keeps per job, per item and per answerer, each with a version for conditional
// writes. README.md describes the model, the defaults and how they were evaluated.
package consensus

import (
	"errors"
	"fmt"
	"math"
)

// Class counts a job may have.
const (
	MinClasses = 2
	MaxClasses = 10
)

// Defaults (README.md shows how they do on several public crowd data sets).
const (
	// DefaultPriorAccuracy is the diagonal mass of the prior over an answerer's accuracy: a
	// new answerer is taken to be right 70% of the time.
	DefaultPriorAccuracy = 0.7
	// DefaultPriorStrength is how many answers that prior is worth: an answerer's own record
	// outweighs it after about ten answers.
	DefaultPriorStrength = 10
	// DefaultRowStrength is the weight, in answers, of the answerer's one-coin model in each
	// row of their confusion matrix in the batch pass. It is small so that the matrix
	// follows the answerer's own answers as soon as a row has any (errors are rarely
	// symmetric), while an empty or nearly empty row falls back to the one-coin accuracy
	// instead of being undefined.
	DefaultRowStrength = 0.25
	// DefaultOnlineRowStrength is that weight in the online update. Online, a row is built
	// from few, still-moving posteriors that include the answerer's own answers, so a thin
	// row confirms whatever the answerer said; backing off harder keeps such rows near the
	// answerer's overall accuracy until they hold real evidence.
	DefaultOnlineRowStrength = 2
	// DefaultClassPriorStrength is the pseudo-count per class of the job's class prior
	// (Laplace smoothing).
	DefaultClassPriorStrength = 1

	// DefaultMin, DefaultMax and DefaultTarget are the adaptive-stopping rule: an item is
	// done when its top posterior reaches Target after at least Min answers, or at Max
	// answers. No label rests on a single answer, and the target is strict because
	// Dawid-Skene posteriors are overconfident (they assume answerers err independently);
	// README.md has the measurements.
	DefaultMin    = 2
	DefaultMax    = 10
	DefaultTarget = 0.999
)

// Params are the model's priors and the item-completion rule. A zero field means its
// default; Classes is required.
type Params struct {
	// Classes is K, the number of classes of the job (2–10). Labels are 0..K-1.
	Classes int `json:"classes"`
	// PriorAccuracy is the diagonal mass of the answerer prior (above 1/K, below 1).
	PriorAccuracy float64 `json:"prior_accuracy"`
	// PriorStrength is that prior's weight in answers.
	PriorStrength float64 `json:"prior_strength"`
	// RowStrength is the weight, in answers, of the one-coin model in each confusion row
	// (batch pass); OnlineRowStrength is the same in the online update.
	RowStrength       float64 `json:"row_strength"`
	OnlineRowStrength float64 `json:"online_row_strength"`
	// ClassPriorStrength is the Dirichlet pseudo-count per class of the class prior.
	ClassPriorStrength float64 `json:"class_prior_strength"`
	// Min and Max bound the answers per item; Target is the top posterior that completes an
	// item once it has Min answers. A Target above 1 never completes an item early.
	Min    int     `json:"min"`
	Max    int     `json:"max"`
	Target float64 `json:"target"`
}

// Errors callers map to their own codes.
var (
	// ErrParams reports invalid parameters (class count, priors, stopping rule).
	ErrParams = errors.New("consensus: invalid parameters")
	// ErrLabel reports a label or class index outside 0..K-1.
	ErrLabel = errors.New("consensus: label out of range")
	// ErrState reports state that does not fit the parameters (class count, lengths, the
	// wrong answerer), e.g. a record written for another job.
	ErrState = errors.New("consensus: inconsistent state")
)

// Default returns the default parameters for a k-class job (not validated: k may be out of
// range).
func Default(k int) Params {
	return Params{Classes: k}.withDefaults()
}

func (p Params) withDefaults() Params {
	if p.PriorAccuracy == 0 {
		p.PriorAccuracy = DefaultPriorAccuracy
	}
	if p.PriorStrength == 0 {
		p.PriorStrength = DefaultPriorStrength
	}
	if p.RowStrength == 0 {
		p.RowStrength = DefaultRowStrength
	}
	if p.OnlineRowStrength == 0 {
		p.OnlineRowStrength = DefaultOnlineRowStrength
	}
	if p.ClassPriorStrength == 0 {
		p.ClassPriorStrength = DefaultClassPriorStrength
	}
	if p.Min == 0 {
		p.Min = DefaultMin
	}
	if p.Max == 0 {
		p.Max = DefaultMax
	}
	if p.Target == 0 {
		p.Target = DefaultTarget
	}
	return p
}

// Validate fills defaults and checks the parameters.
func (p Params) Validate() (Params, error) {
	p = p.withDefaults()
	k := p.Classes
	positive := func(v float64) bool { return v > 0 && !math.IsInf(v, 1) }
	switch {
	case k < MinClasses || k > MaxClasses:
		return p, fmt.Errorf("%w: %d classes (want %d-%d)", ErrParams, k, MinClasses, MaxClasses)
	case !(p.PriorAccuracy > 1/float64(k) && p.PriorAccuracy < 1):
		return p, fmt.Errorf("%w: prior accuracy %v must be above chance (1/%d) and below 1", ErrParams, p.PriorAccuracy, k)
	case !positive(p.PriorStrength):
		return p, fmt.Errorf("%w: prior strength %v must be positive", ErrParams, p.PriorStrength)
	case !positive(p.RowStrength):
		return p, fmt.Errorf("%w: row strength %v must be positive", ErrParams, p.RowStrength)
	case !positive(p.OnlineRowStrength):
		return p, fmt.Errorf("%w: online row strength %v must be positive", ErrParams, p.OnlineRowStrength)
	case !positive(p.ClassPriorStrength):
		return p, fmt.Errorf("%w: class prior strength %v must be positive", ErrParams, p.ClassPriorStrength)
	case p.Min < 1 || p.Max < p.Min:
		return p, fmt.Errorf("%w: min %d / max %d answers (want 1 <= min <= max)", ErrParams, p.Min, p.Max)
	case !(p.Target > 0):
		return p, fmt.Errorf("%w: target %v must be positive", ErrParams, p.Target)
	}
	return p, nil
}

package handler

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
)

// How answers map to consensus (README.md has the reasoning):
//
// Every task asks a yes/no question about one class of the job, so every answer is a
// binary label (yes = 0, no = 1) of the question (item, class), and consensus runs a
// 2-class Dawid-Skene model over these questions: answerers have a 2×2 confusion matrix
// (per job and day) and the job one yes/no class prior.
//
//   - binary jobs ask one question per item (class "yes"); the item's posterior over
//     ["yes", "no"] is that question's posterior.
//   - image_grid and multiple_choice jobs ask "does it show c?" for varying c. An item has
//     exactly one class (its gold label is one class), so the answers about all of its
//     questions combine into a posterior over the job's classes:
//     P(c) ∝ exp(Σ over the answers about c of log e[label|yes] − log e[label|no]), the
//     likelihood ratio of "the item is c" against "it is not", with a uniform prior over
//     classes. A class nobody was asked about has ratio 1.
//
// An answerer answers an item once: a later answer by the same answerer (per day) about
// any of its classes is a repeat and ignored, so an item's answer count is the number of
// people who answered it. The item is done when that posterior's top class reaches the
// job's target with at least its minimum answers, or at its maximum; label and confidence
// are the top class and its posterior (0 while the item has one answer, as Ground Truth
// reports). The questions themselves never complete on their own rule: the item's rule
// decides, and a done item takes no more answers on any question.
//
// The item's rule is consensus.Params.Complete with the job's min, max and target: besides
// reaching the target, an item is done when the answers it may still take could change its
// label with a chance below 1 − target (stochastic curtailment). Future answers are
// forecast from the job's pooled 2×2 question matrix: for binary jobs as answers to the
// one question, for the others as answers about a class drawn uniformly (the challenge
// pool draws a grid's class among those its gold can supply).

// Binary label indices of a question.
const (
	yes = 0
	no  = 1
)

// questionClasses is K of every question.
const questionClasses = 2

// questionParams are the consensus parameters of the yes/no questions: default priors, and
// a stopping rule that never fires (the item-level rule in settle decides).
var questionParams = consensus.Params{Classes: questionClasses, Min: 1, Max: math.MaxInt32, Target: 2}

// errPoison marks a message that can never be applied (bad format, a class the job does
// not ask about):
// it fails every delivery and so ends in the dead-letter queue.
var errPoison = errors.New("consensus: message cannot be applied")

func poison(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errPoison, fmt.Sprintf(format, args...))
}

// askable reports whether a task of job j can ask about class: binary jobs only ask "yes".
func askable(j job.Job, class string) bool {
	if j.Kind == job.KindBinary {
		return class == j.Classes[0]
	}
	return j.HasClass(class)
}

func binaryLabel(s string) (int, bool) {
	switch s {
	case "yes":
		return yes, true
	case "no":
		return no, true
	}
	return 0, false
}

// questionID names a question in consensus state: unique per item and class, since item
// ids cannot contain '#'.
func questionID(itemID, class string) string { return itemID + "#" + class }

// outcome is what became of one answer of a message.
type outcome string

const (
	outApplied   outcome = "applied"
	outDuplicate outcome = "duplicate" // this message was applied before
	outRepeat    outcome = "repeat"    // the answerer already answered this question
	outClosed    outcome = "closed"    // the item was already done
	outMissing   outcome = "missing"   // no such item (deleted, or never existed)
	outSkipped   outcome = "skipped"   // a gold or pending item: not labeled by consensus
)

// change is what applying a message to a snapshot produced.
type change struct {
	commit         dynamo.ConsensusCommit
	credits        []consensus.Credit
	classDelta     []float64
	confusionDelta []float64
	outcomes       map[outcome]int
	completed      int
}

// changed reports whether anything needs writing.
func (c *change) changed() bool { return c.commit.Answerer != nil || len(c.commit.Items) > 0 }

// apply applies an answers message to the state read for it. It is pure: the snapshot is
// consumed (its maps and slices are modified), nothing else.
func apply(j job.Job, snap dynamo.ConsensusSnapshot, m message, now time.Time) (change, error) {
	aid := m.answererID()
	w := snap.Answerer
	js := snap.Job
	ch := change{commit: dynamo.ConsensusCommit{JobID: j.ID}, outcomes: map[outcome]int{},
		classDelta: make([]float64, questionClasses), confusionDelta: make([]float64, questionClasses*questionClasses)}

	goldChanged := false
	for _, g := range m.Gold {
		truth, _ := binaryLabel(g.Truth)
		label, _ := binaryLabel(g.Label)
		ok, err := w.ObserveGold(m.ID+":"+g.ItemID, truth, label)
		if err != nil {
			return change{}, fmt.Errorf("gold answer: %w", err)
		}
		goldChanged = goldChanged || ok
	}

	seen := map[string]bool{}
	for _, a := range m.Answers {
		if seen[a.ItemID] {
			continue // validated away; kept for safety
		}
		seen[a.ItemID] = true
		it, ok := snap.Items[a.ItemID]
		switch {
		case !ok:
			ch.outcomes[outMissing]++
			continue
		case it.Gold || it.Status == job.ItemPending:
			ch.outcomes[outSkipped]++
			continue
		case it.Status == job.ItemDone:
			ch.outcomes[outClosed]++
			continue
		}
		if answeredBy(it.Questions, aid, m.ID) {
			// One person's answers about several classes of one item are not independent
			// evidence, and would let one visitor complete an item alone.
			ch.outcomes[outRepeat]++
			continue
		}
		q, ok := it.Questions[m.Class]
		if !ok {
			q = consensus.NewItem(questionID(it.ID, m.Class), questionClasses)
		}
		label, _ := binaryLabel(a.Label)
		eff, err := questionParams.Update(&js, &q, &w, consensus.Answer{ID: m.ID, Answerer: aid, Label: label})
		if err != nil {
			return change{}, fmt.Errorf("item %s: %w", it.ID, err)
		}
		switch eff.Outcome {
		case consensus.Duplicate:
			ch.outcomes[outDuplicate]++
			continue
		case consensus.Repeat:
			ch.outcomes[outRepeat]++
			continue
		case consensus.Closed:
			ch.outcomes[outClosed]++
			continue
		}
		ch.outcomes[outApplied]++
		if err := js.Apply(eff.ClassDelta); err != nil {
			return change{}, err
		}
		for c, d := range eff.ClassDelta {
			ch.classDelta[c] += d
		}
		if err := js.AddConfusion(eff.ConfusionDelta); err != nil {
			return change{}, err
		}
		for i, d := range eff.ConfusionDelta {
			ch.confusionDelta[i] += d
		}
		ch.credits = append(ch.credits, eff.Credits...)
		if it.Questions == nil {
			it.Questions = map[string]consensus.ItemState{}
		}
		it.Questions[m.Class] = q
		became, err := settle(j, &it, &js, now)
		if err != nil {
			return change{}, err
		}
		if became {
			ch.completed++
		}
		ch.commit.Items = append(ch.commit.Items, it)
	}
	if goldChanged || len(ch.commit.Items) > 0 {
		ch.commit.Answerer = &w
		ch.commit.AnswererExpires = answererExpiry(m.Day)
	}
	return ch, nil
}

// answeredBy reports whether answerer already answered some question of the item with
// another message (the same message is a redelivery, which Update recognises).
func answeredBy(questions map[string]consensus.ItemState, answerer, msgID string) bool {
	for _, q := range questions {
		for _, a := range q.Answers {
			if a.Answerer == answerer && a.ID != msgID {
				return true
			}
		}
	}
	return false
}

// settle recomputes an item's result from its questions and applies the job's completion
// rule, forecasting future answers from the job's question state js; it reports whether
// the item became done now. Done is sticky.
func settle(j job.Job, it *dynamo.ConsensusItem, js *consensus.JobState, now time.Time) (bool, error) {
	post, n := itemPosterior(j, it.Questions)
	r := job.Result{Status: job.ItemOpen, Answers: n}
	if it.Status == job.ItemDone {
		r.Status = job.ItemDone
	}
	became := false
	if n > 0 {
		top := 0
		for c, v := range post {
			if v > post[top] {
				top = c
			}
		}
		r.Label, r.Confidence = j.Classes[top], post[top]
		if n == 1 {
			r.Confidence = 0
		}
		if r.Status != job.ItemDone {
			done, err := completes(j, post, n, js)
			if err != nil {
				return false, err
			}
			if done {
				r.Status, became = job.ItemDone, true
			}
		}
	}
	it.Result = r
	it.Status = r.Status
	if became {
		it.CompletedAt = now.UTC()
		// No question of a done item takes answers any more.
		for class, q := range it.Questions {
			q.Done = true
			it.Questions[class] = q
		}
	}
	return became, nil
}

// completes applies the job's completion rule (consensus.Params.Complete) to an item's
// posterior over the job's classes.
func completes(j job.Job, post []float64, answers int, js *consensus.JobState) (bool, error) {
	if answers < j.MinAnswers && answers < j.MaxAnswers {
		return false, nil // the rule cannot complete it yet: no need for the forecast
	}
	q, err := questionParams.PooledMatrix(js)
	if err != nil {
		return false, err
	}
	f := consensus.LabelForecast(q)
	if j.Kind != job.KindBinary {
		f = consensus.QuestionForecast(len(j.Classes), q)
	}
	rule := consensus.Params{Classes: len(post), Min: j.MinAnswers, Max: j.MaxAnswers, Target: j.Target}
	done, err := rule.Complete(post, answers, f)
	if err != nil {
		return false, poison("job %s completion rule: %v", j.ID, err)
	}
	return done, nil
}

// itemPosterior is the item's posterior over the job's classes and its answer count.
func itemPosterior(j job.Job, questions map[string]consensus.ItemState) ([]float64, int) {
	n := 0
	for _, q := range questions {
		n += len(q.Answers)
	}
	if j.Kind == job.KindBinary {
		q := questions[j.Classes[0]]
		if len(q.Posterior) != questionClasses {
			return []float64{0.5, 0.5}, n
		}
		return []float64{q.Posterior[yes], q.Posterior[no]}, n
	}
	logit := make([]float64, len(j.Classes))
	for c, class := range j.Classes {
		for _, a := range questions[class].Answers {
			if len(a.Like) == questionClasses {
				logit[c] += a.Like[yes] - a.Like[no]
			}
		}
	}
	hi := slices.Max(logit)
	var z float64
	for c := range logit {
		logit[c] = math.Exp(logit[c] - hi)
		z += logit[c]
	}
	for c := range logit {
		logit[c] /= z
	}
	return logit, n
}

// Retention of consensus records that are not customer data.
const (
	// AnswererRetention is how long an answerer's state is kept after its day ends: long
	// enough for re-estimation passes and late redeliveries, short since the answerer is a
	// daily pseudonym.
	AnswererRetention = 3 * 24 * time.Hour
	// ClassCountsRetention is how long a job's class counts outlive its last answer
	// (re-estimation rebuilds them from the items).
	ClassCountsRetention = 30 * 24 * time.Hour
)

// answererExpiry is when the state of an answerer of day ends.
func answererExpiry(day string) time.Time {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return time.Time{} // validated before; an unparsable day expires at once
	}
	return d.Add(24 * time.Hour).Add(AnswererRetention)
}

// answererDay is the day part of an answerer id ("<day>/<pseudonym>").
func answererDay(id string) string {
	if len(id) > len(time.DateOnly) && id[len(time.DateOnly)] == '/' {
		return id[:len(time.DateOnly)]
	}
	return ""
}

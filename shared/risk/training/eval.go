package training

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/crowdgate/crowdgate/shared/risk"
	"github.com/crowdgate/crowdgate/shared/risk/botgen"
	"github.com/crowdgate/crowdgate/shared/risk/sapimouse"
)

// TargetFPR is the human false-positive rate the detection rate is measured at.
const TargetFPR = 0.01

// FamilyResult is how one bot family fares against held-out humans.
type FamilyResult struct {
	Family string `json:"family"`
	// Style is a botgen style ("b2b/jitter"), a timing ("b2b": its styles pooled) or
	// empty (everything pooled).
	Style    string  `json:"style,omitempty"`
	HeldOut  bool    `json:"held_out"` // the model was not trained on this family
	Sessions int     `json:"sessions"`
	AUC      float64 `json:"auc"`
	// Detected is the fraction of bot sessions scoring above Threshold, the score that at
	// most TargetFPR of human sessions exceed.
	Detected float64 `json:"detected_at_1pct_fpr"`
	// DetectedAtHalf is the fraction scoring >= 0.5, the score integrators are told to
	// treat as "more likely a bot than a person".
	DetectedAtHalf float64 `json:"detected_at_0_5"`
	MeanScore      float64 `json:"mean_score"`
}

// EvalReport is the result of Evaluate.
type EvalReport struct {
	TestUsers     []string       `json:"test_users"`
	Movements     int            `json:"session_movements"`
	HumanSessions int            `json:"human_sessions"`
	Threshold     float64        `json:"threshold_at_1pct_fpr"`
	HumanFPR      float64        `json:"human_fpr"` // at Threshold (≤ TargetFPR up to ties)
	HumanMean     float64        `json:"human_mean_score"`
	HumanAtHalf   float64        `json:"human_fpr_at_0_5"` // humans scoring >= 0.5
	Families      []FamilyResult `json:"families"`
}

// EvalOptions control an evaluation run.
type EvalOptions struct {
	Model            *risk.Model // default risk.DefaultModel()
	Humans           string      // SapiMouse directory; default sapimouse.Locate()
	Recordings       []sapimouse.Recording
	TestUsers        []string // default: the model's held-out users, else a split by Seed
	Seed             uint64
	TestFraction     float64
	SessionMovements int             // default 5
	Families         []botgen.Family // generated families; default trained + held out
	// Bots, when set, are scored instead of generated families (grouped by Family).
	Bots []Session
}

// Evaluate scores held-out human sessions and bot sessions that replay the same click
// targets through risk.Score, and reports per family (and per timing) the AUC and the
// detection rate at a 1% human false-positive rate.
func Evaluate(o EvalOptions) (EvalReport, error) {
	if o.Model == nil {
		o.Model = risk.DefaultModel()
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.TestFraction == 0 {
		o.TestFraction = 0.3
	}
	if o.SessionMovements == 0 {
		o.SessionMovements = 5
	}
	recs := o.Recordings
	if len(recs) == 0 {
		opts := Options{Humans: o.Humans}
		var err error
		if recs, err = recordings(&opts); err != nil {
			return EvalReport{}, err
		}
	}
	test := o.TestUsers
	if len(test) == 0 {
		test = modelTestUsers(o.Model)
	}
	if len(test) == 0 {
		_, test = splitUsers(recs, o.Seed, o.TestFraction)
	}
	humans := humanTestSessions(recs, test, o.SessionMovements)
	if len(humans) == 0 {
		return EvalReport{}, errors.New("no held-out human sessions (are the test users in the data?)")
	}
	rep := EvalReport{TestUsers: test, Movements: o.SessionMovements, HumanSessions: len(humans)}
	hs := make([]float64, len(humans))
	for i, h := range humans {
		hs[i] = scoreEvents(o.Model, h.Events)
	}
	rep.Threshold = thresholdAt(hs, TargetFPR)
	rep.HumanMean = mean(hs)
	above := 0
	for _, s := range hs {
		if s > rep.Threshold {
			above++
		}
	}
	rep.HumanFPR = float64(above) / float64(len(hs))
	rep.HumanAtHalf = atLeast(hs, 0.5)

	trained := map[string]bool{}
	if fs, ok := o.Model.Meta["families"].([]any); ok {
		for _, f := range fs {
			if s, ok := f.(string); ok {
				trained[s] = true
			}
		}
	} else if fs, ok := o.Model.Meta["families"].([]string); ok {
		for _, f := range fs {
			trained[f] = true
		}
	}
	addResult := func(fam, style string, scores []float64) {
		rep.Families = append(rep.Families, FamilyResult{
			Family: fam, Style: style, HeldOut: !trained[fam], Sessions: len(scores),
			AUC: AUC(hs, scores), Detected: detected(scores, rep.Threshold), DetectedAtHalf: atLeast(scores, 0.5),
			MeanScore: mean(scores),
		})
	}
	if len(o.Bots) > 0 {
		groups := map[string][]float64{}
		var names []string
		for _, b := range o.Bots {
			if _, ok := groups[b.Family]; !ok {
				names = append(names, b.Family)
			}
			groups[b.Family] = append(groups[b.Family], scoreEvents(o.Model, b.Events))
		}
		for _, n := range names {
			addResult(n, "", groups[n])
		}
		return rep, nil
	}
	fams := o.Families
	if len(fams) == 0 {
		fams = append(botgen.Trained(), botgen.HeldOut()...)
	}
	for _, f := range fams {
		var all []float64
		byTiming := map[botgen.Timing][]float64{}
		var timings []botgen.Timing
		for _, st := range botgen.Styles(f) {
			scores := make([]float64, len(humans))
			for i, h := range humans {
				b := botSession(rngFor(o.Seed, "eval", h.ID, string(f), st.String()), h, f, st)
				scores[i] = scoreEvents(o.Model, b.Events)
			}
			addResult(string(f), st.String(), scores)
			if _, ok := byTiming[st.Timing]; !ok {
				timings = append(timings, st.Timing)
			}
			byTiming[st.Timing] = append(byTiming[st.Timing], scores...)
			all = append(all, scores...)
		}
		for _, tm := range timings {
			addResult(string(f), string(tm), byTiming[tm])
		}
		addResult(string(f), "", all)
	}
	return rep, nil
}

// LOFOResult is one leave-one-family-out run: a model trained without Family, scored on it.
type LOFOResult struct {
	Family   string  `json:"family"`
	AUC      float64 `json:"auc"`
	Detected float64 `json:"detected_at_1pct_fpr"`
}

// LeaveOneFamilyOut trains one model per trained family without that family and reports
// its AUC (and detection at 1% FPR) on the left-out family over held-out users.
func LeaveOneFamilyOut(opts Options, progress func(string)) ([]LOFOResult, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	recs, err := recordings(&opts)
	if err != nil {
		return nil, err
	}
	opts.Recordings = recs
	var out []LOFOResult
	all := opts.Families
	for _, f := range all {
		o := opts
		o.Families = slices.DeleteFunc(slices.Clone(all), func(g botgen.Family) bool { return g == f })
		m, rep, err := Train(o)
		if err != nil {
			return nil, fmt.Errorf("train without %s: %w", f, err)
		}
		ev, err := Evaluate(EvalOptions{Model: m, Recordings: recs, TestUsers: rep.TestUsers, Seed: opts.Seed,
			SessionMovements: opts.SessionMovements, Families: []botgen.Family{f}})
		if err != nil {
			return nil, fmt.Errorf("evaluate %s: %w", f, err)
		}
		for _, r := range ev.Families {
			if r.Style == "" {
				out = append(out, LOFOResult{Family: r.Family, AUC: r.AUC, Detected: r.Detected})
				if progress != nil {
					progress(fmt.Sprintf("without %-22s AUC %.4f  detected@1%%FPR %.3f", f, r.AUC, r.Detected))
				}
			}
		}
	}
	return out, nil
}

func modelTestUsers(m *risk.Model) []string {
	switch v := m.Meta["test_users"].(type) {
	case []string:
		return v
	case []any:
		var out []string
		for _, u := range v {
			if s, ok := u.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func humanTestSessions(recs []sapimouse.Recording, users []string, k int) []Session {
	var out []Session
	for _, r := range byUsers(recs, users) {
		out = append(out, humanSessions(r, k)...)
	}
	return out
}

// scoreEvents runs the full scorer on a pointer-only session, as the eval CLI does.
func scoreEvents(m *risk.Model, ev []risk.PointerEvent) float64 {
	t := risk.Telemetry{Version: risk.TelemetryVersion, Pointer: ev}
	return risk.Score(risk.Input{Telemetry: &t, Model: m}).Score
}

// AUC is the probability that a random bot session outscores a random human one (ties
// count half), computed by ranks.
func AUC(humans, bots []float64) float64 {
	if len(humans) == 0 || len(bots) == 0 {
		return math.NaN()
	}
	type item struct {
		v   float64
		bot bool
	}
	all := make([]item, 0, len(humans)+len(bots))
	for _, v := range humans {
		all = append(all, item{v, false})
	}
	for _, v := range bots {
		all = append(all, item{v, true})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	var rankSum float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		r := float64(i+j+1) / 2 // average 1-based rank of the tie group
		for k := i; k < j; k++ {
			if all[k].bot {
				rankSum += r
			}
		}
		i = j
	}
	nb, nh := float64(len(bots)), float64(len(humans))
	return (rankSum - nb*(nb+1)/2) / (nb * nh)
}

// thresholdAt returns the smallest score that at most fpr of the human scores exceed.
func thresholdAt(humans []float64, fpr float64) float64 {
	s := slices.Clone(humans)
	slices.Sort(s)
	allowed := int(math.Floor(fpr * float64(len(s))))
	return s[len(s)-1-allowed]
}

func detected(scores []float64, th float64) float64 {
	if len(scores) == 0 {
		return 0
	}
	n := 0
	for _, s := range scores {
		if s > th {
			n++
		}
	}
	return float64(n) / float64(len(scores))
}

func atLeast(scores []float64, th float64) float64 {
	if len(scores) == 0 {
		return 0
	}
	n := 0
	for _, s := range scores {
		if s >= th {
			n++
		}
	}
	return float64(n) / float64(len(scores))
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

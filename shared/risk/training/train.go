// Package training trains and evaluates the risk package's kinematic pointer model
// offline: human movements from the SapiMouse recordings against bot families from
// botgen, split by user so that evaluation only sees people the model never saw. It backs
// `crowdgate train risk` and `crowdgate eval risk` (RunTrainCLI, RunEvalCLI).
package training

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/crowdgate/crowdgate/shared/risk"
	"github.com/crowdgate/crowdgate/shared/risk/botgen"
	"github.com/crowdgate/crowdgate/shared/risk/sapimouse"
)

// Options control a training run. Zero values take the documented defaults.
type Options struct {
	// Humans is the SapiMouse directory (user*/session_*.csv); default sapimouse.Locate().
	Humans string
	// Recordings, when set, is used instead of reading Humans (tests pass a subset).
	Recordings []sapimouse.Recording
	// Seed makes the user split and the generated bots reproducible (default 1).
	Seed uint64
	// TestFraction of users is held out of training for evaluation (default 0.3).
	TestFraction float64
	// Families to train against (default botgen.Trained()).
	Families []botgen.Family
	// Rounds, LearningRate, Lambda and Bins shape the boosting (defaults 300, 0.1, 1, 64).
	Rounds       int
	LearningRate float64
	Lambda       float64
	Bins         int
	// SessionMovements is the session size used to calibrate session scores (default 5).
	SessionMovements int
	// Exclude names features the model may not use (ablation experiments).
	Exclude []string
}

func (o *Options) defaults() error {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.TestFraction == 0 {
		o.TestFraction = 0.3
	}
	if o.TestFraction < 0 || o.TestFraction >= 1 {
		return fmt.Errorf("test fraction %g: want 0 <= f < 1", o.TestFraction)
	}
	if len(o.Families) == 0 {
		o.Families = botgen.Trained()
	}
	for _, f := range o.Families {
		if !botgen.Known(f) {
			return fmt.Errorf("unknown bot family %q", f)
		}
	}
	for _, x := range o.Exclude {
		if !slices.Contains(risk.FeatureNames[:], x) {
			return fmt.Errorf("unknown feature %q", x)
		}
	}
	if o.Rounds == 0 {
		o.Rounds = 300
	}
	if o.LearningRate == 0 {
		o.LearningRate = 0.1
	}
	if o.Lambda == 0 {
		o.Lambda = 1
	}
	if o.Bins == 0 {
		o.Bins = 64
	}
	if o.SessionMovements == 0 {
		o.SessionMovements = 5
	}
	return nil
}

// Report describes a training run.
type Report struct {
	Seed           uint64
	TrainUsers     []string
	TestUsers      []string
	Families       []string
	HumanMovements int
	BotMovements   int
	TrainLogLoss   float64
	TrainAccuracy  float64
	Calibration    risk.SessionCalibration
	FeatureGain    map[string]float64 // total split gain per feature: what the model leans on
}

// Train fits the kinematic model: it extracts movement features from the training users'
// recordings and from bot sessions that replay those users' click targets (one bot
// session per human session, family and timing drawn in turn), boosts stumps on them,
// and calibrates session scores.
func Train(opts Options) (*risk.Model, Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, Report{}, err
	}
	recs, err := recordings(&opts)
	if err != nil {
		return nil, Report{}, err
	}
	train, test := splitUsers(recs, opts.Seed, opts.TestFraction)
	rep := Report{Seed: opts.Seed, TrainUsers: train, TestUsers: test}
	for _, f := range opts.Families {
		rep.Families = append(rep.Families, string(f))
	}
	trainRecs := byUsers(recs, train)
	if len(trainRecs) == 0 {
		return nil, rep, errors.New("no training recordings")
	}

	// Movement-level examples.
	var X []risk.Features
	var y []float64
	var humanSess, botSess []Session
	k := opts.SessionMovements
	pairs := familyStyles(opts.Families)
	for _, rec := range trainRecs {
		X = risk.MovementFeatures(rec.Events, X)
		for len(y) < len(X) {
			y = append(y, 0)
		}
		// Bots replay ten-click chunks so that inter-movement pacing is part of the data.
		for i, h := range humanSessions(rec, 2*k) {
			ft := pairs[(i+len(humanSess))%len(pairs)]
			b := botSession(rngFor(opts.Seed, "train", h.ID), h, ft.f, ft.s)
			X = risk.MovementFeatures(b.Events, X)
			for len(y) < len(X) {
				y = append(y, 1)
			}
		}
		for i, h := range humanSessions(rec, k) {
			humanSess = append(humanSess, h)
			ft := pairs[(i+len(botSess))%len(pairs)]
			botSess = append(botSess, botSession(rngFor(opts.Seed, "calib", h.ID), h, ft.f, ft.s))
		}
	}
	for _, v := range y {
		if v == 1 {
			rep.BotMovements++
		} else {
			rep.HumanMovements++
		}
	}
	if rep.HumanMovements == 0 || rep.BotMovements == 0 {
		return nil, rep, errors.New("training needs both human and bot movements")
	}
	// Balance the classes so the bias does not encode their ratio.
	w := make([]float64, len(y))
	for i, v := range y {
		if v == 1 {
			w[i] = 0.5 / float64(rep.BotMovements)
		} else {
			w[i] = 0.5 / float64(rep.HumanMovements)
		}
	}
	b := boost(X, y, w, opts)
	m := &risk.Model{
		Version:  risk.ModelVersion,
		Features: risk.FeatureNames[:],
		Bias:     b.bias,
		Stumps:   b.stumps,
		Session:  risk.SessionCalibration{Clip: 6, K0: 1, Prior: -3, A: 1},
	}
	if err := m.Compile(); err != nil {
		return nil, rep, fmt.Errorf("compile trained model: %w", err)
	}
	rep.FeatureGain = b.gain
	rep.TrainLogLoss, rep.TrainAccuracy = fitQuality(m, X, y, w)

	// Session calibration: a 1-D logistic fit of the shrunk mean logit.
	var zs, ys []float64
	for _, set := range []struct {
		s []Session
		y float64
	}{{humanSess, 0}, {botSess, 1}} {
		for _, s := range set.s {
			zs = append(zs, sessionZ(m, s.Events))
			ys = append(ys, set.y)
		}
	}
	m.Session.A, m.Session.B = calibrate(zs, ys)
	rep.Calibration = m.Session
	if err := m.Compile(); err != nil {
		return nil, rep, fmt.Errorf("compile calibrated model: %w", err)
	}
	m.Meta = map[string]any{
		"seed":            opts.Seed,
		"test_fraction":   opts.TestFraction,
		"test_users":      test,
		"families":        rep.Families,
		"rounds":          opts.Rounds,
		"learning_rate":   opts.LearningRate,
		"human_movements": rep.HumanMovements,
		"bot_movements":   rep.BotMovements,
	}
	if len(opts.Exclude) > 0 {
		m.Meta["excluded_features"] = opts.Exclude
	}
	return m, rep, nil
}

func recordings(o *Options) ([]sapimouse.Recording, error) {
	if len(o.Recordings) > 0 {
		return o.Recordings, nil
	}
	dir := o.Humans
	if dir == "" {
		d, err := sapimouse.Locate()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	recs, err := sapimouse.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load human recordings: %w", err)
	}
	return recs, nil
}

type familyStyle struct {
	f botgen.Family
	s botgen.Style
}

// familyStyles lists every family in every style, the order training cycles through.
func familyStyles(fs []botgen.Family) []familyStyle {
	var out []familyStyle
	for _, f := range fs {
		for _, s := range botgen.Styles(f) {
			out = append(out, familyStyle{f, s})
		}
	}
	return out
}

// sessionZ is the statistic the session calibration maps to a risk.
func sessionZ(m *risk.Model, ev []risk.PointerEvent) float64 {
	fs := risk.MovementFeatures(ev, nil)
	logits := make([]float64, len(fs))
	for i := range fs {
		logits[i] = m.MovementLogit(&fs[i])
	}
	return m.Session.SessionZ(logits)
}

// calibrate fits p = sigmoid(a·z + b) by Newton's method with balanced classes and a
// little ridge, so a perfectly separated training set cannot send a to infinity.
func calibrate(z, y []float64) (a, b float64) {
	var n1 float64
	for _, v := range y {
		n1 += v
	}
	n0 := float64(len(y)) - n1
	if n0 == 0 || n1 == 0 {
		return 1, 0
	}
	a = 1
	const ridge = 0.5
	for it := 0; it < 50; it++ {
		var ga, gb, haa, hab, hbb float64
		for i := range z {
			w := 0.5 / n0
			if y[i] == 1 {
				w = 0.5 / n1
			}
			p := 1 / (1 + math.Exp(-(a*z[i] + b)))
			g := w * (p - y[i])
			h := w * math.Max(p*(1-p), 1e-9)
			ga += g * z[i]
			gb += g
			haa += h * z[i] * z[i]
			hab += h * z[i]
			hbb += h
		}
		ga += ridge * 1e-3 * a
		haa += ridge * 1e-3
		det := haa*hbb - hab*hab
		if det <= 0 {
			break
		}
		da := (hbb*ga - hab*gb) / det
		db := (haa*gb - hab*ga) / det
		a -= da
		b -= db
		if math.Abs(da) < 1e-9 && math.Abs(db) < 1e-9 {
			break
		}
	}
	return a, b
}

func fitQuality(m *risk.Model, X []risk.Features, y, w []float64) (logloss, acc float64) {
	var sw float64
	for i := range X {
		p := 1 / (1 + math.Exp(-m.MovementLogit(&X[i])))
		p = math.Min(math.Max(p, 1e-12), 1-1e-12)
		if y[i] == 1 {
			logloss -= w[i] * math.Log(p)
		} else {
			logloss -= w[i] * math.Log(1-p)
		}
		if (p >= 0.5) == (y[i] == 1) {
			acc += w[i]
		}
		sw += w[i]
	}
	return logloss / sw, acc / sw
}

type boosted struct {
	bias   float64
	stumps []risk.Stump
	gain   map[string]float64
}

// boost fits gradient-boosted stumps (depth-1 trees) on the logistic loss with
// histogram split finding over quantile bins. Stumps on the same feature and threshold
// are merged, so the model file stays small.
func boost(X []risk.Features, y, w []float64, o Options) boosted {
	n := len(X)
	const nf = risk.NumFeatures
	// Quantile cut points per feature.
	cuts := make([][]float64, nf)
	bins := make([][]uint8, nf)
	col := make([]float64, n)
	for f := 0; f < nf; f++ {
		for i := range X {
			col[i] = X[i][f]
		}
		s := slices.Clone(col)
		slices.Sort(s)
		var c []float64
		for q := 1; q < o.Bins; q++ {
			v := s[q*(n-1)/o.Bins]
			if len(c) == 0 || v > c[len(c)-1] {
				c = append(c, v)
			}
		}
		if len(c) > 0 && c[len(c)-1] >= s[n-1] {
			c = c[:len(c)-1] // a cut at the maximum splits nothing
		}
		cuts[f] = c
		b := make([]uint8, n)
		for i, v := range col {
			j, _ := slices.BinarySearch(c, v) // first cut >= v: v goes left of it
			b[i] = uint8(j)
		}
		bins[f] = b
	}
	var sw, swy float64
	for i := range y {
		sw += w[i]
		swy += w[i] * y[i]
	}
	bias := math.Log(swy / (sw - swy))
	F := make([]float64, n)
	for i := range F {
		F[i] = bias
	}
	g := make([]float64, n)
	h := make([]float64, n)
	type key struct {
		f int
		t float64
	}
	merged := map[key]*risk.Stump{}
	var order []key
	gain := map[string]float64{}
	G := make([]float64, 256)
	H := make([]float64, 256)
	for round := 0; round < o.Rounds; round++ {
		var gt, ht float64
		for i := range F {
			p := 1 / (1 + math.Exp(-F[i]))
			g[i] = w[i] * (p - y[i])
			h[i] = w[i] * p * (1 - p)
			gt += g[i]
			ht += h[i]
		}
		minH := ht * 1e-3
		bestGain, bestF, bestB := 0.0, -1, 0
		var bestL, bestR float64
		lam := o.Lambda * ht / float64(n) // λ in units of one average example
		for f := 0; f < nf; f++ {
			if slices.Contains(o.Exclude, risk.FeatureNames[f]) {
				continue
			}
			nb := len(cuts[f]) + 1
			if nb < 2 {
				continue
			}
			clear(G[:nb])
			clear(H[:nb])
			for i, b := range bins[f] {
				G[b] += g[i]
				H[b] += h[i]
			}
			var gl, hl float64
			for b := 0; b < nb-1; b++ {
				gl += G[b]
				hl += H[b]
				gr, hr := gt-gl, ht-hl
				if hl < minH || hr < minH {
					continue
				}
				gn := gl*gl/(hl+lam) + gr*gr/(hr+lam) - gt*gt/(ht+lam)
				if gn > bestGain {
					bestGain, bestF, bestB = gn, f, b
					bestL, bestR = -gl/(hl+lam), -gr/(hr+lam)
				}
			}
		}
		if bestF < 0 {
			break
		}
		lv, rv := bestL*o.LearningRate, bestR*o.LearningRate
		th := cuts[bestF][bestB]
		for i, b := range bins[bestF] {
			if int(b) <= bestB {
				F[i] += lv
			} else {
				F[i] += rv
			}
		}
		k := key{bestF, th}
		if s, ok := merged[k]; ok {
			s.Left += lv
			s.Right += rv
		} else {
			merged[k] = &risk.Stump{Feature: risk.FeatureNames[bestF], Threshold: th, Left: lv, Right: rv}
			order = append(order, k)
		}
		gain[risk.FeatureNames[bestF]] += bestGain
	}
	out := boosted{bias: bias, gain: gain}
	for _, k := range order {
		s := *merged[k]
		s.Left, s.Right = round6(s.Left), round6(s.Right)
		out.stumps = append(out.stumps, s)
	}
	return out
}

// round6 trims float noise from the model file; 1e-6 log-odds changes nothing.
func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

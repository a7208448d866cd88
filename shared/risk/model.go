package risk

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"
)

// ModelVersion is the model.json schema version this package reads.
const ModelVersion = 1

// Stump is one depth-1 tree of the boosted ensemble: it adds Left when the feature is
// <= Threshold, else Right (both are log-odds of "bot").
type Stump struct {
	Feature   string  `json:"f"`
	Threshold float64 `json:"t"`
	Left      float64 `json:"l"`
	Right     float64 `json:"r"`
}

// SessionCalibration turns per-movement log-odds into the session's pointer risk:
// z = (Σ clip(logit_i, ±Clip) + K0·Prior) / (n + K0), risk = sigmoid(A·z + B). The K0
// pseudo-movements of log-odds Prior (negative: most visitors are people) keep a session
// with one or two ambiguous movements from being called a bot.
type SessionCalibration struct {
	Clip  float64 `json:"clip"`
	K0    float64 `json:"k0"`
	Prior float64 `json:"prior"`
	A     float64 `json:"a"`
	B     float64 `json:"b"`
}

// Model is the kinematic pointer model: a boosted stump ensemble over movement features
// (an additive model, so each feature's effect can be read off its stumps) and the
// session calibration. It is trained offline (shared/risk/training) and embedded.
type Model struct {
	Version  int                `json:"version"`
	Features []string           `json:"features"`
	Bias     float64            `json:"bias"`
	Stumps   []Stump            `json:"stumps"`
	Session  SessionCalibration `json:"session"`
	// Meta records how the model was made (seed, data sizes, held-out results).
	Meta map[string]any `json:"meta,omitempty"`

	compiled *compiledModel
}

// compiledModel folds the stumps of each feature into one step function: sorted
// thresholds and the summed log-odds of each interval, so a movement costs one binary
// search per feature whatever the number of stumps.
type compiledModel struct {
	bias float64
	th   [NumFeatures][]float64
	val  [NumFeatures][]float64
}

// Compile checks the model against this build's features and prepares it for scoring.
// Train and ParseModel call it; call it again after editing a Model by hand.
func (m *Model) Compile() error {
	if m.Version != ModelVersion {
		return fmt.Errorf("model version %d, want %d", m.Version, ModelVersion)
	}
	index := map[string]int{}
	for i, n := range FeatureNames {
		index[n] = i
	}
	c := &compiledModel{bias: m.Bias}
	per := [NumFeatures][]Stump{}
	for i, s := range m.Stumps {
		f, ok := index[s.Feature]
		if !ok {
			return fmt.Errorf("stump %d: unknown feature %q", i, s.Feature)
		}
		if !finite(s.Threshold) || !finite(s.Left) || !finite(s.Right) {
			return fmt.Errorf("stump %d: non-finite value", i)
		}
		per[f] = append(per[f], s)
	}
	for f, ss := range per {
		if len(ss) == 0 {
			continue
		}
		th := make([]float64, 0, len(ss))
		for _, s := range ss {
			th = append(th, s.Threshold)
		}
		slices.Sort(th)
		th = slices.Compact(th)
		// Interval j holds x in (th[j-1], th[j]]; the last holds x > every threshold.
		val := make([]float64, len(th)+1)
		for j := range val {
			// A representative x of interval j decides each stump's side.
			var x float64
			switch {
			case j < len(th):
				x = th[j]
			default:
				x = math.Inf(1)
			}
			for _, s := range ss {
				if x <= s.Threshold {
					val[j] += s.Left
				} else {
					val[j] += s.Right
				}
			}
		}
		c.th[f], c.val[f] = th, val
	}
	if m.Session.K0 < 0 || m.Session.Clip <= 0 || !finite(m.Session.A) || !finite(m.Session.B) || !finite(m.Session.Prior) {
		return fmt.Errorf("bad session calibration %+v", m.Session)
	}
	m.compiled = c
	return nil
}

// ParseModel reads a model.json.
func ParseModel(b []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse model: %w", err)
	}
	if err := m.Compile(); err != nil {
		return nil, fmt.Errorf("parse model: %w", err)
	}
	return &m, nil
}

// MovementLogit is the model's log-odds that one movement was made by a bot. The model
// must come from ParseModel, Train or Compile.
func (m *Model) MovementLogit(f *Features) float64 {
	c := m.compiled
	if c == nil {
		panic("risk: Model used before Compile")
	}
	z := c.bias
	for i := range f {
		th := c.th[i]
		if len(th) == 0 {
			continue
		}
		// First threshold >= x: a hand-rolled search keeps this allocation- and
		// closure-free on the hot path.
		x := f[i]
		lo, hi := 0, len(th)
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if th[mid] < x {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		z += c.val[i][lo]
	}
	return z
}

// SessionRisk turns the movements' log-odds into the session's pointer risk in [0,1].
func (m *Model) SessionRisk(logits []float64) float64 {
	if len(logits) == 0 {
		return 0
	}
	s := m.Session
	sum := 0.0
	for _, z := range logits {
		sum += math.Max(-s.Clip, math.Min(s.Clip, z))
	}
	return sigmoid(s.A*s.z(sum, len(logits)) + s.B)
}

// z is the session statistic the calibration maps; training fits A and B on it.
func (s SessionCalibration) z(sum float64, n int) float64 {
	return (sum + s.K0*s.Prior) / (float64(n) + s.K0)
}

// SessionZ is z for a session whose clipped movement log-odds sum to sum over n
// movements (training fits the calibration on it).
func (s SessionCalibration) SessionZ(logits []float64) float64 {
	sum := 0.0
	for _, l := range logits {
		sum += math.Max(-s.Clip, math.Min(s.Clip, l))
	}
	return s.z(sum, len(logits))
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

//go:embed model.json
var embeddedModel []byte

var defaultModel = sync.OnceValues(func() (*Model, error) { return ParseModel(embeddedModel) })

// DefaultModel is the trained model shipped in model.json.
func DefaultModel() *Model {
	m, err := defaultModel()
	if err != nil {
		// The embedded file is tested; reaching this means a broken build.
		panic(fmt.Sprintf("risk: embedded model.json: %v", err))
	}
	return m
}

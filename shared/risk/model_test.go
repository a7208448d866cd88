package risk_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/risk"
)

func TestEmbeddedModelLoads(t *testing.T) {
	m := risk.DefaultModel()
	if m.Version != risk.ModelVersion || len(m.Stumps) == 0 {
		t.Fatalf("embedded model: version %d, %d stumps", m.Version, len(m.Stumps))
	}
	if len(m.Features) != risk.NumFeatures {
		t.Errorf("model lists %d features, this build computes %d: retrain (see shared/risk/README.md)", len(m.Features), risk.NumFeatures)
	}
	for i, f := range m.Features {
		if i < risk.NumFeatures && f != risk.FeatureNames[i] {
			t.Errorf("model feature %d is %q, build has %q: retrain", i, f, risk.FeatureNames[i])
		}
	}
	if m.Meta["test_users"] == nil {
		t.Error("model does not record its held-out users; evaluation could not avoid training users")
	}
}

// The compiled lookup tables must give exactly what summing the stumps gives.
func TestCompiledModelMatchesStumpSum(t *testing.T) {
	m := risk.DefaultModel()
	index := map[string]int{}
	for i, n := range risk.FeatureNames {
		index[n] = i
	}
	r := rand.New(rand.NewPCG(5, 6))
	for k := 0; k < 2000; k++ {
		var f risk.Features
		for i := range f {
			// Mix exact thresholds (boundary cases) and random values.
			if s := m.Stumps[r.IntN(len(m.Stumps))]; r.IntN(4) == 0 && index[s.Feature] == i {
				f[i] = s.Threshold
			} else {
				f[i] = r.NormFloat64() * 2
			}
		}
		want := m.Bias
		for _, s := range m.Stumps {
			if f[index[s.Feature]] <= s.Threshold {
				want += s.Left
			} else {
				want += s.Right
			}
		}
		if got := m.MovementLogit(&f); math.Abs(got-want) > 1e-9 {
			t.Fatalf("MovementLogit = %v, stump sum = %v for %v", got, want, f)
		}
	}
}

func TestParseModelRefusesMismatchedModels(t *testing.T) {
	good, err := json.Marshal(risk.DefaultModel())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := risk.ParseModel(good); err != nil {
		t.Fatalf("re-parsing the embedded model: %v", err)
	}
	for name, doc := range map[string]string{
		"unknown feature": strings.Replace(string(good), `"f":"`, `"f":"no_such_feature_`, 1),
		"wrong version":   strings.Replace(string(good), `"version":1`, `"version":99`, 1),
		"bad calibration": `{"version":1,"stumps":[],"session":{"clip":0,"k0":1,"a":1,"b":0}}`,
		"not JSON":        `{`,
	} {
		if _, err := risk.ParseModel([]byte(doc)); err == nil {
			t.Errorf("%s: ParseModel accepted it", name)
		}
	}
}

func TestSessionRiskGrowsWithEvidence(t *testing.T) {
	m := risk.DefaultModel()
	one := m.SessionRisk([]float64{5})
	five := m.SessionRisk([]float64{5, 5, 5, 5, 5})
	human := m.SessionRisk([]float64{-5, -5, -5, -5, -5})
	if !(five > one && one > human) {
		t.Errorf("session risk: one bot-like movement %v, five %v, five human-like %v", one, five, human)
	}
	if m.SessionRisk(nil) != 0 {
		t.Error("no movements must carry no risk")
	}
}

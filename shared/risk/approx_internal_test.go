package risk

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestFastMathIsCloseEnough(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	worstA, worstL := 0.0, 0.0
	for i := 0; i < 100000; i++ {
		x, y := r.NormFloat64()*100, r.NormFloat64()*100
		if i%10 == 0 {
			x = math.Round(x) // integer steps, as pointer positions are
			y = math.Round(y)
		}
		if d := math.Abs(fastAtan2(y, x) - math.Atan2(y, x)); d > worstA && (x != 0 || y != 0) {
			worstA = d
		}
		v := math.Exp(r.Float64()*40 - 20)
		if d := math.Abs(fastLog(v) - math.Log(v)); d > worstL {
			worstL = d
		}
	}
	if worstA > 1e-4 {
		t.Errorf("fastAtan2 off by up to %g rad", worstA)
	}
	if worstL > 1e-3 {
		t.Errorf("fastLog off by up to %g", worstL)
	}
	for _, c := range [][2]float64{{0, 1}, {0, -1}, {1, 0}, {-1, 0}, {1, 1}, {-1, -1}, {0, -5}} {
		if d := math.Abs(fastAtan2(c[1], c[0]) - math.Atan2(c[1], c[0])); d > 1e-4 {
			t.Errorf("fastAtan2(%v, %v) off by %g", c[1], c[0], d)
		}
	}
}

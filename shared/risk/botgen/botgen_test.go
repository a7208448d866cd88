package botgen_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/crowdgate/crowdgate/shared/risk"
	"github.com/crowdgate/crowdgate/shared/risk/botgen"
)

var targets = []botgen.Target{
	{Point: botgen.Point{X: 700, Y: 120}, W: 40},
	{Point: botgen.Point{X: 130, Y: 640}, W: 80},
	{Point: botgen.Point{X: 1500, Y: 900}, W: 30}, // > 500 px: ghost-cursor overshoots
	{Point: botgen.Point{X: 1520, Y: 880}, W: 30},
}

func TestSessionsLookLikeWidgetTelemetry(t *testing.T) {
	for _, f := range append(botgen.Trained(), botgen.HeldOut()...) {
		for _, st := range botgen.Styles(f) {
			r := rand.New(rand.NewPCG(1, 2))
			ev := botgen.Session(r, f, st, botgen.Point{X: 400, Y: 400}, targets)
			var downs []risk.PointerEvent
			var gaps []float64
			for i, e := range ev {
				if e.X != math.Round(e.X) || e.Y != math.Round(e.Y) {
					t.Fatalf("%s %s: fractional position %v", f, st, e)
				}
				if i > 0 && e.T < ev[i-1].T {
					t.Fatalf("%s %s: time goes back at %d", f, st, i)
				}
				if i > 0 && e.Kind == risk.Move && ev[i-1].Kind == risk.Move && e.X == ev[i-1].X && e.Y == ev[i-1].Y {
					t.Fatalf("%s %s: a move without motion at %d", f, st, i)
				}
				if i > 0 && e.Kind == risk.Move && ev[i-1].Kind == risk.Move {
					gaps = append(gaps, e.T-ev[i-1].T)
				}
				if e.Kind == risk.Down {
					downs = append(downs, e)
					if i == 0 || ev[i-1].X != e.X || ev[i-1].Y != e.Y {
						t.Fatalf("%s %s: click away from the pointer", f, st)
					}
					if i+1 >= len(ev) || ev[i+1].Kind != risk.Up {
						t.Fatalf("%s %s: down without up", f, st)
					}
				}
			}
			if len(downs) != len(targets) {
				t.Fatalf("%s %s: %d clicks for %d targets", f, st, len(downs), len(targets))
			}
			for i, d := range downs {
				tol := 0.5
				if f == botgen.HumanLike || st.Noise != botgen.Clean {
					tol = targets[i].W // aimed, not placed
				}
				if math.Abs(d.X-targets[i].X) > tol || math.Abs(d.Y-targets[i].Y) > tol {
					t.Errorf("%s %s: click %d at (%v,%v), target (%v,%v)", f, st, i, d.X, d.Y, targets[i].X, targets[i].Y)
				}
			}
			slices.Sort(gaps)
			med := gaps[len(gaps)/2]
			if st.Timing == botgen.BackToBack && med > 2 {
				t.Errorf("%s %s: median gap %v ms between back-to-back moves", f, st, med)
			}
			if st.Timing == botgen.Humanish && (med < 7 || med > 25) {
				t.Errorf("%s %s: median gap %v ms, want frame-like", f, st, med)
			}
			moves := len(ev) - 2*len(downs)
			if moves < 4*len(targets) {
				t.Errorf("%s %s: only %d moves for %d targets", f, st, moves, len(targets))
			}
		}
	}
}

func TestSessionsAreReproducible(t *testing.T) {
	st := botgen.Style{Timing: botgen.Humanish, Noise: botgen.Jitter}
	a := botgen.Session(rand.New(rand.NewPCG(7, 8)), botgen.GhostCursor, st, botgen.Point{}, targets)
	b := botgen.Session(rand.New(rand.NewPCG(7, 8)), botgen.GhostCursor, st, botgen.Point{}, targets)
	c := botgen.Session(rand.New(rand.NewPCG(7, 9)), botgen.GhostCursor, st, botgen.Point{}, targets)
	if !slices.Equal(a, b) {
		t.Error("same seed, different sessions")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds, same session")
	}
}

// maxOffChord is the largest distance of a movement's moves from the straight line
// between its start and its click.
func maxOffChord(ev []risk.PointerEvent, from botgen.Point) float64 {
	worst := 0.0
	var end risk.PointerEvent
	for _, e := range ev {
		if e.Kind == risk.Down {
			end = e
			break
		}
	}
	dx, dy := end.X-from.X, end.Y-from.Y
	l := math.Hypot(dx, dy)
	for _, e := range ev {
		if e.Kind != risk.Move {
			break
		}
		worst = math.Max(worst, math.Abs((e.X-from.X)*dy-(e.Y-from.Y)*dx)/l)
	}
	return worst
}

func TestFamiliesHaveTheirShapes(t *testing.T) {
	from := botgen.Point{X: 100, Y: 100}
	to := []botgen.Target{{Point: botgen.Point{X: 700, Y: 400}, W: 40}}
	clean := botgen.Style{Timing: botgen.Humanish, Noise: botgen.Clean}
	r := rand.New(rand.NewPCG(3, 3))
	if d := maxOffChord(botgen.Session(r, botgen.LinearGauss, clean, from, to), from); d > 1 {
		t.Errorf("linear path strays %v px from the chord", d)
	}
	curved := 0
	for i := 0; i < 20; i++ {
		if maxOffChord(botgen.Session(r, botgen.QuadConstant, clean, from, to), from) > 10 {
			curved++
		}
	}
	if curved < 10 {
		t.Errorf("only %d of 20 quadratic paths bend more than 10 px", curved)
	}
	// Constant speed: equal steps in time give equal steps in space.
	ev := botgen.Session(r, botgen.LinearConstant, botgen.Style{Timing: botgen.BackToBack, Noise: botgen.Clean}, from, to)
	var steps []float64
	for i := 1; i < len(ev) && ev[i].Kind == risk.Move; i++ {
		steps = append(steps, math.Hypot(ev[i].X-ev[i-1].X, ev[i].Y-ev[i-1].Y))
	}
	lo, hi := slices.Min(steps[:len(steps)-1]), slices.Max(steps[:len(steps)-1])
	if hi-lo > 2.5 {
		t.Errorf("constant-speed steps range %v..%v px", lo, hi)
	}
}

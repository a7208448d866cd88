package risk_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crowdgate/crowdgate/shared/risk"
)

func feature(t *testing.T, f risk.Features, name string) float64 {
	t.Helper()
	for i, n := range risk.FeatureNames {
		if n == name {
			return f[i]
		}
	}
	t.Fatalf("no feature %q", name)
	return 0
}

// line is a straight run of n moves from (x0,y0) by (dx,dy) per event, every dt ms.
func line(t0, x0, y0, dx, dy, dt float64, n int) []risk.PointerEvent {
	out := make([]risk.PointerEvent, n)
	for i := range out {
		out[i] = risk.PointerEvent{T: t0 + float64(i)*dt, X: x0 + float64(i)*dx, Y: y0 + float64(i)*dy, Kind: risk.Move}
	}
	return out
}

func TestSegmentCutsAtClicksDragsAndPauses(t *testing.T) {
	var ev []risk.PointerEvent
	ev = append(ev, line(0, 0, 0, 10, 0, 16, 10)...)                        // 0..9: moves
	ev = append(ev, risk.PointerEvent{T: 200, X: 90, Kind: risk.Down})      // 10: click ends movement 1
	ev = append(ev, line(250, 90, 0, 0, 10, 16, 6)...)                      // 11..16: a drag
	ev = append(ev, risk.PointerEvent{T: 400, X: 90, Y: 50, Kind: risk.Up}) // 17
	ev = append(ev, line(500, 90, 50, 5, 5, 16, 5)...)                      // 18..22
	ev = append(ev, line(1000, 200, 200, 5, 0, 16, 5)...)                   // 23..27: after a 420 ms pause
	ev = append(ev, risk.PointerEvent{T: 1100, X: 300, Y: 300, Kind: risk.Move, Dev: risk.Touch})
	ev = append(ev, risk.PointerEvent{T: 1110, X: 300, Y: 300, Kind: risk.Down, Dev: risk.Touch})

	got := risk.Segment(ev, nil)
	want := []risk.Movement{
		{Start: 0, End: 10, Click: true, DownT: 200},
		{Start: 11, End: 17},
		{Start: 18, End: 23},
		{Start: 23, End: 28},
	}
	if len(got) != len(want) {
		t.Fatalf("Segment = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("movement %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestSmallMovementsAreNotScored(t *testing.T) {
	if f := risk.MovementFeatures(line(0, 0, 0, 2, 0, 16, 15), nil); len(f) != 0 {
		t.Errorf("a 28 px wiggle was scored: %d movements", len(f))
	}
	if f := risk.MovementFeatures(line(0, 0, 0, 50, 0, 16, 4), nil); len(f) != 0 {
		t.Errorf("a 4-event run was scored: %d movements", len(f))
	}
	if f := risk.MovementFeatures(line(0, 0, 0, 10, 3, 16, 12), nil); len(f) != 1 {
		t.Errorf("a 12-event, 115 px movement was not scored: %d movements", len(f))
	}
}

func TestFeaturesSeparateMachineFromHandShapes(t *testing.T) {
	// A script's straight, evenly paced line...
	straight := risk.MovementFeatures(line(0, 100, 100, 12, 5, 16, 40), nil)
	// ...and a wobbly line with varying speed, as a hand draws.
	r := rand.New(rand.NewPCG(9, 9))
	var wobbly []risk.PointerEvent
	x, y, tm := 100.0, 100.0, 0.0
	for i := 0; i < 40; i++ {
		speed := 4 + 10*math.Sin(math.Pi*float64(i)/40) + r.Float64()*3
		x += speed
		y += math.Round(r.NormFloat64()*2 + 2)
		tm += 16 + float64(r.IntN(3))
		wobbly = append(wobbly, risk.PointerEvent{T: tm, X: math.Round(x), Y: y, Kind: risk.Move})
	}
	hand := risk.MovementFeatures(wobbly, nil)
	if len(straight) != 1 || len(hand) != 1 {
		t.Fatalf("movements: %d and %d, want 1 each", len(straight), len(hand))
	}
	if s := feature(t, straight[0], "straightness"); s < 0.999 {
		t.Errorf("straightness of a straight line = %v", s)
	}
	if cv := feature(t, straight[0], "speed_cv"); cv > 0.01 {
		t.Errorf("speed_cv of constant speed = %v", cv)
	}
	if a, b := feature(t, straight[0], "speed_cv"), feature(t, hand[0], "speed_cv"); b <= a+0.2 {
		t.Errorf("speed_cv: constant %v, varying %v; want clearly higher for varying", a, b)
	}
	if a, b := feature(t, straight[0], "angle_change_mean"), feature(t, hand[0], "angle_change_mean"); b <= a {
		t.Errorf("angle_change_mean: straight %v, wobbly %v", a, b)
	}

	// Events 1 ms apart are a burst no browser produces for a hand.
	burst := risk.MovementFeatures(line(0, 0, 0, 10, 4, 1, 30), nil)
	if a, b := feature(t, burst[0], "burst_dt"), feature(t, straight[0], "burst_dt"); a >= b {
		t.Errorf("burst_dt: 1 ms events %v, 16 ms events %v", a, b)
	}
	same := line(0, 0, 0, 10, 4, 16, 30)
	for i := 1; i < len(same); i += 2 {
		same[i].T = same[i-1].T // pairs sharing a timestamp
	}
	if z := feature(t, risk.MovementFeatures(same, nil)[0], "zero_dt_fraction"); z < 0.4 {
		t.Errorf("zero_dt_fraction with half the events sharing timestamps = %v", z)
	}
}

package risk

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// teleportedByScan is the definition teleportRisk implements: for each down, look back
// from the last mouse event over the half-second window.
func teleportedByScan(ev []PointerEvent, i, prev, first int) bool {
	d := &ev[i]
	if prev < 0 {
		return true
	}
	if p := &ev[prev]; math.Abs(d.X-p.X) > jumpDist || math.Abs(d.Y-p.Y) > jumpDist {
		return true
	}
	moves, from := 0, first
	for j := prev; j >= 0; j-- {
		e := &ev[j]
		if e.Dev != Mouse {
			continue
		}
		if e.T <= d.T-teleportWindow {
			from = j
			break
		}
		if e.Kind == Move {
			if moves++; moves >= teleportMoves {
				return false
			}
		}
	}
	return math.Hypot(d.X-ev[from].X, d.Y-ev[from].Y) > teleportDist
}

func teleportRiskByScan(ev []PointerEvent) float64 {
	downs, jumps, first, prev := 0, 0, -1, -1
	for i := range ev {
		if ev[i].Dev != Mouse {
			continue
		}
		if first < 0 {
			first = i
		}
		if ev[i].Kind == Down && prev >= 0 && ev[prev].Kind == Move { // moved since the last click
			downs++
			if teleportedByScan(ev, i, prev, first) {
				jumps++
			}
		}
		prev = i
	}
	if jumps < 2 {
		return 0
	}
	switch frac := float64(jumps) / float64(downs); {
	case jumps >= 3 && frac >= 0.5:
		return 0.9
	case frac >= 0.3:
		return 0.6
	}
	return 0
}

func TestTeleportRiskMatchesItsDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	fired := 0
	for n := 0; n < 3000; n++ {
		var ev []PointerEvent
		tm, x, y := 0.0, 500.0, 500.0
		for range 1 + r.IntN(60) {
			tm += []float64{0, 1, 16, 120, 400, 700}[r.IntN(6)]
			if r.IntN(4) == 0 {
				x, y = r.Float64()*1000, r.Float64()*1000
			} else {
				x, y = x+r.NormFloat64()*20, y+r.NormFloat64()*20
			}
			ev = append(ev, PointerEvent{T: tm, X: x, Y: y, Kind: EventKind(r.IntN(3)), Dev: Device(r.IntN(5) / 4)})
		}
		want := teleportRiskByScan(ev)
		if got := teleportRisk(ev); got != want {
			t.Fatalf("stream %d: teleportRisk %v, want %v\n%+v", n, got, want, ev)
		}
		if want > 0 {
			fired++
		}
	}
	if fired == 0 {
		t.Fatal("no stream had teleporting clicks: the comparison says nothing")
	}
}

// A stream of clicks with no moves (2,000 of them fit in the 32 KiB limit) must not cost
// more than a real session of the same length: scoring is on every request's hot path.
func TestTeleportRiskIsLinear(t *testing.T) {
	clicks := make([]PointerEvent, MaxPointerEvents)
	moves := make([]PointerEvent, MaxPointerEvents)
	for i := range clicks {
		clicks[i] = PointerEvent{T: float64(i / 1000), X: 5, Y: 5, Kind: Down + EventKind(i%2)}
		moves[i] = PointerEvent{T: float64(i) * 16, X: float64(i % 400), Y: float64(i % 300), Kind: Move}
		if i%50 == 49 {
			moves[i].Kind = Down
		}
	}
	cost := func(ev []PointerEvent) time.Duration {
		best := time.Duration(math.MaxInt64)
		for range 7 {
			start := time.Now()
			for range 20 {
				teleportRisk(ev)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	base, worst := cost(moves), cost(clicks)
	if worst > 10*base+time.Millisecond {
		t.Fatalf("2,000 clicks cost %s, a 2,000-event session %s: quadratic in the clicks", worst/20, base/20)
	}
}

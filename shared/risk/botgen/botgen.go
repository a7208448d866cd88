// Package botgen generates the pointer streams of automated movers, to train and evaluate
// the risk model against. The families follow what attackers use:
//
//   - BeCAPTCHA-Mouse's function-based generator (Acien et al.): linear, quadratic and
//     exponential paths, each with constant, logarithmic (decelerating) or Gaussian speed;
//   - ghost-cursor: a cubic Bezier with two random anchors on one side of the chord,
//     a point count from Fitts's law, and an overshoot on moves over 500 px.
//
// Each is sent back to back (as fast as the automation protocol allows) or with
// human-like timing (Fitts's-law durations, frame-paced events, a dwell before clicks),
// and either clean or with position noise added, as evasive bots do (Style).
//
// Two further families are held out of training and only used to check that the model
// generalises: WindMouse (gravity-and-wind stepping) and a minimum-jerk mover with
// corrective sub-movements, tremor and noise that tries hard to look human.
//
// Every position is rounded to whole CSS px, as the widget reports them, and a position
// equal to the previous one is not sent (browsers fire no pointermove without motion), so
// a model cannot win on sub-pixel artefacts.
package botgen

import (
	"math"
	"math/rand/v2"

	"github.com/crowdgate/crowdgate/shared/risk"
)

// Family is one kind of automated mover.
type Family string

// Families trained on (BeCAPTCHA-style functions and ghost-cursor) and held out.
const (
	LinearConstant Family = "linear-constant"
	LinearLog      Family = "linear-log"
	LinearGauss    Family = "linear-gauss"
	QuadConstant   Family = "quadratic-constant"
	QuadLog        Family = "quadratic-log"
	QuadGauss      Family = "quadratic-gauss"
	ExpConstant    Family = "exponential-constant"
	ExpLog         Family = "exponential-log"
	ExpGauss       Family = "exponential-gauss"
	GhostCursor    Family = "ghost-cursor"

	WindMouse Family = "windmouse"
	HumanLike Family = "humanlike"
)

// Trained lists the families the shipped model is trained on.
func Trained() []Family {
	return []Family{LinearConstant, LinearLog, LinearGauss, QuadConstant, QuadLog, QuadGauss,
		ExpConstant, ExpLog, ExpGauss, GhostCursor}
}

// HeldOut lists the families never trained on: they measure generalisation.
func HeldOut() []Family { return []Family{WindMouse, HumanLike} }

// Known reports whether f is a family this package generates.
func Known(f Family) bool {
	for _, g := range append(Trained(), HeldOut()...) {
		if g == f {
			return true
		}
	}
	return false
}

// Timing is how a bot paces its events.
type Timing string

// Pacing styles.
const (
	BackToBack Timing = "b2b"   // events as fast as the protocol allows: 0–2 ms apart
	Humanish   Timing = "human" // Fitts's-law durations, frame-paced events, dwell before clicks
)

// Noise is what a bot adds to its positions to look less regular.
type Noise string

// Noise styles.
const (
	Clean  Noise = "clean"  // positions exactly on the path
	Jitter Noise = "jitter" // independent Gaussian noise per event
	Drift  Noise = "drift"  // correlated (AR(1)) wander around the path
)

// Style is a bot's pacing and noise.
type Style struct {
	Timing Timing
	Noise  Noise
}

func (s Style) String() string { return string(s.Timing) + "/" + string(s.Noise) }

// Styles lists the styles a family is generated in. Held-out families bring their own
// noise and are generated clean.
func Styles(f Family) []Style {
	noises := []Noise{Clean, Jitter, Drift}
	if f == WindMouse || f == HumanLike {
		noises = []Noise{Clean}
	}
	var out []Style
	for _, t := range []Timing{BackToBack, Humanish} {
		for _, n := range noises {
			out = append(out, Style{t, n})
		}
	}
	return out
}

// Point is a position in CSS px.
type Point struct{ X, Y float64 }

// Target is a click target: its centre and width in px.
type Target struct {
	Point
	W float64
}

// Session generates a whole pointer stream: starting at start, the bot moves to each
// target in turn and clicks it, pausing between movements as its timing dictates. Times
// start at 0.
func Session(r *rand.Rand, f Family, st Style, start Point, targets []Target) []risk.PointerEvent {
	g := newGen(r, st)
	t := 0.0
	from := start
	for i, tg := range targets {
		if i > 0 {
			t += g.interPause()
		}
		t = g.movement(f, from, tg, t)
		from = tg.Point
	}
	return g.out
}

// gen carries one session's random source, pacing and noise choices, and its output.
type gen struct {
	r  *rand.Rand
	st Style
	// Human-like pacing: frame period, its jitter, and the chance of a dropped frame.
	frame, jitter, drop float64
	uniform             bool // naive bots draw each gap uniformly
	empirical           bool // careful bots draw gaps from a browser-like mixture
	// Noise: standard deviation (px) and, for drift, the AR(1) state and coefficient.
	sigma, rho, nx, ny float64

	out    []risk.PointerEvent
	lx, ly float64 // last position sent
}

func newGen(r *rand.Rand, st Style) *gen {
	g := &gen{r: r, st: st, lx: math.NaN(), ly: math.NaN()}
	if st.Timing == Humanish {
		g.frame = []float64{16.67, 16.67, 8.33, 10, 15, 20}[r.IntN(6)]
		g.jitter = g.uniformF(0.3, 3)
		g.drop = g.uniformF(0, 0.08)
		switch r.IntN(3) {
		case 0:
			g.uniform = true
		case 1:
			g.empirical = true
		}
	}
	switch st.Noise {
	case Jitter:
		g.sigma = g.uniformF(0.4, 2.5)
	case Drift:
		g.sigma = g.uniformF(0.5, 3)
		g.rho = g.uniformF(0.6, 0.95)
	}
	return g
}

func (g *gen) uniformF(lo, hi float64) float64 { return lo + g.r.Float64()*(hi-lo) }

// put sends a move to q at time t, with the style's noise, rounded to whole px.
func (g *gen) put(t float64, q Point) {
	switch g.st.Noise {
	case Jitter:
		q.X += g.r.NormFloat64() * g.sigma
		q.Y += g.r.NormFloat64() * g.sigma
	case Drift:
		k := g.sigma * math.Sqrt(1-g.rho*g.rho)
		g.nx = g.rho*g.nx + g.r.NormFloat64()*k
		g.ny = g.rho*g.ny + g.r.NormFloat64()*k
		q.X += g.nx
		q.Y += g.ny
	}
	g.putRaw(t, q)
}

func (g *gen) putRaw(t float64, q Point) {
	x, y := math.Round(q.X), math.Round(q.Y)
	if x == g.lx && y == g.ly {
		return
	}
	g.out = append(g.out, risk.PointerEvent{T: t, X: x, Y: y, Kind: risk.Move})
	g.lx, g.ly = x, y
}

// step is the gap before the next event.
func (g *gen) step() float64 {
	if g.st.Timing == BackToBack {
		return []float64{0, 1, 1, 1, 2}[g.r.IntN(5)]
	}
	if g.uniform {
		return math.Round(g.uniformF(8, 30))
	}
	if g.empirical {
		// Roughly what browsers report for a hand on a mouse: mostly one frame, some
		// half frames (125 Hz mice), a spread of odd gaps and a few short stalls.
		switch p := g.r.Float64(); {
		case p < 0.62:
			return math.Round(16.7 + g.r.NormFloat64()*0.5)
		case p < 0.75:
			return math.Round(7.5 + g.r.NormFloat64()*0.6)
		case p < 0.85:
			return math.Round(g.uniformF(3, 15))
		case p < 0.95:
			return math.Round(g.uniformF(18, 50))
		default:
			return math.Round(g.uniformF(50, 120))
		}
	}
	d := g.frame + g.r.NormFloat64()*g.jitter
	if g.r.Float64() < g.drop {
		d += g.frame
	}
	return math.Max(1, math.Round(d))
}

// duration is the movement time a human-timed bot aims for (Fitts's law, noisy).
func (g *gen) duration(dist, width float64) float64 {
	id := math.Log2(dist/math.Max(width, 5) + 1)
	a, b := g.uniformF(100, 300), g.uniformF(80, 220)
	return math.Max(120, (a+b*id)*math.Exp(g.r.NormFloat64()*0.2))
}

// interPause is the time between a click and the next movement.
func (g *gen) interPause() float64 {
	if g.st.Timing == BackToBack {
		return math.Round(g.uniformF(20, 600))
	}
	return math.Round(math.Exp(g.uniformF(math.Log(350), math.Log(2500))))
}

// click ends a movement: a last move onto the target if the pointer is not there, a
// dwell, down, hold, up.
func (g *gen) click(t float64, end Point) float64 {
	x, y := math.Round(end.X), math.Round(end.Y)
	if x != g.lx || y != g.ly {
		t += g.step()
		g.putRaw(t, end)
	}
	var dwell, hold float64
	if g.st.Timing == BackToBack {
		dwell, hold = float64(g.r.IntN(4)), float64(g.r.IntN(4))
	} else {
		dwell, hold = math.Round(g.uniformF(0, 250)), math.Round(g.uniformF(50, 150))
	}
	t += dwell
	g.out = append(g.out, risk.PointerEvent{T: t, X: x, Y: y, Kind: risk.Down})
	t += hold
	g.out = append(g.out, risk.PointerEvent{T: t, X: x, Y: y, Kind: risk.Up})
	return t
}

// path is a movement as positions over normalised progress u ∈ [0,1].
type path func(u float64) Point

func (g *gen) movement(f Family, from Point, to Target, t0 float64) float64 {
	switch f {
	case GhostCursor:
		return g.ghost(from, to, t0)
	case WindMouse:
		return g.wind(from, to, t0)
	case HumanLike:
		return g.humanLike(from, to, t0)
	}
	shape, speed := g.function(f, from, to.Point)
	dist := math.Hypot(to.X-from.X, to.Y-from.Y)
	p := func(u float64) Point { return shape(speed(u)) }
	n := int(math.Max(10, math.Min(200, dist/g.uniformF(2, 12))))
	t := g.trace(p, n, g.duration(dist, to.W), t0)
	return g.click(t, to.Point)
}

// trace samples p: back-to-back bots step through n evenly spaced parameters; human-
// timed bots place, at each event of their clock, the point due after dur ms.
func (g *gen) trace(p path, n int, dur, t float64) float64 {
	if g.st.Timing == BackToBack {
		for i := 1; i <= n; i++ {
			t += g.step()
			g.put(t, p(float64(i)/float64(n)))
		}
		return t
	}
	for el := 0.0; el < dur; {
		d := g.step()
		el += d
		t += d
		g.put(t, p(math.Min(el/dur, 1)))
	}
	return t
}

// function builds a BeCAPTCHA-style path: y = f(x) along the dominant axis (linear,
// quadratic or exponential through both ends) and a speed profile u → progress.
func (g *gen) function(f Family, a, b Point) (shape path, speed func(float64) float64) {
	swap := math.Abs(b.Y-a.Y) > math.Abs(b.X-a.X)
	ax, ay, bx, by := a.X, a.Y, b.X, b.Y
	if swap {
		ax, ay, bx, by = a.Y, a.X, b.Y, b.X
	}
	span := math.Abs(bx-ax) + math.Abs(by-ay)
	var lat func(q float64) float64 // dependent coordinate at progress q
	switch f {
	case LinearConstant, LinearLog, LinearGauss:
		lat = func(q float64) float64 { return ay + (by-ay)*q }
	case QuadConstant, QuadLog, QuadGauss:
		h := g.uniformF(-0.4, 0.4) * span
		lat = func(q float64) float64 { return ay + (by-ay)*q + 4*h*q*(1-q) }
	default:
		k := g.uniformF(1, 5)
		if g.r.IntN(2) == 0 {
			k = -k
		}
		den := math.Expm1(k)
		lat = func(q float64) float64 { return ay + (by-ay)*math.Expm1(k*q)/den }
	}
	shape = func(q float64) Point {
		x, y := ax+(bx-ax)*q, lat(q)
		if swap {
			return Point{y, x}
		}
		return Point{x, y}
	}
	switch f {
	case LinearConstant, QuadConstant, ExpConstant:
		speed = func(u float64) float64 { return u }
	case LinearLog, QuadLog, ExpLog:
		k := g.uniformF(5, 50)
		speed = func(u float64) float64 { return math.Log1p(k*u) / math.Log1p(k) }
	default:
		mu, sd := g.uniformF(0.4, 0.6), g.uniformF(0.12, 0.25)
		lo, hi := phi(-mu/sd), phi((1-mu)/sd)
		speed = func(u float64) float64 { return (phi((u-mu)/sd) - lo) / (hi - lo) }
	}
	return shape, speed
}

func phi(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// ghost follows ghost-cursor's path(): a cubic Bezier whose two anchors sit on random
// normals of the chord on one side, sampled at evenly spaced parameters; the step count
// comes from Fitts's law plus a random base, and moves over 500 px overshoot first.
func (g *gen) ghost(from Point, to Target, t0 float64) float64 {
	t := t0
	if math.Hypot(to.X-from.X, to.Y-from.Y) > 500 {
		ang := g.r.Float64() * 2 * math.Pi
		rad := g.r.Float64() * 120
		over := Point{to.X + rad*math.Cos(ang), to.Y + rad*math.Sin(ang)}
		t = g.ghostLeg(from, over, 0, t)
		t = g.ghostLeg(over, to.Point, 10, t)
	} else {
		t = g.ghostLeg(from, to.Point, 0, t)
	}
	return g.click(t, to.Point)
}

func (g *gen) ghostLeg(a, b Point, spreadOverride, t float64) float64 {
	dx, dy := b.X-a.X, b.Y-a.Y
	length := math.Hypot(dx, dy)
	spread := math.Max(2, math.Min(200, length))
	if spreadOverride > 0 {
		spread = spreadOverride
	}
	side := 1.0
	if g.r.IntN(2) == 0 {
		side = -1
	}
	anchor := func() Point {
		m := g.r.Float64()
		mid := Point{a.X + dx*m, a.Y + dy*m}
		// Normal of (a → mid), scaled to the spread, on the chosen side.
		nx, ny := -(mid.Y - a.Y), mid.X-a.X
		nl := math.Hypot(nx, ny)
		if nl == 0 {
			nx, ny, nl = -dy, dx, math.Max(length, 1)
		}
		nx, ny = nx/nl*spread*side, ny/nl*spread*side
		k := g.r.Float64()
		return Point{mid.X + nx*k, mid.Y + ny*k}
	}
	c1, c2 := anchor(), anchor()
	if c2.X < c1.X {
		c1, c2 = c2, c1
	}
	curve := func(u float64) Point {
		v := 1 - u
		return Point{
			v*v*v*a.X + 3*v*v*u*c1.X + 3*v*u*u*c2.X + u*u*u*b.X,
			v*v*v*a.Y + 3*v*v*u*c1.Y + 3*v*u*u*c2.Y + u*u*u*b.Y,
		}
	}
	// ghost-cursor: steps = ceil((log2(fitts(0.8·length, 100) + 1) + speed·25) · 3) with
	// fitts = 2·log2(d/w + 1) and a random speed in [0,1).
	fitts := 2 * math.Log2(0.8*length/100+1)
	steps := max(int(math.Ceil((math.Log2(fitts+1)+g.r.Float64()*25)*3)), 3)
	return g.trace(curve, steps, g.duration(length, 40), t)
}

// wind is the WindMouse algorithm (B. J. Land): velocity pulled towards the target by
// gravity and pushed by a random wind that calms near the end, speed-clipped, one event
// per whole-px step. Held out of training.
func (g *gen) wind(from Point, to Target, t0 float64) float64 {
	const sqrt3, sqrt5 = 1.7320508075688772, 2.23606797749979
	G, W, M, D := g.uniformF(7, 11), g.uniformF(2, 5), g.uniformF(10, 20), g.uniformF(10, 14)
	sx, sy := from.X, from.Y
	var vx, vy, wx, wy float64
	t := t0
	for i := 0; i < 2000; i++ {
		dist := math.Hypot(to.X-sx, to.Y-sy)
		if dist < 1 {
			break
		}
		wm := math.Min(W, dist)
		if dist >= D {
			wx = wx/sqrt3 + (2*g.r.Float64()-1)*wm/sqrt5
			wy = wy/sqrt3 + (2*g.r.Float64()-1)*wm/sqrt5
		} else {
			wx /= sqrt3
			wy /= sqrt3
			if M < 3 {
				M = g.r.Float64()*3 + 3
			} else {
				M /= sqrt5
			}
		}
		vx += wx + G*(to.X-sx)/dist
		vy += wy + G*(to.Y-sy)/dist
		if vm := math.Hypot(vx, vy); vm > M {
			clip := M/2 + g.r.Float64()*M/2
			vx, vy = vx/vm*clip, vy/vm*clip
		}
		sx += vx
		sy += vy
		if math.Round(sx) != g.lx || math.Round(sy) != g.ly {
			t += g.step()
			g.put(t, Point{sx, sy})
		}
	}
	return g.click(t, to.Point)
}

// humanLike is the hardest held-out mover: a minimum-jerk primary sub-movement aimed with
// Gaussian endpoint error and a curved bow, one or two overlapping corrective
// sub-movements, smooth tremor, sensor noise, frame-paced timing and a dwell before the
// click.
func (g *gen) humanLike(from Point, to Target, t0 float64) float64 {
	dx, dy := to.X-from.X, to.Y-from.Y
	dist := math.Hypot(dx, dy)
	if dist < 1 {
		return g.click(t0, to.Point)
	}
	ux, uy := dx/dist, dy/dist
	type sub struct {
		start, dur float64 // ms, relative to the movement start
		ax, ay     float64 // displacement
		bend       float64 // lateral bow, px
	}
	total := g.duration(dist, to.W)
	// Primary: undershoots or overshoots a little and lands off the axis.
	reach := g.uniformF(0.88, 1.04)
	lat := g.r.NormFloat64() * math.Max(to.W, 10) * 0.25
	px, py := dx*reach-uy*lat, dy*reach+ux*lat
	subs := []sub{{0, total * g.uniformF(0.65, 0.85), px, py, g.r.NormFloat64() * dist * 0.06}}
	rx, ry := dx-px, dy-py
	nCorr := 1 + g.r.IntN(2)
	for c := 0; c < nCorr; c++ {
		prev := subs[len(subs)-1]
		share := 1.0
		if c < nCorr-1 {
			share = g.uniformF(0.7, 1.1)
		}
		start := prev.start + prev.dur*g.uniformF(0.7, 0.95)
		d := math.Max(80, 120+math.Hypot(rx, ry)*g.uniformF(2, 6))
		subs = append(subs, sub{start, d, rx * share, ry * share, 0})
		rx, ry = rx-rx*share, ry-ry*share
	}
	last := subs[len(subs)-1]
	dur := last.start + last.dur
	// Tremor: two smooth sinusoids; sensor noise: small white jitter before rounding.
	f1, f2 := g.uniformF(8, 12), g.uniformF(3, 6)
	a1, a2 := g.uniformF(0.2, 1.0), g.uniformF(0.3, 1.5)
	ph1, ph2, ph3 := g.r.Float64()*6.3, g.r.Float64()*6.3, g.r.Float64()*6.3
	noise := g.uniformF(0, 0.6)
	pos := func(el float64) Point {
		x, y := from.X, from.Y
		for _, s := range subs {
			u := math.Min((el-s.start)/s.dur, 1)
			if u <= 0 {
				continue
			}
			mj := u * u * u * (10 - 15*u + 6*u*u) // minimum-jerk position profile
			bow := s.bend * math.Sin(math.Pi*mj)
			nx, ny := 0.0, 0.0
			if sl := math.Hypot(s.ax, s.ay); sl > 0 {
				nx, ny = -s.ay/sl, s.ax/sl
			}
			x += s.ax*mj + nx*bow
			y += s.ay*mj + ny*bow
		}
		sec := el / 1000
		x += a1*math.Sin(2*math.Pi*f1*sec+ph1) + a2*math.Sin(2*math.Pi*f2*sec+ph3) + g.r.NormFloat64()*noise
		y += a1*math.Sin(2*math.Pi*f1*sec+ph2) + a2*math.Cos(2*math.Pi*f2*sec+ph1) + g.r.NormFloat64()*noise
		return Point{x, y}
	}
	// Even a human-like path is sometimes replayed without waiting.
	t := g.trace(func(u float64) Point { return pos(u * dur) }, int(math.Max(15, dur/16)), dur, t0)
	end := to.Point
	if !math.IsNaN(g.lx) {
		end = Point{g.lx, g.ly} // it clicks where its hand landed
	}
	return g.click(t, end)
}

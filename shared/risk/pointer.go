package risk

import (
	"math"
	"slices"
)

// Segmentation constants. A movement is a run of mouse moves that ends in a click (or in a
// pause, or when the stream ends), cut at pauses longer than PauseMs.
const (
	PauseMs = 300.0
	// minPoints and minPath drop runs too small to say anything about kinematics.
	minPoints = 5
	minPath   = 40.0 // px
	// gapMs: a gap between two moves longer than a slow frame means the hand stopped.
	gapMs = 60.0
	// burstCapMs: median event gaps below it are bursts no browser produces for a hand;
	// above it the event rate only says which screen and mouse the person has.
	burstCapMs = 4.0
)

// Movement is one segmented run of mouse moves: the mouse moves among events [Start, End);
// when Click is set, a down event at DownT ended it.
type Movement struct {
	Start, End int
	Click      bool
	DownT      float64
}

// Segment cuts the mouse part of a pointer stream into movements, in order: runs of moves
// ended by a down (a click), an up (the end of a drag) or a pause longer than PauseMs.
// Drags are movements too, so a stream cannot hide its moves behind a down that is never
// released. Touch and pen events are skipped: the kinematic model knows mouse movement
// only. The result reuses buf.
func Segment(ev []PointerEvent, buf []Movement) []Movement {
	out := buf[:0]
	start, last := -1, -1 // first and last mouse move of the current run
	for i := range ev {
		e := &ev[i]
		if e.Dev != Mouse {
			continue
		}
		switch e.Kind {
		case Move:
			if start >= 0 && e.T-ev[last].T > PauseMs {
				out = append(out, Movement{Start: start, End: last + 1})
				start = -1
			}
			if start < 0 {
				start = i
			}
			last = i
		case Down:
			if start >= 0 {
				out = append(out, Movement{Start: start, End: last + 1, Click: true, DownT: e.T})
			}
			start = -1
		case Up:
			if start >= 0 {
				out = append(out, Movement{Start: start, End: last + 1})
			}
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, Movement{Start: start, End: last + 1})
	}
	return out
}

// Feature indexes of the kinematic model; FeatureNames gives the stable names that
// model.json refers to. The features describe the shape of a movement, not its tempo or
// size: how fast people move depends on the task and the screen, so absolute speed,
// duration and distance are left out, and timing only enters where no hand can follow
// (events a millisecond apart) or where the hand stops (gaps).
const (
	fStraight = iota
	fSpeedCV
	fPeakRatio
	fPeakPos
	fPeaks
	fSpeedJitter
	fAngleMean
	fAngleFlip
	fAngleAC
	fTurning
	fDevMax
	fCrossings
	fOvershoot
	fAxisFrac
	fStepCV
	fHoming
	fJerk
	fAccelAC
	fPerpAC
	fPowerLaw
	fRoughness
	fGaps
	fBurst
	fZeroDt
	NumFeatures
)

// FeatureNames are the movement features in index order.
var FeatureNames = [NumFeatures]string{
	fStraight:    "straightness",
	fSpeedCV:     "speed_cv",
	fPeakRatio:   "peak_mean_ratio",
	fPeakPos:     "peak_position",
	fPeaks:       "speed_peaks",
	fSpeedJitter: "speed_jitter",
	fAngleMean:   "angle_change_mean",
	fAngleFlip:   "angle_sign_flips",
	fAngleAC:     "angle_autocorr",
	fTurning:     "total_turning",
	fDevMax:      "max_deviation",
	fCrossings:   "chord_crossings",
	fOvershoot:   "overshoot",
	fAxisFrac:    "axis_step_fraction",
	fStepCV:      "step_cv",
	fHoming:      "homing_fraction",
	fJerk:        "log_dimensionless_jerk",
	fAccelAC:     "accel_autocorr",
	fPerpAC:      "perp_autocorr",
	fPowerLaw:    "power_law_slope",
	fRoughness:   "roughness",
	fGaps:        "gap_fraction",
	fBurst:       "burst_dt",
	fZeroDt:      "zero_dt_fraction",
}

// Features is one movement's feature vector.
type Features [NumFeatures]float64

// scratch holds per-call buffers so scoring a session does not allocate per movement.
type scratch struct {
	t, x, y   []float64
	v, vs, dt []float64
	d         []float64
	ang       []float64
	tmp       []float64
	moves     []Movement
}

// MovementFeatures computes the features of every scorable movement of a pointer stream,
// appending to dst. It is what the model is trained on and what Score evaluates.
func MovementFeatures(ev []PointerEvent, dst []Features) []Features {
	var s scratch
	return s.features(ev, dst)
}

// ScorableMovements returns the movements MovementFeatures would score, in order.
func ScorableMovements(ev []PointerEvent) []Movement {
	var s scratch
	var f Features
	var out []Movement
	for _, m := range Segment(ev, nil) {
		if s.movement(ev, m, &f) {
			out = append(out, m)
		}
	}
	return out
}

func (s *scratch) features(ev []PointerEvent, dst []Features) []Features {
	s.moves = Segment(ev, s.moves)
	for _, m := range s.moves {
		var f Features
		if s.movement(ev, m, &f) {
			dst = append(dst, f)
		}
	}
	return dst
}

// movement fills f and reports whether the movement is large enough to score.
func (s *scratch) movement(ev []PointerEvent, m Movement, f *Features) bool {
	if m.End-m.Start < minPoints {
		return false
	}
	// Merge events that share a timestamp (the browser coalesced them, or a script sent
	// them back to back): the last position wins; how often it happened is a feature.
	s.t, s.x, s.y = s.t[:0], s.x[:0], s.y[:0]
	zero := 0
	for i := m.Start; i < m.End; i++ {
		e := &ev[i]
		if e.Dev != Mouse || e.Kind != Move {
			continue // a touch or pen event interleaved with the mouse run
		}
		if n := len(s.t); n > 0 && e.T-s.t[n-1] < 0.5 {
			zero++
			s.x[n-1], s.y[n-1] = e.X, e.Y
			continue
		}
		s.t = append(s.t, e.T)
		s.x = append(s.x, e.X)
		s.y = append(s.y, e.Y)
	}
	n := len(s.t)
	if n < 3 {
		return false
	}
	t, x, y := s.t, s.x, s.y
	dur := t[n-1] - t[0]
	x0, y0 := x[0], y[0]
	cx, cy := x[n-1]-x0, y[n-1]-y0
	dist := math.Sqrt(cx*cx + cy*cy)
	ux, uy := 1.0, 0.0
	if dist > 0 {
		ux, uy = cx/dist, cy/dist
	}

	// Pass 1 over the steps: lengths, gaps, speeds, headings, position against the chord.
	// Step j goes from point j to point j+1.
	steps := n - 1
	s.v, s.dt, s.d, s.ang, s.vs = grow(s.v, steps), grow(s.dt, steps), grow(s.d, steps), grow(s.ang, steps), grow(s.vs, steps)
	vv, dts, ds, ang := s.v, s.dt, s.d, s.ang
	s.tmp = s.tmp[:0]
	var path, gaps, maxDev, maxProj, coarse float64
	var vSum, vSq, dSq float64
	var perpPrev, perpSum, perpSq, perpCross float64
	axis, crossings, lastSide := 0, 0, 0
	var pdx, pdy float64
	havePrev := false
	for j := 0; j < steps; j++ {
		i := j + 1
		dx, dy := x[i]-x[j], y[i]-y[j]
		d := math.Sqrt(dx*dx + dy*dy)
		dt := t[i] - t[j]
		v := d / dt
		path += d
		dSq += d * d
		vSum += v
		vSq += v * v
		vv[j], dts[j], ds[j] = v, dt, d
		if dt > gapMs {
			gaps += dt
		}
		if dt < burstCapMs {
			s.tmp = append(s.tmp, dt)
		}
		// Turning angle against the previous step that moved: atan2(cross, dot).
		turn := 0.0
		if d > 0 {
			if dx == 0 || dy == 0 {
				axis++
			}
			if havePrev {
				turn = fastAtan2(pdx*dy-pdy*dx, pdx*dx+pdy*dy)
			}
			pdx, pdy, havePrev = dx, dy, true
		}
		ang[j] = turn
		if i%2 == 0 {
			cx2, cy2 := x[i]-x[i-2], y[i]-y[i-2]
			coarse += math.Sqrt(cx2*cx2 + cy2*cy2)
		}
		rx, ry := x[i]-x0, y[i]-y0
		if proj := rx*ux + ry*uy; proj > maxProj {
			maxProj = proj
		}
		perp := ry*ux - rx*uy
		if perp > maxDev {
			maxDev = perp
		} else if -perp > maxDev {
			maxDev = -perp
		}
		side := 0
		if perp > 1 {
			side = 1
		} else if perp < -1 {
			side = -1
		}
		if side != 0 {
			if lastSide != 0 && side != lastSide {
				crossings++
			}
			lastSide = side
		}
		// Perpendicular component of the step: a hand's wobble is smooth, added noise
		// alternates from one event to the next.
		ps := dy*ux - dx*uy
		if j > 0 {
			perpCross += ps * perpPrev
		}
		perpSum += ps
		perpSq += ps * ps
		perpPrev = ps
	}
	if path < minPath {
		return false
	}
	fs := float64(steps)
	if steps%2 == 1 {
		coarse += ds[steps-1]
	}
	meanSpeed := path / math.Max(dur, 1)
	vMean := vSum / fs
	vSD := math.Sqrt(math.Max(vSq/fs-vMean*vMean, 0))
	stepMean := path / fs
	stepSD := math.Sqrt(math.Max(dSq/fs-stepMean*stepMean, 0))
	// The median gap matters only below burstCapMs: sort just the gaps under it.
	dtMed := burstCapMs
	if half := steps / 2; len(s.tmp) > half {
		slices.Sort(s.tmp)
		dtMed = s.tmp[half]
	}

	// Pass 2: smoothed speed (3-point moving average), speed jitter, acceleration
	// autocorrelation, turning statistics and the two-thirds power law: people slow down
	// in curves (speed ∝ curvature^(-1/3)), so a regression slope of log speed on log
	// curvature near that is human; scripts that pace a curve by its parameter are not.
	vs := s.vs
	peak, peakI := 0.0, 0
	var jit, accPrev, accCross, accSq float64
	var angSum, angSq, angCross float64
	var sx, sy, sxx, sxy float64
	flips, nAng, np := 0, 0, 0
	for i := 0; i < steps; i++ {
		vp, vn := vv[max(i-1, 0)], vv[min(i+1, steps-1)]
		sm := (vp + vv[i] + vn) / 3
		vs[i] = sm
		if sm > peak {
			peak, peakI = sm, i
		}
		if i == 0 {
			continue
		}
		if i < steps-1 {
			jit += math.Abs(vv[i] - (vp+vn)/2)
		}
		acc := vv[i] - vp
		if i > 1 {
			accCross += acc * accPrev
		}
		accSq += acc * acc
		accPrev = acc
		if ds[i] == 0 || ds[i-1] == 0 {
			continue
		}
		a := ang[i]
		angSum += math.Abs(a)
		angSq += a * a
		if nAng > 0 {
			pa := ang[i-1]
			angCross += a * pa
			if a != 0 && pa != 0 && (a > 0) != (pa > 0) {
				flips++
			}
		}
		nAng++
		k := 2 * math.Abs(a) / (ds[i] + ds[i-1])
		v := (ds[i] + ds[i-1]) / (dts[i] + dts[i-1])
		if k > 1e-3 && v > 1e-2 {
			lx, ly := fastLog(k), fastLog(v)
			sx += lx
			sy += ly
			sxx += lx * lx
			sxy += lx * ly
			np++
		}
	}
	powerLaw := 0.0
	if np >= 5 {
		fn := float64(np)
		if vx := sxx/fn - (sx/fn)*(sx/fn); vx > 1e-9 {
			powerLaw = (sxy/fn - (sx/fn)*(sy/fn)) / vx
		}
	}

	// Pass 3 over the smoothed profile: sub-movements (local maxima above 20% of the
	// peak, counted again only after the speed dipped below 60% of the highest speed
	// since the last one, so plateau noise is not a sub-movement) and dimensionless jerk.
	peaks, armed, runMax := 0, true, 0.0
	var jerkSq, prevAcc float64
	for i := 1; i < steps; i++ {
		v := vs[i]
		dt := (dts[i] + dts[i-1]) / 2
		acc := (v - vs[i-1]) / dt
		if i > 1 {
			j := (acc - prevAcc) / dt
			jerkSq += j * j * dt
		}
		prevAcc = acc
		if i == steps-1 {
			break
		}
		if v > runMax {
			runMax = v
		}
		if armed && v >= vs[i-1] && v >= vs[i+1] && v > 0.2*peak {
			peaks++
			armed, runMax = false, v
		} else if !armed && v < 0.6*runMax {
			armed = true
		}
	}
	// Homing: the share of time after the speed last fell below 30% of the peak.
	homing := 0.0
	for i := steps - 1; i >= 0; i-- {
		if vs[i] >= 0.3*peak {
			homing = (t[n-1] - t[i+1]) / math.Max(dur, 1)
			break
		}
	}

	f[fStraight] = dist / path
	f[fSpeedCV] = safeDiv(vSD, vMean)
	f[fPeakRatio] = math.Min(peak/math.Max(meanSpeed, 1e-6), 20)
	f[fPeakPos] = (t[peakI+1] - t[0]) / math.Max(dur, 1)
	f[fPeaks] = float64(min(peaks, 10))
	f[fSpeedJitter] = math.Min(safeDiv(jit/float64(max(steps-2, 1)), vMean), 10)
	f[fAngleMean] = safeDiv(angSum, float64(nAng))
	f[fAngleFlip] = safeDiv(float64(flips), float64(nAng-1))
	f[fAngleAC] = safeDiv(angCross, angSq)
	f[fTurning] = math.Min(angSum, 50)
	f[fDevMax] = maxDev / (dist + 10)
	f[fCrossings] = float64(min(crossings, 20))
	f[fOvershoot] = math.Min(math.Max(maxProj-dist, 0)/(dist+10), 5)
	f[fAxisFrac] = float64(axis) / fs
	f[fStepCV] = safeDiv(stepSD, stepMean)
	f[fHoming] = homing
	d5 := math.Max(dur, 1)
	d5 = d5 * d5 * d5 * d5 * d5
	f[fJerk] = math.Log1p(jerkSq * d5 / (path * path) / 1e6)
	f[fAccelAC] = safeDiv(accCross, accSq)
	if steps > 1 {
		pm := perpSum / fs
		if pv := perpSq/fs - pm*pm; pv > 1e-9 {
			f[fPerpAC] = (perpCross/float64(steps-1) - pm*pm) / pv
		}
	}
	f[fPowerLaw] = math.Max(-3, math.Min(3, powerLaw))
	f[fRoughness] = math.Min(safeDiv(path, coarse), 5)
	f[fGaps] = safeDiv(gaps, dur)
	f[fBurst] = math.Log(dtMed + 0.5)
	f[fZeroDt] = float64(zero) / float64(m.End-m.Start)
	for i, v := range f {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			f[i] = 0
		}
	}
	return true
}

// fastAtan2 is atan2 to within 1e-4 rad, several times cheaper than math.Atan2; the
// features need angles to a degree, not to the last bit, and training uses the same code.
func fastAtan2(y, x float64) float64 {
	ax, ay := math.Abs(x), math.Abs(y)
	if ax == 0 && ay == 0 {
		return 0
	}
	var a float64
	if ax >= ay {
		a = atanUnit(ay / ax)
	} else {
		a = math.Pi/2 - atanUnit(ax/ay)
	}
	if x < 0 {
		a = math.Pi - a
	}
	if math.Signbit(y) {
		a = -a
	}
	return a
}

// atanUnit is a minimax polynomial for atan on [0, 1].
func atanUnit(z float64) float64 {
	z2 := z * z
	return z * (0.99997726 + z2*(-0.33262347+z2*(0.19354346+z2*(-0.11643287+z2*(0.05265332+z2*-0.01172120)))))
}

// fastLog is the natural log to within 1e-5 for positive normal numbers: the exponent
// from the bits and a least-squares polynomial for the mantissa. The power-law regression
// takes two logs per step, which math.Log made the costliest part of scoring.
func fastLog(v float64) float64 {
	b := math.Float64bits(v)
	e := float64(int64(b>>52&0x7ff) - 1023)
	m := math.Float64frombits(b&(1<<52-1) | 1023<<52) // mantissa in [1, 2)
	if m > math.Sqrt2 {
		m *= 0.5
		e++
	}
	x := m - 1 // in [-0.293, 0.415)
	return e*math.Ln2 - 5.448530021647637e-06 + x*(0.9998871200499477+x*(-0.49911014817165655+x*(0.33800554821121576+x*(-0.2740794875449297+x*0.1722455807242599))))
}

// grow returns b resized to n, reallocating only when it is too small.
func grow(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n, 2*n)
	}
	return b[:n]
}

func meanSD(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	var sum, sq float64
	for _, x := range v {
		sum += x
		sq += x * x
	}
	m := sum / float64(len(v))
	return m, math.Sqrt(math.Max(sq/float64(len(v))-m*m, 0))
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Package risk scores how likely a challenge request comes from automation. It is pure
// domain logic, called in-process by the challenge function on the hot path: telemetry
// from the widget (docs/TELEMETRY.md), request metadata, the server-measured solve time
// and per-IP counters go in; a score in [0,1] (higher = riskier) and stable reason codes
// come out. Behavioural signals are reduced to features here and never stored.
package risk

import (
	"cmp"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Reason codes (stable; documented in docs/TELEMETRY.md).
const (
	ReasonAutomation       = "automation"         // webdriver, headless or automation-library tells
	ReasonHeaderMismatch   = "header_mismatch"    // user agent, client hints and fetch metadata disagree
	ReasonTooFast          = "too_fast"           // answered faster than people can
	ReasonSyntheticPointer = "synthetic_pointer"  // pointer kinematics of a script, not a hand
	ReasonSyntheticKeys    = "synthetic_keys"     // key presses no finger makes
	ReasonIPVelocity       = "ip_velocity"        // many requests from this IP pseudonym
	ReasonSubnetVelocity   = "subnet_velocity"    // many requests from its /24 or /64
	ReasonSolveRegular     = "solve_time_regular" // this IP's recent solve times are machine-regular
	ReasonNoInteraction    = "no_interaction"     // answered with no pointer, key, touch, scroll or activation at all
	ReasonNoTelemetry      = "no_telemetry"       // answered without the widget's telemetry
	ReasonSensorAnomaly    = "sensor_anomaly"     // a touch device whose motion sensors never moved
)

// ReasonThreshold is the risk a part needs before its code is listed in Reasons; smaller
// parts still count towards the score.
const ReasonThreshold = 0.25

// Stage says which request is being scored.
type Stage uint8

// Stages: issuing a challenge (no answer yet, interaction optional) or answering one.
const (
	StageIssue Stage = iota
	StageAnswer
)

// Request is the HTTP metadata of the scored request: the User-Agent and the request's
// header map (Sec-CH-UA*, Sec-Fetch-*, Accept-Language). A nil Header means the headers are
// unknown (offline evaluation), not that there were none: only the user-agent checks run.
// A zero Request skips both.
type Request struct {
	UserAgent string
	Header    http.Header
}

// IPState is what the risk function keeps per IP pseudonym and subnet (/24 IPv4, /64 IPv6):
// challenge requests seen before this one in sliding windows, and recent solve times.
type IPState struct {
	IP1m, IP15m         int
	Subnet1m, Subnet15m int
	RecentSolves        []time.Duration
}

// Input is everything Score looks at.
type Input struct {
	Stage     Stage
	Telemetry *Telemetry // nil when the client sent none
	Request   Request
	// SolveTime is server-measured, from challenge issue to answer; 0 = unknown.
	SolveTime time.Duration
	// Tasks is how many tasks the answered challenge had (scales the too_fast floor).
	Tasks int
	IP    IPState
	// Model overrides the embedded kinematic model (evaluation, tests).
	Model *Model
}

// Part is one scoring component's contribution.
type Part struct {
	Reason string  `json:"reason"`
	Risk   float64 `json:"risk"`
}

// Assessment is the result of Score.
type Assessment struct {
	// Score is in [0,1]; higher = riskier. Parts combine as independent evidence:
	// Score = 1 - Π(1 - part.Risk).
	Score float64 `json:"score"`
	// Reasons lists the codes of parts with Risk >= ReasonThreshold, riskiest first.
	Reasons []string `json:"reasons"`
	// Parts lists every part with Risk > 0, riskiest first.
	Parts []Part `json:"parts,omitempty"`
	// Movements is how many mouse movements the kinematic model scored.
	Movements int `json:"movements"`
}

var scratchPool = sync.Pool{New: func() any { return new(scoreScratch) }}

type scoreScratch struct {
	scratch
	feats  []Features
	logits []float64
}

// Score assesses one request. It never fails: missing inputs simply contribute nothing.
func Score(in Input) Assessment {
	var parts [12]Part
	ps := parts[:0]
	add := func(reason string, r float64) {
		if r > 0 {
			ps = append(ps, Part{Reason: reason, Risk: math.Min(r, 1)})
		}
	}
	ua := parseUA(in.Request.UserAgent)
	t := in.Telemetry

	add(ReasonAutomation, automationRisk(in.Request, ua, t))
	add(ReasonHeaderMismatch, headerRisk(in.Request, ua, t))
	add(ReasonTooFast, tooFastRisk(in))
	add(ReasonSolveRegular, solveRegularRisk(in.IP.RecentSolves))
	add(ReasonIPVelocity, ipRisk(in.IP))
	add(ReasonSubnetVelocity, subnetRisk(in.IP))

	var moves int
	if t != nil {
		m := in.Model
		if m == nil {
			m = DefaultModel()
		}
		sc := scratchPool.Get().(*scoreScratch)
		var r float64
		r, moves = pointerRisk(sc, m, t.Pointer)
		scratchPool.Put(sc)
		add(ReasonSyntheticPointer, r)
		add(ReasonSyntheticKeys, keyRisk(t.Keys, softKeyboard(in.Request, ua)))
		add(ReasonSensorAnomaly, sensorRisk(t))
	}
	if in.Stage == StageAnswer {
		switch {
		case t == nil:
			add(ReasonNoTelemetry, 0.45)
		case len(t.Pointer) == 0 && len(t.Keys) == 0 && len(t.Scroll) == 0 && t.Activations == 0:
			add(ReasonNoInteraction, 0.6)
		}
	}

	keep := 1.0
	for _, p := range ps {
		keep *= 1 - p.Risk
	}
	slices.SortStableFunc(ps, func(a, b Part) int { return cmp.Compare(b.Risk, a.Risk) })
	a := Assessment{Score: 1 - keep, Movements: moves}
	if len(ps) > 0 {
		a.Parts = slices.Clone(ps)
	}
	for _, p := range ps {
		if p.Risk >= ReasonThreshold {
			a.Reasons = append(a.Reasons, p.Reason)
		}
	}
	return a
}

// pointerRisk scores the mouse movements with the kinematic model and adds clicks that
// arrive where the pointer never moved (scripts clicking coordinates). Touch and pen
// input is left alone, and no mouse input at all is no evidence either way.
func pointerRisk(sc *scoreScratch, m *Model, ev []PointerEvent) (float64, int) {
	if len(ev) == 0 {
		return 0, 0
	}
	sc.feats = sc.scratch.features(ev, sc.feats[:0])
	sc.logits = sc.logits[:0]
	for i := range sc.feats {
		sc.logits = append(sc.logits, m.MovementLogit(&sc.feats[i]))
	}
	model := m.SessionRisk(sc.logits)
	return 1 - (1-model)*(1-teleportRisk(ev)), len(sc.feats)
}

// teleportRisk looks at mouse downs: a hand brings the pointer to where it clicks, so a
// down far from where the pointer was, or one that travelled far in the last half second
// with hardly any moves on the way, is a script placing clicks (or moving in one jump, as
// automation libraries do by default). One such click proves little (the pointer may have
// left the page and come back), several do.
func teleportRisk(ev []PointerEvent) float64 {
	downs, jumps := 0, 0
	first := -1
	prev := -1 // last mouse event before i
	// The half-second window before a down, kept as the stream is read: old is the last
	// mouse event at or before its start (-1: none yet), seen and gone count the mouse
	// moves up to prev and up to old. Times never decrease (ParseTelemetry adds
	// non-negative deltas), so old only moves forward and a stream of clicks costs linear
	// time, not a look back over every earlier click.
	old, next, seen, gone := -1, 0, 0, 0
	// A down with no mouse move since the last down or up is left out: Chromium carries
	// out an assistive technology's activation (screen reader, TalkBack, switch or voice
	// access) as a pointerdown and pointerup of type mouse at the control with no
	// pointermove, and its click has detail 1, so act does not count it. No movement is
	// no evidence either way.
	for i := range ev {
		e := &ev[i]
		if e.Dev != Mouse {
			continue
		}
		if first < 0 {
			first = i
		}
		if e.Kind == Down && prev >= 0 && ev[prev].Kind == Move {
			downs++
			for ; next < i; next++ {
				o := &ev[next]
				if o.Dev != Mouse {
					continue
				}
				if o.T > e.T-teleportWindow {
					break
				}
				old = next
				if o.Kind == Move {
					gone++
				}
			}
			from := first
			if old >= 0 {
				from = old
			}
			if teleported(ev, i, prev, from, seen-gone) {
				jumps++
			}
		}
		if e.Kind == Move {
			seen++
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

const (
	teleportWindow = 500.0 // ms looked back from a down
	teleportDist   = 150.0 // px the pointer must have travelled in that window
	teleportMoves  = 4     // fewer moves than this over that distance is not a hand
	jumpDist       = 30.0  // px between the last pointer position and the down
)

// teleported reports whether the down ev[i] came without a hand bringing the pointer:
// prev is the last mouse event before it, from the last one before its half-second
// window (or the first mouse event), moves the mouse moves in that window.
func teleported(ev []PointerEvent, i, prev, from, moves int) bool {
	d := &ev[i]
	if p := &ev[prev]; math.Abs(d.X-p.X) > jumpDist || math.Abs(d.Y-p.Y) > jumpDist {
		return true
	}
	if moves >= teleportMoves {
		return false
	}
	return math.Hypot(d.X-ev[from].X, d.Y-ev[from].Y) > teleportDist
}

// keyRisk flags key presses held for less time than a finger can (scripts dispatch
// keydown and keyup back to back) or paced like a metronome.
//
// soft: the visitor is on Android, where an on-screen keyboard (Gboard and the like) is no
// keyboard to the page: Chromium turns each composition update into a keydown and a keyup
// with key "Unidentified" and keyCode 229 that it dispatches back to back around the text
// change, so every press looks held 0–2 ms. Such a hold is no evidence either way; a
// press's pace still is: one that comes less than softKeyGap after the one before is
// no thumb's and counts as short all the same. That leaves no hole: a script that claims
// Android (a user agent is easy to set) and dispatches keys back to back, as automation
// libraries type by default, is caught as before, and one that waits a thumb's time between
// presses could as easily have waited between keydown and keyup, which passes this rule
// anywhere. The metronome check applies to every keyboard.
func keyRisk(keys []KeyEvent, soft bool) float64 {
	if len(keys) < 6 {
		return 0
	}
	keys = keys[:min(len(keys), MaxKeyEvents)]
	short := 0
	var gaps [MaxKeyEvents]float64
	for i, k := range keys {
		if i > 0 {
			gaps[i-1] = k.T - keys[i-1].T
		}
		if k.Hold < 5 && (!soft || i > 0 && gaps[i-1] < softKeyGap) {
			short++
		}
	}
	r := 0.0
	if float64(short) >= 0.8*float64(len(keys)) {
		r = 0.6
	}
	_, sd := meanSD(gaps[:len(keys)-1])
	if sd < 1 {
		r = 1 - (1-r)*(1-0.4)
	}
	return r
}

// softKeyGap is the least time between two taps on an on-screen keyboard, in ms: even
// two thumbs alternating take several times as long.
const softKeyGap = 40.0

// softKeyboard reports whether the request comes from Android, where key presses may come
// from an on-screen keyboard (keyRisk). "Request desktop site" sends a Linux user agent
// but still says Android in the client hints.
func softKeyboard(req Request, ua userAgent) bool {
	return ua.platform == platAndroid ||
		strings.EqualFold(strings.Trim(req.Header.Get("Sec-Ch-Ua-Platform"), `"`), platAndroid)
}

// sensorRisk: a touch session whose motion sensors reported many samples without the
// slightest variation is an emulator; real hands always shake a little.
func sensorRisk(t *Telemetry) float64 {
	if t.Motion == nil || t.Motion.N < 10 {
		return 0
	}
	touch := false
	for i := range t.Pointer {
		if t.Pointer[i].Dev == Touch {
			touch = true
			break
		}
	}
	if touch && (t.Motion.Zero || t.Motion.AccelSD == 0 && t.Motion.RotSD == 0) {
		return 0.35
	}
	return 0
}

// tooFastRisk compares the solve time with what people need per task, and the IP's
// recent solve times with the same floor.
func tooFastRisk(in Input) float64 {
	floor := 800 * time.Millisecond * time.Duration(max(in.Tasks, 1))
	r := 0.0
	if in.Stage == StageAnswer && in.SolveTime > 0 {
		q := float64(in.SolveTime) / float64(floor)
		switch {
		case q < 1:
			r = 0.5 + 0.45*(1-q)
		case q < 1.5:
			r = 0.2 * (1.5 - q) / 0.5
		}
	}
	if h := in.IP.RecentSolves; len(h) >= 3 {
		s := slices.Clone(h)
		slices.Sort(s)
		if s[len(s)/2] < 800*time.Millisecond {
			r = 1 - (1-r)*(1-0.5)
		}
	}
	return r
}

// solveRegularRisk: people's solve times vary by tens of percent; a script that waits a
// fixed delay does not.
func solveRegularRisk(h []time.Duration) float64 {
	if len(h) < 5 {
		return 0
	}
	v := make([]float64, len(h))
	for i, d := range h {
		v[i] = float64(d)
	}
	m, sd := meanSD(v)
	if m <= 0 {
		return 0
	}
	switch cv := sd / m; {
	case cv < 0.03:
		return 0.6
	case cv < 0.08:
		return 0.3
	}
	return 0
}

// ramp is 0 below lo, 1 above hi and linear between.
func ramp(v, lo, hi float64) float64 {
	return math.Max(0, math.Min(1, (v-lo)/(hi-lo)))
}

// ipRisk: a person solves a few challenges a minute at most; an office or a household
// behind one IP a few more. The thresholds leave room for both.
func ipRisk(s IPState) float64 {
	return 0.9 * math.Max(ramp(float64(s.IP1m), 8, 30), ramp(float64(s.IP15m), 40, 150))
}

// subnetRisk: a /24 or /64 holds many people (carrier NAT, campuses), so only floods count.
func subnetRisk(s IPState) float64 {
	return 0.8 * math.Max(ramp(float64(s.Subnet1m), 40, 150), ramp(float64(s.Subnet15m), 250, 1000))
}

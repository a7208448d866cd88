package risk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Limits of one telemetry document (docs/TELEMETRY.md). The widget trims to fit; the
// server refuses anything larger rather than truncating, so a client bug shows up.
const (
	MaxTelemetryBytes = 32 << 10
	MaxPointerEvents  = 2000
	MaxScrollEvents   = 500
	MaxKeyEvents      = 500
	MaxFocusEvents    = 100
	// TelemetryVersion is the only schema version this package reads.
	TelemetryVersion = 1

	maxCoord   = 100000    // px; far beyond any real screen
	maxDelta   = 3_600_000 // ms; one hour between two events of one page
	maxHold    = 60_000    // ms a key may be held
	maxCount   = 1_000_000 // generic sanity cap for counters
	maxStrLen  = 64        // navigator.platform and similar short strings
	maxMotion  = 1_000_000 // motion/orientation summary values
	maxDPR     = 16        // devicePixelRatio
	maxViewDim = maxCoord  // viewport and screen sizes
)

// ErrTooLarge and ErrInvalid classify every ParseTelemetry failure (check with errors.Is);
// the concrete error is a *FieldError naming the offending field.
var (
	ErrTooLarge = errors.New("telemetry too large")
	ErrInvalid  = errors.New("invalid telemetry")
)

// FieldError says which field of the telemetry was refused and why.
type FieldError struct {
	Field  string // JSON path such as "p[12][3]"; empty for the document itself
	Reason string
	Err    error // ErrTooLarge or ErrInvalid
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Err.Error() + ": " + e.Reason
	}
	return e.Err.Error() + ": " + e.Field + ": " + e.Reason
}

func (e *FieldError) Unwrap() error { return e.Err }

func invalid(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...), Err: ErrInvalid}
}

// EventKind is what a pointer event did.
type EventKind uint8

// Pointer event kinds, as on the wire ("m", "d", "u").
const (
	Move EventKind = iota
	Down
	Up
)

func (k EventKind) String() string { return [...]string{"m", "d", "u"}[k] }

// Device is the PointerEvent.pointerType of an event.
type Device uint8

// Pointer devices, as on the wire ("m", "t", "p"); mouse is the default and is omitted.
const (
	Mouse Device = iota
	Touch
	Pen
)

func (d Device) String() string { return [...]string{"m", "t", "p"}[d] }

// PointerEvent is one pointer event. T is milliseconds since the collector started (the
// wire carries deltas; ParseTelemetry accumulates them). X and Y are CSS px in the
// viewport (clientX/clientY).
type PointerEvent struct {
	T    float64
	X, Y float64
	Kind EventKind
	Dev  Device
}

// ScrollEvent is the document scroll position after a scroll event.
type ScrollEvent struct {
	T    float64
	X, Y float64
}

// KeyEvent is the timing of one key press; which key it was is never collected.
type KeyEvent struct {
	T    float64 // keydown time, ms since the collector started
	Hold float64 // ms between keydown and keyup
}

// FocusKind is a focus or visibility change.
type FocusKind uint8

// Focus and visibility changes, as on the wire ("b", "f", "h", "v").
const (
	Blur FocusKind = iota
	Focus
	Hidden
	Visible
)

func (k FocusKind) String() string { return [...]string{"b", "f", "h", "v"}[k] }

// FocusEvent is a window focus or document visibility change.
type FocusEvent struct {
	T    float64
	Kind FocusKind
}

// MotionSummary summarises devicemotion events: the widget never sends the samples.
type MotionSummary struct {
	N       int     `json:"n"`             // events seen
	AccelSD float64 `json:"a_sd"`          // SD of |accelerationIncludingGravity|, m/s²
	RotSD   float64 `json:"r_sd"`          // SD of |rotationRate|, deg/s
	Zero    bool    `json:"zero,omitzero"` // every sample was all zeros or null
}

// OrientationSummary summarises deviceorientation events.
type OrientationSummary struct {
	N       int     `json:"n"`
	BetaSD  float64 `json:"b_sd"` // SD of beta, degrees
	GammaSD float64 `json:"g_sd"` // SD of gamma, degrees
}

// Viewport is the window geometry. Outer sizes are pointers because 0 (a headless tell)
// differs from "not reported".
type Viewport struct {
	W          float64  `json:"w"` // innerWidth
	H          float64  `json:"h"` // innerHeight
	OuterW     *float64 `json:"ow,omitempty"`
	OuterH     *float64 `json:"oh,omitempty"`
	ScreenW    float64  `json:"sw,omitzero"`
	ScreenH    float64  `json:"sh,omitzero"`
	PixelRatio float64  `json:"dpr,omitzero"`
}

// Automation carries the automation tells the widget checks. Every field is optional
// (nil = not checked); only a checked tell counts against a session.
type Automation struct {
	Webdriver      *bool  `json:"wd,omitempty"`  // navigator.webdriver === true
	HeadlessUA     *bool  `json:"hl,omitempty"`  // navigator.userAgent/appVersion says HeadlessChrome, PhantomJS…
	Plugins        *int   `json:"pl,omitempty"`  // navigator.plugins.length
	Languages      *int   `json:"lg,omitempty"`  // navigator.languages.length
	Globals        *int   `json:"ag,omitempty"`  // automation globals found (cdc_…, _phantom, __nightmare, domAutomation…)
	ChromeObject   *bool  `json:"chr,omitempty"` // window.chrome exists
	Platform       string `json:"pf,omitempty"`  // navigator.platform
	MaxTouchPoints *int   `json:"mtp,omitempty"` // navigator.maxTouchPoints
}

// Telemetry is what the widget sends with a challenge request or answer
// (docs/TELEMETRY.md). Parse it with ParseTelemetry.
type Telemetry struct {
	Version     int
	Duration    float64 // ms the collector ran before sending
	Pointer     []PointerEvent
	Scroll      []ScrollEvent
	Keys        []KeyEvent
	Activations int // click events without a pointer (keyboard, assistive technology)
	Focus       []FocusEvent
	Motion      *MotionSummary
	Orientation *OrientationSummary
	Viewport    *Viewport
	Automation  *Automation
}

// wireTelemetry is the JSON shape; arrays stay generic so every element can be checked
// with a precise field path.
type wireTelemetry struct {
	V   *int                `json:"v"`
	Dur float64             `json:"dur"`
	P   [][]any             `json:"p"`
	S   [][]any             `json:"s"`
	K   [][]any             `json:"k"`
	Act int                 `json:"act"`
	F   [][]any             `json:"f"`
	DM  *MotionSummary      `json:"dm"`
	DO  *OrientationSummary `json:"do"`
	VP  *Viewport           `json:"vp"`
	A   *Automation         `json:"a"`
}

// ParseTelemetry decodes and validates one telemetry document. It refuses documents over
// MaxTelemetryBytes or with too many events (ErrTooLarge) and any malformed field
// (ErrInvalid); both come as a *FieldError. Unknown fields are ignored so that older
// servers accept newer widgets. Callers treat an absent or null telemetry as "none sent"
// and do not call this.
func ParseTelemetry(b []byte) (Telemetry, error) {
	if len(b) > MaxTelemetryBytes {
		return Telemetry{}, &FieldError{Reason: fmt.Sprintf("%d bytes, limit %d", len(b), MaxTelemetryBytes), Err: ErrTooLarge}
	}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Telemetry{}, invalid("", "must be a JSON object")
	}
	var w wireTelemetry
	if err := json.Unmarshal(trimmed, &w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Telemetry{}, invalid(te.Field, "must be %s, got %s", te.Type, te.Value)
		}
		return Telemetry{}, invalid("", "malformed JSON: %v", err)
	}
	return w.validate()
}

func (w *wireTelemetry) validate() (Telemetry, error) {
	var t Telemetry
	if w.V != nil && *w.V != TelemetryVersion {
		return t, invalid("v", "unsupported version %d (want %d)", *w.V, TelemetryVersion)
	}
	t.Version = TelemetryVersion
	if !finite(w.Dur) || w.Dur < 0 || w.Dur > maxDelta {
		return t, invalid("dur", "must be 0..%d ms", maxDelta)
	}
	t.Duration = w.Dur
	if w.Act < 0 || w.Act > maxCount {
		return t, invalid("act", "must be 0..%d", maxCount)
	}
	t.Activations = w.Act

	var err error
	if t.Pointer, err = parsePointer(w.P); err != nil {
		return t, err
	}
	if t.Scroll, err = parseScroll(w.S); err != nil {
		return t, err
	}
	if t.Keys, err = parseKeys(w.K); err != nil {
		return t, err
	}
	if t.Focus, err = parseFocus(w.F); err != nil {
		return t, err
	}
	if w.DM != nil {
		m := w.DM
		if m.N < 0 || m.N > maxCount || !inRange(m.AccelSD, 0, maxMotion) || !inRange(m.RotSD, 0, maxMotion) {
			return t, invalid("dm", "counts and deviations must be non-negative and finite")
		}
		t.Motion = m
	}
	if w.DO != nil {
		o := w.DO
		if o.N < 0 || o.N > maxCount || !inRange(o.BetaSD, 0, 360) || !inRange(o.GammaSD, 0, 360) {
			return t, invalid("do", "counts must be non-negative and deviations 0..360")
		}
		t.Orientation = o
	}
	if w.VP != nil {
		v := w.VP
		for _, f := range []struct {
			name string
			v    float64
		}{{"w", v.W}, {"h", v.H}, {"sw", v.ScreenW}, {"sh", v.ScreenH}} {
			if !inRange(f.v, 0, maxViewDim) {
				return t, invalid("vp."+f.name, "must be 0..%d", maxViewDim)
			}
		}
		if v.OuterW != nil && !inRange(*v.OuterW, 0, maxViewDim) {
			return t, invalid("vp.ow", "must be 0..%d", maxViewDim)
		}
		if v.OuterH != nil && !inRange(*v.OuterH, 0, maxViewDim) {
			return t, invalid("vp.oh", "must be 0..%d", maxViewDim)
		}
		if !inRange(v.PixelRatio, 0, maxDPR) {
			return t, invalid("vp.dpr", "must be 0..%d", maxDPR)
		}
		t.Viewport = v
	}
	if w.A != nil {
		a := w.A
		for _, f := range []struct {
			name string
			v    *int
		}{{"pl", a.Plugins}, {"lg", a.Languages}, {"ag", a.Globals}, {"mtp", a.MaxTouchPoints}} {
			if f.v != nil && (*f.v < 0 || *f.v > 1000) {
				return t, invalid("a."+f.name, "must be 0..1000")
			}
		}
		if len(a.Platform) > maxStrLen {
			return t, invalid("a.pf", "longer than %d bytes", maxStrLen)
		}
		t.Automation = a
	}
	return t, nil
}

func parsePointer(raw [][]any) ([]PointerEvent, error) {
	if len(raw) > MaxPointerEvents {
		return nil, &FieldError{Field: "p", Reason: fmt.Sprintf("%d events, limit %d", len(raw), MaxPointerEvents), Err: ErrTooLarge}
	}
	if len(raw) == 0 {
		return nil, nil
	}
	out := make([]PointerEvent, len(raw))
	t := 0.0
	for i, e := range raw {
		if len(e) != 4 && len(e) != 5 {
			return nil, invalid(idx("p", i), "want [dt, x, y, type] or [dt, x, y, type, device], got %d elements", len(e))
		}
		dt, err := num(e, 0, 0, maxDelta, "p", i)
		if err != nil {
			return nil, err
		}
		x, err := num(e, 1, -maxCoord, maxCoord, "p", i)
		if err != nil {
			return nil, err
		}
		y, err := num(e, 2, -maxCoord, maxCoord, "p", i)
		if err != nil {
			return nil, err
		}
		kind, ok := e[3].(string)
		if !ok {
			return nil, invalid(idx2("p", i, 3), "type must be \"m\", \"d\" or \"u\"")
		}
		ev := PointerEvent{X: x, Y: y}
		switch kind {
		case "m":
			ev.Kind = Move
		case "d":
			ev.Kind = Down
		case "u":
			ev.Kind = Up
		default:
			return nil, invalid(idx2("p", i, 3), "type must be \"m\", \"d\" or \"u\", got %q", clip(kind))
		}
		if len(e) == 5 {
			dev, ok := e[4].(string)
			if !ok {
				return nil, invalid(idx2("p", i, 4), "device must be \"m\", \"t\" or \"p\"")
			}
			switch dev {
			case "m":
				ev.Dev = Mouse
			case "t":
				ev.Dev = Touch
			case "p":
				ev.Dev = Pen
			default:
				return nil, invalid(idx2("p", i, 4), "device must be \"m\", \"t\" or \"p\", got %q", clip(dev))
			}
		}
		t += dt
		ev.T = t
		out[i] = ev
	}
	return out, nil
}

func parseScroll(raw [][]any) ([]ScrollEvent, error) {
	if len(raw) > MaxScrollEvents {
		return nil, &FieldError{Field: "s", Reason: fmt.Sprintf("%d events, limit %d", len(raw), MaxScrollEvents), Err: ErrTooLarge}
	}
	if len(raw) == 0 {
		return nil, nil
	}
	out := make([]ScrollEvent, len(raw))
	t := 0.0
	for i, e := range raw {
		if len(e) != 3 {
			return nil, invalid(idx("s", i), "want [dt, scrollX, scrollY], got %d elements", len(e))
		}
		dt, err := num(e, 0, 0, maxDelta, "s", i)
		if err != nil {
			return nil, err
		}
		x, err := num(e, 1, -maxCoord*10, maxCoord*10, "s", i)
		if err != nil {
			return nil, err
		}
		y, err := num(e, 2, -maxCoord*10, maxCoord*10, "s", i)
		if err != nil {
			return nil, err
		}
		t += dt
		out[i] = ScrollEvent{T: t, X: x, Y: y}
	}
	return out, nil
}

func parseKeys(raw [][]any) ([]KeyEvent, error) {
	if len(raw) > MaxKeyEvents {
		return nil, &FieldError{Field: "k", Reason: fmt.Sprintf("%d events, limit %d", len(raw), MaxKeyEvents), Err: ErrTooLarge}
	}
	if len(raw) == 0 {
		return nil, nil
	}
	out := make([]KeyEvent, len(raw))
	t := 0.0
	for i, e := range raw {
		if len(e) != 2 {
			return nil, invalid(idx("k", i), "want [dt, hold], got %d elements", len(e))
		}
		dt, err := num(e, 0, 0, maxDelta, "k", i)
		if err != nil {
			return nil, err
		}
		hold, err := num(e, 1, 0, maxHold, "k", i)
		if err != nil {
			return nil, err
		}
		t += dt
		out[i] = KeyEvent{T: t, Hold: hold}
	}
	return out, nil
}

func parseFocus(raw [][]any) ([]FocusEvent, error) {
	if len(raw) > MaxFocusEvents {
		return nil, &FieldError{Field: "f", Reason: fmt.Sprintf("%d events, limit %d", len(raw), MaxFocusEvents), Err: ErrTooLarge}
	}
	if len(raw) == 0 {
		return nil, nil
	}
	out := make([]FocusEvent, len(raw))
	t := 0.0
	for i, e := range raw {
		if len(e) != 2 {
			return nil, invalid(idx("f", i), "want [dt, kind], got %d elements", len(e))
		}
		dt, err := num(e, 0, 0, maxDelta, "f", i)
		if err != nil {
			return nil, err
		}
		k, _ := e[1].(string)
		var kind FocusKind
		switch k {
		case "b":
			kind = Blur
		case "f":
			kind = Focus
		case "h":
			kind = Hidden
		case "v":
			kind = Visible
		default:
			return nil, invalid(idx2("f", i, 1), "kind must be \"b\", \"f\", \"h\" or \"v\"")
		}
		t += dt
		out[i] = FocusEvent{T: t, Kind: kind}
	}
	return out, nil
}

func num(e []any, j int, lo, hi float64, field string, i int) (float64, error) {
	v, ok := e[j].(float64)
	if !ok {
		return 0, invalid(idx2(field, i, j), "must be a number")
	}
	if !inRange(v, lo, hi) {
		return 0, invalid(idx2(field, i, j), "must be %g..%g", lo, hi)
	}
	return v, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func inRange(v, lo, hi float64) bool { return finite(v) && v >= lo && v <= hi }

func idx(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

func idx2(field string, i, j int) string { return idx(field, i) + "[" + strconv.Itoa(j) + "]" }

// clip keeps error messages short when a client sends a huge string.
func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

// MarshalJSON writes the wire form (deltas, compact arrays), so Go code such as the bot
// generator and tests can produce exactly what the widget sends.
func (t Telemetry) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"v":`)
	b.WriteString(strconv.Itoa(TelemetryVersion))
	if t.Duration > 0 {
		b.WriteString(`,"dur":`)
		b.WriteString(fnum(t.Duration))
	}
	if len(t.Pointer) > 0 {
		b.WriteString(`,"p":[`)
		prev := 0.0
		for i, e := range t.Pointer {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('[')
			b.WriteString(fnum(math.Max(0, e.T-prev)))
			prev = e.T
			b.WriteByte(',')
			b.WriteString(fnum(e.X))
			b.WriteByte(',')
			b.WriteString(fnum(e.Y))
			b.WriteString(`,"`)
			b.WriteString(e.Kind.String())
			b.WriteByte('"')
			if e.Dev != Mouse {
				b.WriteString(`,"`)
				b.WriteString(e.Dev.String())
				b.WriteByte('"')
			}
			b.WriteByte(']')
		}
		b.WriteByte(']')
	}
	if len(t.Scroll) > 0 {
		b.WriteString(`,"s":[`)
		prev := 0.0
		for i, e := range t.Scroll {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "[%s,%s,%s]", fnum(math.Max(0, e.T-prev)), fnum(e.X), fnum(e.Y))
			prev = e.T
		}
		b.WriteByte(']')
	}
	if len(t.Keys) > 0 {
		b.WriteString(`,"k":[`)
		prev := 0.0
		for i, e := range t.Keys {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "[%s,%s]", fnum(math.Max(0, e.T-prev)), fnum(e.Hold))
			prev = e.T
		}
		b.WriteByte(']')
	}
	if t.Activations > 0 {
		fmt.Fprintf(&b, `,"act":%d`, t.Activations)
	}
	if len(t.Focus) > 0 {
		b.WriteString(`,"f":[`)
		prev := 0.0
		for i, e := range t.Focus {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `[%s,"%s"]`, fnum(math.Max(0, e.T-prev)), e.Kind)
			prev = e.T
		}
		b.WriteByte(']')
	}
	for _, part := range []struct {
		key string
		v   any
		ok  bool
	}{
		{"dm", t.Motion, t.Motion != nil},
		{"do", t.Orientation, t.Orientation != nil},
		{"vp", t.Viewport, t.Viewport != nil},
		{"a", t.Automation, t.Automation != nil},
	} {
		if !part.ok {
			continue
		}
		j, err := json.Marshal(part.v)
		if err != nil {
			return nil, fmt.Errorf("telemetry %s: %w", part.key, err)
		}
		fmt.Fprintf(&b, `,"%s":%s`, part.key, j)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// fnum keeps at most 3 decimals: sums of deltas otherwise print float noise.
func fnum(v float64) string { return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64) }

// UnmarshalJSON lets request structs embed a Telemetry directly; it is ParseTelemetry.
func (t *Telemetry) UnmarshalJSON(b []byte) error {
	v, err := ParseTelemetry(b)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

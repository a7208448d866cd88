package risk_test

import (
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/risk"
	"github.com/crowdgate/crowdgate/shared/risk/botgen"
)

func has(a risk.Assessment, reason string) bool { return slices.Contains(a.Reasons, reason) }

// keyboardTelemetry is a keyboard-only visitor: Tab/Space presses with human holds and
// gaps, activations without a pointer, no mouse at all.
func keyboardTelemetry() *risk.Telemetry {
	var keys []risk.KeyEvent
	r := rand.New(rand.NewPCG(2, 2))
	tm := 400.0
	for i := 0; i < 14; i++ {
		tm += 180 + r.Float64()*400
		keys = append(keys, risk.KeyEvent{T: tm, Hold: 60 + r.Float64()*70})
	}
	return &risk.Telemetry{Version: 1, Duration: tm + 500, Keys: keys, Activations: 5,
		Focus: []risk.FocusEvent{{T: 100, Kind: risk.Focus}}}
}

// touchTelemetry is a phone: taps and swipes, motion sensors that move a little.
func touchTelemetry() *risk.Telemetry {
	var p []risk.PointerEvent
	tm := 0.0
	for i := 0; i < 6; i++ {
		tm += 900
		x, y := 50+float64(i*40), 300.0
		p = append(p, risk.PointerEvent{T: tm, X: x, Y: y, Kind: risk.Down, Dev: risk.Touch})
		for j := 0; j < 3; j++ {
			tm += 16
			p = append(p, risk.PointerEvent{T: tm, X: x + float64(j), Y: y - float64(j), Kind: risk.Move, Dev: risk.Touch})
		}
		tm += 60
		p = append(p, risk.PointerEvent{T: tm, X: x + 2, Y: y - 2, Kind: risk.Up, Dev: risk.Touch})
	}
	return &risk.Telemetry{Version: 1, Duration: tm, Pointer: p,
		Scroll: []risk.ScrollEvent{{T: 300, Y: 40}, {T: 500, Y: 180}},
		Motion: &risk.MotionSummary{N: 120, AccelSD: 0.21, RotSD: 3.4}}
}

func TestKeyboardTouchAndAssistiveSessionsAreNotPenalised(t *testing.T) {
	at := &risk.Telemetry{Version: 1, Activations: 4} // a screen reader activating controls
	for name, c := range map[string]struct {
		ua  string
		tel *risk.Telemetry
	}{
		"keyboard only":        {chromeWindows, keyboardTelemetry()},
		"touch":                {chromeAndroid, touchTelemetry()},
		"touch on iOS":         {safariIPhone, touchTelemetry()},
		"assistive technology": {firefoxLinux, at},
	} {
		a := risk.Score(risk.Input{
			Stage: risk.StageAnswer, Telemetry: c.tel, Request: browserRequest(c.ua),
			SolveTime: 9 * time.Second, Tasks: 3,
		})
		if a.Score >= risk.ReasonThreshold || len(a.Reasons) > 0 {
			t.Errorf("%s: score %.3f reasons %v parts %v; want a clean pass", name, a.Score, a.Reasons, a.Parts)
		}
		if a.Movements != 0 {
			t.Errorf("%s: %d mouse movements scored, want none", name, a.Movements)
		}
	}
}

func TestHardAutomationTells(t *testing.T) {
	clean := browserRequest(chromeWindows)
	cases := map[string]risk.Input{
		"navigator.webdriver": {Request: clean, Telemetry: &risk.Telemetry{Automation: &risk.Automation{Webdriver: ptr(true)}}},
		"headless UA header":  {Request: browserRequest(headlessChrome)},
		"headless UA in page": {Request: clean, Telemetry: &risk.Telemetry{Automation: &risk.Automation{HeadlessUA: ptr(true)}}},
		"automation globals":  {Request: clean, Telemetry: &risk.Telemetry{Automation: &risk.Automation{Globals: ptr(2)}}},
		"HTTP library":        {Request: browserRequest("python-requests/2.32.3")},
		"no user agent":       {Request: risk.Request{Header: clean.Header}},
		"outer window 0x0": {Request: clean, Telemetry: &risk.Telemetry{
			Viewport: &risk.Viewport{W: 800, H: 600, OuterW: ptr(0.0), OuterH: ptr(0.0)}}},
	}
	for name, in := range cases {
		if a := risk.Score(in); !has(a, risk.ReasonAutomation) || a.Score < 0.75 {
			t.Errorf("%s: score %.3f reasons %v, want automation", name, a.Score, a.Reasons)
		}
	}
	// Reported and negative tells are not evidence.
	a := risk.Score(risk.Input{Request: clean, Telemetry: &risk.Telemetry{Automation: &risk.Automation{
		Webdriver: ptr(false), HeadlessUA: ptr(false), Globals: ptr(0), Plugins: ptr(5), Languages: ptr(2), ChromeObject: ptr(true), Platform: "Win32", MaxTouchPoints: ptr(0)},
		Viewport: &risk.Viewport{W: 1200, H: 700, OuterW: ptr(1280.0), OuterH: ptr(800.0)}}})
	if a.Score > 0.05 {
		t.Errorf("clean desktop Chrome: score %.3f parts %v", a.Score, a.Parts)
	}
}

func TestHeaderConsistency(t *testing.T) {
	for _, ua := range []string{chromeWindows, chromeAndroid, firefoxLinux, safariIPhone, safariMac} {
		if a := risk.Score(risk.Input{Request: browserRequest(ua)}); a.Score > 0 {
			t.Errorf("consistent %q: score %.3f parts %v", ua, a.Score, a.Parts)
		}
	}
	mismatch := func(ua string, edit func(r risk.Request), tel *risk.Telemetry) risk.Assessment {
		r := browserRequest(ua)
		edit(r)
		return risk.Score(risk.Input{Request: r, Telemetry: tel})
	}
	cases := map[string]risk.Assessment{
		"Chrome without client hints": mismatch(chromeWindows, func(r risk.Request) {
			r.Header.Del("Sec-CH-UA")
			r.Header.Del("Sec-CH-UA-Mobile")
			r.Header.Del("Sec-CH-UA-Platform")
		}, nil),
		"client hints for another version": mismatch(chromeWindows, func(r risk.Request) {
			r.Header.Set("Sec-CH-UA", `"Chromium";v="99", "Not_A Brand";v="24"`)
		}, nil),
		"Windows UA, Linux hints": mismatch(chromeWindows, func(r risk.Request) { r.Header.Set("Sec-CH-UA-Platform", `"Linux"`) }, nil),
		"Firefox sending client hints": mismatch(firefoxLinux, func(r risk.Request) {
			r.Header.Set("Sec-CH-UA", `"Chromium";v="131"`)
		}, nil),
		"desktop UA, mobile hint": mismatch(chromeWindows, func(r risk.Request) { r.Header.Set("Sec-CH-UA-Mobile", "?1") }, nil),
		"no fetch metadata": mismatch(firefoxLinux, func(r risk.Request) {
			r.Header.Del("Sec-Fetch-Site")
			r.Header.Del("Sec-Fetch-Mode")
		}, nil),
		"navigator.platform disagrees": mismatch(chromeWindows, func(risk.Request) {},
			&risk.Telemetry{Automation: &risk.Automation{Platform: "MacIntel"}}),
		"phone UA without touch": mismatch(chromeAndroid, func(risk.Request) {},
			&risk.Telemetry{Automation: &risk.Automation{MaxTouchPoints: ptr(0)}}),
	}
	for name, a := range cases {
		if !has(a, risk.ReasonHeaderMismatch) {
			t.Errorf("%s: score %.3f reasons %v, want header_mismatch", name, a.Score, a.Reasons)
		}
	}
	// Missing Accept-Language alone is weak, but it adds up with other gaps.
	one := mismatch(firefoxLinux, func(r risk.Request) { r.Header.Del("Accept-Language") }, nil)
	two := mismatch(firefoxLinux, func(r risk.Request) {
		r.Header.Del("Accept-Language")
		r.Header.Del("Sec-Fetch-Site")
		r.Header.Del("Sec-Fetch-Mode")
	}, nil)
	if !(two.Score > one.Score && one.Score > 0) {
		t.Errorf("header gaps do not add up: one %.3f, two %.3f", one.Score, two.Score)
	}
	// Unknown headers (offline evaluation) are not missing headers.
	if a := risk.Score(risk.Input{Request: risk.Request{UserAgent: chromeWindows}}); a.Score > 0 {
		t.Errorf("user agent with unknown headers: score %.3f parts %v", a.Score, a.Parts)
	}
	if a := risk.Score(risk.Input{Request: risk.Request{UserAgent: chromeWindows, Header: http.Header{}}}); !has(a, risk.ReasonHeaderMismatch) {
		t.Errorf("Chrome sending no headers at all: reasons %v", a.Reasons)
	}
	// Android WebView and iOS Chrome do not send client hints; that is no mismatch.
	for _, ua := range []string{
		"Mozilla/5.0 (Linux; Android 13; Pixel 7; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.0.0 Mobile Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
	} {
		if a := risk.Score(risk.Input{Request: browserRequest(ua)}); a.Score > 0 {
			t.Errorf("%q without client hints: score %.3f parts %v", ua, a.Score, a.Parts)
		}
	}
}

func TestSolveTime(t *testing.T) {
	human := risk.Input{Stage: risk.StageAnswer, Telemetry: keyboardTelemetry(), SolveTime: 7 * time.Second, Tasks: 3}
	if a := risk.Score(human); has(a, risk.ReasonTooFast) {
		t.Errorf("7 s for 3 tasks flagged too_fast: %v", a.Parts)
	}
	fast := human
	fast.SolveTime = 600 * time.Millisecond
	a := risk.Score(fast)
	if !has(a, risk.ReasonTooFast) || a.Score < 0.7 {
		t.Errorf("0.6 s for 3 tasks: score %.3f reasons %v", a.Score, a.Reasons)
	}
	faster := fast
	faster.SolveTime = 100 * time.Millisecond
	if b := risk.Score(faster); b.Score <= a.Score {
		t.Errorf("faster answers should score higher: 0.1 s %.3f, 0.6 s %.3f", b.Score, a.Score)
	}
	// At issue there is no answer yet: the solve time means nothing.
	issue := fast
	issue.Stage = risk.StageIssue
	if a := risk.Score(issue); has(a, risk.ReasonTooFast) {
		t.Errorf("too_fast at issue: %v", a.Parts)
	}
	// The IP's history: always sub-second, and always the same.
	hist := human
	hist.IP.RecentSolves = []time.Duration{500 * time.Millisecond, 520 * time.Millisecond, 510 * time.Millisecond, 505 * time.Millisecond, 500 * time.Millisecond}
	a = risk.Score(hist)
	if !has(a, risk.ReasonTooFast) || !has(a, risk.ReasonSolveRegular) {
		t.Errorf("sub-second, metronomic history: reasons %v", a.Reasons)
	}
	varied := human
	varied.IP.RecentSolves = []time.Duration{4 * time.Second, 9 * time.Second, 6 * time.Second, 12 * time.Second, 5 * time.Second}
	if a := risk.Score(varied); len(a.Reasons) > 0 {
		t.Errorf("varied human history flagged: %v", a.Parts)
	}
}

func TestIPWindows(t *testing.T) {
	base := risk.Input{Request: browserRequest(chromeWindows)}
	quiet := base
	quiet.IP = risk.IPState{IP1m: 2, IP15m: 6, Subnet1m: 10, Subnet15m: 80}
	if a := risk.Score(quiet); a.Score > 0 {
		t.Errorf("ordinary traffic: score %.3f parts %v", a.Score, a.Parts)
	}
	burst := base
	burst.IP = risk.IPState{IP1m: 40, IP15m: 60}
	if a := risk.Score(burst); !has(a, risk.ReasonIPVelocity) || a.Score < 0.8 {
		t.Errorf("40 requests a minute from one IP: score %.3f reasons %v", a.Score, a.Reasons)
	}
	slow := base
	slow.IP = risk.IPState{IP1m: 3, IP15m: 200}
	if a := risk.Score(slow); !has(a, risk.ReasonIPVelocity) {
		t.Errorf("200 requests in 15 minutes from one IP: reasons %v", a.Reasons)
	}
	subnet := base
	subnet.IP = risk.IPState{IP1m: 1, IP15m: 1, Subnet1m: 200, Subnet15m: 400}
	if a := risk.Score(subnet); !has(a, risk.ReasonSubnetVelocity) || has(a, risk.ReasonIPVelocity) {
		t.Errorf("a flood from the subnet, one request from this IP: reasons %v", a.Reasons)
	}
	more := burst
	more.IP.IP1m = 25
	if a, b := risk.Score(more), risk.Score(burst); a.Score >= b.Score {
		t.Errorf("IP risk should grow with the count: 25/min %.3f, 40/min %.3f", a.Score, b.Score)
	}
}

func TestAnswersWithoutInteraction(t *testing.T) {
	req := browserRequest(chromeWindows)
	if a := risk.Score(risk.Input{Stage: risk.StageAnswer, Request: req, Telemetry: &risk.Telemetry{Version: 1, Duration: 3000}}); !has(a, risk.ReasonNoInteraction) {
		t.Errorf("answer with no interaction at all: reasons %v", a.Reasons)
	}
	if a := risk.Score(risk.Input{Stage: risk.StageAnswer, Request: req}); !has(a, risk.ReasonNoTelemetry) {
		t.Errorf("answer without telemetry: reasons %v", a.Reasons)
	}
	// An invisible widget issues without any interaction; that is normal.
	if a := risk.Score(risk.Input{Stage: risk.StageIssue, Request: req, Telemetry: &risk.Telemetry{Version: 1}}); a.Score > 0 {
		t.Errorf("issue without interaction: score %.3f parts %v", a.Score, a.Parts)
	}
}

func TestScriptedClicksAndKeys(t *testing.T) {
	// Clicks placed at coordinates with no pointer travel in between.
	var p []risk.PointerEvent
	for i := 0; i < 4; i++ {
		tm := float64(i) * 800
		x, y := 100+float64(i)*250, 200+float64(i%2)*300
		p = append(p, risk.PointerEvent{T: tm, X: x, Y: y, Kind: risk.Move},
			risk.PointerEvent{T: tm + 1, X: x, Y: y, Kind: risk.Down},
			risk.PointerEvent{T: tm + 2, X: x, Y: y, Kind: risk.Up})
	}
	if a := risk.Score(risk.Input{Telemetry: &risk.Telemetry{Pointer: p}}); !has(a, risk.ReasonSyntheticPointer) || a.Score < 0.8 {
		t.Errorf("teleporting clicks: score %.3f reasons %v", a.Score, a.Reasons)
	}
	// Keys held for 0–1 ms: dispatched, not typed.
	var k []risk.KeyEvent
	for i := 0; i < 10; i++ {
		k = append(k, risk.KeyEvent{T: float64(i) * 50, Hold: float64(i % 2)})
	}
	if a := risk.Score(risk.Input{Telemetry: &risk.Telemetry{Keys: k}}); !has(a, risk.ReasonSyntheticKeys) {
		t.Errorf("0 ms key holds at a fixed pace: reasons %v", a.Reasons)
	}
	if a := risk.Score(risk.Input{Telemetry: keyboardTelemetry()}); has(a, risk.ReasonSyntheticKeys) {
		t.Errorf("human typing flagged: %v", a.Parts)
	}
}

func TestSensorAnomaly(t *testing.T) {
	tel := touchTelemetry()
	tel.Motion = &risk.MotionSummary{N: 200} // a phone that never moved a micron: an emulator
	if a := risk.Score(risk.Input{Telemetry: tel}); !has(a, risk.ReasonSensorAnomaly) {
		t.Errorf("static sensors on a touch session: reasons %v", a.Reasons)
	}
	desk := keyboardTelemetry()
	desk.Motion = &risk.MotionSummary{N: 200} // a desktop without sensors is normal
	if a := risk.Score(risk.Input{Telemetry: desk}); has(a, risk.ReasonSensorAnomaly) {
		t.Errorf("desktop without motion flagged: %v", a.Parts)
	}
}

func TestGeneratedBotMovementIsSynthetic(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	targets := []botgen.Target{}
	for i := 0; i < 6; i++ {
		targets = append(targets, botgen.Target{Point: botgen.Point{X: 200 + float64(i%3)*300, Y: 150 + float64(i/3)*350}, W: 60})
	}
	for _, f := range []botgen.Family{botgen.LinearConstant, botgen.GhostCursor} {
		for _, st := range []botgen.Style{{Timing: botgen.BackToBack, Noise: botgen.Clean}, {Timing: botgen.Humanish, Noise: botgen.Jitter}} {
			ev := botgen.Session(r, f, st, botgen.Point{X: 640, Y: 400}, targets)
			a := risk.Score(risk.Input{Stage: risk.StageAnswer, Telemetry: &risk.Telemetry{Pointer: ev}, Request: browserRequest(chromeWindows), SolveTime: 8 * time.Second})
			if !has(a, risk.ReasonSyntheticPointer) || a.Score < 0.9 || a.Movements < 5 {
				t.Errorf("%s %s: score %.3f reasons %v movements %d", f, st, a.Score, a.Reasons, a.Movements)
			}
		}
	}
}

func TestAssessmentShape(t *testing.T) {
	in := risk.Input{
		Stage: risk.StageAnswer, Request: browserRequest(headlessChrome), SolveTime: 300 * time.Millisecond,
		IP: risk.IPState{IP1m: 50}, Telemetry: &risk.Telemetry{Version: 1},
	}
	a := risk.Score(in)
	if a.Score < 0 || a.Score > 1 {
		t.Fatalf("score %v out of [0,1]", a.Score)
	}
	for i := 1; i < len(a.Parts); i++ {
		if a.Parts[i].Risk > a.Parts[i-1].Risk {
			t.Errorf("parts not riskiest first: %v", a.Parts)
		}
	}
	keep := 1.0
	for _, p := range a.Parts {
		keep *= 1 - p.Risk
	}
	if d := a.Score - (1 - keep); d > 1e-12 || d < -1e-12 {
		t.Errorf("score %v is not the combination of its parts %v", a.Score, a.Parts)
	}
	for _, want := range []string{risk.ReasonAutomation, risk.ReasonTooFast, risk.ReasonIPVelocity, risk.ReasonNoInteraction} {
		if !has(a, want) {
			t.Errorf("missing reason %s in %v", want, a.Reasons)
		}
	}
	if z := risk.Score(risk.Input{}); z.Score != 0 || z.Reasons != nil {
		t.Errorf("empty input: %+v, want zero", z)
	}
}

// Score is called concurrently by the challenge function; pooled buffers must not leak
// between calls.
func TestScoreIsSafeConcurrently(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	tg := []botgen.Target{{Point: botgen.Point{X: 300, Y: 300}, W: 40}, {Point: botgen.Point{X: 900, Y: 500}, W: 40}, {Point: botgen.Point{X: 200, Y: 700}, W: 40}}
	bot := &risk.Telemetry{Pointer: botgen.Session(r, botgen.LinearConstant, botgen.Style{Timing: botgen.BackToBack, Noise: botgen.Clean}, botgen.Point{}, tg)}
	want := risk.Score(risk.Input{Telemetry: bot}).Score
	done := make(chan float64)
	for i := 0; i < 8; i++ {
		go func() {
			s := 0.0
			for j := 0; j < 50; j++ {
				s = max(s, math.Abs(risk.Score(risk.Input{Telemetry: bot}).Score-want))
				risk.Score(risk.Input{Telemetry: touchTelemetry()})
			}
			done <- s
		}()
	}
	for i := 0; i < 8; i++ {
		if d := <-done; d != 0 {
			t.Errorf("concurrent scores differ by %v", d)
		}
	}
}

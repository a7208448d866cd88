package risk_test

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/risk"
)

func part(a risk.Assessment, reason string) float64 {
	for _, p := range a.Parts {
		if p.Reason == reason {
			return p.Risk
		}
	}
	return 0
}

// gboardTyping has the shape Chrome on Android gives typing on an on-screen keyboard
// (Gboard, SwiftKey, Samsung): every tap reaches the page as a keydown and a keyup with
// key "Unidentified" and keyCode 229, which Chromium's ImeAdapter dispatches back to back
// around the composition update, so each press is "held" 0–1.5 ms; the gaps between
// presses are a thumb's, 110–460 ms, with a few IME commits (autocorrect on space, a
// suggestion tapped) landing 2–6 ms after the press before them; Enter (performEditorAction)
// comes as a back-to-back pair too.
func gboardTyping() []risk.KeyEvent {
	r := rand.New(rand.NewPCG(7, 29))
	var keys []risk.KeyEvent
	tm := 6200.0
	for i := range 24 {
		if i == 5 || i == 11 || i == 18 {
			tm += 2 + r.Float64()*4
		} else {
			tm += 110 + r.Float64()*350
		}
		keys = append(keys, risk.KeyEvent{T: tm, Hold: r.Float64() * 1.5})
	}
	return keys
}

// androidDesktopSite is Chrome on Android with "Request desktop site": a Linux user agent,
// but the client hints still say Android.
func androidDesktopSite() risk.Request {
	const ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	h := http.Header{}
	h.Set("User-Agent", ua)
	h.Set("Accept-Language", "en-US,en;q=0.9")
	h.Set("Sec-Fetch-Site", "cross-site")
	h.Set("Sec-Fetch-Mode", "cors")
	h.Set("Sec-CH-UA", `"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"`)
	h.Set("Sec-CH-UA-Mobile", "?0")
	h.Set("Sec-CH-UA-Platform", `"Android"`)
	return risk.Request{UserAgent: ua, Header: h}
}

// A person typing on Android's on-screen keyboard (a form field on the page before the
// challenge) is not taken for a script: the composition keys' holds are no evidence. Nor
// is a TalkBack user, who types the same way but touches the page through activations.
func TestAndroidOnScreenKeyboardTypingIsNotPenalised(t *testing.T) {
	talkBack := &risk.Telemetry{Version: 1, Duration: 14000, Keys: gboardTyping(), Activations: 4}
	for name, c := range map[string]struct {
		req risk.Request
		tel *risk.Telemetry
	}{
		"Chrome on Android":    {browserRequest(chromeAndroid), touchTelemetry()},
		"desktop site mode":    {androidDesktopSite(), touchTelemetry()},
		"TalkBack, no touch":   {browserRequest(chromeAndroid), talkBack},
		"headers unknown (UA)": {risk.Request{UserAgent: chromeAndroid}, touchTelemetry()},
	} {
		tel := *c.tel
		tel.Keys = gboardTyping()
		a := risk.Score(risk.Input{Stage: risk.StageAnswer, Telemetry: &tel, Request: c.req, SolveTime: 9 * time.Second, Tasks: 3})
		if r := part(a, risk.ReasonSyntheticKeys); r > 0 {
			t.Errorf("%s: synthetic_keys %.2f for on-screen keyboard typing (parts %v)", name, r, a.Parts)
		}
		if a.Score >= risk.ReasonThreshold || len(a.Reasons) > 0 {
			t.Errorf("%s: score %.3f reasons %v parts %v; want a clean pass", name, a.Score, a.Reasons, a.Parts)
		}
	}
}

// What makes composition keys no evidence is a thumb's pace, which a script claiming to be
// Android does not get for free: keys dispatched back to back or like a metronome are still
// caught there, and the same zero holds from a desktop are a script's as before.
func TestScriptedKeysAreCaughtEvenWhenClaimingAndroid(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	var burst, metronome []risk.KeyEvent
	tm := 2000.0
	for i := range 20 {
		tm += 2 + r.Float64()*7 // CDP Input.dispatchKeyEvent round trips: no finger
		burst = append(burst, risk.KeyEvent{T: tm, Hold: r.Float64()})
		metronome = append(metronome, risk.KeyEvent{T: 2000 + float64(i)*120, Hold: 0})
	}
	for name, c := range map[string]struct {
		req  risk.Request
		keys []risk.KeyEvent
		min  float64
	}{
		"back to back, Android":      {browserRequest(chromeAndroid), burst, 0.6},
		"back to back, desktop site": {androidDesktopSite(), burst, 0.6},
		"metronome, Android":         {browserRequest(chromeAndroid), metronome, 0.4},
		"thumb-paced, from Windows":  {browserRequest(chromeWindows), gboardTyping(), 0.6},
	} {
		tel := touchTelemetry()
		if c.req.UserAgent == chromeWindows {
			tel = &risk.Telemetry{Version: 1, Duration: 14000}
		}
		tel.Keys = c.keys
		a := risk.Score(risk.Input{Stage: risk.StageAnswer, Telemetry: tel, Request: c.req, SolveTime: 9 * time.Second, Tasks: 3})
		if got := part(a, risk.ReasonSyntheticKeys); got < c.min || !has(a, risk.ReasonSyntheticKeys) {
			t.Errorf("%s: synthetic_keys %.2f, want >= %.2f (reasons %v)", name, got, c.min, a.Reasons)
		}
	}
}

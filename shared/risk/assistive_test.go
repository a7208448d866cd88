package risk_test

import (
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/risk"
)

// Chromium carries out an assistive technology's "activate" (a screen reader's Enter,
// TalkBack's double tap, Switch Access, Voice Access) as a simulated click: pointerdown
// and pointerup with pointerType "mouse" at the centre of the control, no pointermove at
// all, and a click whose detail is 1, so the widget does not count it in act. Such a
// visitor must not be taken for a script placing clicks.
func TestChromiumAssistiveActivationsAreNotPenalised(t *testing.T) {
	centres := [][2]float64{{40, 520}, {120, 220}, {320, 220}, {520, 420}, {120, 620}, {520, 720}}
	var p []risk.PointerEvent
	tm := 900.0
	for _, c := range centres {
		tm += 2400
		p = append(p, risk.PointerEvent{T: tm, X: c[0], Y: c[1], Kind: risk.Down},
			risk.PointerEvent{T: tm, X: c[0], Y: c[1], Kind: risk.Up})
	}
	for _, ua := range []string{chromeWindows, chromeAndroid} {
		a := risk.Score(risk.Input{
			Stage: risk.StageAnswer, Telemetry: &risk.Telemetry{Version: 1, Duration: tm + 300, Pointer: p},
			Request: browserRequest(ua), SolveTime: 14 * time.Second, Tasks: 3,
		})
		if a.Score >= risk.ReasonThreshold || len(a.Reasons) > 0 {
			t.Errorf("%s: score %.3f reasons %v parts %v; want a clean pass", ua, a.Score, a.Reasons, a.Parts)
		}
	}
}

package risk_test

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/benchmetric"
	"github.com/crowdgate/crowdgate/shared/risk"
	"github.com/crowdgate/crowdgate/shared/risk/botgen"
)

// session1000 is a pointer stream of exactly 1,000 events: a human-timed mover clicking
// through targets, as a long challenge session would look.
func session1000(tb testing.TB) []risk.PointerEvent {
	r := rand.New(rand.NewPCG(1, 1))
	var targets []botgen.Target
	for i := 0; i < 60; i++ {
		targets = append(targets, botgen.Target{Point: botgen.Point{X: 100 + r.Float64()*1200, Y: 100 + r.Float64()*700}, W: 40})
	}
	ev := botgen.Session(r, botgen.HumanLike, botgen.Style{Timing: botgen.Humanish, Noise: botgen.Clean}, botgen.Point{X: 500, Y: 500}, targets)
	if len(ev) < 1000 {
		tb.Fatalf("generated %d events, want >= 1000", len(ev))
	}
	return ev[:1000]
}

// BenchmarkScore1000 is the hot-path cost of scoring one answer with 1,000 pointer events
// plus request metadata and IP state (target: <= 100 µs).
func BenchmarkScore1000(b *testing.B) {
	t := &risk.Telemetry{Version: 1, Pointer: session1000(b)}
	h := http.Header{}
	h.Set("Sec-CH-UA", `"Chromium";v="131", "Not_A Brand";v="24"`)
	h.Set("Sec-CH-UA-Platform", `"Windows"`)
	h.Set("Sec-CH-UA-Mobile", "?0")
	h.Set("Sec-Fetch-Site", "cross-site")
	h.Set("Sec-Fetch-Mode", "cors")
	h.Set("Accept-Language", "en-US,en;q=0.9")
	in := risk.Input{
		Stage:     risk.StageAnswer,
		Telemetry: t,
		Request:   risk.Request{UserAgent: chromeWindows, Header: h},
		SolveTime: 6 * time.Second,
		Tasks:     3,
		IP:        risk.IPState{IP1m: 1, IP15m: 3, Subnet1m: 4, Subnet15m: 20},
	}
	risk.Score(in) // load the embedded model outside the timer
	b.ReportAllocs()
	done := benchmetric.CPU(b)
	for b.Loop() {
		risk.Score(in)
	}
	done()
}

// BenchmarkMovementFeatures1000 isolates the kinematic feature extraction.
func BenchmarkMovementFeatures1000(b *testing.B) {
	ev := session1000(b)
	var dst []risk.Features
	b.ReportAllocs()
	done := benchmetric.CPU(b)
	for b.Loop() {
		dst = risk.MovementFeatures(ev, dst[:0])
	}
	done()
	b.ReportMetric(float64(len(dst)), "movements")
}

package challenge_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/benchmetric"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/risk"
	"github.com/crowdgate/crowdgate/shared/risk/botgen"
)

// fixedWindows answers every read with the same 16 minutes of counters: the benchmark
// measures the challenge function's own work, not the table.
type fixedWindows challenge.RiskWindows

func (f fixedWindows) Windows(context.Context, challenge.WindowQuery) (challenge.RiskWindows, error) {
	return challenge.RiskWindows(f), nil
}

// BenchmarkAnswerRiskAssessment is the in-process cost the risk hook adds to an answer:
// parsing a 1,000-event telemetry document as the widget sends it, the window sums, the
// risk library's score and the difficulty decision (the one batch read of the windows is
// not included).
func BenchmarkAnswerRiskAssessment(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	var targets []botgen.Target
	for range 60 {
		targets = append(targets, botgen.Target{Point: botgen.Point{X: 100 + r.Float64()*1200, Y: 100 + r.Float64()*700}, W: 40})
	}
	ev := botgen.Session(r, botgen.HumanLike, botgen.Style{Timing: botgen.Humanish}, botgen.Point{X: 500, Y: 500}, targets)[:1000]
	raw, err := json.Marshal(risk.Telemetry{Version: 1, Pointer: ev})
	if err != nil {
		b.Fatal(err)
	}
	now := t0
	w := challenge.RiskWindows{IP: challenge.Minutes{}, Subnet: challenge.Minutes{}}
	for i := range 16 {
		k := challenge.MinuteOf(now.Add(-time.Duration(i) * time.Minute))
		w.IP[k] = challenge.Counts{Issued: 1, Failed: i % 2}
		w.Subnet[k] = challenge.Counts{Issued: 3, Passed: 2}
	}
	w.Solves = []time.Duration{4 * time.Second, 6 * time.Second, 9 * time.Second}
	hook := &challenge.ScoringHook{Salts: challengetest.NewSalts(), Windows: fixedWindows(w), Now: func() time.Time { return now }}
	h := http.Header{"Sec-Ch-Ua": {`"Chromium";v="131"`}, "Sec-Fetch-Mode": {"cors"}, "Accept-Language": {"en"}}
	ip := net.ParseIP("203.0.113.77")
	ctx := context.Background()
	ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	assess := func(b *testing.B, tel *risk.Telemetry) {
		if _, err := hook.Assess(ctx, challenge.RiskInput{Stage: challenge.RiskAnswer, Telemetry: tel, IP: ip,
			UserAgent: ua, Headers: h, SolveTime: 7 * time.Second, Tasks: 3, Passed: true}); err != nil {
			b.Fatal(err)
		}
	}
	// The whole in-process path: what the widget sends, parsed, then assessed.
	b.Run("parse+assess", func(b *testing.B) {
		b.ReportAllocs()
		done := benchmetric.CPU(b)
		for b.Loop() {
			tel, err := risk.ParseTelemetry(raw)
			if err != nil {
				b.Fatal(err)
			}
			assess(b, &tel)
		}
		done()
		b.ReportMetric(float64(len(raw)), "telemetry-bytes")
	})
	// The hook alone: window sums, the score and the difficulty decision.
	b.Run("assess", func(b *testing.B) {
		tel, err := risk.ParseTelemetry(raw)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		done := benchmetric.CPU(b)
		for b.Loop() {
			assess(b, &tel)
		}
		done()
	})
}

package risk_test

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/crowdgate/crowdgate/shared/risk"
	"github.com/crowdgate/crowdgate/shared/risk/botgen"
	"github.com/crowdgate/crowdgate/shared/risk/sapimouse"
)

// heldOutRecording loads a recording of a person the embedded model was not trained on.
func heldOutRecording(t *testing.T) sapimouse.Recording {
	t.Helper()
	dir, err := sapimouse.Locate()
	if errors.Is(err, sapimouse.ErrNotFound) {
		t.Skipf("human mouse recordings not available (%v); they live in ../shared/datasets/mouse/sapimouse next to the repository", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	users, _ := risk.DefaultModel().Meta["test_users"].([]any)
	if len(users) == 0 {
		t.Fatal("embedded model lists no held-out users")
	}
	user := users[0].(string)
	matches, _ := filepath.Glob(filepath.Join(dir, user+"*", "session_1min.csv"))
	if len(matches) == 0 {
		t.Fatalf("no 1-minute recording for held-out %s in %s", user, dir)
	}
	rec, err := sapimouse.LoadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestHumanRecordingScoresLowAndBotReplayHigh(t *testing.T) {
	rec := heldOutRecording(t)
	in := risk.Input{Stage: risk.StageAnswer, Telemetry: &risk.Telemetry{Version: 1, Pointer: rec.Events},
		Request: browserRequest(chromeWindows)}
	a := risk.Score(in)
	if a.Score >= risk.ReasonThreshold || has(a, risk.ReasonSyntheticPointer) {
		t.Errorf("%s (a person): score %.3f reasons %v parts %v", rec.Session, a.Score, a.Reasons, a.Parts)
	}
	if a.Movements < 20 {
		t.Errorf("%s: only %d movements scored", rec.Session, a.Movements)
	}

	// The same clicks replayed by bots, human-timed and with noise.
	var targets []botgen.Target
	for _, e := range rec.Events {
		if e.Kind == risk.Down {
			targets = append(targets, botgen.Target{Point: botgen.Point{X: e.X, Y: e.Y}, W: 40})
		}
	}
	start := botgen.Point{X: rec.Events[0].X, Y: rec.Events[0].Y}
	r := rand.New(rand.NewPCG(21, 22))
	for _, f := range []botgen.Family{botgen.GhostCursor, botgen.QuadGauss, botgen.HumanLike} {
		ev := botgen.Session(r, f, botgen.Style{Timing: botgen.Humanish, Noise: botgen.Drift}, start, targets)
		in.Telemetry = &risk.Telemetry{Version: 1, Pointer: ev}
		b := risk.Score(in)
		if b.Score < 0.9 || !slices.Contains(b.Reasons, risk.ReasonSyntheticPointer) {
			t.Errorf("%s replaying %s: score %.3f reasons %v", f, rec.Session, b.Score, b.Reasons)
		}
	}
}

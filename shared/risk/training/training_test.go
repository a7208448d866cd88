package training

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/risk"
	"github.com/crowdgate/crowdgate/shared/risk/botgen"
	"github.com/crowdgate/crowdgate/shared/risk/sapimouse"
)

// EnvEval opts in to the slow tests that train on the whole dataset and check the
// published targets; `make test` does not set it.
const EnvEval = "CROWDGATE_RISK_EVAL"

func humans(t *testing.T) []sapimouse.Recording {
	t.Helper()
	dir, err := sapimouse.Locate()
	if errors.Is(err, sapimouse.ErrNotFound) {
		t.Skipf("human mouse recordings not available (%v); they live in ../shared/datasets/mouse/sapimouse next to the repository", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	recs, err := sapimouse.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// smallSet is eight people's one-minute recordings: enough to train on in a second.
func smallSet(t *testing.T) []sapimouse.Recording {
	var out []sapimouse.Recording
	users := map[string]bool{}
	for _, r := range humans(t) {
		if strings.HasSuffix(r.Session, "1min") && len(users) < 8 && !users[r.User] {
			users[r.User] = true
			out = append(out, r)
		}
	}
	return out
}

func TestTrainingIsDeterministic(t *testing.T) {
	recs := smallSet(t)
	train := func(seed uint64) []byte {
		m, rep, err := Train(Options{Recordings: recs, Seed: seed, Rounds: 40, TestFraction: 0.25})
		if err != nil {
			t.Fatal(err)
		}
		if rep.HumanMovements == 0 || rep.BotMovements == 0 || len(rep.TestUsers) != 2 {
			t.Fatalf("report %+v", rep)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := train(3), train(3)
	if !bytes.Equal(a, b) {
		t.Error("two runs with seed 3 produced different models")
	}
	if c := train(4); bytes.Equal(a, c) {
		t.Error("seeds 3 and 4 produced the same model")
	}
	m, err := risk.ParseModel(a)
	if err != nil {
		t.Fatalf("trained model does not load: %v", err)
	}
	// Held-out users are recorded and never trained on.
	if got := modelTestUsers(m); len(got) != 2 {
		t.Errorf("model meta test_users = %v", got)
	}
}

func TestSplitIsByUser(t *testing.T) {
	recs := []sapimouse.Recording{{User: "user1"}, {User: "user2"}, {User: "user35"}, {User: "user35"}, {User: "user4"}}
	train, test := splitUsers(recs, 1, 0.5)
	if len(train)+len(test) != 4 {
		t.Fatalf("train %v test %v: want the 4 distinct users", train, test)
	}
	for _, u := range test {
		for _, v := range train {
			if u == v {
				t.Errorf("%s is in both train and test", u)
			}
		}
	}
}

func TestAUC(t *testing.T) {
	for _, c := range []struct {
		h, b []float64
		want float64
	}{
		{[]float64{0.1, 0.2, 0.3}, []float64{0.4, 0.5}, 1},
		{[]float64{0.4, 0.5}, []float64{0.1, 0.2, 0.3}, 0},
		{[]float64{0.1, 0.2, 0.3}, []float64{0.2}, 0.5},
		{[]float64{0.5, 0.5}, []float64{0.5, 0.5}, 0.5},
		{[]float64{0.1, 0.6}, []float64{0.5, 0.7}, 0.75},
	} {
		if got := AUC(c.h, c.b); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("AUC(%v, %v) = %v, want %v", c.h, c.b, got, c.want)
		}
	}
}

func TestThresholdKeepsFalsePositivesAtOnePercent(t *testing.T) {
	h := make([]float64, 300)
	for i := range h {
		h[i] = float64(i) / 300
	}
	th := thresholdAt(h, TargetFPR)
	if fp := detected(h, th); fp > TargetFPR || fp < TargetFPR-1.0/300 {
		t.Errorf("threshold %v flags %v of humans, want just under %v", th, fp, TargetFPR)
	}
	if d := detected([]float64{th, th + 0.001}, th); d != 0.5 {
		t.Errorf("a bot scoring exactly the threshold counted as detected: %v", d)
	}
}

func writeLines(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sessions.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func botLine(t *testing.T, id string) string {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 1))
	var tg []botgen.Target
	for i := 0; i < 6; i++ {
		tg = append(tg, botgen.Target{Point: botgen.Point{X: 100 + float64(i)*150, Y: 200 + float64(i%2)*300}, W: 40})
	}
	ev := botgen.Session(r, botgen.LinearGauss, botgen.Style{Timing: botgen.BackToBack, Noise: botgen.Clean}, botgen.Point{X: 50, Y: 50}, tg)
	s := SessionLine{ID: id, UA: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		Headers: json.RawMessage(`{"Accept-Language":"en","Sec-Fetch-Mode":"cors","Sec-Fetch-Site":"cross-site"}`)}
	names := map[risk.EventKind]string{risk.Move: "move", risk.Down: "down", risk.Up: "up"}
	for _, e := range ev {
		s.Pointer = append(s.Pointer, PointLine{T: e.T + 5000, X: e.X, Y: e.Y, Type: names[e.Kind]})
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEvalCLIScoresEachSession(t *testing.T) {
	in := writeLines(t,
		botLine(t, "bot-1"),
		`{"id":"quiet","pointer":[],"ua":"python-requests/2.31","headers":{"Accept":["*/*"]}}`,
		`{"id":"bad","pointer":[{"t":1,"x":1,"y":1,"type":"hover"}]}`,
		`not json`,
		``,
		`{"id":"kb","telemetry":{"k":[[100,80],[300,95]],"act":2}}`,
	)
	var out, errOut bytes.Buffer
	if err := RunEvalCLI([]string{"--in", in}, &out, &errOut); err != nil {
		t.Fatalf("RunEvalCLI: %v (%s)", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d result lines, want 5:\n%s", len(lines), out.String())
	}
	var res []ResultLine
	for _, l := range lines {
		var r ResultLine
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("result %q: %v", l, err)
		}
		if r.Reasons == nil {
			t.Errorf("result %q: reasons must be an array", l)
		}
		res = append(res, r)
	}
	if res[0].ID != "bot-1" || res[0].Score < 0.9 || !contains(res[0].Reasons, risk.ReasonSyntheticPointer) {
		t.Errorf("bot session: %+v", res[0])
	}
	if res[1].ID != "quiet" || !contains(res[1].Reasons, risk.ReasonAutomation) {
		t.Errorf("HTTP-library session: %+v", res[1])
	}
	if res[2].ID != "bad" || !strings.Contains(res[2].Error, "hover") {
		t.Errorf("bad pointer type: %+v", res[2])
	}
	if res[3].Error == "" {
		t.Errorf("invalid JSON line: %+v", res[3])
	}
	if res[4].ID != "kb" || res[4].Score != 0 || res[4].Error != "" {
		t.Errorf("keyboard-only telemetry: %+v", res[4])
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestCLIsRefuseMissingArguments(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := RunTrainCLI(nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("train without --out: %v", err)
	}
	if err := RunEvalCLI(nil, &out, &errOut); err == nil {
		t.Error("eval without a mode succeeded")
	}
	if err := RunTrainCLI([]string{"--out", "x", "--families", "nope"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown family: %v", err)
	}
}

// TestPublishedTargets reproduces the numbers in shared/risk/README.md. Opt-in: it trains
// on the whole dataset (and once more per family for leave-one-family-out).
func TestPublishedTargets(t *testing.T) {
	if os.Getenv(EnvEval) == "" {
		t.Skipf("set %s=1 to run the full evaluation", EnvEval)
	}
	recs := humans(t)
	ev, err := Evaluate(EvalOptions{Recordings: recs})
	if err != nil {
		t.Fatal(err)
	}
	if ev.HumanFPR > TargetFPR {
		t.Errorf("human FPR %v at the threshold", ev.HumanFPR)
	}
	for _, f := range ev.Families {
		t.Logf("%-22s %-13s held-out=%-5v AUC %.4f detected %.3f", f.Family, f.Style, f.HeldOut, f.AUC, f.Detected)
		if f.HeldOut {
			if f.Style == "" && f.AUC < 0.95 {
				t.Errorf("held-out %s: AUC %.4f < 0.95", f.Family, f.AUC)
			}
			continue
		}
		if f.Detected < 0.95 {
			t.Errorf("%s %s: detected %.3f at 1%% FPR, want >= 0.95", f.Family, f.Style, f.Detected)
		}
	}
	lofo, err := LeaveOneFamilyOut(Options{Recordings: recs}, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range lofo {
		if r.AUC < 0.95 {
			t.Errorf("leave-one-family-out %s: AUC %.4f < 0.95", r.Family, r.AUC)
		}
	}
}

// TestEmbeddedModelIsReproducible retrains with the defaults and compares with the
// committed model.json, so the documented command provably produces the shipped weights.
func TestEmbeddedModelIsReproducible(t *testing.T) {
	if os.Getenv(EnvEval) == "" {
		t.Skipf("set %s=1 to retrain and compare with shared/risk/model.json", EnvEval)
	}
	recs := humans(t)
	m, _, err := Train(Options{Recordings: recs, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Error("retraining with --seed 1 does not reproduce shared/risk/model.json; run `crowdgate train risk --out shared/risk/model.json`")
	}
}

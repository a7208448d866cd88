package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEvalConsensusPrintsJSONReportLast(t *testing.T) {
	dir := t.TempDir()
	answers := filepath.Join(dir, "answers.csv")
	truth := filepath.Join(dir, "truth.csv")
	// Three reliable workers and one who always says "b": consensus must side with the three.
	var a strings.Builder
	a.WriteString("item,worker,label\n")
	for _, item := range []string{"i1", "i2", "i3", "i4"} {
		want := map[string]string{"i1": "a", "i2": "b", "i3": "a", "i4": "b"}[item]
		for _, w := range []string{"w1", "w2", "w3"} {
			a.WriteString(item + "," + w + "," + want + "\n")
		}
		a.WriteString(item + ",spam,b\n")
	}
	os.WriteFile(answers, []byte(a.String()), 0o644)
	os.WriteFile(truth, []byte("item,label\ni1,a\ni2,b\ni3,a\ni4,b\n"), 0o644)

	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"eval", "consensus", "--answers", answers, "--truth", truth}, &out, &errb, noEnv)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rep struct {
		Accuracy float64 `json:"accuracy"`
		Items    int     `json:"items"`
		Used     float64 `json:"answers_used_fraction"`
		MV       float64 `json:"majority_vote_accuracy"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("last line is not the JSON report: %q", lines[len(lines)-1])
	}
	if rep.Accuracy != 1 || rep.Items != 4 || rep.Used != 1 {
		t.Fatalf("report %+v", rep)
	}
}

func TestEvalRefusesMissingFilesAndUnknownTools(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"eval", "consensus", "--answers", "/nonexistent.csv", "--truth", "/nonexistent.csv"}, &out, &errb, noEnv); code != exitError {
		t.Fatalf("missing files: exit %d", code)
	}
	if !strings.Contains(errb.String(), "nonexistent") {
		t.Fatalf("error does not name the file: %s", errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"eval", "astrology"}, &out, &errb, noEnv); code != exitUsage || !strings.Contains(errb.String(), "eval consensus") {
		t.Fatalf("unknown tool: exit %d, %s", code, errb.String())
	}
}

func noEnv(string) (string, bool) { return "", false }

// README documents `eval consensus … --adaptive`; the help text names it too.
func TestEvalHelpNamesTheAdaptiveFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"help", "eval"}, &out, &errb, noEnv); code != exitOK || !strings.Contains(out.String(), "--adaptive") {
		t.Errorf("help eval: exit %d, %q", code, out.String())
	}
}

// --lofo is a mode of its own (it takes no --bots, and wins over it), not an option of
// --bots; the help text says so, as shared/risk/training does.
func TestEvalHelpShowsLeaveOneFamilyOutAsItsOwnMode(t *testing.T) {
	var out, errb bytes.Buffer
	run(context.Background(), []string{"help", "eval"}, &out, &errb, noEnv)
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "--bots") && strings.Contains(l, "--lofo") {
			t.Errorf("help eval offers --lofo with --bots: %q", l)
		}
	}
	if !strings.Contains(out.String(), "crowdgate eval risk --humans DIR --lofo") {
		t.Errorf("help eval has no --lofo usage line:\n%s", out.String())
	}
}

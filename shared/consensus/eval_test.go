package consensus

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// csvCrowd writes a synthetic crowd as the evaluation's CSV files, with string labels.
func csvCrowd(c simCrowd, names []string) (answers, truth string) {
	var a, t strings.Builder
	a.WriteString("item,worker,label\n")
	for _, x := range c.answers {
		fmt.Fprintf(&a, "%s,%s,%s\n", x.item, x.answer.Answerer, names[x.answer.Label])
	}
	t.WriteString("item,label\n")
	for id, l := range c.truth {
		fmt.Fprintf(&t, "%s,%s\n", id, names[l])
	}
	return a.String(), t.String()
}

func TestEvaluateWithStringLabels(t *testing.T) {
	crowd := newCrowd(7, 3, 300, 9, mixedWorkers(8, 4, 2))
	answers, truth := csvCrowd(crowd, []string{"cat", "dog", "bird"})

	all, err := Evaluate(strings.NewReader(answers), strings.NewReader(truth), EvalOptions{UseAll: true})
	if err != nil {
		t.Fatal(err)
	}
	if all.Items != 300 || all.Classes != 3 || all.AnswersUsedFraction != 1 || all.Answers != len(crowd.answers) {
		t.Errorf("every answer: %+v, want 300 items, 3 classes, all %d answers used", all, len(crowd.answers))
	}
	if all.Accuracy < 0.97 || all.Accuracy <= all.MajorityVoteAccuracy {
		t.Errorf("accuracy %.3f, majority vote %.3f: want >= 0.97 and above majority vote", all.Accuracy, all.MajorityVoteAccuracy)
	}
	if mv := majorityAccuracy(crowd); math.Abs(all.MajorityVoteAccuracy-mv) > 1e-9 {
		t.Errorf("majority vote accuracy %.4f, want %.4f", all.MajorityVoteAccuracy, mv)
	}

	bounded, err := Evaluate(strings.NewReader(answers), strings.NewReader(truth), EvalOptions{Min: 2, Max: 5, Target: 0.99})
	if err != nil {
		t.Fatal(err)
	}
	if bounded.AnswersUsed > 5*300 || bounded.AnswersUsed < 2*300 {
		t.Errorf("%d answers used, want between min and max per item (600..1500)", bounded.AnswersUsed)
	}
}

func TestEvaluateDefaultStoppingSavesAnswers(t *testing.T) {
	// A crowd of mostly reliable answerers: the default rule stops once items are clear.
	crowd := newCrowd(9, 3, 600, 9, mixedWorkers(10, 3, 0))
	answers, truth := csvCrowd(crowd, []string{"a", "b", "c"})
	all, err := Evaluate(strings.NewReader(answers), strings.NewReader(truth), EvalOptions{UseAll: true})
	if err != nil {
		t.Fatal(err)
	}
	adaptive, err := Evaluate(strings.NewReader(answers), strings.NewReader(truth), EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if adaptive.AnswersUsedFraction > 0.85 || adaptive.Accuracy < all.Accuracy-0.02 || adaptive.Accuracy <= all.MajorityVoteAccuracy {
		t.Errorf("defaults: accuracy %.3f with %.2f of the answers, want within 2 points of %.3f, above majority vote over every answer (%.3f), with at most 85%%",
			adaptive.Accuracy, adaptive.AnswersUsedFraction, all.Accuracy, all.MajorityVoteAccuracy)
	}
}

func TestEvaluateBudgetDefaultsToTheFilesOverlap(t *testing.T) {
	// Three answers per item from reliable answerers: the default budget is the file's
	// overlap (3), so two agreeing answers settle most items; told that up to 10 answers
	// may come, the rule waits for the third on almost every item.
	crowd := newCrowd(5, 2, 400, 3, mixedWorkers(12, 0, 0))
	answers, truth := csvCrowd(crowd, []string{"no", "yes"})
	overlap, err := Evaluate(strings.NewReader(answers), strings.NewReader(truth), EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wide, err := Evaluate(strings.NewReader(answers), strings.NewReader(truth), EvalOptions{Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	if overlap.Max != 3 || wide.Max != 10 {
		t.Fatalf("budgets %d and %d, want the overlap 3 and the given 10", overlap.Max, wide.Max)
	}
	if overlap.AnswersUsedFraction > 0.8 || wide.AnswersUsedFraction < 0.95 {
		t.Errorf("answers used: %.3f with the overlap as budget (want <= 0.8), %.3f with max 10 (want >= 0.95)",
			overlap.AnswersUsedFraction, wide.AnswersUsedFraction)
	}
	if overlap.Accuracy < wide.Accuracy-0.02 {
		t.Errorf("accuracy %.3f with the overlap as budget, %.3f with every answer: want within 2 points", overlap.Accuracy, wide.Accuracy)
	}
}

func TestEvaluateScoresOnlyItemsWithTruthAndAnswers(t *testing.T) {
	answers := "worker,item,label,extra\n" + // columns found by name
		"w1,a,yes,x\nw2,a,yes,x\nw1,b,no,x\nw2,b,no,x\nw1,c,no,x\n"
	truth := "item,label\na,yes\nb,yes\nz,no\n"
	rep, err := Evaluate(strings.NewReader(answers), strings.NewReader(truth), EvalOptions{UseAll: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items != 2 || rep.Accuracy != 0.5 || rep.Answers != 5 {
		t.Errorf("%+v, want 2 scored items (a right, b wrong) out of 5 answers", rep)
	}
}

func TestEvaluateRejectsBadInput(t *testing.T) {
	good := "item,worker,label\na,w1,x\na,w2,y\n"
	truth := "item,label\na,x\n"
	for _, tc := range []struct{ name, answers, truth string }{
		{"empty answers file", "", truth},
		{"header without worker", "item,label\na,x\n", truth},
		{"no answers", "item,worker,label\n", truth},
		{"empty label", "item,worker,label\na,w1,\n", truth},
		{"short row", "item,worker,label\na,w1\n", truth},
		{"truth without label column", good, "item,answer\na,x\n"},
		{"item with two truths", good, "item,label\na,x\na,y\n"},
		{"one class", "item,worker,label\na,w1,x\n", "item,label\na,x\n"},
		{"eleven classes", "item,worker,label\n" + func() string {
			var b strings.Builder
			for i := range 11 {
				fmt.Fprintf(&b, "a,w%d,l%d\n", i, i)
			}
			return b.String()
		}(), truth},
		{"no truth for answered items", good, "item,label\nb,x\n"},
		{"bad quoting", "item,worker,label\n\"a,w1,x\n", truth},
	} {
		if _, err := Evaluate(strings.NewReader(tc.answers), strings.NewReader(tc.truth), EvalOptions{UseAll: true}); !errors.Is(err, ErrInput) {
			t.Errorf("%s: %v, want ErrInput", tc.name, err)
		}
	}
	if _, err := Evaluate(strings.NewReader(good), strings.NewReader(truth), EvalOptions{Min: 4, Max: 2}); !errors.Is(err, ErrParams) {
		t.Errorf("max below min: %v, want ErrParams", err)
	}
}

func TestRunEvalCLI(t *testing.T) {
	dir := t.TempDir()
	crowd := newCrowd(8, 2, 200, 7, mixedWorkers(6, 2, 1))
	answers, truth := csvCrowd(crowd, []string{"0", "1"})
	ap, tp := filepath.Join(dir, "answers.csv"), filepath.Join(dir, "truth.csv")
	if err := os.WriteFile(ap, []byte(answers), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tp, []byte(truth), 0o600); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (map[string]float64, error) {
		var out, errOut bytes.Buffer
		err := RunEvalCLI(args, &out, &errOut)
		if err != nil {
			return nil, err
		}
		lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
		var rep map[string]float64
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
			t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
		}
		for _, key := range []string{"accuracy", "items", "answers_used_fraction", "majority_vote_accuracy"} {
			if _, ok := rep[key]; !ok {
				t.Errorf("report lacks %q: %v", key, rep)
			}
		}
		return rep, nil
	}

	all, err := run("eval", "consensus", "--answers", ap, "--truth", tp)
	if err != nil {
		t.Fatal(err)
	}
	if all["answers_used_fraction"] != 1 || all["items"] != 200 || all["accuracy"] < 0.95 {
		t.Errorf("every answer: %v", all)
	}
	adaptive, err := run("--answers", ap, "--truth", tp, "--max", "3")
	if err != nil {
		t.Fatal(err)
	}
	if adaptive["answers_used_fraction"] > 3.0/7 {
		t.Errorf("--max 3: used %.3f of the answers, want at most 3 of 7", adaptive["answers_used_fraction"])
	}

	if off, err := run("--answers", ap, "--truth", tp, "--adaptive=false"); err != nil || off["answers_used_fraction"] != 1 {
		t.Errorf("--adaptive=false: %v %v, want every answer used", off, err)
	}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no truth", []string{"--answers", ap}},
		{"missing file", []string{"--answers", filepath.Join(dir, "nope.csv"), "--truth", tp}},
		{"bad min", []string{"--answers", ap, "--truth", tp, "--min", "0"}},
		{"max below min", []string{"--answers", ap, "--truth", tp, "--min", "5", "--max", "2"}},
		{"not a number", []string{"--answers", ap, "--truth", tp, "--target", "high"}},
		{"unknown flag", []string{"--answers", ap, "--truth", tp, "--bogus"}},
		{"stray argument", []string{"--answers", ap, "--truth", tp, "extra"}},
		{"truth file swapped in", []string{"--answers", tp, "--truth", tp}},
	} {
		if _, err := run(tc.args...); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if _, err := run("-h"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

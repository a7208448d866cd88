package consensus

import (
	"bufio"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// EvalOptions is the stopping rule an evaluation replays. Zero Min or Target mean the
// defaults (DefaultMin, DefaultTarget); zero Max means the most answers any item has in
// the file (a worker's repeats not counted; at least Min), the answer budget the data was
// collected with. UseAll ignores them and applies every answer.
type EvalOptions struct {
	Min    int
	Max    int
	Target float64
	UseAll bool
	// Model overrides the model priors (zero fields keep their defaults); its Classes, Min,
	// Max and Target are ignored.
	Model Params
}

// Report is the outcome of an evaluation.
type Report struct {
	// Accuracy is over the items that have a truth label and at least one answer, after the
	// final re-estimation pass.
	Accuracy float64 `json:"accuracy"`
	// Items is the number of items Accuracy is over.
	Items int `json:"items"`
	// AnswersUsedFraction is the share of the file's answers that were applied (answers to
	// done items are not).
	AnswersUsedFraction float64 `json:"answers_used_fraction"`
	// MajorityVoteAccuracy is plain majority vote over the same applied answers, for
	// comparison; a tie scores as if broken at random (its expected accuracy).
	MajorityVoteAccuracy float64 `json:"majority_vote_accuracy"`
	// OnlineAccuracy is the accuracy of the online labels before the final pass.
	OnlineAccuracy float64 `json:"online_accuracy"`
	Classes        int     `json:"classes"`
	Answers        int     `json:"answers"`
	AnswersUsed    int     `json:"answers_used"`
	// Max is the answer budget per item the stopping rule used (0 when every answer was
	// applied).
	Max int `json:"max,omitempty"`
}

// ErrInput reports a malformed answers or truth file.
var ErrInput = errors.New("consensus: bad input")

// Evaluate replays answers (CSV `item,worker,label`, in file order = arrival order) one at a
// time through Update, exactly as the answers-queue consumer applies them (so with a
// stopping rule, answers to done items are not used), then runs the final Reestimate the
// scheduled job runs, and scores the labels against truth (CSV `item,label`). Labels are
// arbitrary strings; the classes are every label seen in either file.
func Evaluate(answers io.Reader, truth io.Reader, opts EvalOptions) (Report, error) {
	rows, err := readCSV(answers, "answers", "item", "worker", "label")
	if err != nil {
		return Report{}, err
	}
	truthRows, err := readCSV(truth, "truth", "item", "label")
	if err != nil {
		return Report{}, err
	}
	if len(rows) == 0 {
		return Report{}, fmt.Errorf("%w: answers: no answers", ErrInput)
	}

	truthOf := make(map[string]string, len(truthRows))
	for _, r := range truthRows {
		if prev, ok := truthOf[r.fields[0]]; ok && prev != r.fields[1] {
			return Report{}, fmt.Errorf("%w: truth line %d: item %q has two labels (%q, %q)", ErrInput, r.line, r.fields[0], prev, r.fields[1])
		}
		truthOf[r.fields[0]] = r.fields[1]
	}
	names := classNames(rows, truthRows)
	k := len(names)
	if k < MinClasses || k > MaxClasses {
		return Report{}, fmt.Errorf("%w: %d distinct labels %q (want %d-%d)", ErrInput, k, names, MinClasses, MaxClasses)
	}
	class := make(map[string]int, k)
	for i, n := range names {
		class[n] = i
	}

	p := opts.Model
	p.Classes, p.Min, p.Max, p.Target = k, opts.Min, opts.Max, opts.Target
	switch {
	case opts.UseAll:
		// Never complete early and never cap: every answer is applied.
		p.Min, p.Max, p.Target = 1, len(rows), 2
	case p.Max == 0:
		// Min's default is resolved here already, or a file of one answer per item would get
		// a budget below it.
		p.Max = max(overlap(rows), p.withDefaults().Min)
	}
	p, err = p.Validate()
	if err != nil {
		return Report{}, err
	}

	job := NewJob(k)
	var items []ItemState
	var answerers []AnswererState
	itemIdx := map[string]int{}
	workerIdx := map[string]int{}
	mv := map[string]voteCount{}
	used := 0
	for i, r := range rows {
		id, worker, label := r.fields[0], r.fields[1], class[r.fields[2]]
		ii, ok := itemIdx[id]
		if !ok {
			ii = len(items)
			itemIdx[id] = ii
			items = append(items, NewItem(id, k))
		}
		wi, ok := workerIdx[worker]
		if !ok {
			wi = len(answerers)
			workerIdx[worker] = wi
			answerers = append(answerers, NewAnswerer(worker, k))
		}
		eff, err := p.Update(&job, &items[ii], &answerers[wi], Answer{ID: strconv.Itoa(i), Answerer: worker, Label: label})
		if err != nil {
			return Report{}, fmt.Errorf("answers line %d: %w", r.line, err)
		}
		if eff.Outcome != Applied {
			continue
		}
		used++
		for _, c := range eff.Credits {
			if err := answerers[workerIdx[c.Answerer]].Apply(c); err != nil {
				return Report{}, fmt.Errorf("answers line %d: %w", r.line, err)
			}
		}
		if err := job.Apply(eff.ClassDelta); err != nil {
			return Report{}, fmt.Errorf("answers line %d: %w", r.line, err)
		}
		if err := job.AddConfusion(eff.ConfusionDelta); err != nil {
			return Report{}, fmt.Errorf("answers line %d: %w", r.line, err)
		}
		if mv[id] == nil {
			mv[id] = make(voteCount, k)
		}
		mv[id][label]++
	}

	rep := Report{Classes: k, Answers: len(rows), AnswersUsed: used, AnswersUsedFraction: float64(used) / float64(len(rows))}
	if !opts.UseAll {
		rep.Max = p.Max
	}
	// The final pass: what the scheduled job runs over the job's items.
	est, err := p.Reestimate(job, items, answerers)
	if err != nil {
		return Report{}, fmt.Errorf("final re-estimation: %w", err)
	}
	var right, onlineRight int
	var mvRight float64
	for i, it := range est.Items { // in the order of items; Reestimate left items as they were
		want, ok := truthOf[it.Item]
		if !ok || len(it.Answers) == 0 {
			continue
		}
		rep.Items++
		c := class[want]
		if it.Label == c {
			right++
		}
		if items[i].Label == c {
			onlineRight++
		}
		mvRight += mv[it.Item].credit(c)
	}
	if rep.Items == 0 {
		return Report{}, fmt.Errorf("%w: no answered item has a truth label", ErrInput)
	}
	n := float64(rep.Items)
	rep.Accuracy = float64(right) / n
	rep.OnlineAccuracy = float64(onlineRight) / n
	rep.MajorityVoteAccuracy = mvRight / n
	return rep, nil
}

// overlap is the most answers any one item has: the answer budget per item the data was
// collected with. A worker's repeated answer to an item is not counted: Update never
// applies it (Repeat).
func overlap(rows []csvRow) int {
	per := map[string]int{}
	seen := map[[2]string]bool{}
	most := 0
	for _, r := range rows {
		key := [2]string{r.fields[0], r.fields[1]}
		if seen[key] {
			continue
		}
		seen[key] = true
		per[r.fields[0]]++
		most = max(most, per[r.fields[0]])
	}
	return most
}

// voteCount is a plain majority vote.
type voteCount []int

// credit is the expected score of majority vote with ties broken at random: 1/n when the
// truth is one of n tied top labels.
func (v voteCount) credit(truth int) float64 {
	top := slices.Max(v)
	if v[truth] != top {
		return 0
	}
	n := 0
	for _, x := range v {
		if x == top {
			n++
		}
	}
	return 1 / float64(n)
}

type csvRow struct {
	line   int
	fields []string
}

// readCSV reads a CSV with a header naming at least cols (any order, extra columns
// ignored) and returns those columns per row, trimmed and non-empty.
func readCSV(r io.Reader, what string, cols ...string) ([]csvRow, error) {
	// Drop a byte-order mark before the CSV reader sees it: in front of a quoted header it
	// is a bare quote error.
	br := bufio.NewReader(r)
	bom, err := br.Peek(3)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s: %w", ErrInput, what, err)
	}
	if string(bom) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %s: empty file, want header %q", ErrInput, what, strings.Join(cols, ","))
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrInput, what, err)
	}
	pos := make([]int, len(cols))
	for i, c := range cols {
		pos[i] = slices.IndexFunc(head, func(h string) bool {
			return strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")), c)
		})
		if pos[i] < 0 {
			return nil, fmt.Errorf("%w: %s: header %q lacks column %q (want %q)", ErrInput, what, strings.Join(head, ","), c, strings.Join(cols, ","))
		}
	}
	var out []csvRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInput, what, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		row := csvRow{line: line, fields: make([]string, len(cols))}
		for i, p := range pos {
			if p >= len(rec) || strings.TrimSpace(rec[p]) == "" {
				return nil, fmt.Errorf("%w: %s line %d: empty %q", ErrInput, what, line, cols[i])
			}
			row.fields[i] = strings.TrimSpace(rec[p])
		}
		out = append(out, row)
	}
}

// classNames lists the distinct labels of both files, numerically when they are all
// numbers, else lexically.
func classNames(answers, truth []csvRow) []string {
	set := map[string]bool{}
	for _, r := range answers {
		set[r.fields[2]] = true
	}
	for _, r := range truth {
		set[r.fields[1]] = true
	}
	names := make([]string, 0, len(set))
	numeric := true
	for n := range set {
		names = append(names, n)
		if _, err := strconv.ParseFloat(n, 64); err != nil {
			numeric = false
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		if numeric {
			x, _ := strconv.ParseFloat(a, 64)
			y, _ := strconv.ParseFloat(b, 64)
			if c := cmp.Compare(x, y); c != 0 {
				return c
			}
		}
		return cmp.Compare(a, b)
	})
	return names
}

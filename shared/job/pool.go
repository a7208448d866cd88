package job

import (
	"context"
	crand "crypto/rand"
	"errors"
	"math/rand/v2"
	"slices"
)

// ErrNoMaterial means no active job can supply a task as requested (not enough gold of a
// class, no job of the kind). Challenges cannot be issued until a job is added.
var ErrNoMaterial = errors.New("job: no active job can supply this task")

// Request asks a Pool for the items of one task. The items are asked about one class: an
// item's correct answer is "yes" (select it) when its gold label is that class.
type Request struct {
	// Kinds are the acceptable job kinds.
	Kinds []Kind
	// Size is how many items the task shows; at most MaxOpen of them are open (unlabeled),
	// the rest gold.
	Size    int
	MaxOpen int
	// MinTrue and MinFalse are how many gold items at least must, and must not, show the
	// class. Between them the number of gold items that show the class is uniformly random.
	MinTrue, MinFalse int
	// Exclude holds Item.Key()s already shown in the same challenge.
	Exclude map[string]bool
	// Rand drives every choice; nil uses a randomly seeded ChaCha8.
	Rand *rand.Rand
}

// Draw is the answer to a Request.
type Draw struct {
	Job   Job
	Class string
	Gold  []Item
	Open  []Item
}

// Pool draws items for challenges from ACTIVE jobs, weighted by priority.
type Pool interface {
	Draw(ctx context.Context, req Request) (Draw, error)
}

// Stock is an active job with (a sample of) its gold and open items.
type Stock struct {
	Job  Job
	Gold []Item
	Open []Item
}

// Catalog is an immutable, in-memory Pool over a set of stocks. Stores load one
// periodically (see dynamo.Pool); tests and benchmarks use it directly.
type Catalog struct {
	entries []entry
}

type entry struct {
	job  Job
	gold []Item
	open []Item
	// pos and neg index gold by class: gold items that do / do not show the class.
	pos, neg map[string][]int
	// goldAt finds a gold item's index by its Key, so a draw turns a challenge's few
	// exclusions into indexes once instead of building every gold item's key per class.
	goldAt map[string]int
}

var _ Pool = (*Catalog)(nil)

// NewCatalog keeps the active jobs of stocks, their gold items (labelled with one of the
// job's classes) and their open items that still want answers.
func NewCatalog(stocks []Stock) *Catalog {
	c := &Catalog{}
	for _, s := range stocks {
		if s.Job.Status != StatusActive {
			continue
		}
		e := entry{job: s.Job, pos: map[string][]int{}, neg: map[string][]int{}, goldAt: map[string]int{}}
		for _, it := range s.Gold {
			if it.Gold && s.Job.HasClass(it.GoldLabel) {
				e.goldAt[it.Key()] = len(e.gold)
				e.gold = append(e.gold, it)
			}
		}
		for _, it := range s.Open {
			if !it.Gold && it.Status == ItemOpen && (s.Job.MaxAnswers == 0 || it.AnswerCount < s.Job.MaxAnswers) {
				e.open = append(e.open, it)
			}
		}
		for _, class := range askable(s.Job) {
			for i, it := range e.gold {
				if it.GoldLabel == class {
					e.pos[class] = append(e.pos[class], i)
				} else {
					e.neg[class] = append(e.neg[class], i)
				}
			}
		}
		c.entries = append(c.entries, e)
	}
	return c
}

// askable lists the classes a job's questions can name: binary jobs always ask the one
// question (is it "yes"?), the others ask about any class.
func askable(j Job) []string {
	if j.Kind == KindBinary {
		return j.Classes[:1]
	}
	return j.Classes
}

// Len is the number of active jobs in the catalog.
func (c *Catalog) Len() int { return len(c.entries) }

// Draw picks a job among those of the requested kinds that can supply the task, with
// probability proportional to priority, then a class, and random items. A task that may
// carry open items is drawn from the jobs that still need answers while any can supply
// it: a job whose items are all labeled would only spend the visitor's effort on gold.
// Jobs without open items serve when none of those can (the challenge still needs gold).
func (c *Catalog) Draw(_ context.Context, req Request) (Draw, error) {
	rng := req.Rand
	if rng == nil {
		rng = rand.New(rand.NewChaCha8(seed()))
	}
	var needing, rest []int
	for i := range c.entries {
		e := &c.entries[i]
		switch {
		case !slices.Contains(req.Kinds, e.job.Kind) || !e.mayServe(req):
		case req.MaxOpen > 0 && len(e.open) > 0:
			needing = append(needing, i)
		default:
			rest = append(rest, i)
		}
	}
	if d, ok := c.drawFrom(needing, req, rng); ok {
		return d, nil
	}
	if d, ok := c.drawFrom(rest, req, rng); ok {
		return d, nil
	}
	return Draw{}, ErrNoMaterial
}

// drawFrom draws from the candidate entries with probability proportional to priority.
func (c *Catalog) drawFrom(cands []int, req Request, rng *rand.Rand) (Draw, bool) {
	// A candidate can still fail once the challenge's exclusions are applied; drop it and
	// draw again.
	for len(cands) > 0 {
		total := 0
		for _, i := range cands {
			total += max(c.entries[i].job.Priority, 1)
		}
		r := rng.IntN(total)
		pick := 0
		for k, i := range cands {
			r -= max(c.entries[i].job.Priority, 1)
			if r < 0 {
				pick = k
				break
			}
		}
		if d, ok := c.entries[cands[pick]].draw(req, rng); ok {
			return d, true
		}
		cands = slices.Delete(cands, pick, pick+1)
	}
	return Draw{}, false
}

// mayServe is a quick feasibility check that ignores exclusions.
func (e *entry) mayServe(req Request) bool {
	gold := req.Size - min(req.MaxOpen, len(e.open))
	for _, class := range askable(e.job) {
		if _, _, ok := kRange(len(e.pos[class]), len(e.neg[class]), gold, req); ok {
			return true
		}
	}
	return false
}

// kRange is the range of gold items showing the class that a task with gold items can
// have, given pos and neg available items.
func kRange(pos, neg, gold int, req Request) (lo, hi int, ok bool) {
	if gold < 0 {
		return 0, 0, false
	}
	lo = max(req.MinTrue, gold-neg)
	hi = min(pos, gold-req.MinFalse)
	return lo, hi, lo <= hi
}

func (e *entry) draw(req Request, rng *rand.Rand) (Draw, bool) {
	var open []Item
	if req.MaxOpen > 0 {
		open = pick(e.open, nil, req.MaxOpen, req.Exclude, rng)
	}
	gold := req.Size - len(open)
	lo, hi := req.MinTrue, gold-req.MinFalse
	if gold < 0 || lo > hi {
		return Draw{}, false
	}
	classes := askable(e.job)
	excluded := e.excludedGold(req.Exclude)
	pos := make([][]int, len(classes))
	neg := make([][]int, len(classes))
	for i, c := range classes {
		pos[i] = without(e.pos[c], excluded)
		neg[i] = without(e.neg[c], excluded)
	}
	build := func(c, k int) Draw {
		d := Draw{Job: e.job, Class: classes[c], Open: open}
		d.Gold = append(pick(e.gold, pos[c], k, nil, rng), pick(e.gold, neg[c], gold-k, nil, rng)...)
		return d
	}
	// A bot reads the question, so k (gold items showing the class) must be uniform for
	// the class asked: a class that can show every k from lo to hi is asked, with k drawn
	// uniformly. A class with less gold would always show the few it can.
	var full []int
	for i := range classes {
		if len(pos[i]) >= hi && len(neg[i]) >= gold-lo {
			full = append(full, i)
		}
	}
	if len(full) > 0 {
		return build(full[rng.IntN(len(full))], lo+rng.IntN(hi-lo+1)), true
	}
	// No class can (a job with little gold; docs/API.md says what that costs): k is drawn
	// first, uniformly, and only then a class that can supply it, so k leans as little as
	// the job allows. If no class can supply k, another k is tried.
	ks := make([]int, 0, hi-lo+1)
	for k := lo; k <= hi; k++ {
		ks = append(ks, k)
	}
	rng.Shuffle(len(ks), func(i, j int) { ks[i], ks[j] = ks[j], ks[i] })
	fits := make([]int, 0, len(classes))
	for _, k := range ks {
		fits = fits[:0]
		for i := range classes {
			if len(pos[i]) >= k && len(neg[i]) >= gold-k {
				fits = append(fits, i)
			}
		}
		if len(fits) == 0 {
			continue
		}
		return build(fits[rng.IntN(len(fits))], k), true
	}
	return Draw{}, false
}

// without returns the indexes that are not excluded.
func without(idx []int, excluded []bool) []int {
	if excluded == nil {
		return idx
	}
	out := make([]int, 0, len(idx))
	for _, i := range idx {
		if !excluded[i] {
			out = append(out, i)
		}
	}
	return out
}

// excludedGold marks the entry's gold items that exclude names (nil: none).
func (e *entry) excludedGold(exclude map[string]bool) []bool {
	var out []bool
	for k, ex := range exclude {
		if i, ok := e.goldAt[k]; ok && ex {
			if out == nil {
				out = make([]bool, len(e.gold))
			}
			out[i] = true
		}
	}
	return out
}

// pick returns n random distinct items (fewer if there are not enough) from items, or from
// items[idx...] when idx is not nil, skipping excluded keys.
func pick(items []Item, idx []int, n int, exclude map[string]bool, rng *rand.Rand) []Item {
	if idx == nil {
		idx = make([]int, len(items))
		for i := range idx {
			idx[i] = i
		}
	} else {
		idx = slices.Clone(idx)
	}
	out := make([]Item, 0, n)
	// Partial Fisher-Yates: only as many swaps as items taken (plus skipped ones).
	for i := 0; i < len(idx) && len(out) < n; i++ {
		j := i + rng.IntN(len(idx)-i)
		idx[i], idx[j] = idx[j], idx[i]
		it := items[idx[i]]
		if exclude[it.Key()] {
			continue
		}
		out = append(out, it)
	}
	return out
}

func seed() [32]byte {
	var s [32]byte
	_, _ = crand.Read(s[:]) // never fails (crypto/rand panics instead)
	return s
}

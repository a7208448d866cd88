package job_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/job"
)

func gridJob(id string, priority int) job.Job {
	return job.Job{
		ID: id, CustomerID: "cust", Name: "Shapes", Kind: job.KindImageGrid,
		Question: map[string]string{"en": "Select every image that shows a {class}", "es": "Seleccione cada imagen con: {class}"},
		Classes:  []string{"circle", "square", "star"}, ClassNames: map[string][]string{"es": {"círculo", "cuadrado", "estrella"}},
		Priority: priority, Status: job.StatusActive, MinAnswers: 1, MaxAnswers: 3,
	}
}

func TestValidateAcceptsGoodJobsAndNamesTheProblem(t *testing.T) {
	ok := []job.Job{
		gridJob("shapes", 5),
		job.Job{ID: "s1", Kind: job.KindBinary, Question: map[string]string{"en": "Is this positive?"}}.Normalize(),
		{ID: "mc", Kind: job.KindMultipleChoice, Question: map[string]string{"en": "Does it show a {class}?"}, Classes: []string{"a", "b"}, Priority: 1, Status: job.StatusPaused, MinAnswers: 1, MaxAnswers: 1},
		job.Job{ID: "it", Kind: job.KindBinary, Question: map[string]string{"en": "Is this positive?"}, ItemLang: "pt-BR"}.Normalize(),
		job.Job{ID: "ar", Kind: job.KindBinary, Question: map[string]string{"en": "Is this positive?"}, ItemLang: "ar"}.Normalize(),
	}
	for _, j := range ok {
		if err := j.Validate(); err != nil {
			t.Errorf("%s: %v", j.ID, err)
		}
	}
	bad := map[string]func(*job.Job){
		"id with slash":          func(j *job.Job) { j.ID = "a/b" },
		"empty id":               func(j *job.Job) { j.ID = "" },
		"unknown kind":           func(j *job.Job) { j.Kind = "boxes" },
		"no english question":    func(j *job.Job) { delete(j.Question, "en") },
		"unknown locale":         func(j *job.Job) { j.Question["it"] = "{class}" },
		"grid without {class}":   func(j *job.Job) { j.Question["es"] = "Seleccione" },
		"one class":              func(j *job.Job) { j.Classes = []string{"circle"} },
		"duplicate class":        func(j *job.Job) { j.Classes = []string{"a", "a"} },
		"class names mismatched": func(j *job.Job) { j.ClassNames["es"] = []string{"x"} },
		"priority 0":             func(j *job.Job) { j.Priority = 0 },
		"priority too high":      func(j *job.Job) { j.Priority = 1001 },
		"unknown status":         func(j *job.Job) { j.Status = "running" },
		"max below min":          func(j *job.Job) { j.MinAnswers, j.MaxAnswers = 3, 2 },
		"max above the limit":    func(j *job.Job) { j.MaxAnswers = job.MaxAnswersLimit + 1 },
		"target above 1":         func(j *job.Job) { j.Target = 1.5 },
		// ItemLang: a well-formed, known BCP 47 tag, stored in its canonical form.
		"item lang a word":        func(j *job.Job) { j.ItemLang = "german" },
		"item lang unknown":       func(j *job.Job) { j.ItemLang = "zz" },
		"item lang undetermined":  func(j *job.Job) { j.ItemLang = "und" },
		"item lang private only":  func(j *job.Job) { j.ItemLang = "x-klingon" },
		"item lang not canonical": func(j *job.Job) { j.ItemLang = "pt-br" },
		"item lang with a space":  func(j *job.Job) { j.ItemLang = "de " },
		"item lang trailing dash": func(j *job.Job) { j.ItemLang = "de-" },
		"item lang markup":        func(j *job.Job) { j.ItemLang = `de" onclick="x` },
		"item lang over 35 chars": func(j *job.Job) { j.ItemLang = "de-DE-1901-1996-" + strings.Repeat("a", 20) },
	}
	for name, mutate := range bad {
		j := gridJob("shapes", 1)
		j.Question = map[string]string{"en": j.Question["en"], "es": j.Question["es"]}
		j.ClassNames = map[string][]string{"es": j.ClassNames["es"]}
		mutate(&j)
		if err := j.Validate(); !errors.Is(err, job.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	binaryWithOtherClasses := job.Job{ID: "b", Kind: job.KindBinary, Question: map[string]string{"en": "?"}, Classes: []string{"pos", "neg"}}.Normalize()
	if err := binaryWithOtherClasses.Validate(); !errors.Is(err, job.ErrInvalid) {
		t.Errorf("binary job with other classes: %v", err)
	}
}

func TestValidateItem(t *testing.T) {
	j := gridJob("shapes", 1)
	good := job.Item{JobID: "shapes", ID: "i1", MediaKey: "m/i1.png", Gold: true, GoldLabel: "star", Status: job.ItemDone}
	if err := j.ValidateItem(good); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*job.Item){
		"other job":          func(it *job.Item) { it.JobID = "x" },
		"text in grid job":   func(it *job.Item) { it.MediaKey, it.Text = "", "hello" },
		"both media & text":  func(it *job.Item) { it.Text = "hello" },
		"gold without label": func(it *job.Item) { it.GoldLabel = "" },
		"label without gold": func(it *job.Item) { it.Gold = false },
		"label not a class":  func(it *job.Item) { it.GoldLabel = "hexagon" },
		"unknown status":     func(it *job.Item) { it.Status = "" },
	}
	for name, mutate := range bad {
		it := good
		mutate(&it)
		if err := j.ValidateItem(it); !errors.Is(err, job.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestQuestionForUsesLocaleAndClassNamesWithEnglishFallback(t *testing.T) {
	j := gridJob("shapes", 1)
	if got := j.QuestionFor("es", "star"); got != "Seleccione cada imagen con: estrella" {
		t.Errorf("es: %q", got)
	}
	if got := j.QuestionFor("de", "star"); got != "Select every image that shows a star" {
		t.Errorf("de falls back to en: %q", got)
	}
	b := job.Job{Kind: job.KindBinary, Question: map[string]string{"en": "Is this positive?"}, Classes: []string{"yes", "no"}}
	if got := b.QuestionFor("fr", "yes"); got != "Is this positive?" {
		t.Errorf("binary: %q", got)
	}
}

// stock builds a job with gold items per class and open items.
func stock(j job.Job, goldPerClass, open int) job.Stock {
	s := job.Stock{Job: j}
	for _, c := range j.Classes {
		for i := range goldPerClass {
			s.Gold = append(s.Gold, job.Item{JobID: j.ID, ID: fmt.Sprintf("g-%s-%d", c, i), MediaKey: "k", Gold: true, GoldLabel: c, Status: job.ItemDone})
		}
	}
	for i := range open {
		s.Open = append(s.Open, job.Item{JobID: j.ID, ID: fmt.Sprintf("o-%d", i), MediaKey: "k", Status: job.ItemOpen})
	}
	return s
}

var grid = job.Request{Kinds: []job.Kind{job.KindImageGrid}, Size: 9, MaxOpen: 3, MinTrue: 2, MinFalse: 2}

func TestDrawMixesGoldOfOneClassWithOpenItems(t *testing.T) {
	cat := job.NewCatalog([]job.Stock{stock(gridJob("shapes", 1), 10, 10)})
	rng := rand.New(rand.NewPCG(7, 7))
	counts := map[int]int{}
	for range 3000 {
		req := grid
		req.Rand = rng
		d, err := cat.Draw(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Open) != 3 || len(d.Gold) != 6 || !d.Job.HasClass(d.Class) {
			t.Fatalf("draw: %d open, %d gold, class %q", len(d.Open), len(d.Gold), d.Class)
		}
		yes, seen := 0, map[string]bool{}
		for _, it := range append(d.Gold, d.Open...) {
			if seen[it.ID] {
				t.Fatalf("item %s twice", it.ID)
			}
			seen[it.ID] = true
			if it.Gold && it.GoldLabel == d.Class {
				yes++
			}
		}
		counts[yes]++
	}
	// k (gold tiles showing the class) is uniform over 2..4, which the security argument in
	// package challenge assumes.
	for k := 2; k <= 4; k++ {
		if counts[k] < 900 || counts[k] > 1100 {
			t.Errorf("k=%d drawn %d of 3000 times, want about 1000 (%v)", k, counts[k], counts)
		}
	}
	if len(counts) != 3 {
		t.Errorf("k outside 2..4: %v", counts)
	}
}

func TestDrawFillsAGridWithGoldWhenOpenItemsRunOut(t *testing.T) {
	cat := job.NewCatalog([]job.Stock{stock(gridJob("shapes", 1), 10, 1)})
	d, err := cat.Draw(context.Background(), grid)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Open) != 1 || len(d.Gold) != 8 {
		t.Fatalf("%d open, %d gold; want 1 and 8", len(d.Open), len(d.Gold))
	}
}

func TestDrawSkipsPausedJobsFinishedItemsAndOtherKinds(t *testing.T) {
	paused := stock(gridJob("paused", 1), 10, 10)
	paused.Job.Status = job.StatusPaused
	active := stock(gridJob("active", 1), 10, 0)
	active.Open = []job.Item{
		{JobID: "active", ID: "done", MediaKey: "k", Status: job.ItemDone},
		{JobID: "active", ID: "full", MediaKey: "k", Status: job.ItemOpen, AnswerCount: 3},
		{JobID: "active", ID: "open", MediaKey: "k", Status: job.ItemOpen, AnswerCount: 2},
	}
	cat := job.NewCatalog([]job.Stock{paused, active})
	if cat.Len() != 1 {
		t.Fatalf("catalog has %d jobs, want the 1 active", cat.Len())
	}
	for range 50 {
		d, err := cat.Draw(context.Background(), grid)
		if err != nil {
			t.Fatal(err)
		}
		if d.Job.ID != "active" || len(d.Open) != 1 || d.Open[0].ID != "open" {
			t.Fatalf("drew job %s with open %+v", d.Job.ID, d.Open)
		}
	}
	if _, err := cat.Draw(context.Background(), job.Request{Kinds: []job.Kind{job.KindBinary}, Size: 1}); !errors.Is(err, job.ErrNoMaterial) {
		t.Fatalf("no binary job: err = %v", err)
	}
}

func TestDrawWeighsJobsByPriority(t *testing.T) {
	cat := job.NewCatalog([]job.Stock{stock(gridJob("low", 1), 10, 5), stock(gridJob("high", 3), 10, 5)})
	rng := rand.New(rand.NewPCG(1, 1))
	high := 0
	for range 4000 {
		req := grid
		req.Rand = rng
		d, err := cat.Draw(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if d.Job.ID == "high" {
			high++
		}
	}
	if high < 2800 || high > 3200 {
		t.Fatalf("priority 3 vs 1: high drawn %d of 4000, want about 3000", high)
	}
}

// Deliverable: challenges draw from active jobs that still need answers. A job whose
// items are all labeled (however high its priority) gives grids only when no job that
// needs answers can, and then the challenge still works on its gold.
func TestDrawPrefersJobsThatStillNeedAnswers(t *testing.T) {
	labeled := stock(gridJob("labeled", 1000), 10, 0)
	needs := stock(gridJob("needs", 1), 10, 5)
	cat := job.NewCatalog([]job.Stock{labeled, needs})
	rng := rand.New(rand.NewPCG(3, 3))
	for range 200 {
		req := grid
		req.Rand = rng
		d, err := cat.Draw(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if d.Job.ID != "needs" || len(d.Open) == 0 {
			t.Fatalf("drew %s with %d open items while job needs has open items", d.Job.ID, len(d.Open))
		}
	}
	// A gold-only request (MaxOpen 0) labels nothing either way: every job is weighed by
	// priority again (1000 to 1).
	goldOnly := grid
	goldOnly.MaxOpen = 0
	goldOnly.Rand = rng
	fromLabeled := 0
	for range 100 {
		d, err := cat.Draw(context.Background(), goldOnly)
		if err != nil {
			t.Fatal(err)
		}
		if d.Job.ID == "labeled" {
			fromLabeled++
		}
	}
	if fromLabeled < 95 {
		t.Errorf("gold-only draws: %d of 100 from the priority-1000 job", fromLabeled)
	}
	// When no job needs answers, the labeled one still supplies gold grids.
	only := job.NewCatalog([]job.Stock{labeled})
	if d, err := only.Draw(context.Background(), grid); err != nil || d.Job.ID != "labeled" || len(d.Gold) != grid.Size {
		t.Fatalf("fallback draw: %s with %d gold, %v", d.Job.ID, len(d.Gold), err)
	}
}

func TestDrawRespectsExclusionsAndNeedsEnoughGold(t *testing.T) {
	s := stock(gridJob("shapes", 1), 3, 3) // 9 gold, 3 per class
	cat := job.NewCatalog([]job.Stock{s})
	exclude := map[string]bool{}
	d, err := cat.Draw(context.Background(), job.Request{Kinds: grid.Kinds, Size: 9, MaxOpen: 3, MinTrue: 2, MinFalse: 2, Exclude: exclude})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range append(d.Gold, d.Open...) {
		exclude[it.Key()] = true
	}
	// 3 gold and no open items left: a second grid cannot be made.
	if _, err := cat.Draw(context.Background(), job.Request{Kinds: grid.Kinds, Size: 9, MaxOpen: 3, MinTrue: 2, MinFalse: 2, Exclude: exclude}); !errors.Is(err, job.ErrNoMaterial) {
		t.Fatalf("err = %v, want ErrNoMaterial", err)
	}
	// Only one class with gold: no class has both positives and negatives.
	one := stock(gridJob("one", 1), 0, 3)
	for i := range 9 {
		one.Gold = append(one.Gold, job.Item{JobID: "one", ID: fmt.Sprint("g", i), MediaKey: "k", Gold: true, GoldLabel: "circle"})
	}
	if _, err := job.NewCatalog([]job.Stock{one}).Draw(context.Background(), grid); !errors.Is(err, job.ErrNoMaterial) {
		t.Fatalf("single-class gold: err = %v, want ErrNoMaterial", err)
	}
}

func TestSingleGoldYesNoIsBalancedAndBinaryAsksAboutYes(t *testing.T) {
	b := job.Job{ID: "sent", Kind: job.KindBinary, Question: map[string]string{"en": "Positive?"}}.Normalize()
	s := stock(b, 5, 0)
	// Many more "no" gold items must not make "no" the likely truth.
	for i := range 50 {
		s.Gold = append(s.Gold, job.Item{JobID: "sent", ID: fmt.Sprint("n", i), Text: "t", Gold: true, GoldLabel: "no"})
	}
	cat := job.NewCatalog([]job.Stock{s})
	rng := rand.New(rand.NewPCG(3, 3))
	yes := 0
	for range 2000 {
		d, err := cat.Draw(context.Background(), job.Request{Kinds: []job.Kind{job.KindBinary}, Size: 1, Rand: rng})
		if err != nil {
			t.Fatal(err)
		}
		if d.Class != "yes" || len(d.Gold) != 1 {
			t.Fatalf("draw %+v", d)
		}
		if d.Gold[0].GoldLabel == "yes" {
			yes++
		}
	}
	if yes < 900 || yes > 1100 {
		t.Fatalf("truth yes %d of 2000, want about 1000", yes)
	}
}

func TestItemKeyIsUniqueAcrossJobs(t *testing.T) {
	a := job.Item{JobID: "a", ID: "1"}
	b := job.Item{JobID: "b", ID: "1"}
	if a.Key() == b.Key() || !strings.Contains(a.Key(), "a") {
		t.Fatal("keys collide")
	}
}

// A bot reads the question ("Select every image that shows a star"), so k (gold tiles
// showing the class) must be uniform over 2..4 for every class asked, not only over all
// draws: a class with too little gold to show 3 or 4 would otherwise always show 2, and a
// bot that learnt it would select 3 tiles and pass that grid 1 time in 28 instead of 54.
// Such a class is not asked while another class can show every k.
func TestDrawKIsUniformForEveryClassAsked(t *testing.T) {
	s := stock(gridJob("shapes", 1), 10, 10)
	var gold []job.Item
	for _, it := range s.Gold {
		// Only two stars: enough for k=2, never for 3 or 4.
		if it.GoldLabel != "star" || it.ID == "g-star-0" || it.ID == "g-star-1" {
			gold = append(gold, it)
		}
	}
	s.Gold = gold
	cat := job.NewCatalog([]job.Stock{s})
	rng := rand.New(rand.NewPCG(11, 11))
	counts := map[string]map[int]int{}
	for range 3000 {
		req := grid
		req.Rand = rng
		d, err := cat.Draw(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		yes := 0
		for _, it := range d.Gold {
			if it.GoldLabel == d.Class {
				yes++
			}
		}
		if counts[d.Class] == nil {
			counts[d.Class] = map[int]int{}
		}
		counts[d.Class][yes]++
	}
	for class, byK := range counts {
		n := 0
		for _, c := range byK {
			n += c
		}
		for k := 2; k <= 4; k++ {
			if byK[k]*4 < n { // about a third each; a quarter is far outside the noise
				t.Errorf("class %s asked %d times, k=%d only %d times (%v): a bot that reads the question predicts k", class, n, k, byK[k], byK)
			}
		}
	}
}

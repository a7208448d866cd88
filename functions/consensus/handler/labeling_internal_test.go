package handler

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
)

var now = time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)

func reviews() job.Job {
	return job.Job{ID: "reviews", Kind: job.KindBinary, Classes: []string{"yes", "no"}, Status: job.StatusActive,
		MinAnswers: 2, MaxAnswers: 4, Target: 0.9}
}

func shapes() job.Job {
	return job.Job{ID: "shapes", Kind: job.KindImageGrid, Classes: []string{"circle", "square", "triangle"}, Status: job.StatusActive,
		MinAnswers: 2, MaxAnswers: 6, Target: 0.9}
}

// run applies messages one after the other to in-memory state, as the consumer does with
// the store (class deltas and credits included).
type run struct {
	j         job.Job
	js        consensus.JobState
	items     map[string]dynamo.ConsensusItem
	answerers map[string]consensus.AnswererState
}

func newRun(j job.Job, itemIDs ...string) *run {
	r := &run{j: j, js: consensus.NewJob(2), items: map[string]dynamo.ConsensusItem{}, answerers: map[string]consensus.AnswererState{}}
	for _, id := range itemIDs {
		r.items[id] = dynamo.ConsensusItem{ID: id, Status: job.ItemOpen, Questions: map[string]consensus.ItemState{}}
	}
	return r
}

func (r *run) send(t *testing.T, m message) change {
	t.Helper()
	aid := m.answererID()
	w, ok := r.answerers[aid]
	if !ok {
		w = consensus.NewAnswerer(aid, 2)
	}
	snap := dynamo.ConsensusSnapshot{Job: r.js, Answerer: w, Items: map[string]dynamo.ConsensusItem{}}
	for _, a := range m.Answers {
		if it, ok := r.items[a.ItemID]; ok {
			snap.Items[a.ItemID] = it
		}
	}
	ch, err := apply(r.j, snap, m, now)
	if err != nil {
		t.Fatal(err)
	}
	if ch.commit.Answerer != nil {
		r.answerers[aid] = *ch.commit.Answerer
	}
	for _, it := range ch.commit.Items {
		r.items[it.ID] = it
	}
	_ = r.js.Apply(ch.classDelta)
	_ = r.js.AddConfusion(ch.confusionDelta)
	for _, c := range ch.credits {
		w := r.answerers[c.Answerer]
		_ = w.Apply(c)
		r.answerers[c.Answerer] = w
	}
	return ch
}

func answer(id, jobID, class, who string, labels ...string) message {
	m := message{V: 1, Kind: KindAnswers, ID: id, JobID: jobID, Class: class, Answerer: who, Day: "2026-11-30"}
	for i := 0; i+1 < len(labels); i += 2 {
		m.Answers = append(m.Answers, itemLabel{ItemID: labels[i], Label: labels[i+1]})
	}
	return m
}

func TestBinaryItemCompletesAtTargetAfterMinimumAnswers(t *testing.T) {
	j := reviews()
	// A strict target and many answers left: only the target completes it.
	j.Target, j.MaxAnswers = 0.95, 20
	r := newRun(j, "r-1")
	ch := r.send(t, answer("m1", "reviews", "yes", "aa", "r-1", "yes"))
	it := r.items["r-1"]
	if it.Result.Label != "yes" || it.Result.Confidence != 0 || it.Result.Status != job.ItemOpen || it.Result.Answers != 1 {
		t.Fatalf("after one answer: %+v (a single answer must not give a label confidence)", it.Result)
	}
	if ch.completed != 0 {
		t.Fatal("completed after one answer with min 2")
	}
	for i, who := range []string{"bb", "cc", "dd"} {
		r.send(t, answer(fmt.Sprint("m", i+2), "reviews", "yes", who, "r-1", "yes"))
		if r.items["r-1"].Result.Status == job.ItemDone {
			break
		}
	}
	it = r.items["r-1"]
	if it.Result.Status != job.ItemDone || it.Result.Label != "yes" || it.Result.Confidence < 0.95 || it.CompletedAt.IsZero() {
		t.Fatalf("unanimous answers did not complete the item: %+v", it.Result)
	}
	// A done item takes no more answers.
	ch = r.send(t, answer("m9", "reviews", "yes", "ee", "r-1", "no"))
	if ch.outcomes[outClosed] != 1 || len(ch.commit.Items) != 0 {
		t.Errorf("answer to a done item: %v", ch.outcomes)
	}
}

func TestBinaryItemCompletesWhenTheAnswersLeftCannotChangeIt(t *testing.T) {
	// Two agreeing answers stay below the target (0.95). With a budget of 4, the two
	// answers left cannot outvote them, so the item is done; with 9, seven answers could,
	// more often than the 5% the target allows, so it stays open.
	for _, tc := range []struct {
		max  int
		done bool
	}{{4, true}, {9, false}} {
		j := reviews()
		j.Target, j.MaxAnswers = 0.95, tc.max
		r := newRun(j, "r-1")
		r.send(t, answer("m1", "reviews", "yes", "aa", "r-1", "yes"))
		ch := r.send(t, answer("m2", "reviews", "yes", "bb", "r-1", "yes"))
		res := r.items["r-1"].Result
		if res.Confidence >= j.Target {
			t.Fatalf("max %d: confidence %.3f reached the target; the case needs it below", tc.max, res.Confidence)
		}
		if (res.Status == job.ItemDone) != tc.done || (ch.completed == 1) != tc.done {
			t.Errorf("max %d: two agreeing answers left the item %s (completed %d), want done=%v", tc.max, res.Status, ch.completed, tc.done)
		}
	}
}

func TestDisagreementRunsToTheMaximum(t *testing.T) {
	r := newRun(reviews(), "r-2")
	// A job whose earlier items were a little more often "no": a 2:2 split ends "no".
	r.js.ClassCounts = []float64{20, 25}
	for i, l := range []string{"yes", "no", "yes", "no"} {
		r.send(t, answer(fmt.Sprint("m", i), "reviews", "yes", fmt.Sprintf("a%d", i), "r-2", l))
		if res := r.items["r-2"].Result; i < 3 && res.Status == job.ItemDone {
			t.Fatalf("done after %d split answers, while the answers left could still change it: %+v", i+1, res)
		}
	}
	it := r.items["r-2"]
	if it.Result.Status != job.ItemDone || it.Result.Answers != 4 {
		t.Fatalf("item with max 4 answers after 4 split answers: %+v", it.Result)
	}
	if it.Result.Confidence > 0.75 {
		t.Errorf("a 2:2 split reported confidence %.3f", it.Result.Confidence)
	}
}

func TestImageGridAnswersAboutSeveralClassesCombineIntoOneLabel(t *testing.T) {
	j := shapes()
	j.Target, j.MaxAnswers = 0.99, 10 // strict, with answers to spare: four answers leave it open
	r := newRun(j, "img-1")
	r.send(t, answer("g1", "shapes", "circle", "aa", "img-1", "no"))
	r.send(t, answer("g2", "shapes", "square", "bb", "img-1", "yes"))
	r.send(t, answer("g3", "shapes", "square", "cc", "img-1", "yes"))
	r.send(t, answer("g4", "shapes", "triangle", "dd", "img-1", "no"))
	it := r.items["img-1"]
	if it.Result.Label != "square" || it.Result.Answers != 4 {
		t.Fatalf("result %+v, want square from 4 answers", it.Result)
	}
	if len(it.Questions) != 3 {
		t.Errorf("%d questions, want one per class asked", len(it.Questions))
	}
	post, n := itemPosterior(shapes(), it.Questions)
	var sum float64
	for _, p := range post {
		sum += p
	}
	if n != 4 || math.Abs(sum-1) > 1e-12 || post[1] <= post[0] || post[1] <= post[2] {
		t.Errorf("posterior %v (n %d)", post, n)
	}
	// An answerer answers an item once, whichever class a later task asks about.
	for _, class := range []string{"square", "triangle"} {
		ch := r.send(t, answer("g5-"+class, "shapes", class, "bb", "img-1", "no"))
		if ch.outcomes[outRepeat] != 1 || len(ch.commit.Items) != 0 {
			t.Errorf("second answer by the same answerer (about %s): %v", class, ch.outcomes)
		}
	}
	if r.items["img-1"].Result.Answers != 4 {
		t.Errorf("answers %d after repeats, want 4", r.items["img-1"].Result.Answers)
	}
}

func TestARedeliveryChangesNothing(t *testing.T) {
	r := newRun(reviews(), "r-1", "r-2")
	m := answer("m1", "reviews", "yes", "aa", "r-1", "yes", "r-2", "no")
	m.Gold = []goldAnswer{{ItemID: "g", Truth: "yes", Label: "yes"}}
	r.send(t, m)
	before, _ := json.Marshal([]any{r.js, r.items, r.answerers})
	ch := r.send(t, m)
	if ch.changed() || ch.outcomes[outDuplicate] != 2 {
		t.Fatalf("redelivery: changed %v outcomes %v", ch.changed(), ch.outcomes)
	}
	after, _ := json.Marshal([]any{r.js, r.items, r.answerers})
	if string(before) != string(after) {
		t.Error("state changed on redelivery")
	}
}

func TestGoldAnswersTrainTheAnswerer(t *testing.T) {
	r := newRun(reviews(), "r-1")
	m := answer("m1", "reviews", "yes", "aa", "r-1", "yes")
	m.Gold = []goldAnswer{{ItemID: "g1", Truth: "yes", Label: "yes"}, {ItemID: "g2", Truth: "no", Label: "no"}}
	r.send(t, m)
	w := r.answerers["2026-11-30/aa"]
	if w.Gold[0] != 1 || w.Gold[3] != 1 || w.Answers != 1 {
		t.Errorf("answerer after gold %+v", w)
	}
}

func TestAnswersToMissingGoldOrPendingItemsAreSkipped(t *testing.T) {
	r := newRun(reviews(), "r-1")
	r.items["g"] = dynamo.ConsensusItem{ID: "g", Gold: true, Status: job.ItemOpen}
	r.items["p"] = dynamo.ConsensusItem{ID: "p", Status: job.ItemPending}
	ch := r.send(t, answer("m1", "reviews", "yes", "aa", "r-1", "yes", "g", "yes", "p", "no", "gone", "no"))
	if ch.outcomes[outApplied] != 1 || ch.outcomes[outSkipped] != 2 || ch.outcomes[outMissing] != 1 || len(ch.commit.Items) != 1 {
		t.Errorf("outcomes %v, %d items written", ch.outcomes, len(ch.commit.Items))
	}
}

func TestDecodeRefusesWhatCannotBeApplied(t *testing.T) {
	good := `{"v":1,"id":"c_1:t0","job_id":"j","class":"yes","answerer":"ab12","day":"2026-11-30","answers":[{"item_id":"i","label":"yes"}],"gold":[]}`
	if _, err := decode(good); err != nil {
		t.Fatalf("good message refused: %v", err)
	}
	for name, body := range map[string]string{
		"not json":         `{`,
		"version":          `{"v":2,"id":"x","job_id":"j","class":"yes","answerer":"ab","day":"2026-11-30"}`,
		"kind":             `{"v":1,"kind":"delete"}`,
		"no id":            `{"v":1,"job_id":"j","class":"yes","answerer":"ab","day":"2026-11-30"}`,
		"job id":           `{"v":1,"id":"x","job_id":"a/b","class":"yes","answerer":"ab","day":"2026-11-30"}`,
		"ip answerer":      `{"v":1,"id":"x","job_id":"j","class":"yes","answerer":"203.0.113.7","day":"2026-11-30"}`,
		"day":              `{"v":1,"id":"x","job_id":"j","class":"yes","answerer":"ab","day":"30.11.2026"}`,
		"label":            `{"v":1,"id":"x","job_id":"j","class":"yes","answerer":"ab","day":"2026-11-30","answers":[{"item_id":"i","label":"Yes"}]}`,
		"item twice":       `{"v":1,"id":"x","job_id":"j","class":"yes","answerer":"ab","day":"2026-11-30","answers":[{"item_id":"i","label":"yes"},{"item_id":"i","label":"no"}]}`,
		"gold truth":       `{"v":1,"id":"x","job_id":"j","class":"yes","answerer":"ab","day":"2026-11-30","gold":[{"item_id":"g","truth":"y","label":"yes"}]}`,
		"reestimate id":    `{"v":1,"kind":"reestimate","job_id":"a b"}`,
		"missing answerer": `{"v":1,"id":"x","job_id":"j","class":"yes","day":"2026-11-30"}`,
	} {
		if _, err := decode(body); !errors.Is(err, errPoison) {
			t.Errorf("%s: %v, want poison", name, err)
		}
	}
}

// The consumer reads exactly what the challenge function sends.
func TestDecodeReadsTheChallengeFunctionsMessages(t *testing.T) {
	sent := challenge.AnswerMessage{
		V: challenge.MessageVersion, ID: "c_abc:t1", JobID: "shapes", Class: "circle", Answerer: "0a1b2c", Day: "2026-11-30",
		Answers: []challenge.ItemLabel{{ItemID: "img-3", Label: "no"}}, Gold: []challenge.GoldAnswer{{ItemID: "img-1", Truth: "yes", Label: "yes"}},
		AnsweredAt: now, SolveMS: 4000,
	}
	b, _ := json.Marshal(sent)
	m, err := decode(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindAnswers || m.answererID() != "2026-11-30/0a1b2c" || m.Answers[0] != (itemLabel{"img-3", "no"}) ||
		m.Gold[0] != (goldAnswer{"img-1", "yes", "yes"}) || m.Class != "circle" || m.JobID != "shapes" {
		t.Errorf("decoded %+v", m)
	}
}

func TestAnswererStateExpiresDaysAfterItsDay(t *testing.T) {
	exp := answererExpiry("2026-11-30")
	if want := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC); !exp.Equal(want) {
		t.Errorf("expiry %v, want %v", exp, want)
	}
	if answererDay("2026-11-30/ab") != "2026-11-30" || answererDay("ab") != "" {
		t.Error("answerer day parsing")
	}
}

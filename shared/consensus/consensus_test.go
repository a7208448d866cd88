package consensus

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestSyntheticCrowdRecoversTruthAndReliabilities(t *testing.T) {
	const k = 3
	crowd := newCrowd(1, k, 600, 7, mixedWorkers(10, 6, 4))
	s := newSim(t, allAnswers(k))
	s.run(t, crowd.answers)
	est := s.reestimate(t)

	mv := majorityAccuracy(crowd)
	got := accuracy(est.Items, crowd.truth)
	if got < 0.97 || got <= mv {
		t.Errorf("accuracy after re-estimation %.3f, majority vote %.3f: want >= 0.97 and above majority vote", got, mv)
	}
	items, _ := s.states()
	if online := accuracy(items, crowd.truth); online <= mv {
		t.Errorf("online accuracy %.3f not above majority vote %.3f", online, mv)
	}

	for _, w := range est.Answerers {
		m, err := s.p.Matrix(&w)
		if err != nil {
			t.Fatal(err)
		}
		var diag float64
		for c := range k {
			diag += m[c][c] / k
		}
		switch kind := w.Answerer[:len(w.Answerer)-1]; kind {
		case "good":
			if diag < 0.7 {
				t.Errorf("%s: mean P(truth|truth) %.2f, want a reliable answerer's (0.8)", w.Answerer, diag)
			}
		case "random":
			if math.Abs(diag-1.0/k) > 0.08 {
				t.Errorf("%s: mean P(truth|truth) %.2f, want a spammer's near chance", w.Answerer, diag)
			}
			for c := range k {
				for l := range k {
					if math.Abs(m[c][l]-1.0/k) > 0.2 {
						t.Errorf("%s: row %d = %.2f, want near uniform", w.Answerer, c, m[c])
					}
				}
			}
		case "flip":
			for c := range k {
				if flip := m[c][(c+1)%k]; flip < 0.75 {
					t.Errorf("%s: P(%d|%d) = %.2f, want the adversary's flip learnt", w.Answerer, (c+1)%k, c, flip)
				}
			}
		}
	}
}

func TestPosteriorFollowsTheReliableAnswerer(t *testing.T) {
	// Two answerers disagree; gold says one of them is reliable and the other is not.
	p := allAnswers(2)
	s := newSim(t, p)
	for i := range 30 {
		id := fmt.Sprintf("gold-%d", i)
		if _, err := s.answerer("expert").ObserveGold(id, i%2, i%2); err != nil {
			t.Fatal(err)
		}
		if _, err := s.answerer("guesser").ObserveGold(id, i%2, (i/2)%2); err != nil {
			t.Fatal(err)
		}
	}
	s.deliver(t, "x", Answer{ID: "1", Answerer: "guesser", Label: 0})
	s.deliver(t, "x", Answer{ID: "2", Answerer: "expert", Label: 1})
	it := s.items["x"]
	if it.Label != 1 || it.Posterior[1] < 0.9 {
		t.Errorf("label %d posterior %v: want the expert's label 1 with posterior >= 0.9", it.Label, it.Posterior)
	}
	if it.Confidence != it.Posterior[1] {
		t.Errorf("confidence %v, want the top posterior %v once there are two answers", it.Confidence, it.Posterior[1])
	}
}

func TestObserveGoldIsIdempotent(t *testing.T) {
	w := NewAnswerer("w", 3)
	ok, err := w.ObserveGold("msg1:item7", 2, 1)
	if err != nil || !ok {
		t.Fatalf("first gold: %v %v", ok, err)
	}
	ok, err = w.ObserveGold("msg1:item7", 2, 1)
	if err != nil || ok {
		t.Fatalf("redelivered gold: applied=%v err=%v, want ignored", ok, err)
	}
	if w.Gold[2*3+1] != 1 {
		t.Errorf("gold counts %v, want one count in row 2 column 1", w.Gold)
	}
	if _, err := w.ObserveGold("x", 3, 0); !errors.Is(err, ErrLabel) {
		t.Errorf("truth out of range: %v, want ErrLabel", err)
	}
	for i := range MaxGoldSeen + 10 {
		if _, err := w.ObserveGold(fmt.Sprintf("gold-%d", i), 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.GoldSeen) != MaxGoldSeen {
		t.Errorf("GoldSeen holds %d ids, want the window of %d", len(w.GoldSeen), MaxGoldSeen)
	}
}

func TestUpdateIgnoresRedeliveryRepeatsAndDoneItems(t *testing.T) {
	p := Params{Classes: 2, Min: 1, Max: 2, Target: 2}
	s := newSim(t, p)
	s.deliver(t, "x", Answer{ID: "m1", Answerer: "a", Label: 1})

	snapshot := func() (ItemState, AnswererState, JobState) {
		b, _ := json.Marshal([]any{s.items["x"], s.answerers["a"], s.job})
		var it ItemState
		var w AnswererState
		var j JobState
		raw := []json.RawMessage{}
		_ = json.Unmarshal(b, &raw)
		_ = json.Unmarshal(raw[0], &it)
		_ = json.Unmarshal(raw[1], &w)
		_ = json.Unmarshal(raw[2], &j)
		return it, w, j
	}
	i0, w0, j0 := snapshot()
	for _, tc := range []struct {
		a    Answer
		want Outcome
	}{
		{Answer{ID: "m1", Answerer: "a", Label: 1}, Duplicate},
		{Answer{ID: "m1", Answerer: "a", Label: 0}, Duplicate},
		{Answer{ID: "m2", Answerer: "a", Label: 0}, Repeat},
	} {
		if eff := s.deliver(t, "x", tc.a); eff.Outcome != tc.want || eff.Credits != nil || eff.ClassDelta != nil {
			t.Errorf("%+v: effect %+v, want %v and no deltas", tc.a, eff, tc.want)
		}
		i1, w1, j1 := snapshot()
		if !reflect.DeepEqual(i0, i1) || !reflect.DeepEqual(w0, w1) || !reflect.DeepEqual(j0, j1) {
			t.Errorf("%+v changed state", tc.a)
		}
	}

	if eff := s.deliver(t, "x", Answer{ID: "m3", Answerer: "b", Label: 1}); !eff.Completed || !s.items["x"].Done {
		t.Fatalf("second answer with max 2: %+v, want the item completed", eff)
	}
	if eff := s.deliver(t, "x", Answer{ID: "m4", Answerer: "c", Label: 1}); eff.Outcome != Closed {
		t.Errorf("answer to a done item: %v, want closed", eff.Outcome)
	}
	if n := len(s.items["x"].Answers); n != 2 {
		t.Errorf("done item holds %d answers, want 2", n)
	}
}

func TestCompletionRule(t *testing.T) {
	// Answerers with a gold record of 20/20 agree on every item, so each answer raises the
	// posterior; an unproven answerer's single answer does not reach a strict target.
	trusted := func(s *sim, name string) {
		for i := range 20 {
			if _, err := s.answerer(name).ObserveGold(fmt.Sprintf("gold-%d", i), i%2, i%2); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name     string
		p        Params
		trust    bool
		wantDone int // answers after which the item is done; 0: when the posterior gets there
	}{
		{"target reached on the first answer", Params{Min: 1, Max: 10, Target: 0.9}, true, 1},
		{"min holds back a confident item", Params{Min: 3, Max: 10, Target: 0.9}, true, 3},
		{"max completes an uncertain item", Params{Min: 1, Max: 4, Target: 2}, false, 4},
		{"unproven answerers need several answers", Params{Min: 1, Max: 10, Target: 0.99}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			p.Classes = 2
			s := newSim(t, p)
			doneAt := 0
			for n := 1; n <= 10 && doneAt == 0; n++ {
				name := fmt.Sprintf("w%d", n)
				if tc.trust {
					trusted(s, name)
				}
				forecast := LabelForecast(s.p.pooled(&s.job)) // the job as Update reads it
				eff := s.deliver(t, "x", Answer{ID: name, Answerer: name, Label: 1})
				it := s.items["x"]
				if n == 1 && it.Confidence != 0 {
					t.Errorf("confidence %v with one answer, want 0", it.Confidence)
				}
				if n > 1 && it.Confidence != it.Posterior[it.Label] {
					t.Errorf("confidence %v, want top posterior %v", it.Confidence, it.Posterior[it.Label])
				}
				// Done at max, or from min on when the target is reached or the answers
				// still allowed can no longer plausibly change the label (curtailment).
				flip, _ := FlipChance(it.Posterior, forecast, p.Max-n)
				rule := n >= p.Max || (n >= p.Min && (it.Posterior[1] >= p.Target || flip < 1-p.Target))
				if it.Done != rule || eff.Completed != rule {
					t.Fatalf("after %d answers (posterior %.4f): done=%v completed=%v, want %v", n, it.Posterior[1], it.Done, eff.Completed, rule)
				}
				if it.Done {
					doneAt = n
				}
			}
			switch {
			case tc.wantDone > 0 && doneAt != tc.wantDone:
				t.Errorf("done after %d answers, want %d", doneAt, tc.wantDone)
			case tc.wantDone == 0 && (doneAt < 3 || doneAt == p.Max):
				t.Errorf("done after %d answers, want the target reached after a few answers, before max", doneAt)
			}
		})
	}
}

func TestIncrementalCountsMatchPosteriors(t *testing.T) {
	// After any stream of updates, with every delta applied, each answerer's soft counts are
	// the sum of the current posteriors of the items they answered and the job's class
	// counts the sum of all posteriors: the M-step the batch pass would compute.
	crowd := newCrowd(2, 3, 150, 5, mixedWorkers(6, 3, 2))
	s := newSim(t, Default(3))
	s.run(t, crowd.answers)

	k := 3
	want := map[string][]float64{}
	wantClass := make([]float64, k)
	for _, it := range s.items {
		for c, v := range it.Posterior {
			wantClass[c] += v
		}
		for _, a := range it.Answers {
			if want[a.Answerer] == nil {
				want[a.Answerer] = make([]float64, k*k)
			}
			for c, v := range it.Posterior {
				want[a.Answerer][c*k+a.Label] += v
			}
		}
	}
	for name, w := range s.answerers {
		for i := range w.Soft {
			if math.Abs(w.Soft[i]-want[name][i]) > 1e-9 {
				t.Fatalf("%s soft counts %v, want %v", name, w.Soft, want[name])
			}
		}
	}
	for c := range wantClass {
		if math.Abs(s.job.ClassCounts[c]-wantClass[c]) > 1e-9 {
			t.Fatalf("class counts %v, want %v", s.job.ClassCounts, wantClass)
		}
	}
	// The job's pooled confusion counts are the sum of every answerer's soft counts.
	pooled := make([]float64, k*k)
	for _, w := range want {
		for i, v := range w {
			pooled[i] += v
		}
	}
	for i := range pooled {
		if math.Abs(s.job.Confusion[i]-pooled[i]) > 1e-9 {
			t.Fatalf("job confusion %v, want the answerers' soft counts summed, %v", s.job.Confusion, pooled)
		}
	}
	// Re-estimation keeps that invariant.
	est := s.reestimate(t)
	clear(pooled)
	for _, w := range est.Answerers {
		for i, v := range w.Soft {
			pooled[i] += v
		}
	}
	for i := range pooled {
		if math.Abs(est.Job.Confusion[i]-pooled[i]) > 1e-9 {
			t.Fatalf("re-estimated job confusion %v, want %v", est.Job.Confusion, pooled)
		}
	}
}

func TestShuffledDuplicatedDeliveryReestimatesTheSame(t *testing.T) {
	crowd := newCrowd(3, 2, 200, 6, mixedWorkers(8, 3, 2))
	inOrder := newSim(t, allAnswers(2))
	inOrder.run(t, crowd.answers)

	// The same answers in another order, a quarter of them delivered twice.
	r := rand.New(rand.NewPCG(4, 4))
	stream := append([]simAnswer(nil), crowd.answers...)
	for _, a := range crowd.answers {
		if r.IntN(4) == 0 {
			stream = append(stream, a)
		}
	}
	r.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
	shuffled := newSim(t, allAnswers(2))
	shuffled.run(t, stream)
	if inOrder.applied != shuffled.applied {
		t.Fatalf("applied %d vs %d answers: duplicates were not ignored", inOrder.applied, shuffled.applied)
	}

	a, b := inOrder.reestimate(t), shuffled.reestimate(t)
	bItems := map[string]ItemState{}
	for _, it := range b.Items {
		bItems[it.Item] = it
	}
	differ := 0
	for _, it := range a.Items {
		other := bItems[it.Item]
		if it.Label != other.Label {
			differ++
		}
		for c := range it.Posterior {
			if math.Abs(it.Posterior[c]-other.Posterior[c]) > 1e-12 {
				t.Fatalf("item %s posterior %v vs %v", it.Item, it.Posterior, other.Posterior)
			}
		}
	}
	if differ > 0 {
		t.Errorf("%d labels differ after re-estimation", differ)
	}
	if accuracy(a.Items, crowd.truth) < 0.95 {
		t.Errorf("accuracy %.3f, want >= 0.95", accuracy(a.Items, crowd.truth))
	}
}

func TestReestimateDoesNotDependOnArgumentOrderAndLeavesArgumentsAlone(t *testing.T) {
	crowd := newCrowd(5, 3, 120, 5, mixedWorkers(6, 2, 1))
	s := newSim(t, allAnswers(3))
	s.run(t, crowd.answers)
	items, ws := s.states()
	before, _ := json.Marshal([]any{items, ws})

	a, err := s.p.Reestimate(s.job, items, ws)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal([]any{items, ws})
	if string(before) != string(after) {
		t.Error("Reestimate modified its arguments")
	}

	revItems := append([]ItemState(nil), items...)
	revWs := append([]AnswererState(nil), ws...)
	for i, j := 0, len(revItems)-1; i < j; i, j = i+1, j-1 {
		revItems[i], revItems[j] = revItems[j], revItems[i]
	}
	for i, j := 0, len(revWs)-1; i < j; i, j = i+1, j-1 {
		revWs[i], revWs[j] = revWs[j], revWs[i]
	}
	b, err := s.p.Reestimate(s.job, revItems, revWs[1:]) // one answerer record missing
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Answerers) != len(ws) {
		t.Errorf("%d answerers, want the missing one added back (%d)", len(b.Answerers), len(ws))
	}
	byID := map[string]ItemState{}
	for _, it := range b.Items {
		byID[it.Item] = it
	}
	for _, it := range a.Items {
		if !reflect.DeepEqual(it.Posterior, byID[it.Item].Posterior) {
			t.Fatalf("item %s: %v vs %v", it.Item, it.Posterior, byID[it.Item].Posterior)
		}
	}

	// Re-estimating an estimate changes nothing but the last EM step.
	again, err := s.p.Reestimate(a.Job, a.Items, a.Answerers)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Items {
		if a.Items[i].Label != again.Items[i].Label {
			t.Errorf("item %s label %d then %d", a.Items[i].Item, a.Items[i].Label, again.Items[i].Label)
		}
	}
}

func TestStateSurvivesJSONBetweenUpdates(t *testing.T) {
	// The consumer keeps no memory between messages: everything lives in the records.
	crowd := newCrowd(6, 2, 80, 5, mixedWorkers(5, 2, 1))
	whole := newSim(t, Default(2))
	whole.run(t, crowd.answers)

	split := newSim(t, Default(2))
	half := len(crowd.answers) / 2
	split.run(t, crowd.answers[:half])
	b, err := json.Marshal(struct {
		Job       JobState
		Items     map[string]*ItemState
		Order     []string
		Answerers map[string]*AnswererState
	}{split.job, split.items, split.itemOrder, split.answerers})
	if err != nil {
		t.Fatal(err)
	}
	restored := newSim(t, Default(2))
	var st struct {
		Job       JobState
		Items     map[string]*ItemState
		Order     []string
		Answerers map[string]*AnswererState
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	restored.job, restored.items, restored.itemOrder, restored.answerers = st.Job, st.Items, st.Order, st.Answerers
	restored.run(t, crowd.answers[half:])

	for id, it := range whole.items {
		got := restored.items[id]
		if got.Done != it.Done || got.Label != it.Label {
			t.Fatalf("item %s: done %v label %d after a JSON round trip, want %v %d", id, got.Done, got.Label, it.Done, it.Label)
		}
		for c := range it.Posterior {
			if math.Abs(got.Posterior[c]-it.Posterior[c]) > 1e-12 {
				t.Fatalf("item %s posterior %v, want %v", id, got.Posterior, it.Posterior)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Params
	}{
		{"one class", Params{Classes: 1}},
		{"eleven classes", Params{Classes: 11}},
		{"prior at chance", Params{Classes: 4, PriorAccuracy: 0.25}},
		{"prior accuracy 1", Params{Classes: 2, PriorAccuracy: 1}},
		{"negative strength", Params{Classes: 2, PriorStrength: -1}},
		{"infinite row strength", Params{Classes: 2, RowStrength: math.Inf(1)}},
		{"NaN class prior", Params{Classes: 2, ClassPriorStrength: math.NaN()}},
		{"max below min", Params{Classes: 2, Min: 5, Max: 3}},
		{"negative target", Params{Classes: 2, Target: -0.5}},
	} {
		if _, err := tc.p.Validate(); !errors.Is(err, ErrParams) {
			t.Errorf("%s: %v, want ErrParams", tc.name, err)
		}
	}
	p, err := Params{Classes: 10}.Validate()
	if err != nil || p != Default(10) {
		t.Errorf("defaults: %+v %v, want %+v", p, err, Default(10))
	}
}

func TestUpdateRejectsInconsistentInput(t *testing.T) {
	p := Default(3)
	job, item, w := NewJob(3), NewItem("x", 3), NewAnswerer("w", 3)
	if _, err := p.Update(&job, &item, &w, Answer{ID: "1", Answerer: "w", Label: 3}); !errors.Is(err, ErrLabel) {
		t.Errorf("label 3 of 3 classes: %v, want ErrLabel", err)
	}
	if _, err := p.Update(&job, &item, &w, Answer{ID: "1", Answerer: "v", Label: 0}); !errors.Is(err, ErrState) {
		t.Errorf("answer by another answerer: %v, want ErrState", err)
	}
	other := NewAnswerer("w", 2)
	if _, err := p.Update(&job, &item, &other, Answer{ID: "1", Answerer: "w", Label: 0}); !errors.Is(err, ErrState) {
		t.Errorf("answerer of a 2-class job: %v, want ErrState", err)
	}
	if _, err := (Params{Classes: 12}).Update(&job, &item, &w, Answer{ID: "1", Answerer: "w"}); !errors.Is(err, ErrParams) {
		t.Errorf("bad params: %v, want ErrParams", err)
	}
	if err := w.Apply(Credit{Answerer: "v", Label: 0, Delta: []float64{1, 0, 0}}); !errors.Is(err, ErrState) {
		t.Errorf("credit for another answerer: %v, want ErrState", err)
	}
	if len(item.Answers) != 0 || w.Answers != 0 {
		t.Error("rejected answers changed state")
	}
}

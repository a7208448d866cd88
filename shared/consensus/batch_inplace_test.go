package consensus

import (
	"encoding/json"
	"testing"
)

// ReestimateInPlace gives Reestimate's estimate, bit for bit, written over its arguments;
// an answerer it adds does not land in the caller's array.
func TestReestimateInPlaceEqualsReestimate(t *testing.T) {
	crowd := newCrowd(7, 3, 150, 5, mixedWorkers(6, 2, 1))
	s := newSim(t, Default(3))
	s.run(t, crowd.answers)
	items, ws := s.states()
	ws = ws[:len(ws)-1] // one answerer record missing: the estimate adds it
	want, err := s.p.Reestimate(s.job, items, ws)
	if err != nil {
		t.Fatal(err)
	}

	// Independent copies, the answerers with the missing one's record just past their end.
	var ownItems []ItemState
	var ownWs []AnswererState
	b, _ := json.Marshal([]any{items, ws})
	if err := json.Unmarshal(b, &[]any{&ownItems, &ownWs}); err != nil {
		t.Fatal(err)
	}
	ownWs = append(ownWs, AnswererState{Answerer: "past the end"})
	got, err := s.p.ReestimateInPlace(s.job, ownItems, ownWs[:len(ownWs)-1])
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustJSON(t, want), mustJSON(t, got); a != b {
		t.Errorf("in place:\n%s\nwant\n%s", b, a)
	}
	if &got.Items[0] != &ownItems[0] || mustJSON(t, ownItems) != mustJSON(t, want.Items) {
		t.Error("the estimate is not written over the arguments")
	}
	if ownWs[len(ownWs)-1].Answerer != "past the end" {
		t.Errorf("the added answerer overwrote the caller's array past the answerers: %q", ownWs[len(ownWs)-1].Answerer)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

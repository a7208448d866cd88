package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/functions/consensus/handler"
	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
)

// memConsensus keeps the consensus records the events/consensus files touch, with the
// store's version conditions, so that a redelivery can be checked to change nothing.
// Class counts and credits are deltas the fake store drops; re-estimation rebuilds them.
type memConsensus struct {
	mu        sync.Mutex
	items     map[string]dynamo.ConsensusItem    // job/item
	answerers map[string]consensus.AnswererState // job/answerer
}

func newMemConsensus() *memConsensus {
	m := &memConsensus{items: map[string]dynamo.ConsensusItem{}, answerers: map[string]consensus.AnswererState{}}
	add := func(jobID, id string, gold bool) {
		m.items[jobID+"/"+id] = dynamo.ConsensusItem{ID: id, Gold: gold, Status: job.ItemOpen, Questions: map[string]consensus.ItemState{}}
	}
	for _, id := range []string{"r-1", "r-2", "r-3", "r-4"} {
		add("reviews", id, false)
	}
	add("reviews", "g-pos", true)
	add("reviews", "g-neg", true)
	for i := range 36 {
		add("shapes", fmt.Sprintf("img-%02d", i), i < 30)
	}
	return m
}

// store is the package's fakeStore over these records.
func (m *memConsensus) store() *fakeStore {
	return &fakeStore{LoadFn: m.load, CommitFn: m.commit}
}

func cloneItem(it dynamo.ConsensusItem) dynamo.ConsensusItem {
	qs := make(map[string]consensus.ItemState, len(it.Questions))
	for c, q := range it.Questions {
		q.Answers = slices.Clone(q.Answers)
		for i := range q.Answers {
			q.Answers[i].Like = slices.Clone(q.Answers[i].Like)
		}
		q.Posterior = slices.Clone(q.Posterior)
		qs[c] = q
	}
	it.Questions = qs
	return it
}

func cloneAnswerer(w consensus.AnswererState) consensus.AnswererState {
	w.Gold, w.Soft, w.GoldSeen = slices.Clone(w.Gold), slices.Clone(w.Soft), slices.Clone(w.GoldSeen)
	return w
}

func (m *memConsensus) load(_ context.Context, jobID, answerer string, itemIDs []string, k int) (dynamo.ConsensusSnapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	snap := dynamo.ConsensusSnapshot{Job: consensus.NewJob(k), Answerer: consensus.NewAnswerer(answerer, k), Items: map[string]dynamo.ConsensusItem{}}
	if w, ok := m.answerers[jobID+"/"+answerer]; ok {
		snap.Answerer = cloneAnswerer(w)
	}
	for _, id := range itemIDs {
		if it, ok := m.items[jobID+"/"+id]; ok {
			snap.Items[id] = cloneItem(it)
		}
	}
	return snap, nil
}

// commit writes the records if they still have the versions read, as the transaction does.
func (m *memConsensus) commit(_ context.Context, c dynamo.ConsensusCommit) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.Answerer != nil && m.answerers[c.JobID+"/"+c.Answerer.Answerer].Version != c.Answerer.Version {
		return job.ErrConflict
	}
	for _, it := range c.Items {
		if cur, ok := m.items[c.JobID+"/"+it.ID]; !ok || cur.Version != it.Version {
			return job.ErrConflict
		}
	}
	if c.Answerer != nil {
		w := cloneAnswerer(*c.Answerer)
		w.Version++
		m.answerers[c.JobID+"/"+w.Answerer] = w
	}
	for _, it := range c.Items {
		it = cloneItem(it)
		it.Version++
		m.items[c.JobID+"/"+it.ID] = it
	}
	return nil
}

// dump is the stored state, comparable between deliveries.
func (m *memConsensus) dump(t *testing.T) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	return platformtest.Snapshot(t, m.items, m.answerers)
}

// answersBody is what the checks need of an answers message.
type answersBody struct {
	ID       string `json:"id"`
	JobID    string `json:"job_id"`
	Class    string `json:"class"`
	Answerer string `json:"answerer"`
	Day      string `json:"day"`
	Answers  []struct {
		ItemID string `json:"item_id"`
	} `json:"answers"`
	Gold []struct {
		ItemID string `json:"item_id"`
	} `json:"gold"`
}

func (b answersBody) answerer() string { return b.JobID + "/" + b.Day + "/" + b.Answerer }

// validConsensusRecords are two messages of the events files that touch different jobs.
func validConsensusRecords(t testing.TB) []events.SQSMessage {
	a := loadEvent(t, "answers-binary.json").Records[0]
	b := loadEvent(t, "answers-image-grid.json").Records[0]
	a.MessageId, b.MessageId = "valid-binary", "valid-grid"
	return []events.SQSMessage{a, b}
}

// FuzzConsensusBatch delivers a batch of the answers queue holding one fuzzed message
// between valid ones (and, if dup, a second delivery of a valid one), twice. Whatever the
// fuzzed message: no panic; the valid messages succeed and their answers and gold are
// stored; only batch message ids are reported; a body that is not JSON fails and stores
// nothing; the second delivery changes no record and fails the same messages.
func FuzzConsensusBatch(f *testing.F) {
	valid := validConsensusRecords(f)
	long := strings.Repeat("a", 1<<16)
	seeds := []string{
		valid[0].Body, valid[1].Body,
		`{"v":1,"id":"c_f1:t0","job_id":"reviews","class":"yes","answerer":"abcdef","day":"2026-11-30","answers":[{"item_id":"r-3","label":"no"}],"gold":[{"item_id":"g-neg","truth":"no","label":"yes"}]}`,
		// The valid answerer of the binary job, answering its item again in another message.
		`{"v":1,"id":"c_f2:t0","job_id":"reviews","class":"yes","answerer":"0de4b4ec57b51b438680498a1e9f86882eac5336b349354340de21bc69dcb35d","day":"2026-11-30","answers":[{"item_id":"r-1","label":"no"}]}`,
		// Same message id as the valid one, other content.
		`{"v":1,"id":"c_b1:t2","job_id":"reviews","class":"yes","answerer":"ff","day":"2026-11-30","answers":[{"item_id":"r-1","label":"no"},{"item_id":"r-2","label":"no"}]}`,
		`{"v":1,"id":"c_f3:t0","job_id":"shapes","class":"square","answerer":"0de4b4ec57b51b438680498a1e9f86882eac5336b349354340de21bc69dcb35d","day":"2026-11-30","answers":[{"item_id":"img-30","label":"yes"},{"item_id":"img-00","label":"yes"},{"item_id":"img-99","label":"no"}]}`,
		`{"v":1,"kind":"reestimate","job_id":"reviews"}`, `{"v":1,"kind":"reestimate"}`, `{"v":1,"kind":"reestimate","job_id":"no-such-job"}`,
		`{"v":1,"kind":"reestimate","job_id":"../x"}`, `{"v":1,"kind":"answers","id":"x"}`, `{"v":1,"kind":"drop"}`,
		// Continuations of a pass that ran out of time, and cursors that cannot be.
		`{"v":1,"kind":"reestimate","job_id":"reviews","after":"r-2","stalls":1}`,
		`{"v":1,"kind":"reestimate","job_id":"reviews","after":"r-4","after_answerer":"2026-11-30/0de4b4ec57b51b438680498a1e9f86882eac5336b349354340de21bc69dcb35d"}`,
		`{"v":1,"kind":"reestimate","job_id":"reviews","after":"r 2"}`, `{"v":1,"kind":"reestimate","job_id":"reviews","after_answerer":"x/ab"}`,
		`{"v":1,"kind":"reestimate","job_id":"reviews","stalls":99}`, `{"v":1,"kind":"reestimate","after":"r-2"}`,
		"", " ", "null", "[]", "[1,2]", "{}", `"x"`, "0", "true", "{not json", `{"v":1}`, `{"v":2,"id":"c_p5:t0"}`,
		`{"v":"1"}`, `{"v":1.5}`, `{"v":1e400}`, `{"v":-1}`, `{"v":18446744073709551617}`,
		`{"v":1,"id":"c_f4:t0","job_id":"reviews","class":"yes","answerer":"ab","day":"2026-11-30","answers":{"r-1":"yes"}}`,
		`{"v":1,"id":"c_f5:t0","job_id":"reviews","class":"yes","answerer":"ab","day":"2026-11-30","answers":[{"item_id":"r-1","label":"yes"},{"item_id":"r-1","label":"no"}]}`,
		`{"v":1,"id":"c_f6:t0","job_id":"reviews","class":"yes","answerer":"ab","day":"2026-02-30","answers":[]}`,
		`{"v":1,"id":"c_f7:t0","job_id":"reviews","class":"yes","answerer":"ab","day":"2026-11-30","solve_ms":1e30}`,
		`{"v":1,"id":"c_f8:t0","job_id":"reviews","class":"yes","answerer":"ab","day":"2026-11-30","answered_at":"yesterday"}`,
		`{"v":1,"id":"c_f9:t0","job_id":"reviews","class":"yes","answerer":"ab","day":"2026-11-30","unknown":{"deep":[1,2,3]},"answers":[{"item_id":"r-4","label":"yes","extra":1}]}`,
		`{"v":1,"id":"c_fa:t0","job_id":"reviews","class":"yes","answerer":"ab","day":"2026-11-30","gold":[{"item_id":"g-pos","truth":"yes","label":"yes"},{"item_id":"g-pos","truth":"yes","label":"no"}]}`,
		`{"v":1,"ID":"c_fb:t0","JOB_ID":"reviews","class":"yes","answerer":"ab","day":"2026-11-30","answers":[{"item_id":"r-4","label":"no"}]}`,
		`{"v":1,"id":"` + long + `","job_id":"reviews","class":"yes","answerer":"ab","day":"2026-11-30"}`,
		`{"v":1,"id":"c_fc:t0","job_id":"reviews","class":"yes","answerer":"` + long + `","day":"2026-11-30"}`,
		`{"v":1,"id":"c_fd:t0","job_id":"reviews","class":"` + long + `","answerer":"ab","day":"2026-11-30"}`,
		valid[0].Body + "garbage", valid[0].Body + valid[1].Body, "\x00\xff",
	}
	for i, body := range seeds {
		f.Add(body, "1", i%3 == 0, i%2 == 0)
	}
	for _, rc := range []string{"", "0", "5", "6", "-1", "99999999999999999999", "x"} {
		f.Add(valid[0].Body, rc, true, false)
	}

	when := time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body, receiveCount string, dup, first bool) {
		ev := platformtest.FuzzBatch(validConsensusRecords(t), body, receiveCount, first, dup)
		mem := newMemConsensus()
		h := handler.New(handler.Deps{Jobs: jobs(), Store: mem.store(), Queue: &queueBox{}, Now: func() time.Time { return when }})
		deliver := func() []string { return platformtest.DeliverBatch(t, h, ev) }
		failed := deliver()
		fuzzFailed := slices.Contains(failed, platformtest.FuzzedID)
		if len(failed) > 0 && !(len(failed) == 1 && fuzzFailed) {
			t.Fatalf("failed %v: only the fuzzed message may fail", failed)
		}
		if !json.Valid([]byte(body)) && !fuzzFailed {
			t.Fatalf("a body that is not JSON was acknowledged: %q", body)
		}

		var fb answersBody
		fuzzOK := !fuzzFailed && json.Unmarshal([]byte(body), &fb) == nil
		allowed := map[string]bool{}
		for _, r := range validConsensusRecords(t) {
			var v answersBody
			if err := json.Unmarshal([]byte(r.Body), &v); err != nil {
				t.Fatal(err)
			}
			allowed[v.ID] = true
			for _, a := range v.Answers {
				q := mem.items[v.JobID+"/"+a.ItemID].Questions[v.Class]
				if !slices.ContainsFunc(q.Answers, func(x consensus.ItemAnswer) bool { return x.ID == v.ID }) &&
					!(fuzzOK && fb.answerer() == v.answerer()) { // the same person's other answer counts instead
					t.Fatalf("valid message %s: its answer to %s is not stored: %+v", v.ID, a.ItemID, q.Answers)
				}
			}
			for _, g := range v.Gold {
				if !slices.Contains(mem.answerers[v.answerer()].GoldSeen, v.ID+":"+g.ItemID) {
					t.Fatalf("valid message %s: gold %s not observed", v.ID, g.ItemID)
				}
			}
		}
		if fuzzOK {
			allowed[fb.ID] = true
		}
		// Nothing of a failed message is stored.
		for key, it := range mem.items {
			for _, q := range it.Questions {
				for _, a := range q.Answers {
					if !allowed[a.ID] {
						t.Fatalf("item %s holds answer %q of a failed message", key, a.ID)
					}
				}
			}
		}
		for key, w := range mem.answerers {
			for _, g := range w.GoldSeen {
				// A gold observation's id is the message id, ':' and the item id.
				if !slices.ContainsFunc(slices.Collect(maps.Keys(allowed)), func(id string) bool { return strings.HasPrefix(g, id+":") }) {
					t.Fatalf("answerer %s holds gold %q of a failed message", key, g)
				}
			}
		}

		platformtest.RedeliveryChangesNothing(t, deliver, failed, func() string { return mem.dump(t) })
	})
}

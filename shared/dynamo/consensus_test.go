package dynamo_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
)

const answererA = "2026-11-30/aa11"

// consensusStore returns a consensus store and the job store over one fresh labels table,
// with the shapes job (1 gold item per class, 3 open items) stored.
func consensusStore(t *testing.T) (*dynamo.Consensus, *dynamo.Jobs, *dynamodb.Client, string, job.Job) {
	t.Helper()
	jobs, c, table := jobStore(t)
	j := shapesJob("shapes")
	if err := jobs.PutJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if err := jobs.PutItems(context.Background(), j, shapesItems(j, 1, 3)...); err != nil {
		t.Fatal(err)
	}
	return dynamo.NewConsensus(c, table), jobs, c, table, j
}

// answered returns an item's consensus with one applied answer.
func answered(t *testing.T, it dynamo.ConsensusItem, done bool) dynamo.ConsensusItem {
	t.Helper()
	js := consensus.NewJob(2)
	q := consensus.NewItem(it.ID+"#circle", 2)
	w := consensus.NewAnswerer(answererA, 2)
	p := consensus.Params{Classes: 2}
	if _, err := p.Update(&js, &q, &w, consensus.Answer{ID: "m1", Answerer: answererA, Label: 0}); err != nil {
		t.Fatal(err)
	}
	it.Questions = map[string]consensus.ItemState{"circle": q}
	it.Result = job.Result{Status: job.ItemOpen, Answers: 1, Label: "circle", Confidence: 0}
	if done {
		it.Status, it.Result.Status, it.Result.Confidence = job.ItemDone, job.ItemDone, 0.97
		it.CompletedAt = time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)
	}
	return it
}

func TestConsensusLoadReadsItemsAndEmptyStateInOneBatch(t *testing.T) {
	s, _, _, _, j := consensusStore(t)
	snap, err := s.Load(context.Background(), j.ID, answererA, []string{"o-0", "g-circle-0", "nope", "o-0"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(snap.Job, consensus.NewJob(2)) || !reflect.DeepEqual(snap.Answerer, consensus.NewAnswerer(answererA, 2)) {
		t.Errorf("fresh state: job %+v answerer %+v", snap.Job, snap.Answerer)
	}
	if len(snap.Items) != 2 {
		t.Fatalf("items %v, want o-0 and g-circle-0", slices.Collect(func(yield func(string) bool) {
			for k := range snap.Items {
				yield(k)
			}
		}))
	}
	if o := snap.Items["o-0"]; o.Gold || o.Status != job.ItemOpen || o.Version != 0 || len(o.Questions) != 0 {
		t.Errorf("open item %+v", o)
	}
	if g := snap.Items["g-circle-0"]; !g.Gold {
		t.Errorf("gold item not marked gold: %+v", g)
	}
}

func TestConsensusCommitIsVersionedAndAtomic(t *testing.T) {
	s, jobs, _, _, j := consensusStore(t)
	ctx := context.Background()
	snap, err := s.Load(ctx, j.ID, answererA, []string{"o-0", "o-1"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	w := snap.Answerer
	w.Answers = 2
	w.Soft[0] = 0.75
	expires := time.Now().Add(72 * time.Hour)
	commit := dynamo.ConsensusCommit{JobID: j.ID, Answerer: &w, AnswererExpires: expires,
		Items: []dynamo.ConsensusItem{answered(t, snap.Items["o-0"], true), answered(t, snap.Items["o-1"], false)}}
	if err := s.Commit(ctx, commit); err != nil {
		t.Fatal(err)
	}

	again, err := s.Load(ctx, j.ID, answererA, []string{"o-0", "o-1"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if again.Answerer.Version != 1 || again.Answerer.Answers != 2 || again.Answerer.Soft[0] != 0.75 {
		t.Errorf("answerer after commit %+v", again.Answerer)
	}
	o0 := again.Items["o-0"]
	if o0.Version != 1 || o0.Status != job.ItemDone || !o0.CompletedAt.Equal(commit.Items[0].CompletedAt) ||
		!reflect.DeepEqual(o0.Questions, commit.Items[0].Questions) {
		t.Errorf("item after commit %+v", o0)
	}

	// The customer API sees the result on the item.
	e, err := jobs.GetEntry(ctx, j.ID, "o-0")
	if err != nil {
		t.Fatal(err)
	}
	if e.Label != "circle" || e.Confidence != 0.97 || e.Status != job.ItemDone || e.AnswerCount != 1 {
		t.Errorf("entry %+v", e)
	}
	e1, _ := jobs.GetEntry(ctx, j.ID, "o-1")
	if e1.Label != "circle" || e1.Status != job.ItemOpen {
		t.Errorf("open entry %+v", e1)
	}
	// The done item left the challenge pool, the open one did not.
	stocks, err := jobs.Stocks(ctx, 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	var open []string
	for _, st := range stocks {
		for _, it := range st.Open {
			open = append(open, it.ID)
		}
	}
	slices.Sort(open)
	if !slices.Equal(open, []string{"o-1", "o-2"}) {
		t.Errorf("open pool %v, want o-1 o-2", open)
	}

	// A commit from the stale snapshot conflicts and writes nothing, not even the part
	// that would still fit.
	stale := commit
	w2 := snap.Answerer
	w2.Answers = 99
	stale.Answerer = &w2
	stale.Items = []dynamo.ConsensusItem{answered(t, snap.Items["o-2"], false), answered(t, snap.Items["o-1"], false)}
	if err := s.Commit(ctx, stale); !errors.Is(err, job.ErrConflict) {
		t.Fatalf("stale commit: %v, want job.ErrConflict", err)
	}
	after, _ := s.Load(ctx, j.ID, answererA, []string{"o-2"}, 2)
	if after.Answerer.Answers != 2 || after.Items["o-2"].Version != 0 {
		t.Errorf("a conflicting commit wrote: answerer %+v, o-2 version %d", after.Answerer, after.Items["o-2"].Version)
	}
}

func TestConsensusCommitRefusesAnItemThatIsGone(t *testing.T) {
	s, jobs, _, _, j := consensusStore(t)
	ctx := context.Background()
	snap, _ := s.Load(ctx, j.ID, answererA, []string{"o-0"}, 2)
	if err := jobs.DeleteEntry(ctx, j.ID, "o-0"); err != nil {
		t.Fatal(err)
	}
	err := s.Commit(ctx, dynamo.ConsensusCommit{JobID: j.ID, Items: []dynamo.ConsensusItem{answered(t, snap.Items["o-0"], false)}})
	if !errors.Is(err, job.ErrConflict) {
		t.Fatalf("commit to a deleted item: %v", err)
	}
	if _, err := jobs.GetEntry(ctx, j.ID, "o-0"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("the update re-created the deleted item: %v", err)
	}
}

func TestConsensusCreditsAddToSoftCountsAndBumpTheVersion(t *testing.T) {
	s, _, _, _, j := consensusStore(t)
	ctx := context.Background()
	w := consensus.NewAnswerer(answererA, 2)
	if err := s.PutAnswerer(ctx, j.ID, w, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	credits := []consensus.Credit{
		{Answerer: answererA, Label: 1, Delta: []float64{0.25, -0.25}},
		{Answerer: answererA, Label: 1, Delta: []float64{0.5, 1e-200}}, // too small for DynamoDB: dropped
		{Answerer: "2026-11-30/gone", Label: 0, Delta: []float64{1, -1}},
	}
	if err := s.Credit(ctx, j.ID, 2, credits); err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Load(ctx, j.ID, answererA, nil, 2)
	// Soft is row-major truth×label: label 1 is column 1.
	if want := []float64{0, 0.75, 0, -0.25}; !slices.Equal(snap.Answerer.Soft, want) || snap.Answerer.Version != 2 {
		t.Errorf("soft %v version %d, want %v and 2", snap.Answerer.Soft, snap.Answerer.Version, want)
	}
	gone, _ := s.Load(ctx, j.ID, "2026-11-30/gone", nil, 2)
	if gone.Answerer.Version != 0 {
		t.Error("a credit created a record for an answerer that had none")
	}
}

func TestConsensusJobCountsAccumulate(t *testing.T) {
	s, _, _, _, j := consensusStore(t)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	// The first delta carries class counts only, as records written before the pooled
	// confusion counts existed.
	for _, d := range []struct{ class, confusion []float64 }{
		{[]float64{0.9, 0.1}, nil},
		{[]float64{-0.2, 0.2}, []float64{0.5, 0, 0.25, 0.25}},
		{[]float64{1e-300, 0}, []float64{0.5, 1, 0, -0.25}},
	} {
		if err := s.AddJobCounts(ctx, j.ID, d.class, d.confusion, exp); err != nil {
			t.Fatal(err)
		}
	}
	near := func(got, want []float64) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-4 {
				return false
			}
		}
		return true
	}
	snap, _ := s.Load(ctx, j.ID, answererA, nil, 2)
	if !near(snap.Job.ClassCounts, []float64{0.7, 0.3}) || !near(snap.Job.Confusion, []float64{1, 1, 0.25, 0}) {
		t.Errorf("class counts %v, confusion %v; want [0.7 0.3] and [1 1 0.25 0]", snap.Job.ClassCounts, snap.Job.Confusion)
	}
	if err := s.PutJobState(ctx, j.ID, consensus.JobState{Classes: 2, ClassCounts: []float64{3, 4}, Confusion: []float64{1, 2, 3, 4}}, exp); err != nil {
		t.Fatal(err)
	}
	snap, _ = s.Load(ctx, j.ID, answererA, nil, 2)
	if !slices.Equal(snap.Job.ClassCounts, []float64{3, 4}) || !slices.Equal(snap.Job.Confusion, []float64{1, 2, 3, 4}) {
		t.Errorf("after put: class counts %v, confusion %v", snap.Job.ClassCounts, snap.Job.Confusion)
	}
	// A record without confusion counts loads with none (the rule then forecasts the
	// prior answerer).
	if err := s.PutJobState(ctx, j.ID, consensus.JobState{Classes: 2, ClassCounts: []float64{3, 4}}, exp); err != nil {
		t.Fatal(err)
	}
	if snap, _ = s.Load(ctx, j.ID, answererA, nil, 2); snap.Job.Confusion != nil {
		t.Errorf("confusion %v from a record without any", snap.Job.Confusion)
	}
}

func TestConsensusExpiredAnswererLoadsEmptyAndIsReplaced(t *testing.T) {
	s, _, c, table, j := consensusStore(t)
	ctx := context.Background()
	w := consensus.NewAnswerer(answererA, 2)
	w.Answers = 5
	if err := s.PutAnswerer(ctx, j.ID, w, time.Now().Add(-time.Minute)); err != nil { // already expired
		t.Fatal(err)
	}
	snap, err := s.Load(ctx, j.ID, answererA, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Answerer.Answers != 0 || snap.Answerer.Version != 1 {
		t.Fatalf("expired answerer loaded as %+v, want empty state at stored version 1", snap.Answerer)
	}
	fresh := snap.Answerer
	fresh.Answers = 1
	if err := s.PutAnswerer(ctx, j.ID, fresh, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("replacing an expired answerer: %v", err)
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: dynamo.Key("CONS#"+j.ID, "ANS#"+answererA)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Item["answers"].(*types.AttributeValueMemberN).Value != "1" || dynamo.Expired(out.Item, time.Now()) {
		t.Errorf("record after replacement %v", out.Item)
	}
}

func TestConsensusLoadJobAndActiveJobs(t *testing.T) {
	s, jobs, _, _, j := consensusStore(t)
	ctx := context.Background()
	paused := shapesJob("paused")
	paused.Status = job.StatusPaused
	if err := jobs.PutJob(ctx, paused); err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Load(ctx, j.ID, answererA, []string{"o-0"}, 2)
	w := snap.Answerer
	if err := s.Commit(ctx, dynamo.ConsensusCommit{JobID: j.ID, Answerer: &w, AnswererExpires: time.Now().Add(time.Hour),
		Items: []dynamo.ConsensusItem{answered(t, snap.Items["o-0"], false)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddJobCounts(ctx, j.ID, []float64{1, 0}, nil, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	jc, err := s.LoadJob(ctx, j.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(jc.Items) != 1 || jc.Items[0].ID != "o-0" || len(jc.Answerers) != 1 || jc.Answerers[0].Answerer != answererA ||
		!slices.Equal(jc.Job.ClassCounts, []float64{1, 0}) {
		t.Errorf("job consensus %+v", jc)
	}
	ids, err := s.ActiveJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{j.ID}) {
		t.Errorf("active jobs %v, want only %s", ids, j.ID)
	}
}

// A damaged answerer record fails the load with a state error that names no pseudonym:
// the consumer logs it.
func TestConsensusDamagedAnswererErrorNamesNoPseudonym(t *testing.T) {
	s, _, c, table, j := consensusStore(t)
	ctx := context.Background()
	if err := s.PutAnswerer(ctx, j.ID, consensus.NewAnswerer(answererA, 2), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &table, Key: dynamo.Key("CONS#"+j.ID, "ANS#"+answererA),
		UpdateExpression:          aws.String("SET answerer = :other"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":other": &types.AttributeValueMemberS{Value: "2026-11-30/bb22"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Load(ctx, j.ID, answererA, nil, 2)
	if !errors.Is(err, consensus.ErrState) {
		t.Fatalf("load of a damaged record: %v, want ErrState", err)
	}
	if strings.Contains(err.Error(), "aa11") || strings.Contains(err.Error(), "bb22") {
		t.Errorf("error names a pseudonym: %v", err)
	}
}

package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
)

func TestExportStatusTransitions(t *testing.T) {
	_, c, table := jobStore(t)
	s := dynamo.NewExports(c, table)
	ctx := context.Background()
	now := time.Now()
	e, err := export.New("cust-1", "shapes", export.FormatManifest, "media", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, e); !errors.Is(err, export.ErrConflict) {
		t.Errorf("second create: %v", err)
	}
	got, err := s.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != export.StatusQueued || got.Key != e.Key || got.CustomerID != "cust-1" || got.MediaBucket != "media" || !got.ExpiresAt.Equal(e.ExpiresAt) {
		t.Errorf("stored export %+v", got)
	}

	first, err := s.Start(ctx, e.ID, now)
	if err != nil || first.Status != export.StatusRunning || first.Attempt != 1 {
		t.Fatalf("start: %+v, %v", first, err)
	}
	// A redelivery while the first run is still going (or after it died) takes over.
	second, err := s.Start(ctx, e.ID, now)
	if err != nil || second.Attempt != 2 {
		t.Fatalf("second start: %+v, %v", second, err)
	}
	if err := s.Finish(ctx, e.ID, 1, 10, now); !errors.Is(err, export.ErrConflict) {
		t.Errorf("the superseded attempt finished the export: %v", err)
	}
	if err := s.Finish(ctx, e.ID, 2, 42, now); err != nil {
		t.Fatal(err)
	}
	done, _ := s.Get(ctx, e.ID)
	if done.Status != export.StatusDone || done.Rows != 42 || done.CompletedAt.IsZero() {
		t.Errorf("finished export %+v", done)
	}
	if _, err := s.Start(ctx, e.ID, now); !errors.Is(err, export.ErrConflict) {
		t.Errorf("start of a done export: %v", err)
	}
	if err := s.Fail(ctx, e.ID, 2, "x", now); !errors.Is(err, export.ErrConflict) {
		t.Errorf("fail of a done export: %v", err)
	}
	if _, err := s.Start(ctx, "exp_missing", now); !errors.Is(err, export.ErrNotFound) {
		t.Errorf("start of a missing export: %v", err)
	}

	f, _ := export.New("cust-1", "shapes", export.FormatCSV, "media", now)
	_ = s.Create(ctx, f)
	run, _ := s.Start(ctx, f.ID, now)
	if err := s.Fail(ctx, f.ID, run.Attempt, "the job has labels outside its classes", now); err != nil {
		t.Fatal(err)
	}
	failed, _ := s.Get(ctx, f.ID)
	if failed.Status != export.StatusFailed || failed.Error == "" {
		t.Errorf("failed export %+v", failed)
	}
}

func TestExpiredExportIsGone(t *testing.T) {
	_, c, table := jobStore(t)
	s := dynamo.NewExports(c, table)
	ctx := context.Background()
	e, _ := export.New("cust-1", "shapes", export.FormatCSV, "media", time.Now().Add(-8*24*time.Hour))
	if err := s.Create(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, e.ID); !errors.Is(err, export.ErrNotFound) {
		t.Errorf("get of an expired export: %v", err)
	}
	if _, err := s.Start(ctx, e.ID, time.Now()); !errors.Is(err, export.ErrNotFound) {
		t.Errorf("start of an expired export: %v", err)
	}
}

// EachRow streams the done, non-gold items over several query pages; items that
// consensus completes (Consensus.PutItem) show up with what it wrote.
func TestEachRowStreamsDoneItemsAcrossPages(t *testing.T) {
	jobs, c, table := jobStore(t)
	ctx := context.Background()
	j := shapesJob("shapes")
	seedJob(t, jobs, j, 2, 3) // gold (with labels) and open items
	// 1,100 done items, written the way consensus leaves them.
	done := time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC)
	var reqs []types.WriteRequest
	for i := range 1100 {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "JOB#shapes"}, "sk": &types.AttributeValueMemberS{Value: fmt.Sprintf("ITEM#d-%04d", i)},
			"kind": &types.AttributeValueMemberS{Value: "item"}, "job_id": &types.AttributeValueMemberS{Value: "shapes"},
			"id": &types.AttributeValueMemberS{Value: fmt.Sprintf("d-%04d", i)}, "media_key": &types.AttributeValueMemberS{Value: fmt.Sprintf("m/d-%04d.png", i)},
			"gold": &types.AttributeValueMemberBOOL{Value: false}, "status": &types.AttributeValueMemberS{Value: "done"},
			"label": &types.AttributeValueMemberS{Value: "star"}, "confidence": &types.AttributeValueMemberN{Value: "0.95"},
			"answer_count": &types.AttributeValueMemberN{Value: "3"}, "completed_at": &types.AttributeValueMemberS{Value: done.Format(time.RFC3339Nano)},
			"consensus": &types.AttributeValueMemberS{Value: "{}"}, "cons_version": &types.AttributeValueMemberN{Value: "1"},
		}}})
	}
	for start := 0; start < len(reqs); start += 25 {
		if _, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs[start:min(start+25, len(reqs))]}}); err != nil {
			t.Fatal(err)
		}
	}
	// One open item completed through the consensus store.
	cs := dynamo.NewConsensus(c, table)
	snap, _ := cs.Load(ctx, j.ID, answererA, []string{"o-1"}, 2)
	it := snap.Items["o-1"]
	it.Questions = map[string]consensus.ItemState{"circle": consensus.NewItem("o-1#circle", 2)}
	it.Result = job.Result{Status: job.ItemDone, Answers: 4, Label: "square", Confidence: 0.91}
	it.CompletedAt = done
	if err := cs.PutItem(ctx, j.ID, it); err != nil {
		t.Fatal(err)
	}

	s := dynamo.NewExports(c, table)
	var rows []export.Row
	if err := s.EachRow(ctx, j.ID, func(r export.Row) error { rows = append(rows, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1101 {
		t.Fatalf("%d rows, want 1101 (1100 done + o-1; gold and open items left out)", len(rows))
	}
	for i, r := range rows[:1100] {
		if r.ItemID != fmt.Sprintf("d-%04d", i) || r.Label != "star" || r.Answers != 3 || r.Confidence != 0.95 || !r.CompletedAt.Equal(done) {
			t.Fatalf("row %d: %+v", i, r)
		}
	}
	if o := rows[1100]; o.ItemID != "o-1" || o.Label != "square" || o.Confidence != 0.91 || o.Answers != 4 || o.MediaKey != "m/o" || !o.CompletedAt.Equal(done) {
		t.Errorf("consensus-completed row %+v", o)
	}

	stop := errors.New("stop")
	n := 0
	err := s.EachRow(ctx, j.ID, func(export.Row) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("EachRow went on after an error: %d rows, %v", n, err)
	}
}

func TestExportsOfListsACustomersLiveExports(t *testing.T) {
	_, c, table := jobStore(t)
	s := dynamo.NewExports(c, table)
	ctx := context.Background()
	now := time.Now()
	var mine []string
	for i, created := range []time.Time{now.Add(-2 * time.Hour), now.Add(-time.Hour), now.Add(-8 * 24 * time.Hour)} {
		e, _ := export.New("cust-a", "shapes", export.FormatCSV, "media", created)
		if err := s.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			mine = append(mine, e.ID) // the third has expired
		}
	}
	other, _ := export.New("cust-b", "shapes", export.FormatCSV, "media", now)
	_ = s.Create(ctx, other)

	got, err := s.ExportsOf(ctx, "cust-a")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if fmt.Sprint(ids) != fmt.Sprint(mine) {
		t.Errorf("exports of cust-a %v, want %v (oldest first, expired left out)", ids, mine)
	}
}

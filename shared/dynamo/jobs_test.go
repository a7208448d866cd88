package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/schema"
)

func shapesJob(id string) job.Job {
	return job.Job{
		ID: id, CustomerID: "cust-1", Name: "Shapes", Kind: job.KindImageGrid,
		Question:   map[string]string{"en": "Select every image that shows a {class}", "de": "Wählen Sie: {class}"},
		Classes:    []string{"circle", "square", "star"},
		ClassNames: map[string][]string{"de": {"Kreis", "Quadrat", "Stern"}},
		Priority:   2, Status: job.StatusActive, MinAnswers: 1, MaxAnswers: 5, Target: 0.9,
		CreatedAt: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC),
	}
}

// shapesItems returns gold items per class and open items.
func shapesItems(j job.Job, goldPerClass, open int) []job.Item {
	var items []job.Item
	for _, c := range j.Classes {
		for i := range goldPerClass {
			items = append(items, job.Item{JobID: j.ID, ID: fmt.Sprintf("g-%s-%d", c, i), MediaKey: "m/" + c, Gold: true, GoldLabel: c, Status: job.ItemDone})
		}
	}
	for i := range open {
		items = append(items, job.Item{JobID: j.ID, ID: fmt.Sprintf("o-%d", i), MediaKey: "m/o"})
	}
	return items
}

// seedJob stores j and its shapesItems(j, goldPerClass, open).
func seedJob(t *testing.T, s *dynamo.Jobs, j job.Job, goldPerClass, open int) {
	t.Helper()
	ctx := context.Background()
	if err := s.PutJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := s.PutItems(ctx, j, shapesItems(j, goldPerClass, open)...); err != nil {
		t.Fatal(err)
	}
}

func jobStore(t *testing.T) (*dynamo.Jobs, *dynamodb.Client, string) {
	c, table := localTable(t, schema.TableLabels)
	return dynamo.NewJobs(c, table), c, table
}

func TestJobsPutGetListAndStatus(t *testing.T) {
	s, _, _ := jobStore(t)
	ctx := context.Background()
	j := shapesJob("shapes")
	if err := s.PutJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetJob(ctx, "shapes")
	if err != nil {
		t.Fatal(err)
	}
	got.CreatedAt = got.CreatedAt.UTC()
	if !reflect.DeepEqual(got, j) {
		t.Fatalf("got  %+v\nwant %+v", got, j)
	}
	other := shapesJob("later")
	other.CreatedAt = other.CreatedAt.Add(time.Hour)
	foreign := shapesJob("foreign")
	foreign.CustomerID = "cust-2"
	for _, x := range []job.Job{other, foreign} {
		if err := s.PutJob(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	list, more, err := s.ListJobs(ctx, "cust-1", job.JobPosition{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "shapes" || list[1].ID != "later" || more {
		t.Fatalf("customer's jobs: %+v, more %v", list, more)
	}
	if err := s.SetJobStatus(ctx, "shapes", job.StatusPaused); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetJob(ctx, "shapes"); got.Status != job.StatusPaused {
		t.Fatalf("status %q after pause", got.Status)
	}
	if _, err := s.GetJob(ctx, "nope"); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("missing job: %v", err)
	}
	bad := shapesJob("bad")
	bad.Classes = []string{"only"}
	if err := s.PutJob(ctx, bad); !errors.Is(err, job.ErrInvalid) {
		t.Fatalf("invalid job stored: %v", err)
	}
}

func TestJobsStocksHoldOnlyActiveJobsAndDrawableItems(t *testing.T) {
	s, _, _ := jobStore(t)
	ctx := context.Background()
	active, paused := shapesJob("active"), shapesJob("paused")
	paused.Status = job.StatusPaused
	for _, j := range []job.Job{active, paused} {
		// 3×10 gold + 12 open = 42 items: more than one BatchWriteItem.
		seedJob(t, s, j, 10, 12)
	}
	if err := s.SetItemStatus(ctx, "active", "o-0", job.ItemDone, 5); err != nil {
		t.Fatal(err)
	}
	stocks, err := s.Stocks(ctx, 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(stocks) != 1 || stocks[0].Job.ID != "active" {
		t.Fatalf("stocks for %d jobs: %+v", len(stocks), stocks)
	}
	st := stocks[0]
	if len(st.Gold) != 30 || len(st.Open) != 11 {
		t.Fatalf("%d gold and %d open items, want 30 and 11", len(st.Gold), len(st.Open))
	}
	for _, it := range st.Open {
		if it.ID == "o-0" {
			t.Fatal("a done item is still drawable")
		}
	}
	got, err := s.GetItem(ctx, "active", "o-0")
	if err != nil || got.Status != job.ItemDone || got.AnswerCount != 5 {
		t.Fatalf("done item: %+v %v", got, err)
	}
	// Reopened, it is drawable again.
	if err := s.SetItemStatus(ctx, "active", "o-0", job.ItemOpen, 5); err != nil {
		t.Fatal(err)
	}
	stocks, _ = s.Stocks(ctx, 100, 10)
	if len(stocks[0].Open) != 12 {
		t.Fatalf("%d open after reopening, want 12", len(stocks[0].Open))
	}
	if err := s.SetItemStatus(ctx, "active", "missing", job.ItemDone, 1); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("missing item: %v", err)
	}
	// Pausing takes the job out of the pool, activating puts it back.
	if err := s.SetJobStatus(ctx, "active", job.StatusPaused); err != nil {
		t.Fatal(err)
	}
	if stocks, _ = s.Stocks(ctx, 100, 10); len(stocks) != 0 {
		t.Fatalf("paused job still stocked")
	}
	if err := s.SetJobStatus(ctx, "paused", job.StatusActive); err != nil {
		t.Fatal(err)
	}
	if stocks, _ = s.Stocks(ctx, 100, 10); len(stocks) != 1 || stocks[0].Job.ID != "paused" {
		t.Fatalf("activated job not stocked: %+v", stocks)
	}
}

func TestJobsStocksSampleIsBoundedAndRandom(t *testing.T) {
	s, _, _ := jobStore(t)
	ctx := context.Background()
	j := shapesJob("big")
	seedJob(t, s, j, 20, 60)
	var samples [][]string
	for range 5 {
		stocks, err := s.Stocks(ctx, 8, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(stocks[0].Gold) != 8 || len(stocks[0].Open) != 8 {
			t.Fatalf("sample of %d gold and %d open, want 8 each", len(stocks[0].Gold), len(stocks[0].Open))
		}
		var ids []string
		for _, it := range stocks[0].Open {
			ids = append(ids, it.ID)
		}
		slices.Sort(ids)
		samples = append(samples, ids)
	}
	same := 0
	for _, x := range samples[1:] {
		if slices.Equal(x, samples[0]) {
			same++
		}
	}
	if same == len(samples)-1 {
		t.Fatalf("five samples of 8 out of 60 open items were identical: %v", samples[0])
	}
}

func TestJobsWithExpiryCarryTTLAndVanishWhenExpired(t *testing.T) {
	s, c, table := jobStore(t)
	ctx := context.Background()
	keep := shapesJob("keep")
	temp := shapesJob("temp")
	temp.ExpiresAt = time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	for _, j := range []job.Job{keep, temp} {
		seedJob(t, s, j, 3, 1)
	}
	ttlOf := func(pk, sk string) bool {
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: dynamo.Key(pk, sk)})
		if err != nil || len(out.Item) == 0 {
			t.Fatalf("read %s %s: %v", pk, sk, err)
		}
		_, ok := out.Item[schema.TTLAttribute]
		return ok
	}
	if ttlOf("JOB#keep", "JOB") || ttlOf("JOB#keep", "ITEM#o-0") {
		t.Fatal("a job without expiry got a ttl")
	}
	if !ttlOf("JOB#temp", "JOB") || !ttlOf("JOB#temp", "ITEM#o-0") {
		t.Fatal("a job with an expiry has records without ttl")
	}
	if _, err := s.GetJob(ctx, "temp"); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("expired job: %v", err)
	}
	if _, err := s.GetItem(ctx, "temp", "o-0"); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("expired item: %v", err)
	}
	stocks, err := s.Stocks(ctx, 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(stocks) != 1 || stocks[0].Job.ID != "keep" {
		t.Fatalf("stocks: %+v", stocks)
	}
	listed, _, err := s.ListJobs(ctx, keep.CustomerID, job.JobPosition{}, 10)
	if err != nil || len(listed) != 1 || listed[0].ID != "keep" {
		t.Fatalf("listed %+v (%v); want only the job that has not expired", listed, err)
	}
	// A privacy request must still reach the expired job until DynamoDB sweeps it.
	held, err := dynamo.NewHoldings(c, dynamo.HoldingsTables{Labels: table}, nil).ListJobs(ctx, keep.CustomerID)
	if err != nil || len(held) != 2 {
		t.Fatalf("privacy holdings list %+v (%v); want both jobs", held, err)
	}
}

func TestJobPoolDrawsFromTheTableAndCaches(t *testing.T) {
	s, _, _ := jobStore(t)
	ctx := context.Background()
	j := shapesJob("shapes")
	seedJob(t, s, j, 5, 3)
	pool := dynamo.NewJobPool(s)
	req := job.Request{Kinds: []job.Kind{job.KindImageGrid}, Size: 9, MaxOpen: 3, MinTrue: 2, MinFalse: 2}
	d, err := pool.Draw(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if d.Job.ID != "shapes" || len(d.Gold) != 6 || len(d.Open) != 3 {
		t.Fatalf("draw %+v", d)
	}
	// Paused in the table, the job is still drawn from the cached catalog until refresh.
	if err := s.SetJobStatus(ctx, "shapes", job.StatusPaused); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Draw(ctx, req); err != nil {
		t.Fatalf("cached catalog: %v", err)
	}
	pool.Invalidate()
	if _, err := pool.Draw(ctx, req); !errors.Is(err, job.ErrNoMaterial) {
		t.Fatalf("after refresh: err = %v, want ErrNoMaterial", err)
	}
}

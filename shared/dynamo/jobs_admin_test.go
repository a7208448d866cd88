package dynamo_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/job/jobtest"
	"github.com/crowdgate/crowdgate/shared/schema"
)

func TestJobStoreContract(t *testing.T) {
	s, _, _ := jobStore(t)
	jobtest.TestStore(t, func(*testing.T) job.Store { return s }, func(t *testing.T, st job.Store) []job.Stock {
		stocks, err := st.(*dynamo.Jobs).Stocks(context.Background(), 1000, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return stocks
	})
}

// The customer jobs service on DynamoDB Local, seen through the pool the challenge
// function draws from: a new job is drawn, a paused one is not, a resumed one is again,
// and consensus results show in the item listing.
func TestJobServiceFeedsTheChallengePool(t *testing.T) {
	s, c, table := jobStore(t)
	ctx := context.Background()
	svc := job.NewService(s, &jobtest.Media{}, time.Now)
	pool := dynamo.NewJobPool(s)
	yesNo := job.Request{Kinds: []job.Kind{job.KindBinary, job.KindMultipleChoice}, Size: 1, MaxOpen: 1}

	j, err := svc.Create(ctx, "cust-pool", job.NewJob{Name: "Sentiment", Kind: job.KindBinary, Question: map[string]string{"en": "Is this review positive?"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddItems(ctx, "cust-pool", j.ID, []job.NewItem{
		{ID: "g1", Text: "Love it", Gold: "yes"}, {ID: "g2", Text: "Awful", Gold: "no"},
		{ID: "o1", Text: "Arrived on time"}, {ID: "h1", Text: "Best purchase", Gold: "yes", Holdout: true},
		{ID: "img", Image: &job.ImageUpload{ContentType: "image/png", Size: 100}},
	}); err != nil {
		t.Fatal(err)
	}
	pool.Invalidate()
	d, err := pool.Draw(ctx, yesNo)
	if err != nil || d.Job.ID != j.ID || d.Job.QuestionFor("en", d.Class) != "Is this review positive?" {
		t.Fatalf("draw from a new job: %+v, %v", d, err)
	}
	if len(d.Open) == 1 && d.Open[0].ID != "o1" && d.Open[0].ID != "h1" {
		t.Fatalf("drew open item %+v (a pending upload?)", d.Open[0])
	}

	if _, err := svc.Pause(ctx, "cust-pool", j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Draw(ctx, yesNo); err != nil {
		t.Fatal("the cached catalog should still serve until its refresh")
	}
	pool.Invalidate()
	if _, err := pool.Draw(ctx, yesNo); !errors.Is(err, job.ErrNoMaterial) {
		t.Fatalf("paused job drawn after refresh: %v", err)
	}
	if _, err := svc.Resume(ctx, "cust-pool", j.ID); err != nil {
		t.Fatal(err)
	}
	pool.Invalidate()
	if _, err := pool.Draw(ctx, yesNo); err != nil {
		t.Fatalf("resumed job not drawn: %v", err)
	}

	// Consensus results, written on the item record as the consensus store does (status,
	// answer_count, label, confidence; a done item leaves the pool index): the listing and
	// progress show them.
	for _, id := range []string{"o1", "h1"} {
		_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &table, Key: dynamo.Key("JOB#"+j.ID, "ITEM#"+id),
			UpdateExpression:         aws.String("SET #st = :s, answer_count = :n, #lb = :l, confidence = :c REMOVE gsi1pk, gsi1sk"),
			ExpressionAttributeNames: map[string]string{"#st": "status", "#lb": "label"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":s": &types.AttributeValueMemberS{Value: "done"}, ":n": &types.AttributeValueMemberN{Value: "4"},
				":l": &types.AttributeValueMemberS{Value: "yes"}, ":c": &types.AttributeValueMemberN{Value: "0.97"},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	page, err := svc.Items(ctx, "cust-pool", j.ID, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]job.Entry{}
	for _, e := range page.Items {
		byID[e.ID] = e
	}
	if e := byID["o1"]; e.Status != job.ItemDone || e.Label != "yes" || e.Confidence != 0.97 || e.AnswerCount != 4 {
		t.Fatalf("o1 after consensus %+v", e)
	}
	if e := byID["img"]; e.Status != job.ItemPending || e.ExpiresAt.IsZero() {
		t.Fatalf("pending upload %+v", e)
	}
	_, p, err := svc.Progress(ctx, "cust-pool", j.ID)
	if acc, ok := p.Accuracy(); err != nil || !ok || acc != 1 || p.Done != 2 || p.Pending != 1 || p.Gold != 2 || p.Answers != 8 {
		t.Fatalf("progress %+v (accuracy %v), %v", p, acc, err)
	}
	stocks, err := s.Stocks(ctx, 100, 100)
	if err != nil || len(stocks) != 1 || len(stocks[0].Open) != 0 || len(stocks[0].Gold) != 2 {
		t.Fatalf("pool after consensus %+v, %v", stocks, err)
	}

	// Deletion removes every record of the job, the pool entry included; what is left is
	// the marker of the deletion, the job id and time only, for the daily sweep.
	if d, err := svc.Delete(ctx, "cust-pool", j.ID); err != nil || !d.Done || d.Items != 5 {
		t.Fatalf("delete %+v, %v", d, err)
	}
	out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: &table})
	if err != nil || len(out.Items) != 1 {
		t.Fatalf("%d records left after deleting the only job (%v)", len(out.Items), err)
	}
	var names []string
	for name := range out.Items[0] {
		names = append(names, name)
	}
	slices.Sort(names)
	if pk := out.Items[0]["pk"].(*types.AttributeValueMemberS).Value; pk != "EXPIRY" || !slices.Equal(names, []string{"expires_at", "job_id", "kind", "pk", "sk", "ttl"}) {
		t.Fatalf("left after deleting the only job: %s %v", pk, names)
	}
}

// Pending uploads carry a ttl (so an upload never committed is forgotten); committed items
// of a job without expiry do not.
func TestPendingUploadsExpire(t *testing.T) {
	s, c, table := jobStore(t)
	ctx := context.Background()
	svc := job.NewService(s, &jobtest.Media{}, time.Now)
	j, err := svc.Create(ctx, "cust-ttl", job.NewJob{Name: "Pets", Kind: job.KindImageGrid, Classes: []string{"cat", "dog"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddItems(ctx, "cust-ttl", j.ID, []job.NewItem{{ID: "p", Image: &job.ImageUpload{ContentType: "image/png", Size: 10}}}); err != nil {
		t.Fatal(err)
	}
	get := func() map[string]any {
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: dynamo.Key("JOB#"+j.ID, "ITEM#p")})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		for k, v := range out.Item {
			m[k] = v
		}
		return m
	}
	item := get()
	if _, ok := item[schema.TTLAttribute]; !ok {
		t.Fatal("a pending upload has no ttl")
	}
	if _, ok := item["gsi1pk"]; ok {
		t.Fatal("a pending upload is indexed into the pool")
	}
	key := item["media_key"].(*types.AttributeValueMemberS).Value
	if err := s.CommitEntry(ctx, j, "p", key); err != nil {
		t.Fatal(err)
	}
	item = get()
	if _, ok := item[schema.TTLAttribute]; ok {
		t.Fatal("a committed item of a job without expiry keeps the upload's ttl")
	}
	if _, ok := item["gsi1pk"]; !ok {
		t.Fatal("a committed item is not in the pool index")
	}
}

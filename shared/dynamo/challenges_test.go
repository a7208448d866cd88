package dynamo_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

func challengeRecord(id string, expires time.Time) challenge.Record {
	return challenge.Record{
		ID: id, Sitekey: "site-1", Host: "shop.example.com", Locale: "de",
		IssuedAt: expires.Add(-5 * time.Minute), ExpiresAt: expires,
		Tasks: []challenge.TaskRecord{
			{ID: "t0", Kind: challenge.TaskImageGrid, JobID: "shapes", Class: "circle", Items: []challenge.ItemRecord{
				{Tile: "aaaa", ItemID: "g1", Gold: true, Truth: true},
				{Tile: "bbbb", ItemID: "g2", Gold: true, Truth: false},
				{Tile: "cccc", ItemID: "o1"},
			}},
			{ID: "t1", Kind: challenge.TaskYesNo, JobID: "sentiment", Class: "yes", Items: []challenge.ItemRecord{{ItemID: "s1", Gold: true}}},
		},
	}
}

func challengeStore(t *testing.T) (*dynamo.Challenges, *dynamodb.Client, string) {
	c, table := localTable(t, schema.TableChallenges)
	return dynamo.NewChallenges(c, table), c, table
}

func TestChallengesPutGetRoundTripsWithTTL(t *testing.T) {
	s, c, table := challengeStore(t)
	ctx := context.Background()
	exp := time.Now().Add(5 * time.Minute).UTC().Truncate(time.Millisecond)
	want := challengeRecord("c_1", exp)
	if err := s.Put(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "c_1")
	if err != nil {
		t.Fatal(err)
	}
	got.IssuedAt, got.ExpiresAt = got.IssuedAt.UTC(), got.ExpiresAt.UTC()
	want.IssuedAt, want.ExpiresAt = want.IssuedAt.UTC(), want.ExpiresAt.UTC()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: dynamo.Key("CHALLENGE#c_1", "CHALLENGE")})
	if err != nil {
		t.Fatal(err)
	}
	if dynamo.Expired(out.Item, exp.Add(-time.Second)) || !dynamo.Expired(out.Item, exp.Add(time.Second)) {
		t.Fatalf("ttl %v does not match the expiry %v", out.Item[schema.TTLAttribute], exp)
	}
	if _, err := s.Get(ctx, "c_missing"); !errors.Is(err, challenge.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	// The SDK may retry a put whose first attempt landed: putting the same record again
	// is not an error. A different record under the same id is refused and changes nothing.
	if err := s.Put(ctx, want); err != nil {
		t.Fatalf("a retried Put of the same challenge: %v", err)
	}
	other := want
	other.Sitekey = "site-2"
	if err := s.Put(ctx, other); err == nil {
		t.Fatal("a second Put with the same id overwrote the challenge")
	}
	if got, err := s.Get(ctx, "c_1"); err != nil || got.Sitekey != want.Sitekey {
		t.Fatalf("after the refused Put: %+v, %v", got, err)
	}
}

func TestChallengesConsumeOnceThenUsed(t *testing.T) {
	s, _, _ := challengeStore(t)
	ctx := context.Background()
	now := time.Now()
	if err := s.Put(ctx, challengeRecord("c_1", now.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if err := s.Consume(ctx, "c_1", now); err != nil {
		t.Fatal(err)
	}
	if err := s.Consume(ctx, "c_1", now); !errors.Is(err, challenge.ErrUsed) {
		t.Fatalf("second consume: %v", err)
	}
	r, err := s.Get(ctx, "c_1")
	if err != nil || !r.Used {
		t.Fatalf("after consume: used=%v err=%v", r.Used, err)
	}
	if err := s.Consume(ctx, "c_missing", now); !errors.Is(err, challenge.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}

func TestChallengesExpiredIsRefusedEvenBeforeDynamoDeletesIt(t *testing.T) {
	s, _, _ := challengeStore(t)
	ctx := context.Background()
	now := time.Now()
	if err := s.Put(ctx, challengeRecord("c_old", now.Add(-time.Minute))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "c_old"); !errors.Is(err, challenge.ErrExpired) {
		t.Fatalf("get: %v", err)
	}
	if err := s.Consume(ctx, "c_old", now); !errors.Is(err, challenge.ErrExpired) {
		t.Fatalf("consume: %v", err)
	}
}

func TestChallengesConcurrentConsumeExactlyOneWins(t *testing.T) {
	s, _, _ := challengeStore(t)
	ctx := context.Background()
	now := time.Now()
	if err := s.Put(ctx, challengeRecord("c_race", now.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	const n = 12
	errs := make(chan error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- s.Consume(ctx, "c_race", now)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	wins, used := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, challenge.ErrUsed):
			used++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if wins != 1 || used != n-1 {
		t.Fatalf("%d wins, %d used; want 1 and %d", wins, used, n-1)
	}
}

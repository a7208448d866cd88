package dynamo_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

func TestSaltsOnePerDayAgreedByEveryInstance(t *testing.T) {
	c, table := localTable(t, schema.TableRisk)
	ctx := context.Background()
	today := time.Now().UTC().Format(time.DateOnly)

	// Ten instances ask for today's salt at once: one creates it, all get the same bytes.
	const n = 10
	salts := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := dynamo.NewSalts(c, table, dynamo.SaltPurposeAnswerer).Salt(ctx, today)
			if err != nil {
				t.Error(err)
			}
			salts[i] = s
		}()
	}
	wg.Wait()
	for i := range salts {
		if len(salts[i]) != dynamo.SaltBytes || !bytes.Equal(salts[i], salts[0]) {
			t.Fatalf("instance %d got salt %x, instance 0 got %x", i, salts[i], salts[0])
		}
	}
	if bytes.Equal(salts[0], make([]byte, dynamo.SaltBytes)) {
		t.Fatal("salt is all zeros")
	}

	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	other, err := dynamo.NewSalts(c, table, dynamo.SaltPurposeAnswerer).Salt(ctx, yesterday)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other, salts[0]) {
		t.Fatal("two days share a salt")
	}
	purpose, err := dynamo.NewSalts(c, table, "risk-ip").Salt(ctx, today)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(purpose, salts[0]) {
		t.Fatal("two purposes share a salt")
	}
}

func TestSaltIsDestroyed48HoursAfterItsDay(t *testing.T) {
	c, table := localTable(t, schema.TableRisk)
	ctx := context.Background()
	s := dynamo.NewSalts(c, table, dynamo.SaltPurposeAnswerer)
	day := time.Now().UTC().Format(time.DateOnly)
	if _, err := s.Salt(ctx, day); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: dynamo.Key("SALT#answerer#"+day, "SALT")})
	if err != nil || len(out.Item) == 0 {
		t.Fatalf("stored salt: %v", err)
	}
	d, _ := time.Parse(time.DateOnly, day)
	end := d.AddDate(0, 0, 1).Add(48 * time.Hour)
	if dynamo.Expired(out.Item, end.Add(-time.Second)) || !dynamo.Expired(out.Item, end) {
		t.Fatalf("ttl %v, want %v", out.Item[schema.TTLAttribute], end)
	}

	old := time.Now().UTC().AddDate(0, 0, -3).Format(time.DateOnly)
	if _, err := s.Salt(ctx, old); !errors.Is(err, dynamo.ErrSaltDestroyed) {
		t.Fatalf("salt of 3 days ago: err = %v, want ErrSaltDestroyed", err)
	}
	if _, err := s.Salt(ctx, "yesterday"); !errors.Is(err, dynamo.ErrSaltDestroyed) {
		t.Fatalf("malformed day: err = %v", err)
	}
}

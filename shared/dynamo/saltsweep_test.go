package dynamo_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

func TestSaltSweeperDestroysOnlyExpiredDays(t *testing.T) {
	c, table := localTable(t, schema.TableRisk)
	ctx := context.Background()
	today := time.Now().UTC().Format(time.DateOnly)
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)

	salt := func(day string) []byte {
		t.Helper()
		// A fresh store each time: Salts caches in memory.
		s, err := dynamo.NewSalts(c, table, dynamo.SaltPurposeAnswerer).Salt(ctx, day)
		if err != nil {
			t.Fatalf("salt of %s: %v", day, err)
		}
		return s
	}
	before, keep := salt(today), salt(yesterday)

	sweep := dynamo.NewSaltSweeper(c, table)
	if err := sweep.Destroy(ctx, today); err == nil {
		t.Fatal("destroyed today's salt while it is in use")
	}
	if !bytes.Equal(salt(today), before) {
		t.Fatal("a refused destroy changed today's salt")
	}

	// Three days on, today's salt is past retention; the sweeper deletes it for real.
	expires, _ := dynamo.SaltExpiry(today)
	sweep.Now = func() time.Time { return expires }
	if got := dynamo.LastExpiredSaltDay(expires); got != today {
		t.Fatalf("LastExpiredSaltDay(%s) = %s, want %s", expires, got, today)
	}
	if got := dynamo.LastExpiredSaltDay(expires.Add(-time.Second)); got >= today {
		t.Fatalf("a second before expiry LastExpiredSaltDay = %s, want a day before %s", got, today)
	}
	if err := sweep.Destroy(ctx, today); err != nil {
		t.Fatal(err)
	}
	if err := sweep.Destroy(ctx, today); err != nil {
		t.Fatalf("destroying an already destroyed salt: %v", err)
	}
	// Salts would create a new salt for a day still in its retention: a different value
	// proves the old one is gone from the table.
	if bytes.Equal(salt(today), before) {
		t.Fatal("today's salt survived Destroy")
	}
	if !bytes.Equal(salt(yesterday), keep) {
		t.Fatal("destroying one day touched another day's salt")
	}
	if err := sweep.Destroy(ctx, "not-a-day"); err == nil {
		t.Fatal("destroyed salts of a malformed day")
	}
}

// The risk function's IP and subnet pseudonyms are made with salts of their own purpose;
// PRIVACY.md promises every daily salt is destroyed 48 h after its day, theirs included.
func TestSaltSweeperDestroysRiskSalts(t *testing.T) {
	c, table := localTable(t, schema.TableRisk)
	ctx := context.Background()
	today := time.Now().UTC().Format(time.DateOnly)
	salt := func() []byte {
		t.Helper()
		s, err := dynamo.NewSalts(c, table, dynamo.SaltPurposeRisk).Salt(ctx, today)
		if err != nil {
			t.Fatalf("risk salt of %s: %v", today, err)
		}
		return s
	}
	before := salt()
	sweep := dynamo.NewSaltSweeper(c, table)
	expires, _ := dynamo.SaltExpiry(today)
	sweep.Now = func() time.Time { return expires }
	if err := sweep.Destroy(ctx, today); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(salt(), before) {
		t.Fatal("the risk salt survived Destroy: its pseudonyms stay linkable past retention")
	}
}

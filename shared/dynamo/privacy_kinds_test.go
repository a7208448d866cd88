package dynamo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Every record of the privacy table says what it is: table scans (the lifecycle check,
// an operator's console) sort the request log by kind.
func TestPrivacyRecordsNameTheirKind(t *testing.T) {
	c, table := localTable(t, schema.TablePrivacy)
	svc, _ := privacyService(t, dynamo.NewPrivacy(c, table, nil), privacytest.Accounts{})
	ctx := context.Background()
	if _, err := svc.File(ctx, privacy.FileInput{Email: "jane@example.com", Type: privacy.TypeAccess, Regulation: privacy.CCPA}); err != nil {
		t.Fatal(err)
	}
	items, err := privScanAll(ctx, c, table)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"REQUEST": "privacy-request", "CODE": "privacy-code", "OPEN": "privacy-open", "AUDIT#": "privacy-audit"}
	seen := map[string]bool{}
	for _, it := range items {
		sk := attrS(it, "sk")
		for prefix, kind := range want {
			if strings.HasPrefix(sk, prefix) {
				seen[prefix] = true
				if got := attrS(it, "kind"); got != kind {
					t.Errorf("record %s has kind %q, want %q", sk, got, kind)
				}
			}
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("records seen %v, want every one of %v", seen, want)
	}
}

func attrS(it map[string]types.AttributeValue, name string) string {
	if s, ok := it[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// An export whose ttl has passed is still stored until DynamoDB sweeps it (up to two days
// later), and its file outlives it in the exports bucket (the bucket's lifecycle counts
// from the file's completion, rounded up to midnight): an erasure must remove both.
func TestHoldingsEraseExportsPastTheirTTL(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	jane := w.people["jane"]
	old, err := export.New(jane.customer, jane.jobs[0], export.FormatCSV, "media", time.Now().Add(-export.Retention-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamo.NewExports(w.c, w.tables[schema.TableLabels]).Create(ctx, old); err != nil {
		t.Fatal(err)
	}
	files := &privacytest.Bucket{}
	if err := files.Put(ctx, old.Key, "text/csv", []byte("item,label\nit-01,yes\n")); err != nil {
		t.Fatal(err)
	}
	w.deps.Exports = files
	w.run(t, jane.email, privacy.TypeDelete)
	for _, it := range w.dump(t)[schema.TableLabels] {
		if strings.Contains(it, old.ID) {
			t.Errorf("the labels table still holds the expired export: %s", it)
		}
	}
	if left := files.Keys(""); len(left) > 0 {
		t.Errorf("the exports bucket still holds %v", left)
	}
}

package dynamo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/accessibility/accessibilitytest"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

func TestAccessibilityStoreContract(t *testing.T) {
	store := dynamo.NewAccessibility(localTable(t, schema.TableAccounts))
	accessibilitytest.TestStore(t, func(*testing.T) accessibilitytest.FullStore { return store })
}

func TestTextChallengesContract(t *testing.T) {
	store := dynamo.NewTextChallenges(localTable(t, schema.TableChallenges))
	accessibilitytest.TestChallenges(t, func(*testing.T) accessibility.Challenges { return store })
}

// Every accessibility record sits under the A11Y# prefix the function's IAM grant allows,
// with a ttl at its expiry, and holds no e-mail address.
func TestAccessibilityRecordsCarryPrefixAndTTL(t *testing.T) {
	c, table := localTable(t, schema.TableAccounts)
	s := dynamo.NewAccessibility(c, table)
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Hour).Add(24 * time.Hour) // DynamoDB Local deletes items whose ttl has passed
	if err := s.PutToken(ctx, accessibility.Token{Hash: "h1", Subject: "subj", CreatedAt: t0, ExpiresAt: t0.Add(accessibility.TokenTTL)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSignup(ctx, accessibility.Signup{CodeHash: "c1", Subject: "subj", CreatedAt: t0, ExpiresAt: t0.Add(accessibility.CodeTTL)}); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := s.Take(ctx, accessibility.Counter{Key: "NET#p", Limit: 2, Window: time.Hour}, t0); !ok || err != nil {
		t.Fatal(ok, err)
	}
	out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: &table})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 3 {
		t.Fatalf("%d items, want 3", len(out.Items))
	}
	wantExp := map[string]time.Time{"A11Y#TOKEN#h1": t0.Add(24 * time.Hour), "A11Y#SIGNUP#c1": t0.Add(time.Hour), "A11Y#RL#NET#p": t0.Add(time.Hour)}
	for _, it := range out.Items {
		var got string
		if s, ok := it[schema.PartitionKey].(*types.AttributeValueMemberS); ok {
			got = s.Value
		}
		exp, ok := wantExp[got]
		if !ok || !strings.HasPrefix(got, dynamo.A11YPrefix) {
			t.Fatalf("unexpected record %q", got)
		}
		if !dynamo.Expired(it, exp) || dynamo.Expired(it, exp.Add(-time.Second)) {
			t.Errorf("%s: ttl %v does not match the expiry %v", got, it[schema.TTLAttribute], exp)
		}
		if got == "A11Y#RL#NET#p" && (it["gsi1pk"] != nil || it["subject"] != nil) {
			t.Errorf("a network counter is tied to a subject: %v", it)
		}
	}
}

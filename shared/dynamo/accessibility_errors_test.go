package dynamo_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/dynamo"
)

// failingUpdates is an API whose UpdateItem fails like a throttled table; the other calls
// are not used.
type failingUpdates struct {
	dynamo.API
}

func (failingUpdates) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, errors.New("ProvisionedThroughputExceededException: rate of requests exceeds the allowed throughput")
}

// A failed count is logged by the handlers (a 500): its error must not carry the counter's
// key, which holds the subject hash of an address or a network pseudonym (docs/PRIVACY.md
// "Logs": no personal data in logs, which nothing erases).
func TestTakeErrorNamesNoSubject(t *testing.T) {
	s := dynamo.NewAccessibility(failingUpdates{}, "accounts")
	subject := strings.Repeat("ab", 32)
	_, _, err := s.Take(context.Background(), accessibility.Counter{Key: "MAIL#" + subject, Subject: subject, Limit: 3, Window: time.Hour}, time.Now())
	if err == nil {
		t.Fatal("Take succeeded on a failing table")
	}
	if strings.Contains(err.Error(), subject) {
		t.Fatalf("error %q names the subject hash", err)
	}
}

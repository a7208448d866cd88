package schema_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/schema"
)

// Both the CDK app and the local stack read the queues' settings from this table: each
// must be one SQS accepts (a batch of 1–10 for a standard queue without a batching window).
func TestQueueSettingsAreOnesSQSAccepts(t *testing.T) {
	for _, q := range schema.Queues {
		if q.BatchSize < 1 || q.BatchSize > 10 || q.MaxReceives < 1 || q.VisibilitySeconds < 1 || q.Consumer == "" {
			t.Errorf("queue %s: %+v", q.Name, q)
		}
	}
}

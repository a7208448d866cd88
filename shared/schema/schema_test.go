package schema_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/schema"
)

// Both the CDK app and the local stack read the queues' settings from this table: each
// must be one SQS accepts (a batch of 1–10 for a standard queue without a batching window).
func TestQueueSettingsAreOnesSQSAccepts(t *testing.T) {
	for _, q := range schema.Queues {
		if q.BatchSize < 1 || q.BatchSize > 10 || q.MaxReceives < 1 || q.TimeoutSeconds < 1 || q.Consumer == "" {
			t.Errorf("queue %s: %+v", q.Name, q)
		}
		// SQS allows at most 12 hours.
		if q.VisibilitySeconds < 6*q.TimeoutSeconds || q.VisibilitySeconds > 12*3600 {
			t.Errorf("queue %s: visibility %ds, want 6× the consumer's %ds timeout, at most 12 h", q.Name, q.VisibilitySeconds, q.TimeoutSeconds)
		}
	}
}

// QueueNamed finds every queue by its name and refuses any other name loudly, so a
// consumer that names a queue wrongly fails when its handler is built.
func TestQueueNamed(t *testing.T) {
	for _, q := range schema.Queues {
		if got := schema.QueueNamed(q.Name); got != q {
			t.Errorf("QueueNamed(%q) = %+v, want %+v", q.Name, got, q)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("QueueNamed of an unknown queue did not panic")
		}
	}()
	schema.QueueNamed("no-such-queue")
}

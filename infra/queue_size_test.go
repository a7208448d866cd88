package main

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Every queue and dead-letter queue takes messages of platform.MaxMessageBytes (1 MiB),
// which the senders check against. SQS's default rose from 256 KiB in August 2025, but a
// queue created before keeps its stored limit unless the template sets one: a message
// between the two sizes would be refused there.
func TestQueuesTakeMessagesOfTheSendersLimit(t *testing.T) {
	if platform.MaxMessageBytes != 1<<20 {
		t.Fatalf("platform.MaxMessageBytes = %d, SQS takes at most 1 MiB", platform.MaxMessageBytes)
	}
	all := resources("AWS::SQS::Queue")
	if len(all) != 2*len(schema.Queues)+1+len(scheduledFunctions()) {
		t.Errorf("%d queues, want %d and a dead-letter queue each, the schedules' dead-letter queue and a failed-runs queue per scheduled function", len(all), len(schema.Queues))
	}
	for id, q := range all {
		if got := dig(q, "Properties", "MaximumMessageSize"); got != float64(platform.MaxMessageBytes) {
			t.Errorf("queue %s: MaximumMessageSize %v, want %d", id, got, platform.MaxMessageBytes)
		}
	}
}

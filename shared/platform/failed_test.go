package platform_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// A failed message's log line says it will be retried on every receive before its queue's
// last, and that it moves to the dead-letter queue on the last (and on any later one: SQS's
// count is approximate); a message without a readable count is taken for retried.
func TestNextForFailedSaysRetriedOrDeadLetterByTheQueuesReceives(t *testing.T) {
	msg := func(count string) events.SQSMessage {
		return events.SQSMessage{Attributes: map[string]string{"ApproximateReceiveCount": count}}
	}
	for _, q := range schema.Queues {
		for n := 1; n <= q.MaxReceives+1; n++ {
			got := platform.NextForFailed(msg(fmt.Sprint(n)), q.MaxReceives)
			last := n >= q.MaxReceives
			if strings.Contains(got, "dead-letter queue") != last || (got == "it will be retried") == last {
				t.Errorf("%s, receive %d of %d: %q", q.Name, n, q.MaxReceives, got)
			}
		}
		for _, count := range []string{"", "x"} {
			if got := platform.NextForFailed(msg(count), q.MaxReceives); got != "it will be retried" {
				t.Errorf("%s, receive count %q: %q", q.Name, count, got)
			}
		}
	}
	if got := platform.NextForFailed(events.SQSMessage{}, 3); got != "it will be retried" {
		t.Errorf("no attributes: %q", got)
	}
}

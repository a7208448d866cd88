package platform

import (
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
)

// LastReceive reports whether rec, failing now, will not be delivered again: its
// ApproximateReceiveCount has reached maxReceives, its queue's maxReceiveCount
// (schema.Queue.MaxReceives), so SQS moves it to the dead-letter queue instead. A count
// that is missing or unreadable is taken for an early receive.
func LastReceive(rec events.SQSMessage, maxReceives int) bool {
	n, err := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	return err == nil && n >= maxReceives
}

// NextForFailed says what becomes of rec, which failed on this receive, for the end of a
// consumer's log line: retried while receives are left, else the dead-letter queue. An
// operator reading the line knows whether to wait for the retry or to look at the
// dead-letter queue.
func NextForFailed(rec events.SQSMessage, maxReceives int) string {
	if LastReceive(rec, maxReceives) {
		return fmt.Sprintf("that was its last receive (%d): it moves to the dead-letter queue", maxReceives)
	}
	return "it will be retried"
}

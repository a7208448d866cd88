package platformtest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// FuzzedID is the message id of the fuzzed message in a batch built by FuzzBatch.
const FuzzedID = "fuzzed"

// FuzzBatch is the batch a queue consumer's fuzz target delivers: the valid messages, a
// second copy of the first if dup (SQS delivers at least once, even within a batch), and a
// message FuzzedID with body and receiveCount as its ApproximateReceiveCount, placed first
// or last so that a consumer cannot rely on the order. valid is not modified.
func FuzzBatch(valid []events.SQSMessage, body, receiveCount string, first, dup bool) events.SQSEvent {
	records := slices.Clone(valid)
	if dup && len(valid) > 0 {
		records = append(records, valid[0])
	}
	fz := events.SQSMessage{MessageId: FuzzedID, Body: body, EventSource: "aws:sqs",
		Attributes: map[string]string{"ApproximateReceiveCount": receiveCount}}
	if first {
		records = append([]events.SQSMessage{fz}, records...)
	} else {
		records = append(records, fz)
	}
	return events.SQSEvent{Records: records}
}

// DeliverBatch delivers ev to a queue consumer h and returns the message ids it reports
// failed, sorted. It fails the test when the batch fails as a whole (Lambda would then
// redeliver every message, the good with the bad) or a reported id is no message of ev
// (Lambda would then redeliver the whole batch too).
func DeliverBatch(tb testing.TB, h func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), ev events.SQSEvent) []string {
	tb.Helper()
	resp, err := h(context.Background(), ev)
	if err != nil {
		tb.Fatalf("the batch failed as a whole: %v", err)
	}
	failed := FailedIDs(resp)
	for _, id := range failed {
		if !slices.ContainsFunc(ev.Records, func(r events.SQSMessage) bool { return r.MessageId == id }) {
			tb.Fatalf("reported failure %q is no message of the batch", id)
		}
	}
	slices.Sort(failed)
	return failed
}

// Redeliver delivers a batch again and fails the test when that changed state, a snapshot
// of what the consumer stores: a consumer must be idempotent, as SQS delivers at least
// once. It returns the failures of that delivery.
func Redeliver(tb testing.TB, deliver func() []string, state func() string) []string {
	tb.Helper()
	before := state()
	again := deliver()
	if after := state(); after != before {
		tb.Fatalf("the second delivery changed the state:\nbefore %s\nafter  %s", before, after)
	}
	return again
}

// RedeliveryChangesNothing is Redeliver that also requires the second delivery to fail the
// same messages as the first, whose failures were first.
func RedeliveryChangesNothing(tb testing.TB, deliver func() []string, first []string, state func() string) {
	tb.Helper()
	if again := Redeliver(tb, deliver, state); !slices.Equal(again, first) {
		tb.Fatalf("second delivery failed %v, first %v", again, first)
	}
}

// Snapshot is parts encoded as JSON, a state that can be compared between deliveries
// (encoding/json sorts map keys). It fails the test when they cannot be encoded.
func Snapshot(tb testing.TB, parts ...any) string {
	tb.Helper()
	b, err := json.Marshal(parts)
	if err != nil {
		tb.Fatalf("state cannot be encoded: %v", err)
	}
	return string(b)
}

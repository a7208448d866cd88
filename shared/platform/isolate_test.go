package platform_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/platform"
)

// A message that panics the consumer fails alone: its batch-mates are applied and
// acknowledged, instead of returning to the queue with it, batch after batch.
func TestAPanicFailsOnlyTheMessagesThatCauseIt(t *testing.T) {
	applied := map[string]int{}
	consumer := func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		for _, r := range ev.Records {
			switch r.Body {
			case "panic":
				panic("index out of range")
			case "fail":
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			case "error":
				return events.SQSEventResponse{}, errors.New("store down")
			default:
				applied[r.MessageId]++
			}
		}
		return resp, nil
	}
	h := platform.IsolatePanics(consumer, slog.New(slog.NewTextHandler(io.Discard, nil)))
	batch := func(bodies ...string) events.SQSEvent {
		var ev events.SQSEvent
		for i, b := range bodies {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: string(rune('a' + i)), Body: b})
		}
		return ev
	}
	resp, err := h(context.Background(), batch("ok", "panic", "ok", "fail", "error"))
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if err != nil || !slices.Equal(failed, []string{"b", "d", "e"}) {
		t.Fatalf("failed %v, err %v; want b (panics), d (reported), e (error)", failed, err)
	}
	if applied["a"] == 0 || applied["c"] == 0 {
		t.Fatalf("the good messages were not applied: %v", applied)
	}
	// Without a panic the consumer's own answer stands.
	resp, err = h(context.Background(), batch("ok", "fail"))
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "b" {
		t.Fatalf("without a panic: %+v, %v", resp, err)
	}
	if _, err := h(context.Background(), batch("error")); err == nil {
		t.Fatal("a whole-batch error was swallowed")
	}
}

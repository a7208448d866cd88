package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/web"
)

// EventStore applies risk events, once per event id (*dynamo.Risk): applied is false for
// a duplicate or an event too old to count.
type EventStore interface {
	Apply(ctx context.Context, ev challenge.RiskEvent) (applied bool, err error)
}

// ConsumerDeps are the risk-events consumer's ports.
type ConsumerDeps struct {
	Store EventStore
}

// NewConsumer returns the risk-events queue's handler. A message that fails is reported
// as a batch item failure, so SQS retries only it; a malformed message fails every time
// and ends in the dead-letter queue. Duplicates (SQS delivers at least once) are
// acknowledged without counting them again.
func NewConsumer(d ConsumerDeps) platform.SQSHandler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		applied, dup := 0, 0
		for _, rec := range ev.Records {
			ok, err := consume(ctx, d.Store, rec)
			if err != nil {
				log := web.Logger(ctx).With("message_id", rec.MessageId, "receive_count", rec.Attributes["ApproximateReceiveCount"])
				if errors.Is(err, challenge.ErrBadRiskEvent) {
					log.WarnContext(ctx, "poison message: failing it until it moves to the dead-letter queue", "reason", err.Error())
				} else {
					log.ErrorContext(ctx, "message failed; it will be retried", "err", err)
				}
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
				continue
			}
			if ok {
				applied++
			} else {
				dup++
			}
		}
		web.Logger(ctx).InfoContext(ctx, "risk events", "applied", applied, "skipped", dup, "failed", len(resp.BatchItemFailures))
		return resp, nil
	}
}

func consume(ctx context.Context, store EventStore, rec events.SQSMessage) (bool, error) {
	var ev challenge.RiskEvent
	dec := json.NewDecoder(bytes.NewReader([]byte(rec.Body)))
	if err := dec.Decode(&ev); err != nil {
		return false, fmt.Errorf("%w: body is not a risk event: %v", challenge.ErrBadRiskEvent, err)
	}
	if err := ev.Validate(); err != nil {
		return false, err
	}
	return store.Apply(ctx, ev)
}

package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// EventStore applies risk events, once per event id (*dynamo.Risk): applied is false for
// a duplicate or an event too old to count.
type EventStore interface {
	Apply(ctx context.Context, ev challenge.RiskEvent) (applied bool, err error)
}

// DayCounter adds risk events to the per-site daily aggregates of the integrator
// analytics, once per event id (*dynamo.Analytics): counted is false for a duplicate, an
// event too old to count, or one that counts in no cell.
type DayCounter interface {
	Count(ctx context.Context, ev challenge.RiskEvent) (counted bool, err error)
}

// ConsumerDeps are the risk-events consumer's ports.
type ConsumerDeps struct {
	Store EventStore
	// Analytics keeps the daily aggregates; required.
	Analytics DayCounter
	// Reserve is how long before the invocation's deadline no further event starts
	// (default DefaultConsumerReserve).
	Reserve time.Duration
	// Wall is the clock the deadline is judged by (default time.Now).
	Wall func() time.Time
}

// DefaultConsumerReserve is a fifth of the function's 10 s: an event whose writes are
// throttled can take seconds of SDK retries, and one that Lambda's timeout cuts off returns
// the whole batch, the events already counted with it, and counts as a function error.
const DefaultConsumerReserve = 2 * time.Second

// maxReceives is the risk-events queue's receive on which a failing message, instead of coming
// back, moves to the dead-letter queue (what the log line of a failure says).
var maxReceives = schema.QueueNamed(schema.QueueRiskEvents).MaxReceives

// NewConsumer returns the risk-events queue's handler. A message that fails is reported
// as a batch item failure, so SQS retries only it; a malformed message fails every time
// and ends in the dead-letter queue. Duplicates (SQS delivers at least once) are
// acknowledged without counting them again. Each event goes to the risk counters and to
// the daily aggregates, each idempotent on its own: after a failure of either, SQS's retry
// completes the other without counting the first twice.
func NewConsumer(d ConsumerDeps) platform.SQSHandler {
	if d.Reserve == 0 {
		d.Reserve = DefaultConsumerReserve
	}
	if d.Wall == nil {
		d.Wall = time.Now
	}
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		applied, dup, counted := 0, 0, 0
		deadline, bounded := ctx.Deadline()
		for i, rec := range ev.Records {
			if bounded && !d.Wall().Before(deadline.Add(-d.Reserve)) {
				// Near the timeout: hand the rest back for SQS to deliver again.
				web.Logger(ctx).WarnContext(ctx, "invocation deadline near; returning the batch's unprocessed events to the queue", "events", len(ev.Records)-i)
				for _, rest := range ev.Records[i:] {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rest.MessageId})
				}
				break
			}
			ok, aggregated, err := consume(ctx, d, rec)
			if err != nil {
				log := web.Logger(ctx).With("message_id", rec.MessageId, "receive_count", rec.Attributes["ApproximateReceiveCount"])
				if errors.Is(err, challenge.ErrBadRiskEvent) {
					log.WarnContext(ctx, "poison message: failing it until it moves to the dead-letter queue", "reason", err.Error())
				} else {
					log.ErrorContext(ctx, "message failed; "+platform.NextForFailed(rec, maxReceives), "err", err)
				}
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
				continue
			}
			if ok {
				applied++
			} else {
				dup++
			}
			if aggregated {
				counted++
			}
		}
		web.Logger(ctx).InfoContext(ctx, "risk events", "applied", applied, "skipped", dup, "aggregated", counted, "failed", len(resp.BatchItemFailures))
		return resp, nil
	}
}

func consume(ctx context.Context, d ConsumerDeps, rec events.SQSMessage) (applied, counted bool, err error) {
	var ev challenge.RiskEvent
	// json.Unmarshal refuses anything after the value, which a Decoder would drop unread.
	if err := json.Unmarshal([]byte(rec.Body), &ev); err != nil {
		return false, false, fmt.Errorf("%w: body is not one risk event: %v", challenge.ErrBadRiskEvent, err)
	}
	if err := ev.Validate(); err != nil {
		return false, false, err
	}
	if applied, err = d.Store.Apply(ctx, ev); err != nil {
		return false, false, err
	}
	// Counted even when the risk store saw the event before: that may be the retry of a
	// message whose aggregate write failed.
	if counted, err = d.Analytics.Count(ctx, ev); err != nil {
		return applied, false, fmt.Errorf("daily aggregates: %w", err)
	}
	return applied, counted, nil
}

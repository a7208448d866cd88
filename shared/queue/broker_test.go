package queue

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/schema"
)

var testQueue = schema.Queue{Name: "answers", MaxReceives: 3, VisibilitySeconds: 60}

const visibility = 60 * time.Second

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestBroker(t *testing.T, opts ...Option) (*Broker, *ManualClock) {
	t.Helper()
	clock := NewManualClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	b := NewBroker(quietLog(), append([]Option{WithClock(clock)}, opts...)...)
	b.Declare(testQueue)
	t.Cleanup(b.Close)
	return b, clock
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func send(t *testing.T, b *Broker, msgs ...any) {
	t.Helper()
	s, err := b.Sender(testQueue.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendJSON(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// recorder is a consumer that remembers every batch and answers with respond.
type recorder struct {
	mu      sync.Mutex
	batches [][]events.SQSMessage
	respond func(ev events.SQSEvent) (events.SQSEventResponse, error)
}

func (r *recorder) handle(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	r.mu.Lock()
	r.batches = append(r.batches, ev.Records)
	r.mu.Unlock()
	if r.respond == nil {
		return events.SQSEventResponse{}, nil
	}
	return r.respond(ev)
}

func (r *recorder) all() [][]events.SQSMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]events.SQSMessage(nil), r.batches...)
}

func bodies(msgs []events.SQSMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Body
	}
	return out
}

func wantStats(t *testing.T, b *Broker, visible, inFlight, dead int) {
	t.Helper()
	v, f, d := b.Stats(testQueue.Name)
	if v != visible || f != inFlight || d != dead {
		t.Fatalf("stats = visible %d, in flight %d, dead %d; want %d, %d, %d", v, f, d, visible, inFlight, dead)
	}
}

func TestDeliversBatchesShapedLikeLambdaSQSEvents(t *testing.T) {
	b, clock := newTestBroker(t)
	sent := clock.Now()
	send(t, b, map[string]string{"id": "a"}, map[string]string{"id": "b"}, map[string]string{"id": "c"})
	clock.Advance(2 * time.Second) // received later than sent
	rec := &recorder{}
	b.Subscribe(testQueue.Name, rec.handle, 2)
	if err := b.Drain(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	batches := rec.all()
	if len(batches) != 2 || len(batches[0]) != 2 || len(batches[1]) != 1 {
		t.Fatalf("batch sizes = %v, want [2 1]", batches)
	}
	got := append(bodies(batches[0]), bodies(batches[1])...)
	if strings.Join(got, ",") != `{"id":"a"},{"id":"b"},{"id":"c"}` {
		t.Fatalf("bodies = %v", got)
	}
	ids := map[string]bool{}
	for _, m := range append(batches[0], batches[1]...) {
		if m.MessageId == "" || ids[m.MessageId] {
			t.Fatalf("message id %q missing or repeated", m.MessageId)
		}
		ids[m.MessageId] = true
		if m.ReceiptHandle == "" {
			t.Error("no receipt handle")
		}
		sum := md5.Sum([]byte(m.Body))
		if m.Md5OfBody != hex.EncodeToString(sum[:]) {
			t.Errorf("md5OfBody = %q", m.Md5OfBody)
		}
		if m.EventSource != "aws:sqs" || m.EventSourceARN != "arn:aws:sqs:local:000000000000:answers" {
			t.Errorf("source = %q %q", m.EventSource, m.EventSourceARN)
		}
		if m.Attributes["ApproximateReceiveCount"] != "1" {
			t.Errorf("receive count = %q", m.Attributes["ApproximateReceiveCount"])
		}
		if m.Attributes["SentTimestamp"] != strconv.FormatInt(sent.UnixMilli(), 10) {
			t.Errorf("sent timestamp = %q", m.Attributes["SentTimestamp"])
		}
		if m.Attributes["ApproximateFirstReceiveTimestamp"] != strconv.FormatInt(sent.Add(2*time.Second).UnixMilli(), 10) {
			t.Errorf("first receive timestamp = %q", m.Attributes["ApproximateFirstReceiveTimestamp"])
		}
	}
	// The whole event survives the JSON round trip a real Lambda would see.
	raw, _ := json.Marshal(events.SQSEvent{Records: batches[0]})
	var back events.SQSEvent
	if err := json.Unmarshal(raw, &back); err != nil || back.Records[0].Body != batches[0][0].Body {
		t.Fatalf("event round trip: %v", err)
	}
	wantStats(t, b, 0, 0, 0)
}

func TestPartialBatchFailureRedeliversOnlyFailedMessages(t *testing.T) {
	b, clock := newTestBroker(t)
	var attempts atomic.Int32
	rec := &recorder{respond: func(ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		for _, m := range ev.Records {
			if m.Body == `"bad"` && attempts.Add(1) == 1 {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
		}
		return resp, nil
	}}
	send(t, b, "ok1", "bad", "ok2")
	b.Subscribe(testQueue.Name, rec.handle, 10)
	if err := b.Settle(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	wantStats(t, b, 0, 1, 0) // only the failed one waits for its visibility timeout

	clock.Advance(visibility - time.Second)
	if err := b.Settle(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.all()); n != 1 {
		t.Fatalf("redelivered before the visibility timeout: %d batches", n)
	}
	clock.Advance(time.Second)
	if err := b.Drain(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	batches := rec.all()
	if len(batches) != 2 {
		t.Fatalf("got %d batches, want 2", len(batches))
	}
	if got := bodies(batches[1]); len(got) != 1 || got[0] != `"bad"` {
		t.Fatalf("second batch = %v, want only the failed message", got)
	}
	first, again := batches[0][1], batches[1][0]
	if again.MessageId != first.MessageId || again.ReceiptHandle == first.ReceiptHandle {
		t.Error("redelivery must keep the message id and get a new receipt handle")
	}
	if again.Attributes["ApproximateReceiveCount"] != "2" {
		t.Errorf("receive count = %q, want 2", again.Attributes["ApproximateReceiveCount"])
	}
	if again.Attributes["ApproximateFirstReceiveTimestamp"] != first.Attributes["ApproximateFirstReceiveTimestamp"] {
		t.Error("first receive timestamp changed on redelivery")
	}
	wantStats(t, b, 0, 0, 0)
}

func TestWholeBatchErrorOrPanicRedeliversEveryMessage(t *testing.T) {
	for name, fail := range map[string]func() (events.SQSEventResponse, error){
		"error": func() (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, errors.New("table unavailable")
		},
		"panic": func() (events.SQSEventResponse, error) { panic("nil map") },
		"unknown item id": func() (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "not-in-batch"}}}, nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			b, clock := newTestBroker(t)
			var calls atomic.Int32
			rec := &recorder{respond: func(events.SQSEvent) (events.SQSEventResponse, error) {
				if calls.Add(1) == 1 {
					return fail()
				}
				return events.SQSEventResponse{}, nil
			}}
			send(t, b, "a", "b")
			b.Subscribe(testQueue.Name, rec.handle, 10)
			if err := b.Settle(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			wantStats(t, b, 0, 2, 0)
			clock.Advance(visibility)
			if err := b.Drain(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			batches := rec.all()
			if len(batches) != 2 || len(batches[1]) != 2 {
				t.Fatalf("batches = %v, want the whole batch twice", batches)
			}
			for _, m := range batches[1] {
				if m.Attributes["ApproximateReceiveCount"] != "2" {
					t.Errorf("receive count = %q", m.Attributes["ApproximateReceiveCount"])
				}
			}
		})
	}
}

// failUntilDead subscribes a consumer that fails every batch, sends body and runs the clock
// until the message has used its receives and sits in the dead-letter queue.
func failUntilDead(t *testing.T, b *Broker, clock *ManualClock, body string) *recorder {
	t.Helper()
	rec := &recorder{respond: func(events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{}, errors.New("always fails")
	}}
	send(t, b, body)
	b.Subscribe(testQueue.Name, rec.handle, 10)
	for range testQueue.MaxReceives {
		if err := b.Settle(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		clock.Advance(visibility)
	}
	if err := b.Drain(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestMessageMovesToDeadLetterQueueAfterMaxReceives(t *testing.T) {
	b, clock := newTestBroker(t)
	rec := failUntilDead(t, b, clock, "poison")
	if n := len(rec.all()); n != testQueue.MaxReceives {
		t.Fatalf("handler called %d times, want %d", n, testQueue.MaxReceives)
	}
	wantStats(t, b, 0, 0, 1)
	dead := b.DeadLetters(testQueue.Name)
	if len(dead) != 1 || dead[0].Body != `"poison"` || dead[0].Attributes["ApproximateReceiveCount"] != "3" {
		t.Fatalf("dead letters = %+v", dead)
	}
	if dead[0].EventSourceARN != "arn:aws:sqs:local:000000000000:answers-dlq" {
		t.Errorf("dead letter ARN = %q", dead[0].EventSourceARN)
	}

	// A redrive gives the message a fresh set of receives.
	rec.respond = nil
	if n := b.Redrive(testQueue.Name); n != 1 {
		t.Fatalf("redrive moved %d", n)
	}
	if err := b.Drain(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	wantStats(t, b, 0, 0, 0)
}

func TestVisibilityScaleShortensTheTimeout(t *testing.T) {
	b, clock := newTestBroker(t, WithVisibilityScale(0.01))
	var calls atomic.Int32
	rec := &recorder{respond: func(events.SQSEvent) (events.SQSEventResponse, error) {
		if calls.Add(1) == 1 {
			return events.SQSEventResponse{}, errors.New("once")
		}
		return events.SQSEventResponse{}, nil
	}}
	send(t, b, "x")
	b.Subscribe(testQueue.Name, rec.handle, 1)
	if err := b.Settle(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(600 * time.Millisecond) // 1% of 60 s
	if err := b.Drain(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Fatalf("calls = %d, want 2", calls.Load())
	}
}

func TestSenderRejectsUnknownQueuesAndBadMessages(t *testing.T) {
	b, _ := newTestBroker(t)
	if _, err := b.Sender("nope"); !errors.Is(err, ErrUnknownQueue) {
		t.Fatalf("unknown queue: %v", err)
	}
	s, _ := b.Sender(testQueue.Name)
	if err := s.SendJSON(context.Background(), "fine", func() {}); err == nil {
		t.Fatal("unencodable message accepted")
	}
	if err := s.SendJSON(context.Background(), strings.Repeat("x", MaxMessageBytes)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized message: %v", err)
	}
	wantStats(t, b, 0, 0, 0) // the good message of a failed send is not sent either
}

func TestConcurrentSendersAndConsumersDeliverEveryMessageOnce(t *testing.T) {
	b, clock := newTestBroker(t)
	var mu sync.Mutex
	seen := map[string]int{}
	var attempts sync.Map
	handler := func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		for _, m := range ev.Records {
			// Every 7th message fails once, to exercise redelivery under load.
			n, _ := attempts.LoadOrStore(m.Body, new(atomic.Int32))
			if strings.HasSuffix(m.Body, `7"`) && n.(*atomic.Int32).Add(1) == 1 {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				continue
			}
			mu.Lock()
			seen[m.Body]++
			mu.Unlock()
		}
		return resp, nil
	}
	for range 4 {
		b.Subscribe(testQueue.Name, handler, 5)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			s, _ := b.Sender(testQueue.Name)
			for i := range 50 {
				if err := s.SendJSON(context.Background(), fmt.Sprintf("%d-%d", g, i)); err != nil {
					t.Error(err)
				}
				b.Stats(testQueue.Name)
			}
		})
	}
	wg.Wait()
	if err := b.Settle(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(visibility)
	if err := b.Drain(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 400 {
		t.Fatalf("handled %d distinct messages, want 400", len(seen))
	}
	for body, n := range seen {
		if n != 1 {
			t.Fatalf("%s handled %d times", body, n)
		}
	}
}

func TestCloseWaitsForRunningBatchAndStopsDelivery(t *testing.T) {
	b, _ := newTestBroker(t)
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	var calls atomic.Int32
	b.Subscribe(testQueue.Name, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		if calls.Add(1) == 1 {
			close(started)
			<-release
			finished.Store(true)
		}
		return events.SQSEventResponse{}, nil
	}, 1)
	send(t, b, "slow")
	<-started

	closed := make(chan struct{})
	go func() { b.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a batch was still running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-closed
	if !finished.Load() {
		t.Fatal("Close returned before the batch finished")
	}
	wantStats(t, b, 0, 0, 0) // the finished batch was settled (deleted)

	s, _ := b.Sender(testQueue.Name)
	if err := s.SendJSON(context.Background(), "late"); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("handler called %d times", calls.Load())
	}
}

// Consumers run under a deadline, as Lambda's timeout puts one on each invocation: the
// consumer's declared timeout (the visibility timeout where none is declared). The exports
// and privacy workers stop before it and continue later, locally too.
func TestHandlersRunUnderADeadline(t *testing.T) {
	timed := schema.Queue{Name: "timed", MaxReceives: 3, TimeoutSeconds: 10, VisibilitySeconds: 60}
	for _, tc := range []struct {
		q    schema.Queue
		want time.Duration
	}{{testQueue, visibility}, {timed, 10 * time.Second}} {
		b, _ := newTestBroker(t, WithVisibilityScale(0.001)) // the scale shortens retries, not the deadline
		b.Declare(tc.q)
		var left atomic.Int64
		b.Subscribe(tc.q.Name, func(ctx context.Context, _ events.SQSEvent) (events.SQSEventResponse, error) {
			if d, ok := ctx.Deadline(); ok {
				left.Store(int64(time.Until(d)))
			}
			return events.SQSEventResponse{}, nil
		}, 1)
		sender, err := b.Sender(tc.q.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := sender.SendJSON(ctxT(t), "x"); err != nil {
			t.Fatal(err)
		}
		if err := b.Drain(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if got := time.Duration(left.Load()); got <= tc.want-5*time.Second || got > tc.want {
			t.Errorf("%s: the handler had %v left, want just under %v", tc.q.Name, got, tc.want)
		}
	}
}

// A message nobody handles is deleted at the end of the queue's retention
// (schema.QueueRetentionDays, what infra sets on the deployed queues), counted from its
// send, as SQS does: a local stack left stopped for a week does not deliver last week's
// messages when it starts again, and a queue nobody consumes drains once they expire.
func TestMessagesExpireAtTheEndOfTheQueuesRetention(t *testing.T) {
	retention := time.Duration(schema.QueueRetentionDays) * 24 * time.Hour
	b, clock := newTestBroker(t)
	send(t, b, "old")
	clock.Advance(time.Hour)
	send(t, b, "new")
	clock.Advance(retention - time.Hour - time.Second)
	wantStats(t, b, 2, 0, 0)
	drained := make(chan error, 1)
	go func() { drained <- b.Drain(ctxT(t)) }()
	clock.Advance(time.Second)
	wantStats(t, b, 1, 0, 0)
	clock.Advance(time.Hour)
	if err := <-drained; err != nil {
		t.Fatalf("drain with only expired messages left: %v", err)
	}
	wantStats(t, b, 0, 0, 0)

	// Messages saved at a stop expire by their send time after the restart too.
	send(t, b, "saved")
	b.Close()
	data, err := b.Save()
	if err != nil {
		t.Fatal(err)
	}
	next, nextClock := newTestBroker(t)
	nextClock.Advance(clock.Now().Sub(nextClock.Now()) + retention)
	if restored, _, err := next.Restore(data); err != nil || restored != 1 {
		t.Fatalf("restore: %d, %v", restored, err)
	}
	rec := &recorder{}
	next.Subscribe(testQueue.Name, rec.handle, 10)
	if err := next.Drain(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := rec.all(); len(got) != 0 {
		t.Fatalf("delivered messages past their retention: %+v", got)
	}
}

// A dead letter stays for schema.DeadLetterRetentionDays from its original send (SQS keeps
// a standard queue's enqueue time when it moves a message), longer than the queue's own
// retention, so there is time to inspect and redrive it; a redrive starts its retention
// afresh.
func TestDeadLettersExpireAtTheEndOfTheDeadLetterRetention(t *testing.T) {
	b, clock := newTestBroker(t)
	sent := clock.Now()
	failUntilDead(t, b, clock, "dead")
	clock.Advance(sent.Add(time.Duration(schema.DeadLetterRetentionDays)*24*time.Hour - time.Second).Sub(clock.Now()))
	wantStats(t, b, 0, 0, 1)
	clock.Advance(time.Second)
	wantStats(t, b, 0, 0, 0)
	if dead := b.DeadLetters(testQueue.Name); len(dead) != 0 {
		t.Fatalf("dead letters past their retention: %+v", dead)
	}

	b2, clock2 := newTestBroker(t)
	failUntilDead(t, b2, clock2, "dead")
	clock2.Advance(time.Duration(schema.QueueRetentionDays) * 24 * time.Hour)
	wantStats(t, b2, 0, 0, 1)
	b2.Close() // no consumer: the redriven message waits in the queue
	if n := b2.Redrive(testQueue.Name); n != 1 {
		t.Fatalf("redrive moved %d", n)
	}
	clock2.Advance(time.Duration(schema.QueueRetentionDays)*24*time.Hour - time.Second)
	wantStats(t, b2, 1, 0, 0)
}

// Package queue is the local stack's stand-in for SQS plus Lambda's SQS event source
// mapping: an in-process Broker that delivers events.SQSEvent batches to consumer
// handlers with SQS's visibility timeout, receive counting, dead-letter queue and message
// retention (the deployed queues', schema.QueueRetentionDays and DeadLetterRetentionDays),
// and Lambda's handling of batch errors and partial batch responses (BatchItemFailures).
//
// Messages live in memory; Save and Restore (persist.go) carry them across a clean restart
// of the local stack, as SQS keeps them while no consumer runs.
package queue

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

const (
	// Region and Account appear in the fake queue ARNs.
	Region  = "local"
	Account = "000000000000"

	// MaxMessageBytes is SQS's message size limit (platform.MaxMessageBytes).
	MaxMessageBytes = platform.MaxMessageBytes
	// MaxBatchSize is the largest batch Lambda's SQS event source mapping accepts.
	MaxBatchSize = 10000
)

var (
	// ErrClosed is returned when sending to a closed broker.
	ErrClosed = errors.New("queue: broker closed")
	// ErrUnknownQueue is returned for a queue that was never declared.
	ErrUnknownQueue = errors.New("queue: unknown queue")
	// ErrTooLarge is returned for a message over MaxMessageBytes.
	ErrTooLarge = platform.ErrMessageTooLarge
)

// Option configures a Broker.
type Option func(*Broker)

// WithClock replaces the wall clock (tests pass a ManualClock).
func WithClock(c Clock) Option { return func(b *Broker) { b.clock = c } }

// WithVisibilityScale multiplies every queue's visibility timeout, e.g. 0.01 turns 60 s
// into 600 ms so a failing consumer is retried quickly in a demo.
func WithVisibilityScale(f float64) Option { return func(b *Broker) { b.scale = f } }

// Broker holds the declared queues and runs one poller per subscription. It is safe for
// concurrent use.
type Broker struct {
	log   *slog.Logger
	clock Clock
	scale float64

	mu      sync.Mutex
	queues  map[string]*queue
	changed chan struct{} // closed and replaced on every state change; waiters re-check
	closed  bool
	pollers sync.WaitGroup
}

type queue struct {
	log         *slog.Logger
	name        string
	arn         string
	dlqARN      string
	maxReceives int
	visibility  time.Duration
	// retention and deadRetention: how long after it was enqueued a message, or a dead
	// letter, is deleted unhandled (the deployed queues' MessageRetentionPeriod).
	retention, deadRetention time.Duration
	// deadline bounds one batch's handling, as Lambda's timeout does: the consumer's
	// timeout (the visibility timeout where none is declared), unscaled, in real time.
	deadline time.Duration
	msgs     []*message // in send order; visible and in flight
	dead     []*message
	running  int // batches being handled
}

type message struct {
	id, body, md5 string
	sent          time.Time
	// enqueued starts the retention: the send, or the redrive that moved a dead letter
	// back. Moving to the dead-letter queue keeps it, as SQS does for standard queues.
	enqueued     time.Time
	firstReceive time.Time
	receives     int
	visibleAt    time.Time
	receipt      string
}

// newMessage is a message sent at sent and visible from then on.
func newMessage(id, body string, sent time.Time) *message {
	sum := md5.Sum([]byte(body))
	return &message{id: id, body: body, md5: hex.EncodeToString(sum[:]), sent: sent, enqueued: sent, visibleAt: sent}
}

// NewBroker returns an empty broker; Declare the queues before use.
func NewBroker(log *slog.Logger, opts ...Option) *Broker {
	if log == nil {
		log = slog.Default()
	}
	b := &Broker{log: log, clock: wallClock{}, scale: 1, queues: map[string]*queue{}, changed: make(chan struct{})}
	for _, o := range opts {
		o(b)
	}
	return b
}

// Declare creates the queue (and its dead-letter queue) or updates its settings.
func (b *Broker) Declare(q schema.Queue) {
	b.mu.Lock()
	defer b.mu.Unlock()
	vis := time.Duration(float64(q.VisibilitySeconds) * b.scale * float64(time.Second))
	deadline := time.Duration(q.TimeoutSeconds) * time.Second
	if deadline <= 0 {
		deadline = time.Duration(q.VisibilitySeconds) * time.Second
	}
	if existing, ok := b.queues[q.Name]; ok {
		existing.maxReceives, existing.visibility, existing.deadline = q.MaxReceives, vis, deadline
		return
	}
	b.queues[q.Name] = &queue{
		log:           b.log.With("queue", q.Name),
		name:          q.Name,
		arn:           arn(q.Name),
		dlqARN:        arn(q.Name + "-dlq"),
		maxReceives:   q.MaxReceives,
		visibility:    vis,
		retention:     days(schema.QueueRetentionDays),
		deadRetention: days(schema.DeadLetterRetentionDays),
		deadline:      deadline,
	}
}

func arn(name string) string { return "arn:aws:sqs:" + Region + ":" + Account + ":" + name }

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// Sender returns a platform.Sender for a declared queue.
func (b *Broker) Sender(name string) (platform.Sender, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.queues[name]; !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownQueue, name)
	}
	return &sender{b: b, queue: name}, nil
}

type sender struct {
	b     *Broker
	queue string
}

var _ platform.Sender = (*sender)(nil)

// SendJSON encodes every message first so a bad one sends none.
func (s *sender) SendJSON(ctx context.Context, msgs ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	bodies, err := platform.EncodeMessages(msgs...)
	if err != nil {
		return fmt.Errorf("send to %s: %w", s.queue, err)
	}
	return s.b.send(s.queue, bodies)
}

func (b *Broker) send(name string, bodies []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	q, ok := b.queues[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownQueue, name)
	}
	now := b.clock.Now()
	for _, body := range bodies {
		q.msgs = append(q.msgs, newMessage(newUUID(), body, now))
	}
	b.notify()
	return nil
}

// Subscribe starts a poller that hands batches of up to batchSize messages (clamped to
// 1..MaxBatchSize) to h until Close. Each call adds one concurrent poller, as Lambda
// scales out with several concurrent batches. Subscribing to an undeclared queue is a
// wiring mistake and panics, like registering a bad pattern on an http.ServeMux.
func (b *Broker) Subscribe(name string, h platform.SQSHandler, batchSize int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, ok := b.queues[name]
	if !ok {
		panic(fmt.Sprintf("queue: subscribe to undeclared queue %q", name))
	}
	if b.closed {
		return
	}
	batchSize = min(max(batchSize, 1), MaxBatchSize)
	b.pollers.Add(1)
	go b.poll(q, h, batchSize)
}

// delivery is one received message: the message and the receipt it was received with.
type delivery struct {
	msg     *message
	receipt string
}

func (b *Broker) poll(q *queue, h platform.SQSHandler, batchSize int) {
	defer b.pollers.Done()
	for {
		batch, ok := b.next(q, batchSize)
		if !ok {
			return
		}
		b.deliver(q, h, batch)
	}
}

// next blocks until messages are visible (and receives them) or the broker closes.
func (b *Broker) next(q *queue, batchSize int) ([]delivery, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.closed {
			return nil, false
		}
		now := b.clock.Now()
		moved := q.sweep(now)
		if batch := q.receive(now, batchSize); len(batch) > 0 {
			q.running++
			b.notify()
			return batch, true
		}
		if moved {
			b.notify()
		}
		wake := b.changed
		var timer <-chan time.Time
		if at, ok := q.nextVisible(now); ok {
			timer = b.clock.After(at.Sub(now))
		}
		b.mu.Unlock()
		select {
		case <-wake:
		case <-timer:
		}
		b.mu.Lock()
	}
}

// receive takes up to n visible messages; call redrive first so exhausted ones go to the
// dead-letter queue instead, as SQS's redrive policy does on the receive after the last
// allowed one.
func (q *queue) receive(now time.Time, n int) []delivery {
	var batch []delivery
	for _, m := range q.msgs {
		if len(batch) == n {
			break
		}
		if m.visibleAt.After(now) {
			continue
		}
		m.receives++
		if m.firstReceive.IsZero() {
			m.firstReceive = now
		}
		m.receipt = newReceipt()
		m.visibleAt = now.Add(q.visibility)
		batch = append(batch, delivery{msg: m, receipt: m.receipt})
	}
	return batch
}

// sweep deletes the messages and dead letters past their retention, then moves the
// exhausted ones to the dead-letter queue (redrive). It reports whether it changed
// anything.
func (q *queue) sweep(now time.Time) bool {
	expired := q.expire(now)
	return q.redrive(now) || expired
}

// expire deletes the messages (in flight too) and dead letters enqueued longer ago than
// their queue's retention, as SQS does; a message being handled meanwhile is then settled
// as already deleted.
func (q *queue) expire(now time.Time) bool {
	n := len(q.msgs) + len(q.dead)
	q.msgs = slices.DeleteFunc(q.msgs, func(m *message) bool { return q.expired(m, q.retention, now) })
	q.dead = slices.DeleteFunc(q.dead, func(m *message) bool { return q.expired(m, q.deadRetention, now) })
	return len(q.msgs)+len(q.dead) != n
}

func (q *queue) expired(m *message, retention time.Duration, now time.Time) bool {
	if retention <= 0 || now.Before(m.enqueued.Add(retention)) {
		return false
	}
	q.log.Warn("message deleted unhandled at the end of its retention", "message_id", m.id, "receives", m.receives, "retention", retention.String())
	return true
}

// nextExpiry returns when the earliest message or dead letter reaches its retention.
func (q *queue) nextExpiry() (time.Time, bool) {
	var at time.Time
	for _, list := range []struct {
		msgs      []*message
		retention time.Duration
	}{{q.msgs, q.retention}, {q.dead, q.deadRetention}} {
		if list.retention <= 0 {
			continue
		}
		for _, m := range list.msgs {
			if end := m.enqueued.Add(list.retention); at.IsZero() || end.Before(at) {
				at = end
			}
		}
	}
	return at, !at.IsZero()
}

// redrive moves visible messages that used up their receives to the dead-letter queue.
// It reports whether it moved any.
func (q *queue) redrive(now time.Time) bool {
	if q.maxReceives <= 0 {
		return false
	}
	moved := false
	q.msgs = slices.DeleteFunc(q.msgs, func(m *message) bool {
		if m.receives >= q.maxReceives && !m.visibleAt.After(now) {
			q.log.Warn("message moved to the dead-letter queue", "message_id", m.id, "receives", m.receives)
			q.dead = append(q.dead, m)
			moved = true
			return true
		}
		return false
	})
	return moved
}

// nextVisible returns when the earliest in-flight message becomes visible again.
func (q *queue) nextVisible(now time.Time) (time.Time, bool) {
	var at time.Time
	for _, m := range q.msgs {
		if m.visibleAt.After(now) && (at.IsZero() || m.visibleAt.Before(at)) {
			at = m.visibleAt
		}
	}
	return at, !at.IsZero()
}

func (q *queue) record(d delivery) events.SQSMessage {
	m := d.msg
	return events.SQSMessage{
		MessageId:     m.id,
		ReceiptHandle: d.receipt,
		Body:          m.body,
		Md5OfBody:     m.md5,
		Attributes: map[string]string{
			"ApproximateReceiveCount":          strconv.Itoa(m.receives),
			"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
			"SenderId":                         Account,
			"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstReceive.UnixMilli(), 10),
		},
		MessageAttributes: map[string]events.SQSMessageAttribute{},
		EventSource:       "aws:sqs",
		EventSourceARN:    q.arn,
		AWSRegion:         Region,
	}
}

// deliver runs the handler on one batch and settles the messages the way Lambda does:
// an error (or panic) leaves the whole batch to reappear after the visibility timeout;
// BatchItemFailures leave only those; everything else is deleted.
func (b *Broker) deliver(q *queue, h platform.SQSHandler, batch []delivery) {
	b.mu.Lock()
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(batch))}
	for i, d := range batch {
		ev.Records[i] = q.record(d)
	}
	b.mu.Unlock()

	log := q.log
	ctx := web.WithLogger(context.Background(), log)
	if q.deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, q.deadline)
		defer cancel()
	}
	resp, err := invoke(ctx, h, ev)

	b.mu.Lock()
	defer b.mu.Unlock()
	q.running--
	defer b.notify()
	if err != nil {
		log.Warn("batch failed; its messages return after the visibility timeout", "messages", len(batch), "err", err)
		return
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		if !slices.ContainsFunc(batch, func(d delivery) bool { return d.msg.id == f.ItemIdentifier }) {
			// Lambda treats an unknown or empty identifier as a failure of the whole batch.
			log.Warn("batch response names a message not in the batch; whole batch fails", "messages", len(batch))
			return
		}
		failed[f.ItemIdentifier] = true
	}
	if len(failed) > 0 {
		log.Warn("partial batch failure; failed messages return after the visibility timeout", "failed", len(failed), "messages", len(batch))
	}
	for _, d := range batch {
		if failed[d.msg.id] {
			continue
		}
		// A stale receipt means the message timed out and was received again meanwhile;
		// that newer receive now owns it.
		q.msgs = slices.DeleteFunc(q.msgs, func(m *message) bool { return m == d.msg && m.receipt == d.receipt })
	}
}

// invoke calls h, turning a panic into an error as a crashed Lambda invocation would.
func invoke(ctx context.Context, h platform.SQSHandler, ev events.SQSEvent) (resp events.SQSEventResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			web.Logger(ctx).Error("consumer panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("consumer panicked: %v", p)
		}
	}()
	return h(ctx, ev)
}

// Stats counts a queue's visible, in-flight and dead-lettered messages (zeros for an
// unknown queue).
func (b *Broker) Stats(name string) (visible, inFlight, dead int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, ok := b.queues[name]
	if !ok {
		return 0, 0, 0
	}
	now := b.clock.Now()
	if q.sweep(now) {
		b.notify()
	}
	for _, m := range q.msgs {
		if m.visibleAt.After(now) {
			inFlight++
		} else {
			visible++
		}
	}
	return visible, inFlight, len(q.dead)
}

// DeadLetters returns copies of the messages in a queue's dead-letter queue, as a
// consumer of that queue would receive them.
func (b *Broker) DeadLetters(name string) []events.SQSMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, ok := b.queues[name]
	if !ok {
		return nil
	}
	q.sweep(b.clock.Now())
	out := make([]events.SQSMessage, len(q.dead))
	for i, m := range q.dead {
		out[i] = q.record(delivery{msg: m, receipt: m.receipt})
		out[i].EventSourceARN = q.dlqARN
	}
	return out
}

// Redrive moves every dead-lettered message of a queue back to it with a fresh receive
// count (SQS's "start DLQ redrive") and returns how many it moved.
func (b *Broker) Redrive(name string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, ok := b.queues[name]
	if !ok {
		return 0
	}
	now := b.clock.Now()
	n := len(q.dead)
	for _, m := range q.dead {
		m.receives, m.firstReceive, m.receipt, m.visibleAt, m.enqueued = 0, time.Time{}, "", now, now
		q.msgs = append(q.msgs, m)
	}
	q.dead = nil
	b.notify()
	return n
}

// Drain waits until no queue has visible or in-flight messages and no batch is running,
// or ctx ends. Messages in a queue nobody subscribed to keep it waiting.
func (b *Broker) Drain(ctx context.Context) error {
	return b.waitUntil(ctx, func(q *queue, _ time.Time) bool { return len(q.msgs) > 0 || q.running > 0 })
}

// waitUntil waits until busy reports false for every queue, waking on every state change
// and whenever an in-flight message becomes visible again.
func (b *Broker) waitUntil(ctx context.Context, busy func(q *queue, now time.Time) bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		now := b.clock.Now()
		anyBusy := false
		var wakeAt time.Time
		for _, q := range b.queues {
			q.sweep(now)
			if busy(q, now) {
				anyBusy = true
			}
			if at, ok := q.nextVisible(now); ok && (wakeAt.IsZero() || at.Before(wakeAt)) {
				wakeAt = at
			}
			// Messages nobody receives end at their retention.
			if at, ok := q.nextExpiry(); ok && (wakeAt.IsZero() || at.Before(wakeAt)) {
				wakeAt = at
			}
		}
		if !anyBusy {
			return nil
		}
		if b.closed {
			return fmt.Errorf("wait for queues: %w with messages left", ErrClosed)
		}
		wake := b.changed
		var timer <-chan time.Time
		if !wakeAt.IsZero() {
			timer = b.clock.After(wakeAt.Sub(now))
		}
		b.mu.Unlock()
		select {
		case <-wake:
		case <-timer:
		case <-ctx.Done():
			b.mu.Lock()
			return fmt.Errorf("wait for queues: %w", ctx.Err())
		}
		b.mu.Lock()
	}
}

// Settle waits until no message is visible and no batch is being handled, or ctx ends:
// every message sent so far has been handled at least once, and the ones left are in
// flight waiting for their visibility timeout. Tests use it between clock steps.
func (b *Broker) Settle(ctx context.Context) error {
	return b.waitUntil(ctx, func(q *queue, now time.Time) bool {
		if q.running > 0 {
			return true
		}
		return slices.ContainsFunc(q.msgs, func(m *message) bool { return !m.visibleAt.After(now) })
	})
}

// Close stops the pollers and waits for batches being handled to finish. Messages not
// yet delivered stay in the broker (see Save).
func (b *Broker) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		b.notify()
	}
	b.mu.Unlock()
	b.pollers.Wait()
}

// notify wakes every waiter; callers hold b.mu.
func (b *Broker) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func newReceipt() string {
	var r [32]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

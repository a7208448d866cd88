package queue

import (
	"encoding/json"
	"fmt"
	"time"
)

// The local stack keeps its queues across restarts, as SQS keeps messages while no
// consumer runs (until their retention ends, counted from the send, restart or not):
// Save after Close, Restore after Declare and before Subscribe. A message in
// flight at the save is visible again after the restore (its visibility timeout would have
// run out while the stack was down) and keeps its receive count, so a poison message still
// reaches the dead-letter queue; dead letters stay dead.

type savedBroker struct {
	V      int                   `json:"v"`
	Queues map[string]savedQueue `json:"queues"`
}

type savedQueue struct {
	Messages    []savedMessage `json:"messages,omitempty"`
	DeadLetters []savedMessage `json:"dead_letters,omitempty"`
}

type savedMessage struct {
	ID   string    `json:"id"`
	Body string    `json:"body"`
	Sent time.Time `json:"sent"`
	// Enqueued starts the retention when it is not the send (a redriven dead letter).
	Enqueued     time.Time `json:"enqueued,omitzero"`
	FirstReceive time.Time `json:"first_receive,omitzero"`
	Receives     int       `json:"receives,omitempty"`
}

const savedVersion = 1

// Save returns every declared queue's messages and dead letters as JSON.
func (b *Broker) Save() ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := savedBroker{V: savedVersion, Queues: map[string]savedQueue{}}
	for name, q := range b.queues {
		var sq savedQueue
		for _, m := range q.msgs {
			sq.Messages = append(sq.Messages, saveMessage(m))
		}
		for _, m := range q.dead {
			sq.DeadLetters = append(sq.DeadLetters, saveMessage(m))
		}
		if len(sq.Messages)+len(sq.DeadLetters) > 0 {
			out.Queues[name] = sq
		}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("save queues: %w", err)
	}
	return data, nil
}

func saveMessage(m *message) savedMessage {
	s := savedMessage{ID: m.id, Body: m.body, Sent: m.sent, FirstReceive: m.firstReceive, Receives: m.receives}
	if !m.enqueued.Equal(m.sent) {
		s.Enqueued = m.enqueued
	}
	return s
}

// Restore adds what Save returned to the declared queues and reports how many messages it
// restored; messages of queues no longer declared are dropped and counted in dropped.
func (b *Broker) Restore(data []byte) (restored, dropped int, err error) {
	var in savedBroker
	if err := json.Unmarshal(data, &in); err != nil {
		return 0, 0, fmt.Errorf("restore queues: %w", err)
	}
	if in.V != savedVersion {
		return 0, 0, fmt.Errorf("restore queues: version %d (want %d)", in.V, savedVersion)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	for name, sq := range in.Queues {
		q, ok := b.queues[name]
		if !ok {
			dropped += len(sq.Messages) + len(sq.DeadLetters)
			continue
		}
		for _, s := range sq.Messages {
			q.msgs = append(q.msgs, restoreMessage(s, now))
		}
		for _, s := range sq.DeadLetters {
			q.dead = append(q.dead, restoreMessage(s, now))
		}
		restored += len(sq.Messages) + len(sq.DeadLetters)
	}
	b.notify()
	return restored, dropped, nil
}

func restoreMessage(s savedMessage, now time.Time) *message {
	m := newMessage(s.ID, s.Body, s.Sent)
	m.firstReceive, m.receives, m.visibleAt = s.FirstReceive, s.Receives, now
	if !s.Enqueued.IsZero() {
		m.enqueued = s.Enqueued
	}
	return m
}

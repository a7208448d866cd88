package challengetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/shared/challenge"
)

// RiskFunction is an in-memory stand-in for the risk function: its Publisher applies
// every risk event at once (the real one does so asynchronously) by counting it per
// minute under the event's IP and subnet pseudonyms, and it reads the counts back as a
// challenge.RiskWindowReader.
type RiskFunction struct {
	mu     sync.Mutex
	ip     map[string]challenge.Minutes
	subnet map[string]challenge.Minutes
	solves map[string][]time.Duration
	seen   map[string]bool
	events []challenge.RiskEvent
}

var _ challenge.RiskWindowReader = (*RiskFunction)(nil)

// NewRiskFunction returns an empty RiskFunction.
func NewRiskFunction() *RiskFunction {
	return &RiskFunction{
		ip: map[string]challenge.Minutes{}, subnet: map[string]challenge.Minutes{},
		solves: map[string][]time.Duration{}, seen: map[string]bool{},
	}
}

// Publisher returns the risk-events queue that feeds r.
func (r *RiskFunction) Publisher() *Publisher {
	return &Publisher{SendJSONFunc: func(_ context.Context, msgs ...any) error {
		for _, m := range msgs {
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			var ev challenge.RiskEvent
			if err := json.Unmarshal(b, &ev); err != nil {
				return err
			}
			if err := r.Apply(ev); err != nil {
				return err
			}
		}
		return nil
	}}
}

// Apply counts one event, once per id.
func (r *RiskFunction) Apply(ev challenge.RiskEvent) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	if r.seen[ev.ID] {
		return nil
	}
	r.seen[ev.ID] = true
	if ev.IP == "" {
		return nil
	}
	var c challenge.Counts
	switch ev.Outcome {
	case challenge.OutcomeIssued:
		c.Issued = 1
	case challenge.OutcomeRefused:
		c.Refused = 1
	case challenge.OutcomePassed:
		c.Passed = 1
	case challenge.OutcomeFailed:
		c.Failed = 1
	default:
		return fmt.Errorf("outcome %q", ev.Outcome)
	}
	k := challenge.MinuteOf(ev.At)
	for key, m := range map[string]map[string]challenge.Minutes{ev.IP: r.ip, ev.Subnet: r.subnet} {
		if m[key] == nil {
			m[key] = challenge.Minutes{}
		}
		m[key][k] = m[key][k].Add(c)
	}
	if ev.Kind == challenge.RiskEventAnswer && ev.SolveMS > 0 {
		r.solves[ev.IP] = append(r.solves[ev.IP], time.Duration(ev.SolveMS)*time.Millisecond)
	}
	return nil
}

// Events returns every event published so far, duplicates included.
func (r *RiskFunction) Events() []challenge.RiskEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]challenge.RiskEvent(nil), r.events...)
}

// Windows implements challenge.RiskWindowReader.
func (r *RiskFunction) Windows(_ context.Context, q challenge.WindowQuery) (challenge.RiskWindows, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := challenge.RiskWindows{IP: challenge.Minutes{}, Subnet: challenge.Minutes{}}
	lo, hi := challenge.MinuteOf(q.From), challenge.MinuteOf(q.To)
	for _, p := range q.Keys {
		for dst, src := range map[*challenge.Minutes]challenge.Minutes{&w.IP: r.ip[p.IP], &w.Subnet: r.subnet[p.Subnet]} {
			for k, c := range src {
				if k >= lo && k <= hi {
					(*dst)[k] = (*dst)[k].Add(c)
				}
			}
		}
		w.Solves = append(w.Solves, r.solves[p.IP]...)
	}
	return w, nil
}

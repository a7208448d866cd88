package challenge

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/crowdgate/crowdgate/shared/risk"
)

// ScoringHook is the RiskHook of the challenge function: it scores each request in
// process with shared/risk, using the per-IP windows the risk function keeps (one batch
// read per request), decides the difficulty (Decide), and publishes every outcome to the
// risk-events queue, from which the risk function updates the windows.
type ScoringHook struct {
	// Salts gives the day's salt for the risk purpose (never the answerer's).
	Salts Salts
	// Windows reads the risk function's counters.
	Windows RiskWindowReader
	// Events is the risk-events queue.
	Events Publisher
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Model overrides the risk library's embedded kinematic model (tests).
	Model *risk.Model
}

var _ RiskHook = (*ScoringHook)(nil)

func (h *ScoringHook) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Assess implements RiskHook.
func (h *ScoringHook) Assess(ctx context.Context, in RiskInput) (Assessment, error) {
	now := h.now()
	w, err := h.windows(ctx, in, now)
	if err != nil {
		return Assessment{}, err
	}
	stage := risk.StageIssue
	if in.Stage == RiskAnswer {
		stage = risk.StageAnswer
	}
	ra := risk.Score(risk.Input{
		Stage:     stage,
		Telemetry: in.Telemetry,
		Request:   risk.Request{UserAgent: in.UserAgent, Header: in.Headers},
		SolveTime: in.SolveTime,
		Tasks:     in.Tasks,
		IP:        w.IPState(now),
		Model:     h.Model,
	})
	extra, retry := Decide(ra.Score, w, now, in.Stage == RiskAnswer && !in.Passed)
	return Assessment{Score: ra.Score, Reasons: ra.Reasons, ExtraGrids: extra, RetryAfter: retry}, nil
}

// windows reads the address's counters over the last WindowSpan. Without an address
// there is nothing to read.
func (h *ScoringHook) windows(ctx context.Context, in RiskInput, now time.Time) (RiskWindows, error) {
	if Subnet(in.IP) == nil {
		return RiskWindows{}, nil
	}
	from := now.Add(-WindowSpan)
	q := WindowQuery{From: from, To: now, Keys: map[string]Pseudonyms{}}
	for _, day := range DaysBetween(from, now) {
		salt, err := h.Salts.Salt(ctx, day)
		if err != nil {
			return RiskWindows{}, fmt.Errorf("risk salt: %w", err)
		}
		q.Keys[day] = RiskPseudonyms(salt, in.IP)
	}
	w, err := h.Windows.Windows(ctx, q)
	if err != nil {
		return RiskWindows{}, fmt.Errorf("read risk windows: %w", err)
	}
	return w, nil
}

// Record implements RiskHook: it publishes the outcome as a RiskEvent.
func (h *ScoringHook) Record(ctx context.Context, r RiskRecord) error {
	at := r.At.UTC()
	if at.IsZero() {
		at = h.now().UTC()
	}
	day := at.Format(time.DateOnly)
	ev := RiskEvent{
		V: RiskEventVersion, Outcome: r.Outcome, Challenge: r.ChallengeID, Sitekey: r.Sitekey, Day: day,
		Tasks: r.Tasks, SolveMS: r.SolveTime.Milliseconds(), Score: r.Assessment.Score, Reasons: r.Assessment.Reasons, At: at,
	}
	switch r.Outcome {
	case OutcomeIssued:
		ev.Kind, ev.ID = RiskEventIssue, r.ChallengeID+":issue"
	case OutcomeRefused:
		var b [16]byte
		_, _ = crand.Read(b[:]) // crypto/rand never fails (it panics instead)
		ev.Kind, ev.ID, ev.Challenge = RiskEventIssue, "r_"+hex.EncodeToString(b[:]), ""
	case OutcomePassed, OutcomeFailed:
		ev.Kind, ev.ID = RiskEventAnswer, r.ChallengeID+":answer"
	default:
		return fmt.Errorf("risk record: unknown outcome %q", r.Outcome)
	}
	if Subnet(r.IP) != nil {
		salt, err := h.Salts.Salt(ctx, day)
		if err != nil {
			return fmt.Errorf("risk salt: %w", err)
		}
		p := RiskPseudonyms(salt, r.IP)
		ev.IP, ev.Subnet = p.IP, p.Subnet
	}
	if err := ev.Validate(); err != nil {
		return err
	}
	if err := h.Events.SendJSON(ctx, ev); err != nil {
		return fmt.Errorf("publish risk event: %w", err)
	}
	return nil
}

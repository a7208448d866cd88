package challenge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/crowdgate/crowdgate/shared/risk"
	"github.com/crowdgate/crowdgate/shared/web"
)

// RiskStage says which request a risk assessment is about.
type RiskStage uint8

const (
	// RiskIssue is a request for a challenge, assessed before one is composed.
	RiskIssue RiskStage = iota
	// RiskAnswer is an answer, assessed after it was graded.
	RiskAnswer
)

// RiskInput is what a risk assessment sees about a request. It lives only in memory:
// behavioural telemetry is reduced to a score and reasons and never stored.
type RiskInput struct {
	Stage RiskStage
	// Telemetry is the widget's telemetry (docs/TELEMETRY.md); nil when none was sent.
	Telemetry *risk.Telemetry
	IP        net.IP
	UserAgent string
	// Headers are the request headers without cookies or credentials.
	Headers http.Header
	Sitekey string
	// The answer stage also knows the challenge, how long it took, how many tasks it had
	// and whether every gold decision was right.
	ChallengeID string
	SolveTime   time.Duration
	Tasks       int
	Passed      bool
}

// Assessment is what a risk assessment decides: the score siteverify reports (0..1,
// higher = riskier) with its reasons, and how hard the visitor's next challenge is.
type Assessment struct {
	Score   float64
	Reasons []string
	// ExtraGrids is how many image grids the next challenge gets on top of the standard
	// composition (at most MaxExtraGrids).
	ExtraGrids int
	// RetryAfter, when positive, refuses the visitor another challenge for that long.
	RetryAfter time.Duration
}

// Outcome is what became of a request; the risk function counts outcomes per IP.
type Outcome string

const (
	OutcomeIssued  Outcome = "issued"  // a challenge was issued
	OutcomeRefused Outcome = "refused" // a challenge was refused (try again later)
	OutcomePassed  Outcome = "pass"    // an answer passed
	OutcomeFailed  Outcome = "fail"    // an answer failed
)

// RiskRecord reports one outcome to the risk hook. Like RiskInput it is never stored as
// is: the hook publishes only pseudonyms of the address.
type RiskRecord struct {
	Outcome Outcome
	// ChallengeID is the issued or answered challenge; empty for a refusal.
	ChallengeID string
	Sitekey     string
	IP          net.IP
	Tasks       int
	SolveTime   time.Duration // answers
	Assessment  Assessment
	At          time.Time
}

// RiskHook scores visitors and sets the difficulty of their challenges. An Assess error
// is logged and treated as "no information": the standard challenge, and on a pass the
// reason ReasonRiskUnavailable; a failing scorer must not lock every visitor out. A Record
// error is only logged.
type RiskHook interface {
	Assess(ctx context.Context, in RiskInput) (Assessment, error)
	Record(ctx context.Context, r RiskRecord) error
}

// ReasonRiskUnavailable is reported when the risk hook failed.
const ReasonRiskUnavailable = "risk_unavailable"

// NoRisk scores nothing: score 0, no reasons, the standard challenge, nothing recorded.
type NoRisk struct{}

// Assess returns score 0 with no reasons.
func (NoRisk) Assess(context.Context, RiskInput) (Assessment, error) { return Assessment{}, nil }

// Record does nothing.
func (NoRisk) Record(context.Context, RiskRecord) error { return nil }

// ErrTryLater: the visitor gets no challenge for a while. The concrete error is a
// *TryLaterError saying how long.
var ErrTryLater = errors.New("challenge: try again later")

// TryLaterError refuses a visitor further challenges for RetryAfter.
type TryLaterError struct {
	RetryAfter time.Duration
}

func (e *TryLaterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", ErrTryLater, e.RetryAfter)
}

// Is makes errors.Is(err, ErrTryLater) true.
func (e *TryLaterError) Is(target error) bool { return target == ErrTryLater }

// ErrBadTelemetry: the telemetry does not follow docs/TELEMETRY.md. It wraps the
// *risk.FieldError that names the field.
var ErrBadTelemetry = errors.New("challenge: invalid telemetry")

// parseTelemetry parses the request's telemetry; nil when none was sent (absent or null).
func parseTelemetry(raw []byte) (*risk.Telemetry, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	t, err := risk.ParseTelemetry(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadTelemetry, err)
	}
	return &t, nil
}

// assess asks the hook, falling back to "no information" when it fails.
func (s *Service) assess(ctx context.Context, in RiskInput) Assessment {
	a, err := s.d.Risk.Assess(ctx, in)
	if err != nil {
		web.Logger(ctx).WarnContext(ctx, "risk assessment failed", "err", err)
		return Assessment{Reasons: []string{ReasonRiskUnavailable}}
	}
	a.ExtraGrids = min(max(a.ExtraGrids, 0), MaxExtraGrids)
	return a
}

// record reports an outcome; losing one only makes the IP windows slightly lower.
func (s *Service) record(ctx context.Context, r RiskRecord) {
	if err := s.d.Risk.Record(ctx, r); err != nil {
		web.Logger(ctx).WarnContext(ctx, "recording the risk outcome failed", "err", err, "outcome", string(r.Outcome))
	}
}

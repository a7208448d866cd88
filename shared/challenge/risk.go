package challenge

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"time"
)

// RiskInput is what a risk assessment sees about a visitor who passed. It lives only in
// memory: behavioural telemetry is reduced to a score and reasons and never stored.
type RiskInput struct {
	Telemetry json.RawMessage
	IP        net.IP
	Headers   http.Header
	SolveTime time.Duration
	Sitekey   string
}

// Assessment is the score siteverify reports: 0..1, higher = riskier, with reasons.
type Assessment struct {
	Score   float64
	Reasons []string
}

// RiskHook scores a visitor. An error is logged and the token carries the reason
// ReasonRiskUnavailable: a failing scorer must not lock every visitor out.
type RiskHook interface {
	Assess(ctx context.Context, in RiskInput) (Assessment, error)
}

// ReasonRiskUnavailable is reported when the risk hook failed.
const ReasonRiskUnavailable = "risk_unavailable"

// NoRisk is the placeholder scorer until risk scoring lands: score 0, no reasons.
type NoRisk struct{}

// Assess returns score 0 with no reasons.
func (NoRisk) Assess(context.Context, RiskInput) (Assessment, error) { return Assessment{}, nil }

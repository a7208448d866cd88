package challenge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"
)

// RiskEventVersion is the risk-events message format version (docs/API.md).
const RiskEventVersion = 1

// Risk event kinds.
const (
	RiskEventIssue  = "issue"  // a request for a challenge: issued or refused
	RiskEventAnswer = "answer" // an answer: pass or fail
)

// RiskEventRetention is how long the risk function keeps what an event tells: its
// counters, the challenge's risk record and the event's idempotency marker. DESIGN §3
// allows raw counters at most 24 hours.
const RiskEventRetention = 24 * time.Hour

// MaxRiskEventSkew is how far ahead of the consumer's clock an event's At may lie: the
// functions' clocks agree to well within it. An event dated further ahead would keep its
// records that much longer than RiskEventRetention, so it is malformed.
const MaxRiskEventSkew = 5 * time.Minute

// RiskEvent is one risk-events queue message: what became of one challenge request or
// answer. It carries no address, user agent or telemetry: only keyed pseudonyms of the
// address and of its subnet, made with the day's salt for the risk purpose, which is
// destroyed 48 h after the day ends.
type RiskEvent struct {
	V int `json:"v"`
	// ID is unique per event ("<challenge id>:issue", "<challenge id>:answer", or "r_…"
	// for a refusal); the consumer applies each id once.
	ID        string  `json:"id"`
	Kind      string  `json:"kind"`
	Outcome   Outcome `json:"outcome"`
	Challenge string  `json:"challenge,omitempty"`
	Sitekey   string  `json:"sitekey"`
	// Day is the UTC day of At, whose salt made IP and Subnet.
	Day    string `json:"day"`
	IP     string `json:"ip,omitempty"`
	Subnet string `json:"subnet,omitempty"`
	Tasks  int    `json:"tasks,omitempty"`
	// SolveMS is the time from issue to answer (answers only).
	SolveMS int64     `json:"solve_ms,omitempty"`
	Score   float64   `json:"score"`
	Reasons []string  `json:"reasons,omitempty"`
	At      time.Time `json:"at"`
}

// ErrBadRiskEvent: a risk event that can never be applied.
var ErrBadRiskEvent = errors.New("risk event: invalid")

// Stale reports whether the event is too old to count at now (RiskEventRetention or more);
// an event dated more than MaxRiskEventSkew after now is ErrBadRiskEvent.
func (e RiskEvent) Stale(now time.Time) (bool, error) {
	if e.At.Sub(now) > MaxRiskEventSkew {
		return false, fmt.Errorf("%w: at %s is ahead of the clock (%s)", ErrBadRiskEvent, e.At.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return now.Sub(e.At) >= RiskEventRetention, nil
}

// Validate checks an event's shape (the consumer refuses anything else).
func (e RiskEvent) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadRiskEvent, fmt.Sprintf(format, args...))
	}
	switch {
	case e.V != RiskEventVersion:
		return bad("version %d, want %d", e.V, RiskEventVersion)
	case e.ID == "" || len(e.ID) > 128:
		return bad("id must be 1-128 bytes")
	case e.Sitekey == "" || len(e.Sitekey) > 64:
		return bad("sitekey must be 1-64 bytes")
	case e.At.IsZero():
		return bad("at is required")
	case e.Score < 0 || e.Score > 1:
		return bad("score must be 0..1")
	case e.SolveMS < 0 || e.Tasks < 0 || e.Tasks > 100 || len(e.Reasons) > 32:
		return bad("solve_ms, tasks or reasons out of range")
	case !isPseudonym(e.IP) || !isPseudonym(e.Subnet) || (e.IP == "") != (e.Subnet == ""):
		return bad("ip and subnet must both be pseudonyms (%d hex digits) or both absent", PseudonymLen)
	}
	if _, err := time.Parse(time.DateOnly, e.Day); err != nil {
		return bad("day is not a date")
	}
	// The day picks the salt of the pseudonyms and the analytics day, whose aggregate is
	// kept 13 months after it: another day than at's would count where the event did not
	// happen, and a later one would be kept longer than its retention.
	if e.Day != e.At.UTC().Format(time.DateOnly) {
		return bad("day %s is not the UTC day of at", e.Day)
	}
	switch e.Kind {
	case RiskEventIssue:
		if e.Outcome != OutcomeIssued && e.Outcome != OutcomeRefused {
			return bad("an issue event's outcome is issued or refused")
		}
		if (e.Outcome == OutcomeIssued) != (e.Challenge != "") {
			return bad("an issued challenge names its challenge, a refusal none")
		}
	case RiskEventAnswer:
		if e.Outcome != OutcomePassed && e.Outcome != OutcomeFailed {
			return bad("an answer event's outcome is pass or fail")
		}
		if e.Challenge == "" {
			return bad("an answer event names its challenge")
		}
	default:
		return bad("kind must be issue or answer")
	}
	if e.Challenge != "" && !validID(e.Challenge) {
		return bad("challenge is not a challenge id")
	}
	return nil
}

// PseudonymLen is the length of a risk pseudonym in hex digits (128 bits).
const PseudonymLen = 32

func isPseudonym(s string) bool {
	if s == "" {
		return true
	}
	if len(s) != PseudonymLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Subnet returns the network an address counts with: its /24 (IPv4) or /64 (IPv6). A nil
// or invalid address gives nil.
func Subnet(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4.Mask(net.CIDRMask(24, 32))
	}
	if len(ip) == net.IPv6len {
		return ip.Mask(net.CIDRMask(64, 128))
	}
	return nil
}

// RiskPseudonyms returns the risk function's keys for an address and its subnet:
// HMAC-SHA256 keyed with the day's risk salt (a purpose of its own, so they cannot be
// joined with answerer pseudonyms), truncated to 128 bits. Empty for a nil address.
func RiskPseudonyms(salt []byte, ip net.IP) Pseudonyms {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	sub := Subnet(ip)
	if sub == nil {
		return Pseudonyms{}
	}
	return Pseudonyms{IP: riskHash(salt, "ip", ip.String()), Subnet: riskHash(salt, "net", sub.String())}
}

func riskHash(salt []byte, kind, value string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))[:PseudonymLen]
}

// DaysBetween lists the UTC days ("2006-01-02") from the day of from to the day of to.
func DaysBetween(from, to time.Time) []string {
	var out []string
	d := from.UTC().Truncate(24 * time.Hour)
	for end := to.UTC(); !d.After(end); d = d.Add(24 * time.Hour) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out
}

// ChallengeRisk is what the risk function keeps about one challenge for the integrator
// risk lookup: the issue and answer assessments, as their events arrive (either may be
// missing).
type ChallengeRisk struct {
	ID      string
	Sitekey string
	// Issue side: set once the issue event arrived.
	Issued       bool
	IssuedAt     time.Time
	Tasks        int
	IssueScore   float64
	IssueReasons []string
	// Answer side: Outcome is empty until the answer event arrived.
	Outcome       Outcome
	AnsweredAt    time.Time
	SolveTime     time.Duration
	AnswerScore   float64
	AnswerReasons []string
}

// SiteActivity is an address's activity on one site (integrator lookups): minute counts
// and the sum and number of its answers' scores.
type SiteActivity struct {
	Minutes  Minutes
	ScoreSum float64
	Scores   int
}

// ValidID reports whether id is shaped like a challenge id, so lookups of anything else
// need no read.
func ValidID(id string) bool { return validID(id) }

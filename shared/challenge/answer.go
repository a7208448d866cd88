package challenge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/shared/token"
	"github.com/crowdgate/crowdgate/shared/web"
)

// MessageVersion is the answers-queue message format version (docs/API.md).
const MessageVersion = 1

// PublishScoreBelow: a pass publishes its answers only when its risk score is below this
// (and the scorer could assess it). A bot that gets the gold right (memorised, or answered
// by a solving farm) passes, but its answers to open items are what it can make up to
// poison labels; no held-out person's session scores this high (shared/risk/README.md).
const PublishScoreBelow = ScoreOneExtraGrid

// AnswerMessage is one answers-queue message: the answers to one task's open items from a
// visitor who passed, with the task's gold answers for calibration. It holds no IP, user
// agent or stable id; Answerer is a keyed hash whose salt rotates daily.
type AnswerMessage struct {
	V     int    `json:"v"`
	ID    string `json:"id"` // "<challenge id>:<task id>", unique per message
	JobID string `json:"job_id"`
	// Class is what the task asked about; labels are "yes" (the item shows it) or "no".
	Class      string       `json:"class"`
	Answerer   string       `json:"answerer"`
	Day        string       `json:"day"`
	Answers    []ItemLabel  `json:"answers"`
	Gold       []GoldAnswer `json:"gold"`
	AnsweredAt time.Time    `json:"answered_at"`
	SolveMS    int64        `json:"solve_ms"`
}

// ItemLabel is a visitor's answer to an open item.
type ItemLabel struct {
	ItemID string `json:"item_id"`
	Label  string `json:"label"`
}

// GoldAnswer is a visitor's answer to a gold item next to the truth.
type GoldAnswer struct {
	ItemID string `json:"item_id"`
	Truth  string `json:"truth"`
	Label  string `json:"label"`
}

// Answer grades a challenge. Passing mints a pass token; failing returns a fresh
// challenge. Either way the challenge is used up.
func (s *Service) Answer(ctx context.Context, req AnswerRequest) (Result, error) {
	if len(req.Telemetry) > MaxTelemetry {
		return Result{}, ErrTelemetryTooLarge
	}
	if req.Sitekey == "" {
		// Not another site's challenge (sitekey_mismatch): the request left out its part.
		return Result{}, fmt.Errorf("%w: sitekey is required", ErrBadRequest)
	}
	if !validID(req.ID) {
		return Result{}, ErrNotFound
	}
	rec, err := s.d.Store.Get(ctx, req.ID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Result{}, ErrNotFound
		}
		return Result{}, fmt.Errorf("load challenge: %w", err)
	}
	now := s.d.Now()
	switch {
	case rec.Sitekey != req.Sitekey:
		return Result{}, ErrSitekeyMismatch
	case !OriginAllows(req.Origin, rec.Host):
		// Refused before the challenge is used up: the page it was issued to keeps it.
		return Result{}, ErrHostNotAllowed
	case !now.Before(rec.ExpiresAt):
		return Result{}, ErrExpired
	case rec.Used:
		return Result{}, ErrUsed
	}
	given, err := match(rec, req.Answers)
	if err != nil {
		return Result{}, err
	}
	tel, err := parseTelemetry(req.Telemetry)
	if err != nil {
		return Result{}, err
	}
	// Validation happens before the challenge is used up, so a malformed request does not
	// cost the visitor the challenge; grading happens after, so a replay learns nothing.
	if err := s.d.Store.Consume(ctx, rec.ID, now); err != nil {
		if errors.Is(err, ErrUsed) || errors.Is(err, ErrExpired) || errors.Is(err, ErrNotFound) {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("consume challenge: %w", err)
	}
	pass := passed(rec, given)
	// Another instance issued the challenge; a clock a little ahead there must not give a
	// negative solve time, which the risk events refuse.
	solve := max(now.Sub(rec.IssuedAt), 0)
	cl := req.Client
	// Failed answers are scored too: the score and the failure go to the risk function,
	// and the assessment sets the difficulty of the fresh challenge (or refuses one).
	a := s.assess(ctx, RiskInput{
		Stage: RiskAnswer, Telemetry: tel, IP: cl.IP, UserAgent: cl.UserAgent, Headers: cl.Headers,
		Sitekey: rec.Sitekey, ChallengeID: rec.ID, SolveTime: solve, Tasks: len(rec.Tasks), Passed: pass,
	})
	outcome := RiskRecord{ChallengeID: rec.ID, Sitekey: rec.Sitekey, IP: cl.IP, Tasks: len(rec.Tasks), SolveTime: solve, Assessment: a, At: now}
	if !pass {
		outcome.Outcome = OutcomeFailed
		s.record(ctx, outcome)
		// The fresh challenge is checked like a first one: a site deleted or disabled, or a
		// host taken off its list, since the answered challenge was issued gets none.
		if err := s.checkSite(ctx, rec.Sitekey, rec.Host); err != nil {
			return Result{}, err
		}
		if a.RetryAfter > 0 {
			return Result{}, &TryLaterError{RetryAfter: a.RetryAfter}
		}
		// The fresh challenge speaks the answered one's language; Accept-Language, which the
		// record does not keep, comes again with the answer.
		c, issuedAt, err := s.issue(ctx, rec.Sitekey, rec.Host, language{locale: rec.Locale, accept: req.AcceptLanguage}, a.ExtraGrids)
		if err != nil {
			return Result{}, fmt.Errorf("fresh challenge: %w", err)
		}
		// At the fresh challenge's own issue time (after its draws), from which its solve
		// time counts, not the answer's.
		s.record(ctx, RiskRecord{Outcome: OutcomeIssued, ChallengeID: c.ID, Sitekey: rec.Sitekey, IP: cl.IP, Tasks: len(c.Tasks), Assessment: a, At: issuedAt})
		return Result{Challenge: c}, nil
	}

	tok, claims, err := s.d.Signer.Issue(rec.Sitekey, now)
	if err != nil {
		return Result{}, fmt.Errorf("sign token: %w", err)
	}
	if err := s.d.Tokens.Put(ctx, token.Record{
		ID: claims.ID, Sitekey: rec.Sitekey, Hostname: rec.Host, ChallengeTS: now,
		ExpiresAt: claims.ExpiresAt, Score: a.Score, ScoreReasons: a.Reasons,
	}); err != nil {
		return Result{}, fmt.Errorf("store token: %w", err)
	}
	outcome.Outcome = OutcomePassed
	s.record(ctx, outcome)
	// Labels are a by-product: losing them must not fail a visitor who passed.
	if !publishable(a) {
		return Result{Pass: true, Token: tok, TokenTTL: token.TTL}, nil
	}
	if err := s.publish(ctx, rec, given, req.Client, req.OptOut, now, solve); err != nil {
		web.Logger(ctx).ErrorContext(ctx, "publish answers failed", "err", err, "challenge", rec.ID)
	}
	return Result{Pass: true, Token: tok, TokenTTL: token.TTL}, nil
}

// publishable reports whether a pass's answers may become labeled data: scored below
// PublishScoreBelow by a scorer that worked.
func publishable(a Assessment) bool {
	for _, r := range a.Reasons {
		if r == ReasonRiskUnavailable {
			return false
		}
	}
	return a.Score < PublishScoreBelow
}

func validID(id string) bool {
	hexPart, ok := strings.CutPrefix(id, IDPrefix)
	if !ok || len(hexPart) != 32 {
		return false
	}
	for _, c := range hexPart {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// match checks that every task is answered exactly once and well-formed, and returns per
// task the visitor's yes/no per item (index-aligned with TaskRecord.Items).
func match(rec Record, answers []TaskAnswer) ([][]bool, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidAnswers, fmt.Sprintf(format, args...))
	}
	if len(answers) > len(rec.Tasks) {
		return nil, bad("%d answers for %d tasks", len(answers), len(rec.Tasks))
	}
	given := make([][]bool, len(rec.Tasks))
	for _, a := range answers {
		ti := -1
		for i, t := range rec.Tasks {
			if t.ID == a.Task {
				ti = i
				break
			}
		}
		if ti < 0 {
			return nil, bad("answer for an unknown task")
		}
		t := rec.Tasks[ti]
		if given[ti] != nil {
			return nil, bad("task %s answered twice", t.ID)
		}
		yes := make([]bool, len(t.Items))
		switch t.Kind {
		case TaskImageGrid:
			if a.Selected == nil || a.Choice != "" {
				return nil, bad("task %s needs \"selected\" (a list of tile ids)", t.ID)
			}
			if len(a.Selected) > len(t.Items) {
				return nil, bad("task %s: more tiles selected than shown", t.ID)
			}
			for _, tile := range a.Selected {
				i := tileIndex(t, tile)
				if i < 0 {
					return nil, bad("task %s: unknown tile id", t.ID)
				}
				if yes[i] {
					return nil, bad("task %s: tile selected twice", t.ID)
				}
				yes[i] = true
			}
		case TaskYesNo:
			if a.Selected != nil || (a.Choice != "yes" && a.Choice != "no") {
				return nil, bad("task %s needs \"choice\": \"yes\" or \"no\"", t.ID)
			}
			for i := range yes {
				yes[i] = a.Choice == "yes"
			}
		default:
			return nil, fmt.Errorf("challenge %s: stored task %s has unknown kind %q", rec.ID, t.ID, t.Kind)
		}
		given[ti] = yes
	}
	for i, t := range rec.Tasks {
		if given[i] == nil {
			return nil, bad("task %s is not answered", t.ID)
		}
	}
	return given, nil
}

func tileIndex(t TaskRecord, tile string) int {
	for i, it := range t.Items {
		if it.Tile == tile {
			return i
		}
	}
	return -1
}

// passed reports whether every gold decision is right.
func passed(rec Record, given [][]bool) bool {
	for ti, t := range rec.Tasks {
		for i, it := range t.Items {
			if it.Gold && given[ti][i] != it.Truth {
				return false
			}
		}
	}
	return true
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// publish sends one message per task that had open items, unless the visitor (optOut:
// Global Privacy Control) or the site's integrator opted out of sale/sharing.
func (s *Service) publish(ctx context.Context, rec Record, given [][]bool, c Client, optOut bool, now time.Time, solve time.Duration) error {
	// Checked first, so no answerer pseudonym is even derived for a visitor who opted out.
	if optOut {
		return nil
	}
	var msgs []any
	day := now.UTC().Format(time.DateOnly)
	var answerer string
	for ti, t := range rec.Tasks {
		m := AnswerMessage{
			V: MessageVersion, ID: rec.ID + ":" + t.ID, JobID: t.JobID, Class: t.Class, Day: day,
			Answers: []ItemLabel{}, Gold: []GoldAnswer{}, AnsweredAt: now.UTC().Truncate(time.Second), SolveMS: solve.Milliseconds(),
		}
		for i, it := range t.Items {
			if it.Gold {
				m.Gold = append(m.Gold, GoldAnswer{ItemID: it.ItemID, Truth: yesNo(it.Truth), Label: yesNo(given[ti][i])})
			} else {
				m.Answers = append(m.Answers, ItemLabel{ItemID: it.ItemID, Label: yesNo(given[ti][i])})
			}
		}
		if len(m.Answers) == 0 {
			continue
		}
		if answerer == "" {
			salt, err := s.d.Salts.Salt(ctx, day)
			if err != nil {
				return fmt.Errorf("daily salt: %w", err)
			}
			answerer = Pseudonym(salt, c.IP, c.UserAgent)
		}
		m.Answerer = answerer
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return nil
	}
	// Read at publish time, so an opt-out counts from the moment it is recorded; if the
	// site cannot be read, nothing is published.
	site, err := s.d.Sites.Site(ctx, rec.Sitekey)
	if err != nil {
		return fmt.Errorf("read site before publishing: %w", err)
	}
	if site.WithholdAnswers {
		return nil
	}
	return s.d.Publisher.SendJSON(ctx, msgs...)
}

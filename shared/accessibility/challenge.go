package accessibility

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/locale"
	"github.com/crowdgate/crowdgate/shared/token"
	"github.com/crowdgate/crowdgate/shared/web"
)

// IssueInput asks for a text challenge.
type IssueInput struct {
	Token   string // the accessibility token (cookie)
	Sitekey string
	Host    string
	// Locale is the widget's hl; AcceptLanguage the browser's header, which picks the
	// language when hl is not one of Locales (locale.Pick).
	Locale         string
	AcceptLanguage string
}

// Issued is the public view of a text challenge.
type Issued struct {
	ID       string
	Question string
	// Lang is Question's language (one of Locales), which can differ from the widget's: a
	// French widget gets English or German questions. The widget marks the question with
	// it, so a screen reader reads it in the right voice.
	Lang      string
	ExpiresIn time.Duration
}

// Issue returns a text question for a visitor holding a working accessibility token.
func (s *Service) Issue(ctx context.Context, in IssueInput) (Issued, error) {
	t, err := s.Authenticate(ctx, in.Token)
	if err != nil {
		return Issued{}, err
	}
	if in.Sitekey == "" {
		return Issued{}, fmt.Errorf("%w: sitekey is required", ErrBadRequest)
	}
	host := challenge.NormalizeHost(in.Host)
	if host == "" {
		return Issued{}, fmt.Errorf("%w: host is required", ErrBadRequest)
	}
	// hCaptcha's test sitekeys have no site to check; their pass is the test token (Answer).
	if _, test := token.TestKeyBySitekey(in.Sitekey); !test {
		if err := s.checkSite(ctx, in.Sitekey, host); err != nil {
			return Issued{}, err
		}
	}
	now := s.d.Now()
	// Counted after the site check, so a widget misconfiguration does not use up the
	// person's allowance.
	c := Counter{Key: "TOKEN#" + t.Hash, Subject: t.Subject, Limit: ChallengesPerToken, Window: TokenWindow}
	if err := s.take(ctx, c, LimitToken, now); err != nil {
		return Issued{}, err
	}
	rng := newRand()
	lang := locale.Pick(in.Locale, in.AcceptLanguage, Locales)
	q := NewQuestion(lang, rng)
	var id [16]byte
	_, _ = crand.Read(id[:]) // crypto/rand never fails (it panics instead)
	tc := TextChallenge{
		ID: ChallengeIDPrefix + hex.EncodeToString(id[:]), Sitekey: in.Sitekey, Host: host,
		Answers: q.Answers, IssuedAt: now, ExpiresAt: now.Add(s.d.TTL),
	}
	if err := s.d.Challenges.Put(ctx, tc); err != nil {
		return Issued{}, fmt.Errorf("store text challenge: %w", err)
	}
	return Issued{ID: tc.ID, Question: q.Text, Lang: lang, ExpiresIn: s.d.TTL}, nil
}

func (s *Service) checkSite(ctx context.Context, sitekey, host string) error {
	site, err := s.d.Sites.Site(ctx, sitekey)
	if err != nil {
		if errors.Is(err, challenge.ErrUnknownSite) {
			return ErrUnknownSite
		}
		return fmt.Errorf("look up site: %w", err)
	}
	if !account.HostAllowed(site.Hostnames, host) {
		return ErrHostNotAllowed
	}
	return nil
}

// AnswerInput answers a text challenge.
type AnswerInput struct {
	Token  string // the accessibility token (cookie)
	ID     string
	Answer string
	// Sitekey, when set, must be the challenge's (as on the visual answer route).
	Sitekey string
	// SetAside, when set, is the visual challenge the visitor turned to the text question
	// from (the widget's response key). IP is the visitor's address, for its risk event.
	SetAside string
	IP       net.IP
}

// Result is the outcome of Answer: a pass token, or no pass (the challenge is used up
// either way; ask for a new one).
type Result struct {
	Pass     bool
	Token    string
	TokenTTL time.Duration
}

// Answer grades a text challenge. A pass mints an ordinary pass token, and ends the
// visual challenge set aside as a visual pass would (endSetAside); no labeled data is
// published.
func (s *Service) Answer(ctx context.Context, in AnswerInput) (Result, error) {
	if _, err := s.Authenticate(ctx, in.Token); err != nil {
		return Result{}, err
	}
	if !ValidChallengeID(in.ID) {
		return Result{}, ErrNotFound
	}
	if in.SetAside != "" && !challenge.ValidID(in.SetAside) {
		return Result{}, fmt.Errorf("%w: set_aside is not a visual challenge id", ErrBadRequest)
	}
	now := s.d.Now()
	c, err := s.d.Challenges.Get(ctx, in.ID, now)
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrExpired) {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("load text challenge: %w", err)
	}
	switch {
	case in.Sitekey != "" && in.Sitekey != c.Sitekey:
		return Result{}, ErrSitekeyMismatch
	case !now.Before(c.ExpiresAt):
		return Result{}, ErrExpired
	case c.Used:
		return Result{}, ErrUsed
	}
	// Checked before the challenge is used up, so a slip of the keyboard (an empty
	// submit) does not cost the question.
	given := Normalize(in.Answer)
	if given == "" || utf8.RuneCountInString(in.Answer) > MaxAnswerRunes {
		return Result{}, fmt.Errorf("%w: the answer must be 1 to %d characters", ErrInvalidAnswer, MaxAnswerRunes)
	}
	if err := s.d.Challenges.Consume(ctx, c.ID, now); err != nil {
		if errors.Is(err, ErrUsed) || errors.Is(err, ErrExpired) || errors.Is(err, ErrNotFound) {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("consume text challenge: %w", err)
	}
	if !slices.Contains(c.Answers, given) {
		return Result{Pass: false}, nil
	}
	if k, ok := token.TestKeyBySitekey(c.Sitekey); ok {
		return Result{Pass: true, Token: k.Response, TokenTTL: token.TTL}, nil
	}
	tok, claims, err := s.d.Signer.Issue(c.Sitekey, now)
	if err != nil {
		return Result{}, fmt.Errorf("sign token: %w", err)
	}
	if err := s.d.Tokens.Put(ctx, token.Record{
		ID: claims.ID, Sitekey: c.Sitekey, Hostname: c.Host, ChallengeTS: now, ExpiresAt: claims.ExpiresAt,
		Score: PassScore,
	}); err != nil {
		return Result{}, fmt.Errorf("store token: %w", err)
	}
	s.endSetAside(ctx, in, c, now)
	return Result{Pass: true, Token: tok, TokenTTL: token.TTL}, nil
}

// endSetAside uses up the visual challenge the visitor set aside and records its pass as
// a visual pass is recorded (score PassScore, no reasons). Left open, a risk lookup of
// the response key — that challenge — would find it issued and never answered, which no
// visual pass shows: a hint that the visitor uses the accessibility path (PRIVACY.md). Only
// an unused, unexpired challenge of the same site counts, so a text pass cannot mark
// another site's challenge, or one answered already. Losing the record costs only the
// risk windows a little, so a failure is logged and the pass stands.
func (s *Service) endSetAside(ctx context.Context, in AnswerInput, text TextChallenge, now time.Time) {
	if in.SetAside == "" {
		return
	}
	log := web.Logger(ctx)
	v, err := s.d.Visual.Get(ctx, in.SetAside)
	switch {
	case errors.Is(err, challenge.ErrNotFound):
		return
	case err != nil:
		log.WarnContext(ctx, "loading the set-aside challenge failed", "err", err)
		return
	case v.Sitekey != text.Sitekey:
		return
	}
	// Consume refuses one used or expired, atomically.
	if err := s.d.Visual.Consume(ctx, v.ID, now); err != nil {
		if !errors.Is(err, challenge.ErrUsed) && !errors.Is(err, challenge.ErrExpired) && !errors.Is(err, challenge.ErrNotFound) {
			log.WarnContext(ctx, "using up the set-aside challenge failed", "err", err)
		}
		return
	}
	if err := s.d.Risk.Record(ctx, challenge.RiskRecord{
		Outcome: challenge.OutcomePassed, ChallengeID: v.ID, Sitekey: v.Sitekey, IP: in.IP, Tasks: len(v.Tasks),
		SolveTime: max(now.Sub(v.IssuedAt), 0), Assessment: challenge.Assessment{Score: PassScore}, At: now,
	}); err != nil {
		log.WarnContext(ctx, "recording the set-aside challenge's pass failed", "err", err)
	}
}

// ValidChallengeID reports whether id is shaped like a text challenge id.
func ValidChallengeID(id string) bool {
	h, ok := strings.CutPrefix(id, ChallengeIDPrefix)
	if !ok || len(h) != 32 {
		return false
	}
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// newRand returns a ChaCha8 generator seeded from the operating system, so questions
// cannot be predicted from earlier ones.
func newRand() *rand.Rand {
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	return rand.New(rand.NewChaCha8(seed))
}

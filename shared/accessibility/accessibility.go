// Package accessibility lets a person who cannot solve visual challenges pass crowdgate
// with a text question instead (issue 5 item 5, docs/API.md "Accessibility"):
//
//  1. SignUp: they enter an e-mail address; a confirm link with a one-hour, single-use code
//     is mailed to it. The address is used only to send that mail: what is stored is the
//     subject hash (privacy.SubjectHash under the privacy key), so a privacy request for
//     the address finds every record, and a keyed hash of the code.
//  2. Confirm: the code becomes an accessibility token ("cga_…", 24 hours, stored only as a
//     SHA-256 hash next to the subject hash), which the handler sets as a first-party
//     cookie. Revoke deletes it.
//  3. Issue and Answer: with the token, the widget asks for a text question and answers it;
//     a right answer mints an ordinary pass token (same signer and token store as a visual
//     pass), which /siteverify accepts exactly like any other.
//
// The e-mail is never linked to answers: text challenges carry no reference to the token
// or the subject, and nothing is published to the answers queue. A pass ends the visual
// challenge the visitor set aside with the risk event a clean visual pass would have, so
// the response key does not mark the path (Service.Answer). Sign-up
// mails are rate limited per address and per network pseudonym, text challenges per token.
//
// It imports no AWS SDK: shared/dynamo implements Store and Challenges, shared/mail the
// Mailer, shared/token the Signer.
package accessibility

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/token"
)

// Lifetimes and limits (docs/API.md, docs/PRIVACY.md).
const (
	// CodeTTL is how long a confirm link works.
	CodeTTL = time.Hour
	// TokenTTL is how long an accessibility token works after confirmation.
	TokenTTL = 24 * time.Hour
	// FenceTTL is how long an erasure's fence on a subject lasts (privacy.AccessibilityData.
	// FenceAccessibility): longer than any token made before it works, plus a margin for
	// the clocks of the two functions, so no token of the subject made before the erasure
	// works again, however late the erasure's listing saw it.
	FenceTTL = TokenTTL + time.Hour

	// MailsPerAddress sign-up mails may go to one address per MailWindow.
	MailsPerAddress = 3
	MailWindow      = 24 * time.Hour
	// SignupsPerNetwork sign-ups may come from one network pseudonym per NetworkWindow
	// (an IPv4 address or an IPv6 /64, keyed-hashed with the window's start).
	SignupsPerNetwork = 10
	NetworkWindow     = time.Hour
	// ChallengesPerToken text challenges may be issued to one token per TokenWindow.
	ChallengesPerToken = 30
	TokenWindow        = time.Hour

	// ChallengeTTL is how long a text challenge may be answered when Deps.TTL is zero
	// (the normal challenge lifetime).
	ChallengeTTL = challenge.DefaultTTL

	// MaxAnswerRunes caps an answer; real answers are a word or a number.
	MaxAnswerRunes = 100
)

// Formats.
const (
	// TokenPrefix starts every accessibility token; 43 characters of base64url follow.
	TokenPrefix = "cga_"
	// ChallengeIDPrefix starts every text challenge id; 32 lower-case hex digits follow.
	ChallengeIDPrefix = "a_"
	// CookieName carries the token in the browser.
	CookieName = "cg_a11y"
	// PassScore is the risk score of an accessibility pass (0..1, higher = riskier): what a
	// clean visual pass reports at siteverify (humans score about 0.001, reported to two
	// decimals), with no score_reason. Any other fixed value would mark the visitors who use
	// the accessibility path, which tells the site something about their health (a special
	// category under GDPR Art. 9). The mailed confirmation and the per-token question limit
	// are what hold programs back here, not the score.
	PassScore = 0.0
)

const (
	secretBytes = 32
	secretLen   = 43 // base64url of 32 bytes, unpadded
)

// Domain errors; the handler maps them to statuses and documented codes.
var (
	// ErrInvalidEmail wraps the reason the address was refused (*privacy.ValidationError).
	ErrInvalidEmail = errors.New("accessibility: invalid e-mail address")
	// ErrMail: the confirm mail could not be sent.
	ErrMail = errors.New("accessibility: e-mail not sent")
	// ErrInvalidCode: the confirm code is malformed, unknown, used or expired.
	ErrInvalidCode = errors.New("accessibility: invalid or expired confirm code")
	// ErrTokenRequired: the accessibility token is missing, malformed, unknown, expired
	// or revoked.
	ErrTokenRequired = errors.New("accessibility: accessibility token required")
	// ErrErasing: an erasure has fenced the token's subject (Store.PutToken), so no token
	// of it may be stored until the fence expires (FenceTTL).
	ErrErasing    = errors.New("accessibility: the address is being erased")
	ErrBadRequest = errors.New("accessibility: bad request")
	// ErrInvalidAnswer: the answer is empty or too long (the challenge is not used up).
	ErrInvalidAnswer   = errors.New("accessibility: invalid answer")
	ErrUnknownSite     = challenge.ErrUnknownSite
	ErrHostNotAllowed  = challenge.ErrHostNotAllowed
	ErrNotFound        = errors.New("accessibility: challenge not found")
	ErrExpired         = errors.New("accessibility: challenge expired")
	ErrUsed            = errors.New("accessibility: challenge already answered")
	ErrSitekeyMismatch = errors.New("accessibility: challenge issued for another site")
)

// LimitError refuses a sign-up or a text challenge until RetryAfter has passed.
type LimitError struct {
	// What was limited: LimitAddress, LimitNetwork or LimitToken.
	What       string
	RetryAfter time.Duration
}

// Limits a LimitError names.
const (
	LimitAddress = "address"
	LimitNetwork = "network"
	LimitToken   = "token"
)

func (e *LimitError) Error() string {
	return fmt.Sprintf("accessibility: %s rate limit reached; retry in %s", e.What, e.RetryAfter)
}

// Signup is a pending sign-up: the keyed hash of the mailed code and the subject hash.
type Signup struct {
	CodeHash  string
	Subject   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Token is a stored accessibility token: its SHA-256 hash and the subject hash, nothing
// else personal.
type Token struct {
	Hash      string
	Subject   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Counter is one rate limit: at most Limit takes per Window, the window starting at the
// first take. Subject, when set, ties the counter to a data subject so a privacy request
// erases it too.
type Counter struct {
	Key     string
	Subject string
	Limit   int
	Window  time.Duration
}

// Store keeps the accessibility records (the accounts table, A11Y#…). Implementations:
// shared/dynamo.Accessibility and accessibilitytest.Store; accessibilitytest.TestStore
// is the contract.
type Store interface {
	// PutSignup stores a pending sign-up (ttl = ExpiresAt).
	PutSignup(ctx context.Context, s Signup) error
	// TakeSignup removes and returns the sign-up of a code hash, once: ErrInvalidCode
	// if there is none or it expired at now.
	TakeSignup(ctx context.Context, codeHash string, now time.Time) (Signup, error)
	// PutToken stores a token (ttl = ExpiresAt), in one write with the check that no
	// erasure has fenced its subject at t.CreatedAt (ErrErasing, nothing stored).
	PutToken(ctx context.Context, t Token) error
	// Token returns the token of a hash: ErrTokenRequired if there is none, it expired
	// at now or an erasure has fenced its subject (a token made a moment before the
	// erasure's fence, which the erasure's listing may miss, stops working all the same).
	Token(ctx context.Context, hash string, now time.Time) (Token, error)
	// DeleteToken removes a token (no error if there is none).
	DeleteToken(ctx context.Context, hash string) error
	// Take counts one use of c at now. ok false means the limit is reached; resetAt is
	// when the window ends (a take then succeeds). Concurrent takes never exceed Limit.
	Take(ctx context.Context, c Counter, now time.Time) (ok bool, resetAt time.Time, err error)
	// GiveBack returns one take of c's window that is open at now, when what it was taken
	// for did not happen (no error if the window has ended or holds no take).
	GiveBack(ctx context.Context, c Counter, now time.Time) error
}

// TextChallenge is a stored text question. It carries no reference to the token or the
// subject that asked for it.
type TextChallenge struct {
	ID      string
	Sitekey string
	Host    string
	// Answers are the accepted answers in Normalize form.
	Answers   []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	Used      bool
}

// Challenges keeps text challenges (the challenges table). Implementations:
// shared/dynamo.TextChallenges and accessibilitytest.Challenges; accessibilitytest.
// TestChallenges is the contract.
type Challenges interface {
	Put(ctx context.Context, c TextChallenge) error
	// Get returns ErrNotFound for an unknown id and ErrExpired for one expired at now
	// (DynamoDB deletes lazily).
	Get(ctx context.Context, id string, now time.Time) (TextChallenge, error)
	// Consume marks the challenge used if it exists, is unused and unexpired at now —
	// atomically. Otherwise ErrNotFound, ErrUsed or ErrExpired.
	Consume(ctx context.Context, id string, now time.Time) error
}

// VisualChallenges is the visual challenge store (challenge.Store): a text pass ends the
// visual challenge the visitor set aside.
type VisualChallenges interface {
	Get(ctx context.Context, id string) (challenge.Record, error)
	Consume(ctx context.Context, id string, now time.Time) error
}

// RiskRecorder publishes an outcome to the risk-events queue (challenge.ScoringHook).
type RiskRecorder interface {
	Record(ctx context.Context, r challenge.RiskRecord) error
}

// Mailer sends one plain-text e-mail (shared/mail).
type Mailer interface {
	Send(ctx context.Context, to, subject, text string) error
}

// Signer mints pass tokens (*token.Signer, token.Keyring).
type Signer interface {
	Issue(sitekey string, now time.Time) (string, token.Claims, error)
}

// Tokens keeps the pass-token record siteverify redeems (shared/dynamo.Tokens).
type Tokens interface {
	Put(ctx context.Context, r token.Record) error
}

// Deps are the Service's ports and settings.
type Deps struct {
	Store      Store
	Challenges Challenges
	Mailer     Mailer
	Sites      challenge.Sites
	Signer     Signer
	Tokens     Tokens
	// Visual and Risk end the visual challenge a text pass stands in for, and record its
	// pass as a visual pass's is recorded (Service.Answer).
	Visual VisualChallenges
	Risk   RiskRecorder
	// Key is the privacy key: subject hashes must be the privacy service's, so a privacy
	// request finds these records; it also keys code hashes and network pseudonyms.
	Key []byte
	// BaseURL is the public URL of the service (the confirm link's base).
	BaseURL string
	// TTL is how long a text challenge may be answered; zero means ChallengeTTL.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand draws codes, tokens and ids; nil means crypto/rand.
	Rand io.Reader
}

// Service runs sign-up, tokens and text challenges.
type Service struct {
	d Deps
}

// New checks the ports and returns the Service.
func New(d Deps) (*Service, error) {
	if d.Store == nil || d.Challenges == nil || d.Mailer == nil || d.Sites == nil || d.Signer == nil || d.Tokens == nil || d.Visual == nil || d.Risk == nil {
		return nil, errors.New("accessibility: Store, Challenges, Mailer, Sites, Signer, Tokens, Visual and Risk are required")
	}
	if len(d.Key) < privacy.MinKeyBytes {
		return nil, fmt.Errorf("accessibility: key must have at least %d bytes", privacy.MinKeyBytes)
	}
	if d.BaseURL == "" {
		return nil, errors.New("accessibility: the public base URL is required (PUBLIC_URL)")
	}
	if d.TTL <= 0 {
		d.TTL = ChallengeTTL
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	return &Service{d: d}, nil
}

// TTL is how long text challenges may be answered.
func (s *Service) TTL() time.Duration { return s.d.TTL }

// SignupURL is the sign-up page.
func (s *Service) SignupURL() string { return s.d.BaseURL + "/accessibility" }

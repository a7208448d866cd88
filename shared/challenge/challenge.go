// Package challenge is the CAPTCHA loop's server half: it issues challenges composed from
// labeling jobs (two 3×3 image grids and one yes/no question), grades answers against gold
// items, mints pass tokens for visitors who pass and hands the answers to unlabeled items
// to the answers queue under a daily-rotating pseudonym. It imports no AWS SDK: every
// store, queue, signer and media link is a port (see Deps).
//
// # Why a random clicker fails
//
// Every task mixes gold items (known answer) with open ones (unknown), indistinguishable
// to the visitor. A challenge passes only if every gold decision is right — no wrong tile
// is tolerated, because each tolerated error multiplies a bot's chance by the number of
// places it may occur (13 decisions with one error allowed: 14/8192 ≈ 1/585).
//
//   - Each grid has 9 tiles: at least 6 gold (GridGold) and at most 3 open (GridMaxOpen).
//     2–(g−2) of its g gold tiles show the class, uniformly at random for the class asked —
//     when some class of the job has enough gold (job.Catalog serves the counts it can
//     otherwise, and the bounds below then do not hold: docs/API.md, "Bots and solving
//     farms").
//   - The yes/no task is gold with probability 2/3 (YesNoOpenOdds) and then its truth is
//     "yes" or "no" with probability 1/2 each.
//
// A uniformly random clicker (each tile and the yes/no a fair coin) is right on all ≥ 12
// grid decisions with probability ≤ 2⁻¹² = 1/4096, and with the yes/no task ≤ 2⁻¹²·(1/3 +
// 2/3·1/2) = 1/6144 < 1/4000. A stronger blind bot that knows this design (but cannot see
// the images) does best by selecting a fixed number of tiles: with 6 gold tiles of which
// 2–4 show the class, the best it can do per grid is 1/54 (select any 4 or 5 tiles), so two
// grids and the yes/no give (1/54)²·2/3 = 1/4374 < 1/4000. More gold per grid (when a job
// has fewer open items) only lowers these numbers. Bots that can classify the images are
// the risk scorer's business (RiskHook), which also adds grids for risky visitors and
// refuses addresses that keep failing (difficulty.go); a pass it scores as a bot's
// publishes no answers (PublishScoreBelow), so a bot that memorised the gold cannot label.
package challenge

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/token"
)

// Composition of a challenge (see the package comment for the arithmetic).
const (
	GridTiles   = 9
	GridMaxOpen = 3
	GridGold    = GridTiles - GridMaxOpen
	// GridMinTrue and GridMinFalse: gold tiles that at least must / must not be selected,
	// so "select all" and "select none" always fail.
	GridMinTrue  = 2
	GridMinFalse = 2
	// YesNoOpenOdds: the yes/no task shows an open item 1 time in YesNoOpenOdds.
	YesNoOpenOdds = 3
)

// Limits.
const (
	// MaxTelemetry caps the raw telemetry JSON of a request.
	MaxTelemetry = 32 << 10
	// MaxMediaTTL caps the lifetime asked of media links (a link cache such as blob.Links
	// may sign them for up to its reuse window longer).
	MaxMediaTTL = 5 * time.Minute
	// DefaultTTL is how long a challenge may be answered when Deps.TTL is zero.
	DefaultTTL = 5 * time.Minute
)

// TaskKind is what the widget renders.
type TaskKind string

const (
	TaskImageGrid TaskKind = "image_grid"
	TaskYesNo     TaskKind = "yes_no"
)

// Domain errors; the handler maps them to statuses and documented codes.
var (
	ErrBadRequest        = errors.New("challenge: bad request")
	ErrUnknownSite       = errors.New("challenge: unknown sitekey")
	ErrHostNotAllowed    = errors.New("challenge: hostname not allowed for this site")
	ErrNotFound          = errors.New("challenge: not found")
	ErrExpired           = errors.New("challenge: expired")
	ErrUsed              = errors.New("challenge: already answered")
	ErrSitekeyMismatch   = errors.New("challenge: issued for another site")
	ErrInvalidAnswers    = errors.New("challenge: invalid answers")
	ErrTelemetryTooLarge = errors.New("challenge: telemetry too large")
	// ErrNoMaterial: no active job can supply a task (job.ErrNoMaterial wrapped).
	ErrNoMaterial = job.ErrNoMaterial
)

// SiteInfo is what the challenge needs to know about an integrator's site.
type SiteInfo struct {
	Sitekey string
	// Hostnames the widget may be used on, with their subdomains (account.HostAllowed).
	Hostnames []string
	// WithholdAnswers: the site's integrator opted out of sale/sharing or limited the use
	// of its data (account.Site.PublishesAnswers), so its visitors' answers are not
	// published as labeled data; challenges still verify them.
	WithholdAnswers bool
}

// Sites looks up sites; an unknown (or disabled) sitekey is ErrUnknownSite.
type Sites interface {
	Site(ctx context.Context, sitekey string) (SiteInfo, error)
}

// Record is a stored challenge: what was shown and the answers it expects. Gold truths
// never leave the server.
type Record struct {
	ID        string
	Sitekey   string
	Host      string
	Locale    string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Used is set by Store.Consume.
	Used  bool
	Tasks []TaskRecord
}

// TaskRecord is one task of a stored challenge.
type TaskRecord struct {
	ID    string
	Kind  TaskKind
	JobID string
	// Class is what the task asks about: an item's answer is "yes" (selected) when it
	// shows the class.
	Class string
	Items []ItemRecord
}

// ItemRecord maps a tile to its item. Truth is the right answer of a gold item.
type ItemRecord struct {
	Tile   string // random per challenge; empty for a yes/no task
	ItemID string
	Gold   bool
	Truth  bool
}

// Store keeps issued challenges until they expire.
type Store interface {
	Put(ctx context.Context, r Record) error
	// Get returns ErrNotFound for an unknown id. It does not check expiry.
	Get(ctx context.Context, id string) (Record, error)
	// Consume marks the challenge used if it exists, is unused and has not expired at now
	// — atomically, so of two concurrent answers only one succeeds. Otherwise it returns
	// ErrNotFound, ErrUsed or ErrExpired.
	Consume(ctx context.Context, id string, now time.Time) error
}

// Media turns an item's media key into a short-lived link.
type Media interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// TokenSigner mints pass tokens (*token.Signer).
type TokenSigner interface {
	Issue(sitekey string, now time.Time) (string, token.Claims, error)
}

// TokenStore keeps the record siteverify redeems.
type TokenStore interface {
	Put(ctx context.Context, r token.Record) error
}

// Salts returns the secret salt of a UTC day ("2006-01-02"), creating it on first use.
type Salts interface {
	Salt(ctx context.Context, day string) ([]byte, error)
}

// Publisher sends answers-queue messages (platform.Sender).
type Publisher interface {
	SendJSON(ctx context.Context, msgs ...any) error
}

// Client is what the edge knows about the caller. It is used in memory only: for risk
// assessment and the answerer pseudonym, never stored or sent.
type Client struct {
	IP        net.IP
	UserAgent string
	// Headers are the request headers without cookies or credentials.
	Headers http.Header
}

// IssueRequest asks for a challenge.
type IssueRequest struct {
	Sitekey string
	Host    string
	// Locale is the caller's hl; AcceptLanguage the browser's header, which picks the
	// language when hl is not one of job.Locales, and among a job's own locales when the
	// job has no text in the challenge's (locale.Pick).
	Locale         string
	AcceptLanguage string
	Telemetry      json.RawMessage
	Client         Client
	// Origin is the request's Origin header ("" when none was sent): see OriginAllows.
	Origin string
}

// TaskAnswer answers one task: Selected (tile ids, possibly empty but not nil) for an
// image grid, Choice ("yes"/"no") for a yes/no task.
type TaskAnswer struct {
	Task     string
	Selected []string
	Choice   string
}

// AnswerRequest answers a challenge.
type AnswerRequest struct {
	ID        string
	Sitekey   string
	Answers   []TaskAnswer
	Telemetry json.RawMessage
	Client    Client
	// AcceptLanguage is the browser's header: it picks among a job's own locales for the
	// fresh challenge a failed answer gets, whose own language is the answered one's.
	AcceptLanguage string
	// OptOut: the visitor's browser sent Global Privacy Control (Sec-GPC: 1). Their answers
	// still pass or fail the challenge but are never published as labeled data.
	OptOut bool
	// Origin is the request's Origin header ("" when none was sent): see OriginAllows.
	Origin string
}

// Challenge is the public view of a challenge: what the widget shows.
type Challenge struct {
	ID        string
	ExpiresIn time.Duration
	Prompt    string
	Tasks     []Task
}

// Task is the public view of a task.
type Task struct {
	ID       string
	Kind     TaskKind
	Question string
	// Lang is Question's language, which can differ from the prompt's (a job without a
	// question in the challenge's language): the widget marks the question with it, so a
	// screen reader reads it in the right voice.
	Lang     string
	Tiles    []Tile // image_grid
	ImageURL string // yes_no with an image
	Text     string // yes_no with a text
	// TextLang is Text's language, the job's item language (job.Job.ItemLang; "" when
	// the job has none): the widget marks the text with it, as the question with Lang.
	TextLang string
}

// Tile is one image of a grid.
type Tile struct {
	ID       string
	ImageURL string
}

// Result is the outcome of Issue or Answer: a pass token, or a challenge to solve.
type Result struct {
	Pass      bool
	Token     string
	TokenTTL  time.Duration
	Challenge *Challenge
}

// Deps are the ports a Service uses.
type Deps struct {
	Sites     Sites
	Store     Store
	Pool      job.Pool
	Media     Media
	Signer    TokenSigner
	Tokens    TokenStore
	Salts     Salts
	Publisher Publisher
	// Risk scores every request, sets the difficulty of challenges and hears every
	// outcome; nil means NoRisk.
	Risk RiskHook
	// TTL is how long a challenge may be answered; zero means DefaultTTL.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service issues and grades challenges.
type Service struct {
	d Deps
}

// New returns a Service. A missing port is a wiring mistake and panics at start-up.
func New(d Deps) *Service {
	if d.Sites == nil || d.Store == nil || d.Pool == nil || d.Media == nil || d.Signer == nil ||
		d.Tokens == nil || d.Salts == nil || d.Publisher == nil {
		panic("challenge.New: every port but Risk is required")
	}
	if d.Risk == nil {
		d.Risk = NoRisk{}
	}
	if d.TTL <= 0 {
		d.TTL = DefaultTTL
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{d: d}
}

// TTL is how long issued challenges may be answered.
func (s *Service) TTL() time.Duration { return s.d.TTL }

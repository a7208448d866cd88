package challenge

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/locale"
	"github.com/crowdgate/crowdgate/shared/token"
)

// IDPrefix starts every challenge id.
const IDPrefix = "c_"

// Issue returns a challenge for a visitor on host, or — for one of hCaptcha's test
// sitekeys — a pass with its test token at once (nothing is stored).
func (s *Service) Issue(ctx context.Context, req IssueRequest) (Result, error) {
	if len(req.Telemetry) > MaxTelemetry {
		return Result{}, ErrTelemetryTooLarge
	}
	if req.Sitekey == "" {
		return Result{}, fmt.Errorf("%w: sitekey is required", ErrBadRequest)
	}
	if k, ok := token.TestKeyBySitekey(req.Sitekey); ok {
		return Result{Pass: true, Token: k.Response, TokenTTL: token.TTL}, nil
	}
	host := NormalizeHost(req.Host)
	if host == "" {
		return Result{}, fmt.Errorf("%w: host is required", ErrBadRequest)
	}
	tel, err := parseTelemetry(req.Telemetry)
	if err != nil {
		return Result{}, err
	}
	if err := s.checkSite(ctx, req.Sitekey, host); err != nil {
		return Result{}, err
	}
	if !OriginAllows(req.Origin, host) {
		return Result{}, ErrHostNotAllowed
	}
	now := s.d.Now()
	c := req.Client
	a := s.assess(ctx, RiskInput{Stage: RiskIssue, Telemetry: tel, IP: c.IP, UserAgent: c.UserAgent, Headers: c.Headers, Sitekey: req.Sitekey})
	if a.RetryAfter > 0 {
		s.record(ctx, RiskRecord{Outcome: OutcomeRefused, Sitekey: req.Sitekey, IP: c.IP, Assessment: a, At: now})
		return Result{}, &TryLaterError{RetryAfter: a.RetryAfter}
	}
	lang := language{locale: locale.Pick(req.Locale, req.AcceptLanguage, job.Locales), accept: req.AcceptLanguage}
	ch, issuedAt, err := s.issue(ctx, req.Sitekey, host, lang, a.ExtraGrids)
	if err != nil {
		return Result{}, err
	}
	s.record(ctx, RiskRecord{Outcome: OutcomeIssued, ChallengeID: ch.ID, Sitekey: req.Sitekey, IP: c.IP, Tasks: len(ch.Tasks), Assessment: a, At: issuedAt})
	return Result{Challenge: ch}, nil
}

// OriginAllows reports whether a request with the Origin header origin may act for a page
// on host: a browser names the page that sends a request in Origin, which page scripts
// cannot set, so a page on another site cannot use a sitekey by claiming one of its
// hostnames as host. No Origin (a client that is not a browser) allows any host; one
// without a hostname ("null", from a sandboxed frame or a file) allows none.
func OriginAllows(origin, host string) bool {
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Hostname() != "" && NormalizeHost(u.Hostname()) == NormalizeHost(host)
}

// NormalizeHost is account.CanonicalHost: lower-case, no trailing dot, IPs canonical and
// without brackets.
func NormalizeHost(h string) string { return account.CanonicalHost(h) }

func (s *Service) checkSite(ctx context.Context, sitekey, host string) error {
	site, err := s.d.Sites.Site(ctx, sitekey)
	if err != nil {
		if errors.Is(err, ErrUnknownSite) {
			return ErrUnknownSite
		}
		return fmt.Errorf("look up site: %w", err)
	}
	if !account.HostAllowed(site.Hostnames, host) {
		return ErrHostNotAllowed
	}
	return nil
}

// issue composes, stores and returns a new challenge: two image grids, extra more grids
// as far as the pool can supply them (the standard composition comes first, so extra
// grids never cost a visitor the challenge), and a yes/no question last. It also returns
// the time the challenge was issued at (its IssuedAt), which its risk record carries.
func (s *Service) issue(ctx context.Context, sitekey, host string, lang language, extra int) (*Challenge, time.Time, error) {
	rng := newRand()
	rec := Record{
		ID:      IDPrefix + randomHex(rng, 16),
		Sitekey: sitekey,
		Host:    host,
		Locale:  lang.locale,
	}
	exclude := map[string]bool{}
	var draws []draw
	for range 2 {
		d, err := s.d.Pool.Draw(ctx, job.Request{
			Kinds: []job.Kind{job.KindImageGrid}, Size: GridTiles, MaxOpen: GridMaxOpen,
			MinTrue: GridMinTrue, MinFalse: GridMinFalse, Exclude: exclude, Rand: rng,
		})
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("draw image grid: %w", err)
		}
		if err := checkGrid(d); err != nil {
			return nil, time.Time{}, err
		}
		markUsed(exclude, d)
		draws = append(draws, draw{TaskImageGrid, d})
	}
	maxOpen := 0
	if rng.IntN(YesNoOpenOdds) == 0 {
		maxOpen = 1
	}
	yn := job.Request{Kinds: []job.Kind{job.KindBinary, job.KindMultipleChoice}, Size: 1, MaxOpen: maxOpen, Exclude: exclude, Rand: rng}
	d, err := s.d.Pool.Draw(ctx, yn)
	if errors.Is(err, job.ErrNoMaterial) {
		// No yes/no job: ask about one image of a grid job instead.
		yn.Kinds = []job.Kind{job.KindImageGrid}
		d, err = s.d.Pool.Draw(ctx, yn)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("draw yes/no: %w", err)
	}
	if len(d.Gold)+len(d.Open) != 1 {
		return nil, time.Time{}, fmt.Errorf("pool drew %d items for a yes/no task", len(d.Gold)+len(d.Open))
	}
	markUsed(exclude, d)
	question := draw{TaskYesNo, d}
	for range min(extra, MaxExtraGrids) {
		d, err := s.d.Pool.Draw(ctx, job.Request{
			Kinds: []job.Kind{job.KindImageGrid}, Size: GridTiles, MaxOpen: GridMaxOpen,
			MinTrue: GridMinTrue, MinFalse: GridMinFalse, Exclude: exclude, Rand: rng,
		})
		if errors.Is(err, job.ErrNoMaterial) {
			break // a small pool caps the difficulty; the challenge stays valid
		}
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("draw extra image grid: %w", err)
		}
		if err := checkGrid(d); err != nil {
			return nil, time.Time{}, err
		}
		markUsed(exclude, d)
		draws = append(draws, draw{TaskImageGrid, d})
	}
	draws = append(draws, question)

	// The challenge's life and solve time start once its material is drawn (the draws read
	// the store), not before, so expires_in is what the visitor gets. Before the links are
	// signed, so no link expires before the challenge does.
	now := s.d.Now()
	rec.IssuedAt, rec.ExpiresAt = now, now.Add(s.d.TTL)
	mediaTTL := min(s.d.TTL, MaxMediaTTL)
	pub := &Challenge{ID: rec.ID, ExpiresIn: s.d.TTL, Prompt: Prompt(lang.locale, len(draws))}
	tiles := map[string]bool{}
	for i, dr := range draws {
		tr, t, err := s.task(ctx, fmt.Sprintf("t%d", i), dr, lang, mediaTTL, rng, tiles)
		if err != nil {
			return nil, time.Time{}, err
		}
		rec.Tasks = append(rec.Tasks, tr)
		pub.Tasks = append(pub.Tasks, t)
	}
	if err := s.d.Store.Put(ctx, rec); err != nil {
		return nil, time.Time{}, fmt.Errorf("store challenge: %w", err)
	}
	return pub, now, nil
}

// checkGrid refuses a grid that would weaken the pass-probability bound (package comment),
// whatever Pool implementation drew it.
func checkGrid(d job.Draw) error {
	yes := 0
	for _, it := range d.Gold {
		if it.GoldLabel == d.Class {
			yes++
		}
	}
	if len(d.Gold)+len(d.Open) != GridTiles || len(d.Gold) < GridGold || yes < GridMinTrue || len(d.Gold)-yes < GridMinFalse {
		return fmt.Errorf("pool drew an unsafe grid: %d gold (%d showing the class), %d open", len(d.Gold), yes, len(d.Open))
	}
	return nil
}

type draw struct {
	kind TaskKind
	d    job.Draw
}

func markUsed(exclude map[string]bool, d job.Draw) {
	for _, it := range d.Gold {
		exclude[it.Key()] = true
	}
	for _, it := range d.Open {
		exclude[it.Key()] = true
	}
}

// task turns a draw into the stored and the public task. Items are shuffled so gold and
// open tiles are indistinguishable by position.
func (s *Service) task(ctx context.Context, id string, dr draw, lang language, mediaTTL time.Duration, rng *rand.Rand, tiles map[string]bool) (TaskRecord, Task, error) {
	d := dr.d
	items := make([]job.Item, 0, len(d.Gold)+len(d.Open))
	items = append(append(items, d.Gold...), d.Open...)
	rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })

	tr := TaskRecord{ID: id, Kind: dr.kind, JobID: d.Job.ID, Class: d.Class}
	t := Task{ID: id, Kind: dr.kind}
	t.Question, t.Lang = question(d.Job, dr.kind, lang, d.Class)
	for _, it := range items {
		ir := ItemRecord{ItemID: it.ID, Gold: it.Gold, Truth: it.Gold && it.GoldLabel == d.Class}
		var url string
		if it.MediaKey != "" {
			u, err := s.d.Media.PresignGet(ctx, it.MediaKey, mediaTTL)
			if err != nil {
				return TaskRecord{}, Task{}, fmt.Errorf("sign media link: %w", err)
			}
			url = u
		}
		switch dr.kind {
		case TaskImageGrid:
			ir.Tile = newTileID(rng, tiles)
			t.Tiles = append(t.Tiles, Tile{ID: ir.Tile, ImageURL: url})
		case TaskYesNo:
			t.ImageURL, t.Text = url, it.Text
			if it.Text != "" {
				t.TextLang = d.Job.ItemLang
			}
		}
		tr.Items = append(tr.Items, ir)
	}
	return tr, t, nil
}

// newTileID returns a random tile id unique within the challenge. Tile ids carry no
// information about items.
func newTileID(rng *rand.Rand, used map[string]bool) string {
	for {
		id := randomHex(rng, 8)
		if !used[id] {
			used[id] = true
			return id
		}
	}
}

// newRand returns a ChaCha8 generator seeded from the operating system per challenge, so
// neither ids nor the composition can be predicted from earlier challenges.
func newRand() *rand.Rand {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // crypto/rand never fails (it panics instead)
	return rand.New(rand.NewChaCha8(seed))
}

func randomHex(rng *rand.Rand, n int) string {
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return hex.EncodeToString(b[:n])
}

// Package challengetest has in-memory stand-ins for the challenge ports — fakes made of
// func fields with constructors that give them simple in-memory behaviour — and a demo job
// catalog. Domain tests, handler tests and benchmarks use them.
package challengetest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/token"
)

// Sites is a fake challenge.Sites.
type Sites struct {
	SiteFunc func(ctx context.Context, sitekey string) (challenge.SiteInfo, error)
}

var _ challenge.Sites = (*Sites)(nil)

func (f *Sites) Site(ctx context.Context, sitekey string) (challenge.SiteInfo, error) {
	return f.SiteFunc(ctx, sitekey)
}

// NewSites knows exactly the given sites.
func NewSites(sites ...challenge.SiteInfo) *Sites {
	m := map[string]challenge.SiteInfo{}
	for _, s := range sites {
		m[s.Sitekey] = s
	}
	return &Sites{SiteFunc: func(_ context.Context, k string) (challenge.SiteInfo, error) {
		s, ok := m[k]
		if !ok {
			return challenge.SiteInfo{}, challenge.ErrUnknownSite
		}
		return s, nil
	}}
}

// Store is an in-memory challenge.Store with the same consume semantics as the DynamoDB
// one. Hooks, when set, run before each method (to inject failures or pause).
type Store struct {
	mu      sync.Mutex
	records map[string]challenge.Record
	// BeforeConsume, when set, runs before Consume's atomic step.
	BeforeConsume func(id string) error
}

var _ challenge.Store = (*Store)(nil)

// NewStore returns an empty store.
func NewStore() *Store { return &Store{records: map[string]challenge.Record{}} }

func (s *Store) Put(_ context.Context, r challenge.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.records[r.ID]; ok {
		return fmt.Errorf("challenge %s exists", r.ID)
	}
	s.records[r.ID] = r
	return nil
}

func (s *Store) Get(_ context.Context, id string) (challenge.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[id]
	if !ok {
		return challenge.Record{}, challenge.ErrNotFound
	}
	return r, nil
}

func (s *Store) Consume(_ context.Context, id string, now time.Time) error {
	if s.BeforeConsume != nil {
		if err := s.BeforeConsume(id); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[id]
	switch {
	case !ok:
		return challenge.ErrNotFound
	case r.Used:
		return challenge.ErrUsed
	case !now.Before(r.ExpiresAt):
		return challenge.ErrExpired
	}
	r.Used = true
	s.records[id] = r
	return nil
}

// Len is the number of stored challenges.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// Record returns a stored challenge (for tests that play the visitor).
func (s *Store) Record(id string) (challenge.Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[id]
	return r, ok
}

// Media is a fake challenge.Media.
type Media struct {
	PresignGetFunc func(ctx context.Context, key string, ttl time.Duration) (string, error)
}

var _ challenge.Media = (*Media)(nil)

func (f *Media) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	return f.PresignGetFunc(ctx, key, ttl)
}

// NewMedia signs links like https://media.test/<key>?X-Amz-Expires=<s>&X-Amz-Signature=….
func NewMedia() *Media {
	return &Media{PresignGetFunc: func(_ context.Context, key string, ttl time.Duration) (string, error) {
		sum := sha256.Sum256([]byte(key))
		return fmt.Sprintf("https://media.test/%s?X-Amz-Expires=%d&X-Amz-Signature=%x",
			url.PathEscape(key), int(ttl.Seconds()), sum[:8]), nil
	}}
}

// Tokens is a fake challenge.TokenStore.
type Tokens struct {
	PutFunc func(ctx context.Context, r token.Record) error
}

var _ challenge.TokenStore = (*Tokens)(nil)

func (f *Tokens) Put(ctx context.Context, r token.Record) error { return f.PutFunc(ctx, r) }

// TokenLog records stored token records.
type TokenLog struct {
	mu      sync.Mutex
	Records []token.Record
}

// NewTokens returns a token store that appends to log.
func NewTokens(log *TokenLog) *Tokens {
	return &Tokens{PutFunc: func(_ context.Context, r token.Record) error {
		log.mu.Lock()
		defer log.mu.Unlock()
		log.Records = append(log.Records, r)
		return nil
	}}
}

// All returns a copy of the records.
func (l *TokenLog) All() []token.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]token.Record(nil), l.Records...)
}

// Salts is a fake challenge.Salts.
type Salts struct {
	SaltFunc func(ctx context.Context, day string) ([]byte, error)
}

var _ challenge.Salts = (*Salts)(nil)

func (f *Salts) Salt(ctx context.Context, day string) ([]byte, error) { return f.SaltFunc(ctx, day) }

// NewSalts derives a distinct fixed salt per day.
func NewSalts() *Salts {
	return &Salts{SaltFunc: func(_ context.Context, day string) ([]byte, error) {
		s := sha256.Sum256([]byte("salt:" + day))
		return s[:], nil
	}}
}

// Publisher is a fake challenge.Publisher.
type Publisher struct {
	SendJSONFunc func(ctx context.Context, msgs ...any) error
}

var _ challenge.Publisher = (*Publisher)(nil)

func (f *Publisher) SendJSON(ctx context.Context, msgs ...any) error {
	return f.SendJSONFunc(ctx, msgs...)
}

// Outbox records sent messages as JSON, as a queue would carry them.
type Outbox struct {
	mu   sync.Mutex
	Msgs []json.RawMessage
}

// NewPublisher returns a publisher that encodes into box.
func NewPublisher(box *Outbox) *Publisher {
	return &Publisher{SendJSONFunc: func(_ context.Context, msgs ...any) error {
		box.mu.Lock()
		defer box.mu.Unlock()
		for _, m := range msgs {
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			box.Msgs = append(box.Msgs, b)
		}
		return nil
	}}
}

// All returns a copy of the sent messages.
func (b *Outbox) All() []json.RawMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]json.RawMessage(nil), b.Msgs...)
}

// Risk is a fake challenge.RiskHook. A nil RecordFunc records nothing.
type Risk struct {
	AssessFunc func(ctx context.Context, in challenge.RiskInput) (challenge.Assessment, error)
	RecordFunc func(ctx context.Context, r challenge.RiskRecord) error
}

var _ challenge.RiskHook = (*Risk)(nil)

func (f *Risk) Assess(ctx context.Context, in challenge.RiskInput) (challenge.Assessment, error) {
	return f.AssessFunc(ctx, in)
}

func (f *Risk) Record(ctx context.Context, r challenge.RiskRecord) error {
	if f.RecordFunc == nil {
		return nil
	}
	return f.RecordFunc(ctx, r)
}

// SigningKeys is a fixed key list for tests.
var SigningKeys = "test:" + base64.StdEncoding.EncodeToString([]byte("crowdgate-test-signing-key-32byt"))

// Signer returns a token signer over SigningKeys.
func Signer() *token.Signer {
	s, err := token.NewSigner(SigningKeys)
	if err != nil {
		panic(err)
	}
	return s
}

// Demo jobs: shapes in grids, sentiment as binary text, colours as multiple choice.
var (
	ShapesJob = job.Job{
		ID: "shapes", CustomerID: "demo", Name: "Shapes", Kind: job.KindImageGrid,
		Question: map[string]string{
			"en": "Select every image that shows a {class}",
			"de": "Wählen Sie alle Bilder mit: {class}",
		},
		Classes:    []string{"circle", "square", "triangle", "star"},
		ClassNames: map[string][]string{"de": {"Kreis", "Quadrat", "Dreieck", "Stern"}},
		Priority:   1, Status: job.StatusActive, MinAnswers: 1, MaxAnswers: 5, Target: 0.9,
	}
	SentimentJob = job.Job{
		ID: "sentiment", CustomerID: "demo", Name: "Sentiment", Kind: job.KindBinary,
		Question: map[string]string{"en": "Is this sentence positive?", "fr": "Cette phrase est-elle positive ?"},
		Classes:  []string{"yes", "no"}, Priority: 1, Status: job.StatusActive, MinAnswers: 1, MaxAnswers: 5,
	}
)

// DemoStocks returns the demo jobs with gold per class and open items.
func DemoStocks(goldPerClass, open int) []job.Stock {
	var out []job.Stock
	for _, j := range []job.Job{ShapesJob, SentimentJob} {
		st := job.Stock{Job: j}
		for _, c := range j.Classes {
			for i := range goldPerClass {
				it := job.Item{JobID: j.ID, ID: fmt.Sprintf("g-%s-%d", c, i), Gold: true, GoldLabel: c, Status: job.ItemDone}
				setContent(j, &it)
				st.Gold = append(st.Gold, it)
			}
		}
		for i := range open {
			it := job.Item{JobID: j.ID, ID: fmt.Sprintf("o-%d", i), Status: job.ItemOpen}
			setContent(j, &it)
			st.Open = append(st.Open, it)
		}
		out = append(out, st)
	}
	return out
}

func setContent(j job.Job, it *job.Item) {
	if j.Kind == job.KindBinary {
		it.Text = "sentence " + it.ID
		return
	}
	it.MediaKey = "jobs/" + j.ID + "/" + it.ID + ".png"
}

// Pool is a fake job.Pool.
type Pool struct {
	DrawFunc func(ctx context.Context, req job.Request) (job.Draw, error)
}

var _ job.Pool = (*Pool)(nil)

func (f *Pool) Draw(ctx context.Context, req job.Request) (job.Draw, error) {
	return f.DrawFunc(ctx, req)
}

// Clock is a settable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Env bundles a Service's in-memory ports so tests can inspect them.
type Env struct {
	Sites     *Sites
	Store     *Store
	Tokens    TokenLog
	Outbox    Outbox
	Clock     *Clock
	Deps      challenge.Deps
	Sitekey   string
	Hostname  string
	Stocks    []job.Stock
	Catalog   *job.Catalog
	Signer    *token.Signer
	RiskCalls []challenge.RiskInput
	// RiskRecords are the outcomes reported to the risk hook.
	RiskRecords []challenge.RiskRecord
	riskMu      sync.Mutex
}

// AnswerRiskCalls returns the risk assessments of answers (RiskCalls also holds those of
// challenge requests).
func (e *Env) AnswerRiskCalls() []challenge.RiskInput {
	e.riskMu.Lock()
	defer e.riskMu.Unlock()
	var out []challenge.RiskInput
	for _, in := range e.RiskCalls {
		if in.Stage == challenge.RiskAnswer {
			out = append(out, in)
		}
	}
	return out
}

// Demo site.
const (
	DemoSitekey  = "6f1c7d4e-2a3b-4c5d-8e9f-0a1b2c3d4e5f"
	DemoHostname = "shop.example.com"
)

// NewEnv returns ports for a Service with the demo site and catalog (20 gold per class, 30
// open items per job) and a clock at 2026-11-30 19:30 UTC.
func NewEnv() *Env {
	e := &Env{
		Sites:    NewSites(challenge.SiteInfo{Sitekey: DemoSitekey, Hostnames: []string{DemoHostname, "localhost"}}),
		Store:    NewStore(),
		Clock:    NewClock(time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC)),
		Sitekey:  DemoSitekey,
		Hostname: DemoHostname,
		Stocks:   DemoStocks(20, 30),
		Signer:   Signer(),
	}
	e.Catalog = job.NewCatalog(e.Stocks)
	e.Deps = challenge.Deps{
		Sites: e.Sites, Store: e.Store, Pool: e.Catalog, Media: NewMedia(), Signer: e.Signer,
		Tokens: NewTokens(&e.Tokens), Salts: NewSalts(), Publisher: NewPublisher(&e.Outbox),
		Risk: &Risk{AssessFunc: func(_ context.Context, in challenge.RiskInput) (challenge.Assessment, error) {
			e.riskMu.Lock()
			e.RiskCalls = append(e.RiskCalls, in)
			e.riskMu.Unlock()
			return challenge.Assessment{Score: 0.25, Reasons: []string{"test"}}, nil
		}, RecordFunc: func(_ context.Context, r challenge.RiskRecord) error {
			e.riskMu.Lock()
			e.RiskRecords = append(e.RiskRecords, r)
			e.riskMu.Unlock()
			return nil
		}},
		TTL: 5 * time.Minute, Now: e.Clock.Now,
	}
	return e
}

// Solve answers every task of a stored challenge: correctly when right is true, otherwise
// with every gold decision inverted. Open items get "yes".
func Solve(r challenge.Record, right bool) []challenge.TaskAnswer {
	var out []challenge.TaskAnswer
	for _, t := range r.Tasks {
		yes := func(it challenge.ItemRecord) bool {
			if !it.Gold {
				return true
			}
			return it.Truth == right
		}
		switch t.Kind {
		case challenge.TaskImageGrid:
			sel := []string{}
			for _, it := range t.Items {
				if yes(it) {
					sel = append(sel, it.Tile)
				}
			}
			out = append(out, challenge.TaskAnswer{Task: t.ID, Selected: sel})
		case challenge.TaskYesNo:
			c := "no"
			if yes(t.Items[0]) {
				c = "yes"
			}
			out = append(out, challenge.TaskAnswer{Task: t.ID, Choice: c})
		}
	}
	return out
}

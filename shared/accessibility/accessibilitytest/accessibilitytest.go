// Package accessibilitytest has in-memory stand-ins for the accessibility ports — fakes
// made of func fields, with constructors that give them in-memory behaviour matching the
// DynamoDB adapters — and the contracts (TestStore, TestChallenges) both implementations
// pass.
package accessibilitytest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

// Store is a fake accessibility.Store that also serves privacy.AccessibilityData.
type Store struct {
	PutSignupFunc           func(ctx context.Context, s accessibility.Signup) error
	TakeSignupFunc          func(ctx context.Context, codeHash string, now time.Time) (accessibility.Signup, error)
	PutTokenFunc            func(ctx context.Context, t accessibility.Token) error
	TokenFunc               func(ctx context.Context, hash string, now time.Time) (accessibility.Token, error)
	DeleteTokenFunc         func(ctx context.Context, hash string) error
	TakeFunc                func(ctx context.Context, c accessibility.Counter, now time.Time) (bool, time.Time, error)
	GiveBackFunc            func(ctx context.Context, c accessibility.Counter, now time.Time) error
	AccessibilityOfFunc     func(ctx context.Context, subjectHash string) ([]privacy.AccessibilityRecord, error)
	DeleteAccessibilityFunc func(ctx context.Context, keys []string) ([]string, error)
	FenceAccessibilityFunc  func(ctx context.Context, subjectHash string, now time.Time) error
	HoldsFunc               func(ctx context.Context, subjectHash string) ([]string, error)
}

var (
	_ accessibility.Store       = (*Store)(nil)
	_ privacy.AccessibilityData = (*Store)(nil)
	_ privacy.SubjectData       = (*Store)(nil)
)

func (f *Store) PutSignup(ctx context.Context, s accessibility.Signup) error {
	return f.PutSignupFunc(ctx, s)
}

func (f *Store) TakeSignup(ctx context.Context, codeHash string, now time.Time) (accessibility.Signup, error) {
	return f.TakeSignupFunc(ctx, codeHash, now)
}

func (f *Store) PutToken(ctx context.Context, t accessibility.Token) error {
	return f.PutTokenFunc(ctx, t)
}

func (f *Store) Token(ctx context.Context, hash string, now time.Time) (accessibility.Token, error) {
	return f.TokenFunc(ctx, hash, now)
}

func (f *Store) DeleteToken(ctx context.Context, hash string) error {
	return f.DeleteTokenFunc(ctx, hash)
}

func (f *Store) Take(ctx context.Context, c accessibility.Counter, now time.Time) (bool, time.Time, error) {
	return f.TakeFunc(ctx, c, now)
}

func (f *Store) GiveBack(ctx context.Context, c accessibility.Counter, now time.Time) error {
	return f.GiveBackFunc(ctx, c, now)
}

func (f *Store) AccessibilityOf(ctx context.Context, subjectHash string) ([]privacy.AccessibilityRecord, error) {
	return f.AccessibilityOfFunc(ctx, subjectHash)
}

func (f *Store) DeleteAccessibility(ctx context.Context, keys []string) ([]string, error) {
	return f.DeleteAccessibilityFunc(ctx, keys)
}

func (f *Store) FenceAccessibility(ctx context.Context, subjectHash string, now time.Time) error {
	return f.FenceAccessibilityFunc(ctx, subjectHash, now)
}

func (f *Store) Holds(ctx context.Context, subjectHash string) ([]string, error) {
	return f.HoldsFunc(ctx, subjectHash)
}

// Memory is the state behind NewStore: every A11Y# record by key, as the accounts table
// would hold them.
type Memory struct {
	// Now is the clock Holds judges expiry by; nil means time.Now.
	Now func() time.Time

	mu   sync.Mutex
	recs map[string]*memRec
	// fences is when each fenced subject's fence expires (FenceAccessibility).
	fences map[string]time.Time
}

// fenced reports whether an erasure's fence on subject is up at now (m.mu held).
func (m *Memory) fenced(subject string, now time.Time) bool {
	until, ok := m.fences[subject]
	return ok && subject != "" && !expired(until, now)
}

type memRec struct {
	kind      string // privacy.KindAccessibility*
	subject   string
	signup    accessibility.Signup
	token     accessibility.Token
	count     int
	createdAt time.Time
	expiresAt time.Time
}

// Len returns how many records are held (expired ones not yet swept included).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs)
}

// Subjects returns every subject hash some record carries.
func (m *Memory) Subjects() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.recs {
		if r.subject != "" && !slices.Contains(out, r.subject) {
			out = append(out, r.subject)
		}
	}
	return out
}

// NewStore returns an in-memory Store with the DynamoDB adapter's semantics, and its state.
func NewStore() (*Store, *Memory) {
	m := &Memory{recs: map[string]*memRec{}, fences: map[string]time.Time{}}
	put := func(key string, r *memRec) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, ok := m.recs[key]; ok {
			return fmt.Errorf("accessibilitytest: %s exists", key)
		}
		m.recs[key] = r
		return nil
	}
	return &Store{
		PutSignupFunc: func(_ context.Context, s accessibility.Signup) error {
			return put("SIGNUP#"+s.CodeHash, &memRec{kind: privacy.KindAccessibilitySignup, subject: s.Subject, signup: s, createdAt: s.CreatedAt, expiresAt: s.ExpiresAt})
		},
		TakeSignupFunc: func(_ context.Context, codeHash string, now time.Time) (accessibility.Signup, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			r, ok := m.recs["SIGNUP#"+codeHash]
			if !ok || expired(r.expiresAt, now) {
				return accessibility.Signup{}, accessibility.ErrInvalidCode
			}
			delete(m.recs, "SIGNUP#"+codeHash)
			return r.signup, nil
		},
		PutTokenFunc: func(_ context.Context, t accessibility.Token) error {
			m.mu.Lock()
			fenced := m.fenced(t.Subject, t.CreatedAt)
			m.mu.Unlock()
			if fenced {
				return accessibility.ErrErasing
			}
			return put("TOKEN#"+t.Hash, &memRec{kind: privacy.KindAccessibilityToken, subject: t.Subject, token: t, createdAt: t.CreatedAt, expiresAt: t.ExpiresAt})
		},
		TokenFunc: func(_ context.Context, hash string, now time.Time) (accessibility.Token, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			r, ok := m.recs["TOKEN#"+hash]
			if !ok || expired(r.expiresAt, now) || m.fenced(r.subject, now) {
				return accessibility.Token{}, accessibility.ErrTokenRequired
			}
			return r.token, nil
		},
		DeleteTokenFunc: func(_ context.Context, hash string) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			delete(m.recs, "TOKEN#"+hash)
			return nil
		},
		TakeFunc: func(_ context.Context, c accessibility.Counter, now time.Time) (bool, time.Time, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			key := "RL#" + c.Key
			r, ok := m.recs[key]
			if !ok || expired(r.expiresAt, now) {
				m.recs[key] = &memRec{kind: privacy.KindAccessibilityRateLimit, subject: c.Subject, count: 1, createdAt: now, expiresAt: now.Add(c.Window)}
				return true, now.Add(c.Window), nil
			}
			if r.count >= c.Limit {
				return false, r.expiresAt, nil
			}
			r.count++
			return true, r.expiresAt, nil
		},
		GiveBackFunc: func(_ context.Context, c accessibility.Counter, now time.Time) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			if r, ok := m.recs["RL#"+c.Key]; ok && !expired(r.expiresAt, now) && r.count > 0 {
				r.count--
			}
			return nil
		},
		AccessibilityOfFunc: func(_ context.Context, subjectHash string) ([]privacy.AccessibilityRecord, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			var out []privacy.AccessibilityRecord
			for k, r := range m.recs {
				if subjectHash != "" && r.subject == subjectHash {
					out = append(out, privacy.AccessibilityRecord{Key: k, Kind: r.kind, CreatedAt: r.createdAt, ExpiresAt: r.expiresAt})
				}
			}
			slices.SortFunc(out, func(a, b privacy.AccessibilityRecord) int { return strings.Compare(a.Key, b.Key) })
			return out, nil
		},
		DeleteAccessibilityFunc: func(_ context.Context, keys []string) ([]string, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			var gone []string
			for _, k := range keys {
				if _, ok := m.recs[k]; ok {
					delete(m.recs, k)
					gone = append(gone, k)
				}
			}
			return gone, nil
		},
		FenceAccessibilityFunc: func(_ context.Context, subjectHash string, now time.Time) error {
			if subjectHash == "" {
				return nil
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			m.fences[subjectHash] = now.Add(accessibility.FenceTTL)
			return nil
		},
		HoldsFunc: func(_ context.Context, subjectHash string) ([]string, error) {
			now := time.Now()
			if m.Now != nil {
				now = m.Now()
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, r := range m.recs {
				if subjectHash != "" && r.subject == subjectHash && !expired(r.expiresAt, now) {
					return []string{privacy.HoldAccessibility}, nil
				}
			}
			return nil, nil
		},
	}, m
}

// expired is the DynamoDB ttl rule: whole seconds, expired at the second itself.
func expired(at, now time.Time) bool { return now.Unix() >= at.Unix() }

// Challenges is a fake accessibility.Challenges.
type Challenges struct {
	PutFunc     func(ctx context.Context, c accessibility.TextChallenge) error
	GetFunc     func(ctx context.Context, id string, now time.Time) (accessibility.TextChallenge, error)
	ConsumeFunc func(ctx context.Context, id string, now time.Time) error
}

var _ accessibility.Challenges = (*Challenges)(nil)

func (f *Challenges) Put(ctx context.Context, c accessibility.TextChallenge) error {
	return f.PutFunc(ctx, c)
}

func (f *Challenges) Get(ctx context.Context, id string, now time.Time) (accessibility.TextChallenge, error) {
	return f.GetFunc(ctx, id, now)
}

func (f *Challenges) Consume(ctx context.Context, id string, now time.Time) error {
	return f.ConsumeFunc(ctx, id, now)
}

// ChallengeMemory is the state behind NewChallenges.
type ChallengeMemory struct {
	mu   sync.Mutex
	recs map[string]accessibility.TextChallenge
}

// Get returns a stored challenge (tests play the visitor with its answers).
func (m *ChallengeMemory) Get(id string) (accessibility.TextChallenge, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.recs[id]
	return c, ok
}

// All returns every stored challenge.
func (m *ChallengeMemory) All() []accessibility.TextChallenge {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]accessibility.TextChallenge, 0, len(m.recs))
	for _, c := range m.recs {
		out = append(out, c)
	}
	return out
}

// NewChallenges returns an in-memory Challenges with the DynamoDB adapter's semantics.
func NewChallenges() (*Challenges, *ChallengeMemory) {
	m := &ChallengeMemory{recs: map[string]accessibility.TextChallenge{}}
	return &Challenges{
		PutFunc: func(_ context.Context, c accessibility.TextChallenge) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			if _, ok := m.recs[c.ID]; ok {
				return fmt.Errorf("accessibilitytest: challenge %s exists", c.ID)
			}
			c.Answers = slices.Clone(c.Answers)
			m.recs[c.ID] = c
			return nil
		},
		GetFunc: func(_ context.Context, id string, now time.Time) (accessibility.TextChallenge, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			c, ok := m.recs[id]
			if !ok {
				return accessibility.TextChallenge{}, accessibility.ErrNotFound
			}
			if !now.Before(c.ExpiresAt) {
				return accessibility.TextChallenge{}, accessibility.ErrExpired
			}
			c.Answers = slices.Clone(c.Answers)
			return c, nil
		},
		ConsumeFunc: func(_ context.Context, id string, now time.Time) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			c, ok := m.recs[id]
			switch {
			case !ok:
				return accessibility.ErrNotFound
			case c.Used:
				return accessibility.ErrUsed
			case !now.Before(c.ExpiresAt):
				return accessibility.ErrExpired
			}
			c.Used = true
			m.recs[id] = c
			return nil
		},
	}, m
}

// Mailer is a fake accessibility.Mailer.
type Mailer struct {
	SendFunc func(ctx context.Context, to, subject, text string) error
}

var _ accessibility.Mailer = (*Mailer)(nil)

func (f *Mailer) Send(ctx context.Context, to, subject, text string) error {
	return f.SendFunc(ctx, to, subject, text)
}

// Mail is one sent message.
type Mail struct{ To, Subject, Text string }

// Mailbox records sent mail.
type Mailbox struct {
	mu    sync.Mutex
	Mails []Mail
}

// NewMailer returns a mailer that appends to box.
func NewMailer(box *Mailbox) *Mailer {
	return &Mailer{SendFunc: func(_ context.Context, to, subject, text string) error {
		box.mu.Lock()
		defer box.mu.Unlock()
		box.Mails = append(box.Mails, Mail{To: to, Subject: subject, Text: text})
		return nil
	}}
}

// All returns a copy of the sent mail.
func (b *Mailbox) All() []Mail {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.Mails)
}

// ConfirmCode returns the code of the last confirm link mailed to to ("" if none).
func (b *Mailbox) ConfirmCode(to string) string {
	mails := b.All()
	for i := len(mails) - 1; i >= 0; i-- {
		if !strings.EqualFold(mails[i].To, to) {
			continue
		}
		_, after, ok := strings.Cut(mails[i].Text, "/accessibility/confirm?c=")
		if !ok {
			continue
		}
		code, _, _ := strings.Cut(after, "\n")
		code, _, _ = strings.Cut(code, "&") // &hl=…
		return strings.TrimSpace(code)
	}
	return ""
}

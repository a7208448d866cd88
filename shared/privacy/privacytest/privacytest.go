// Package privacytest has in-memory fakes of the privacy ports: a Store with the same
// conditional semantics as the DynamoDB adapter (TestStore checks both), a Mailer that
// records messages, an AccountLookup, a Queue and a settable Clock.
package privacytest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/shared/privacy"
)

// Store is an in-memory privacy.Store. The zero value is ready; Now defaults to time.Now.
type Store struct {
	Now func() time.Time

	mu       sync.Mutex
	requests map[string]privacy.Request
	codes    map[string]privacy.Code
	open     map[string]string // subject#type → request id
	audit    map[string][]privacy.AuditEntry
}

var _ privacy.Store = (*Store)(nil)

func (s *Store) init() {
	if s.requests == nil {
		s.requests = map[string]privacy.Request{}
		s.codes = map[string]privacy.Code{}
		s.open = map[string]string{}
		s.audit = map[string][]privacy.AuditEntry{}
	}
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func openKey(subject string, t privacy.Type) string { return subject + "#" + string(t) }

// Create implements privacy.Store.
func (s *Store) Create(_ context.Context, r privacy.Request, c privacy.Code, audit []privacy.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	if _, ok := s.requests[r.ID]; ok {
		return errors.New("privacytest: request id exists")
	}
	k := openKey(r.SubjectHash, r.Type)
	if id, ok := s.open[k]; ok && s.live(s.requests[id]) {
		return privacy.ErrDuplicate
	}
	s.requests[r.ID] = cloneRequest(r)
	s.codes[r.ID] = c
	s.open[k] = r.ID
	s.audit[r.ID] = append(s.audit[r.ID], audit...)
	return nil
}

func (s *Store) live(r privacy.Request) bool { return r.ID != "" && s.now().Before(r.ExpiresAt()) }

// OpenRequest implements privacy.Store.
func (s *Store) OpenRequest(_ context.Context, subject string, t privacy.Type) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	id, ok := s.open[openKey(subject, t)]
	if !ok || !s.live(s.requests[id]) {
		return "", privacy.ErrNotFound
	}
	return id, nil
}

// Get implements privacy.Store.
func (s *Store) Get(_ context.Context, id string) (privacy.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	r, ok := s.requests[id]
	if !ok || !s.live(r) {
		return privacy.Request{}, privacy.ErrNotFound
	}
	return cloneRequest(r), nil
}

// Save implements privacy.Store.
func (s *Store) Save(_ context.Context, ch privacy.Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	r := ch.Request
	old, ok := s.requests[r.ID]
	if !ok || old.Version != r.Version-1 {
		return privacy.ErrConflict
	}
	if ch.ConsumeCode != nil {
		c, ok := s.codes[r.ID]
		if !ok || c.Hash != ch.ConsumeCode.Hash || c.Attempts != ch.ConsumeCode.Attempts {
			return privacy.ErrConflict
		}
		delete(s.codes, r.ID)
	}
	if ch.PutCode != nil {
		s.codes[r.ID] = *ch.PutCode
	}
	if ch.Close {
		k := openKey(r.SubjectHash, r.Type)
		if s.open[k] == r.ID {
			delete(s.open, k)
		}
	}
	s.requests[r.ID] = cloneRequest(r)
	s.audit[r.ID] = append(s.audit[r.ID], ch.Audit...)
	return nil
}

// Code implements privacy.Store.
func (s *Store) Code(_ context.Context, id string) (privacy.Code, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	c, ok := s.codes[id]
	if !ok || !s.now().Before(c.ExpiresAt) {
		return privacy.Code{}, privacy.ErrNotFound
	}
	return c, nil
}

// FailAttempt implements privacy.Store.
func (s *Store) FailAttempt(_ context.Context, r privacy.Request, c privacy.Code, a privacy.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	if c.RequestID != r.ID || a.RequestID != r.ID {
		return fmt.Errorf("privacytest: code or audit entry is not of request %q", r.ID)
	}
	cur, ok := s.codes[c.RequestID]
	if !ok || cur.Hash != c.Hash || cur.Attempts != c.Attempts {
		return privacy.ErrConflict
	}
	cur.Attempts++
	s.codes[c.RequestID] = cur
	s.audit[c.RequestID] = append(s.audit[c.RequestID], a)
	return nil
}

// AppendAudit implements privacy.Store.
func (s *Store) AppendAudit(_ context.Context, r privacy.Request, entries ...privacy.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	for _, e := range entries {
		if e.RequestID != r.ID {
			return fmt.Errorf("privacytest: audit entry of request %q is not of request %q", e.RequestID, r.ID)
		}
	}
	for _, e := range entries {
		s.audit[e.RequestID] = append(s.audit[e.RequestID], e)
	}
	return nil
}

// Audit implements privacy.Store.
func (s *Store) Audit(_ context.Context, id string) ([]privacy.AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	out := slices.Clone(s.audit[id])
	slices.SortStableFunc(out, func(a, b privacy.AuditEntry) int { return a.At.Compare(b.At) })
	return out, nil
}

// List implements privacy.Store.
func (s *Store) List(_ context.Context, q privacy.Query) (privacy.Page, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	var all []privacy.Request
	for _, r := range s.requests {
		if !s.live(r) || !slices.Contains(q.Statuses, r.Status) || (q.Type != "" && r.Type != q.Type) {
			continue
		}
		if !q.OverdueOn.IsZero() && !r.Overdue(q.OverdueOn) {
			continue
		}
		if q.After != nil && comparePos(r, *q.After) >= 0 {
			continue
		}
		all = append(all, cloneRequest(r))
	}
	slices.SortFunc(all, func(a, b privacy.Request) int {
		return -comparePos(a, privacy.Position{ReceivedAt: b.ReceivedAt, ID: b.ID})
	})
	page := privacy.Page{Requests: all}
	if q.Limit > 0 && len(all) > q.Limit {
		page.Requests, page.More = all[:q.Limit], true
	}
	return page, nil
}

func comparePos(r privacy.Request, p privacy.Position) int {
	return cmp.Or(r.ReceivedAt.Compare(p.ReceivedAt), strings.Compare(r.ID, p.ID))
}

func cloneRequest(r privacy.Request) privacy.Request {
	c := r
	c.AccountIDs = slices.Clone(r.AccountIDs)
	c.Holds = slices.Clone(r.Holds)
	c.Corrections = slices.Clone(r.Corrections)
	if r.Progress != nil {
		c.Progress = map[string]privacy.Checkpoint{}
		for k, v := range r.Progress {
			c.Progress[k] = v
		}
	}
	return c
}

// Mail is one message the Mailer was asked to send.
type Mail struct {
	To, Subject, Text string
}

// Mailer records messages; Fail, when set, makes Send fail with its error.
type Mailer struct {
	mu   sync.Mutex
	sent []Mail
	Fail error
}

var _ privacy.Mailer = (*Mailer)(nil)

// Send implements privacy.Mailer.
func (m *Mailer) Send(_ context.Context, to, subject, text string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return m.Fail
	}
	m.sent = append(m.sent, Mail{To: to, Subject: subject, Text: text})
	return nil
}

// Sent returns the messages sent so far.
func (m *Mailer) Sent() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sent)
}

var codeRE = regexp.MustCompile(`verification code is (\d{6})`)

// LastCode returns the code in the newest message to to ("" if none).
func (m *Mailer) LastCode(to string) string {
	sent := m.Sent()
	for i := len(sent) - 1; i >= 0; i-- {
		if sent[i].To == to {
			if c := codeRE.FindStringSubmatch(sent[i].Text); c != nil {
				return c[1]
			}
		}
	}
	return ""
}

// Accounts is an AccountLookup over a fixed map of normalised e-mail → integrator ids.
type Accounts map[string][]string

var _ privacy.AccountLookup = Accounts(nil)

// IntegratorsByEmail implements privacy.AccountLookup.
func (a Accounts) IntegratorsByEmail(_ context.Context, email string) ([]string, error) {
	return slices.Clone(a[strings.ToLower(email)]), nil
}

// CustomersByEmail implements privacy.AccountLookup: this lookup knows no customers (use
// Holdings for a world with them).
func (a Accounts) CustomersByEmail(context.Context, string) ([]string, error) { return nil, nil }

// Queue records sent jobs; Fail, when set, makes SendJSON fail.
type Queue struct {
	mu   sync.Mutex
	jobs []any
	Fail error
}

var _ privacy.Queue = (*Queue)(nil)

// SendJSON implements privacy.Queue.
func (q *Queue) SendJSON(_ context.Context, msgs ...any) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.Fail != nil {
		return q.Fail
	}
	q.jobs = append(q.jobs, msgs...)
	return nil
}

// Jobs returns the messages sent so far.
func (q *Queue) Jobs() []any {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.jobs)
}

// Clock is a settable clock that moves one millisecond on every reading, so the audit
// entries of one action keep their order.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

var _ privacy.Clock = (*Clock)(nil)

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now implements privacy.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Filings is an in-memory privacy.FilingCounter; the zero value is ready.
type Filings struct {
	mu     sync.Mutex
	counts map[string]int
}

var _ privacy.FilingCounter = (*Filings)(nil)

func (f *Filings) TakeFiling(_ context.Context, key string, limit int, _, _ time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counts == nil {
		f.counts = map[string]int{}
	}
	if f.counts[key] >= limit {
		return false, nil
	}
	f.counts[key]++
	return true, nil
}

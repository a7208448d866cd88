package privacy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
)

// The executors carry an approved request out over every store (Service.Run runs them in
// order, checkpointing after every step). Which executors run depends on the type:
//
//	access                                   accounts, jobs, exports, disclosures, requests,
//	                                         accessibility, mail_suppression (each writes
//	                                         its part of the package), package
//	delete, child_delete, verified           jobs, exports, disclosures, requests,
//	withdraw_consent                         accessibility, mail_suppression, accounts
//	correct                                  accounts (the named fields)
//	opt_out, limit, unverified               accounts (the choices on the profiles and sites)
//	withdraw_consent
//
// Erasure removes the data that hangs off an account before the account itself, because
// the account (found by the request's address) is how every executor finds the data: a
// worker that dies half-way finds the rest on its next run. Each step does a bounded
// piece of work and is idempotent (deleting what is gone, or rewriting the same package
// part, changes nothing). Cursors and audit notes hold counts, never identifiers, once a
// store is done: they stay in the request log for its whole retention.

// Executor names (the keys of Request.Progress).
const (
	ExecAccounts    = "accounts"
	ExecJobs        = "jobs"
	ExecExports     = "exports"
	ExecDisclosures = "disclosures"
	ExecRequests    = "requests"
	ExecPackage     = "package"
)

// Erases reports whether carrying the request out erases the subject's accounts: delete
// and child_delete requests, and a withdrawal of consent from a subject who verified the
// address. An unverified withdrawal (it needs no verification, NeedsVerification) only
// records the opt-out and limit choices, which stop every use that rests on consent: a
// forged one must not be able to erase someone's account.
func (r Request) Erases() bool {
	switch r.Type {
	case TypeDelete, TypeChildDelete:
		return true
	case TypeWithdrawConsent:
		return !r.VerifiedAt.IsZero()
	}
	return false
}

// HolderKind is the kind of account a subject holds.
type HolderKind string

const (
	HolderIntegrator HolderKind = "integrator"
	HolderCustomer   HolderKind = "customer"
)

// AccountData is the accounts table as the executors read and change it
// (shared/dynamo.Holdings).
type AccountData interface {
	// IntegratorsByEmail and CustomersByEmail return the ids of the accounts whose e-mail
	// is normalizedEmail (compared case-insensitively).
	IntegratorsByEmail(ctx context.Context, normalizedEmail string) ([]string, error)
	CustomersByEmail(ctx context.Context, normalizedEmail string) ([]string, error)
	// GetIntegrator and GetCustomer return account.ErrNotFound for an unknown id.
	GetIntegrator(ctx context.Context, id string) (account.Integrator, error)
	GetCustomer(ctx context.Context, id string) (account.Customer, error)
	// SitesOf returns an integrator's sites.
	SitesOf(ctx context.Context, integratorID string) ([]account.Site, error)
	// ListAPIKeys returns a customer's keys, revoked ones included.
	ListAPIKeys(ctx context.Context, customerID string) ([]account.APIKey, error)
	// ListIntegratorKeys returns an integrator's risk-lookup API keys, revoked ones included.
	ListIntegratorKeys(ctx context.Context, integratorID string) ([]account.IntegratorKey, error)
	// RevokeAPIKey stops a key from working (keeping a first revocation time).
	RevokeAPIKey(ctx context.Context, customerID, keyID string, at time.Time) (account.APIKey, error)
	// DeleteSites removes up to limit of an integrator's sites, each with its secret
	// lookup, and reports how many sites and how many secret lookups it removed (a site
	// without a secret hash has none) and whether more sites remain.
	DeleteSites(ctx context.Context, integratorID string, limit int) (sites, secrets int, more bool, err error)
	// DeleteAPIKeys removes up to limit of an account's API keys (a customer's, or an
	// integrator's risk-lookup keys) and reports whether more remain.
	DeleteAPIKeys(ctx context.Context, kind HolderKind, ownerID string, limit int) (deleted int, more bool, err error)
	// MarkErasing fences an existing profile (account.ErrNotFound if there is none): from
	// then on the account store refuses every new site, API key, site secret and
	// disclosure record of the holder (account.ErrErasing), so the erasure's passes find
	// all there are. It records the request's id and time, keeping the first ones.
	MarkErasing(ctx context.Context, kind HolderKind, id, requestID string, at time.Time) error
	// DeleteProfile removes an integrator's or customer's profile; false if there was none.
	DeleteProfile(ctx context.Context, kind HolderKind, id string) (bool, error)
	// UpdateProfile overwrites profile fields (account.Field* → stored value) of an
	// existing profile (account.ErrNotFound otherwise) that no erasure has fenced
	// (account.ErrErasing otherwise: MarkErasing).
	UpdateProfile(ctx context.Context, kind HolderKind, id string, fields map[string]string) error
	// SetChoices sets choices on a profile (account.ErrNotFound if there is none), and
	// SetSiteChoices on a site; choices already set stay set.
	SetChoices(ctx context.Context, kind HolderKind, id string, c account.Choices) error
	SetSiteChoices(ctx context.Context, sitekey string, c account.Choices) error
}

// LabelData is the labels table as the executors read and change it
// (shared/dynamo.Holdings).
type LabelData interface {
	// ListJobs returns a customer's jobs, oldest first.
	ListJobs(ctx context.Context, customerID string) ([]job.Job, error)
	// ListEntries returns up to limit items after the id after, in id order, and the id
	// to continue after ("" at the end).
	ListEntries(ctx context.Context, jobID, after string, limit int) ([]job.Entry, string, error)
	// DeleteEntries removes up to limit items of a job, in id order, and reports whether
	// more remain.
	DeleteEntries(ctx context.Context, jobID string, limit int) (deleted int, more bool, err error)
	// DeleteConsensus removes up to limit consensus records of a job (class counts,
	// answerer states) and reports whether more remain.
	DeleteConsensus(ctx context.Context, jobID string, limit int) (deleted int, more bool, err error)
	// DeleteJob removes the job record and its pool entry, leaving the job's expiry marker
	// as job.Store.DeleteJob does.
	DeleteJob(ctx context.Context, id string) error
	// ExportsOf returns a customer's export records, expired ones that are still stored
	// included (their files may outlive them).
	ExportsOf(ctx context.Context, customerID string) ([]export.Export, error)
	// DeleteExport removes an export record.
	DeleteExport(ctx context.Context, id string) error
}

// Objects is one bucket as erasure needs it (shared/blob).
type Objects interface {
	// DeleteObject removes every version of key (no error if there is none).
	DeleteObject(ctx context.Context, key string) error
	// DeletePrefix removes up to limit objects (every version) under prefix and reports
	// whether more remain.
	DeletePrefix(ctx context.Context, prefix string, limit int) (deleted int, more bool, err error)
}

// RequestLog is the privacy table beyond the request workflow's Store
// (shared/dynamo.Holdings).
type RequestLog interface {
	// DisclosuresTo lists up to limit disclosures to a recipient (an integrator id),
	// oldest first, after the position after ("" first), and the position to continue
	// from ("" at the end).
	DisclosuresTo(ctx context.Context, recipient, after string, limit int) ([]Disclosure, string, error)
	// DeleteDisclosures removes up to limit disclosure records of a recipient and reports
	// whether more remain.
	DeleteDisclosures(ctx context.Context, recipient string, limit int) (deleted int, more bool, err error)
	// RequestsOf returns every kept request of a subject hash.
	RequestsOf(ctx context.Context, subjectHash string) ([]Request, error)
	// ScrubAccountIDs removes the account ids from a finished (completed or denied)
	// request; false if it has none or is not finished.
	ScrubAccountIDs(ctx context.Context, id string) (bool, error)
	// DropAccountIDs removes ids from a request's account ids, open or finished; false if
	// it holds none of them.
	DropAccountIDs(ctx context.Context, id string, ids []string) (bool, error)
}

// Files is the privacy bucket (shared/blob), where access packages are built.
type Files interface {
	Put(ctx context.Context, key, contentType string, body []byte) error
	// Get reads a whole object (ErrNotFound if there is none).
	Get(ctx context.Context, key string) ([]byte, error)
	// Create starts writing an object that is stored when Close succeeds.
	Create(ctx context.Context, key, contentType string) (FileWriter, error)
	DeletePrefix(ctx context.Context, prefix string, limit int) (deleted int, more bool, err error)
}

// FileWriter is an object being written.
type FileWriter interface {
	io.Writer
	Close() error
	Abort(ctx context.Context) error
}

// ExecDeps are the stores the executors work on.
type ExecDeps struct {
	Accounts AccountData
	Labels   LabelData
	Media    Objects // the media bucket: customers' uploads
	Exports  Objects // the exports bucket
	Log      RequestLog
	Files    Files // the privacy bucket
	// Accessibility, when set, is the accessibility records (found by the subject hash,
	// with or without an account).
	Accessibility AccessibilityData
	// Suppression, when set, is the mail provider's suppression list (found by the
	// request's address).
	Suppression SuppressionList
	Now         func() time.Time
}

// Batch is how many records one step handles at most (DynamoDB batch writes take 25).
const Batch = 100

// Executors returns the executors that carry r out, in order (they depend on its type and,
// for a withdrawal of consent, on whether it was verified: Erases). They share one lookup
// of the subject's accounts, so build a fresh set per run.
func Executors(r Request, d ExecDeps) ([]Executor, error) {
	if d.Accounts == nil || d.Labels == nil || d.Media == nil || d.Exports == nil || d.Log == nil || d.Files == nil {
		return nil, errors.New("privacy: executors need Accounts, Labels, Media, Exports, Log and Files")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	h := &holderCache{accounts: d.Accounts}
	mk := func(name string, step stepFunc) Executor { return &executor{name: name, holders: h, step: step} }
	// The accessibility records are a store only where the worker was given them.
	var access, erase []Executor
	if d.Accessibility != nil {
		access = []Executor{mk(ExecAccessibility, d.accessAccessibility)}
		erase = []Executor{mk(ExecAccessibility, d.fenced(d.eraseAccessibility))}
	}
	if d.Suppression != nil {
		access = append(access, mk(ExecSuppression, d.accessSuppression))
		erase = append(erase, mk(ExecSuppression, d.fenced(d.eraseSuppression)))
	}
	switch t := r.Type; {
	case t == TypeAccess:
		return slices.Concat([]Executor{
			mk(ExecAccounts, d.accessAccounts),
			mk(ExecJobs, d.accessJobs),
			mk(ExecExports, d.accessExports),
			mk(ExecDisclosures, d.accessDisclosures),
			mk(ExecRequests, d.accessRequests),
		}, access, []Executor{mk(ExecPackage, d.assemblePackage)}), nil
	case r.Erases():
		return slices.Concat([]Executor{
			mk(ExecJobs, d.eraseJobs),
			mk(ExecExports, d.fenced(d.eraseExports)),
			mk(ExecDisclosures, d.fenced(d.eraseDisclosures)),
			mk(ExecRequests, d.fenced(d.eraseRequests)),
		}, erase, []Executor{mk(ExecAccounts, d.eraseAccounts)}), nil
	case t == TypeCorrect:
		return []Executor{mk(ExecAccounts, wholeStep(d.correctAccounts))}, nil
	case t == TypeOptOut:
		return []Executor{mk(ExecAccounts, wholeStep(d.choose(account.Choices{OptOutSale: true})))}, nil
	case t == TypeLimit:
		return []Executor{mk(ExecAccounts, wholeStep(d.choose(account.Choices{LimitSensitive: true})))}, nil
	case t == TypeWithdrawConsent:
		return []Executor{mk(ExecAccounts, wholeStep(d.choose(account.Choices{OptOutSale: true, LimitSensitive: true})))}, nil
	}
	return nil, fmt.Errorf("privacy: no executors for type %q", r.Type)
}

// Holders are the accounts a request is about.
type Holders struct {
	Integrators []string
	Customers   []string
}

// holderCache finds a request's holders once per run: the integrators matched at filing
// plus every integrator and customer registered under the address now. The address finds
// an account only while its profile exists, so the accounts step of an erasure, which
// deletes profiles before its last passes, records the holders in its cursor first
// (progress.remember) and works from them after a crash.
type holderCache struct {
	accounts AccountData
	id       string
	h        Holders
}

func (c *holderCache) of(ctx context.Context, r Request) (Holders, error) {
	if c.id == r.ID {
		return c.h, nil
	}
	h := Holders{Integrators: slices.Clone(r.AccountIDs)}
	if email, err := NormalizeEmail(r.Email); err == nil {
		ints, err := c.accounts.IntegratorsByEmail(ctx, email)
		if err != nil {
			return Holders{}, fmt.Errorf("find integrators: %w", err)
		}
		custs, err := c.accounts.CustomersByEmail(ctx, email)
		if err != nil {
			return Holders{}, fmt.Errorf("find customers: %w", err)
		}
		h.Integrators = append(h.Integrators, ints...)
		h.Customers = custs
	}
	slices.Sort(h.Integrators)
	h.Integrators = slices.Compact(h.Integrators)
	slices.Sort(h.Customers)
	h.Customers = slices.Compact(h.Customers)
	c.id, c.h = r.ID, h
	return h, nil
}

// progress is an executor's cursor: where it is and what it has done so far. Pos and
// After may name a job or item while the store is being worked on; a finished cursor
// keeps only the counts.
type progress struct {
	Phase int    `json:"phase,omitempty"`
	Pos   int    `json:"pos,omitempty"`
	After string `json:"after,omitempty"`
	// Job and Last place a walk over a list that can change between steps (accessJobs):
	// the job being written, and the sort key of the last one written whole.
	Job    string         `json:"job,omitempty"`
	Last   string         `json:"last,omitempty"`
	Parts  int            `json:"parts,omitempty"` // package parts written (access)
	Counts map[string]int `json:"counts,omitempty"`
	// Fenced lists the holders this erasure executor has fenced ("integrator:<id>",
	// "customer:<id>"; fenceOnce). Not a phase, so cursors saved before the fence
	// existed keep their meaning.
	Fenced []string `json:"fenced,omitempty"`
	// Revoke lists the customers fenced by the last step, whose API keys the next one
	// revokes (fenceOnce).
	Revoke []string `json:"revoke,omitempty"`

	// Integrators and Customers are the holders an erasure's accounts step works on,
	// recorded before it deletes a profile (remember).
	Integrators []string `json:"integrators,omitempty"`
	Customers   []string `json:"customers,omitempty"`
}

func parseProgress(cursor string) (progress, error) {
	var p progress
	if cursor == "" {
		return p, nil
	}
	if err := json.Unmarshal([]byte(cursor), &p); err != nil {
		return progress{}, fmt.Errorf("privacy: bad cursor: %w", err)
	}
	return p, nil
}

// remember adds h's holders to those recorded and reports whether any was new: the
// cursor must be saved with them before a step deletes a profile.
func (p *progress) remember(h Holders) bool {
	merge := func(to *[]string, ids []string) bool {
		n := len(*to)
		*to = union(*to, ids)
		return len(*to) > n
	}
	newInts := merge(&p.Integrators, h.Integrators)
	newCusts := merge(&p.Customers, h.Customers)
	return newInts || newCusts
}

func (p *progress) add(kind string, n int) {
	if n == 0 {
		return
	}
	if p.Counts == nil {
		p.Counts = map[string]int{}
	}
	p.Counts[kind] += n
}

func (p progress) total() int {
	n := 0
	for _, v := range p.Counts {
		n += v
	}
	return n
}

// note lists the counts by kind ("item 3, job 1"), for the audit log.
func (p progress) note() string {
	kinds := slices.Sorted(maps.Keys(p.Counts))
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, p.Counts[k]))
	}
	return strings.Join(parts, ", ")
}

func (p progress) cursor() string {
	b, _ := json.Marshal(p) // a struct of strings, ints and a map of ints always encodes
	return string(b)
}

// stepFunc does one step on the request's holders, updating p; it reports whether the
// store is done. p must hold only work that really happened, when it fails too: a failed
// step that counted records is saved (Executor.Step), so a count must not be one the
// retry makes again, nor a position one it has not reached.
type stepFunc func(ctx context.Context, r Request, h Holders, p *progress) (done bool, err error)

// wholeStep keeps what step counts only if it succeeds: for steps that rewrite (correct,
// choose) rather than remove, whose retry writes, and counts, every record again.
func wholeStep(step stepFunc) stepFunc {
	return func(ctx context.Context, r Request, h Holders, p *progress) (bool, error) {
		try := *p
		try.Counts = maps.Clone(p.Counts)
		done, err := step(ctx, r, h, &try)
		if err != nil {
			return false, err
		}
		*p = try
		return done, nil
	}
}

type executor struct {
	name    string
	holders *holderCache
	step    stepFunc
}

func (e *executor) Name() string { return e.name }

func (e *executor) Step(ctx context.Context, r Request, cursor string) (Step, error) {
	p, err := parseProgress(cursor)
	if err != nil {
		return Step{}, err
	}
	h, err := e.holders.of(ctx, r)
	if err != nil {
		return Step{}, err
	}
	before := p.total()
	done, err := e.step(ctx, r, h, &p)
	if err != nil {
		// What the step removed before it failed is gone and will not be found, so not
		// counted, again: its cursor goes back with the error, to be saved (Service.Run).
		if n := p.total() - before; n > 0 {
			return Step{Cursor: p.cursor(), Items: n}, err
		}
		return Step{}, err
	}
	s := Step{Done: done, Items: p.total() - before}
	if done {
		p.Phase, p.Pos, p.After, p.Fenced, p.Revoke = 0, 0, "", nil, nil
		p.Integrators, p.Customers = nil, nil
		s.Note = p.note()
	}
	s.Cursor = p.cursor()
	return s, nil
}

// Report is what carrying a request out did in each store: executor → kind of record →
// how many were removed (erasure), changed (correction, choices) or packaged (access).
// It holds no identifiers, so it is kept with the request for the request's retention.
type Report map[string]map[string]int

// ReportOf reads the report from a request's checkpoints (stores not finished are left
// out).
func ReportOf(r Request) Report {
	out := Report{}
	for name, cp := range r.Progress {
		if !cp.Done {
			continue
		}
		p, err := parseProgress(cp.Cursor)
		if err != nil {
			continue
		}
		out[name] = maps.Clone(p.Counts)
		if out[name] == nil {
			out[name] = map[string]int{}
		}
	}
	return out
}

package privacy

import (
	"context"
	"time"
)

// Store keeps requests, their codes and audit logs. Implementations:
// shared/dynamo.Privacy and privacytest.Store; privacytest.TestStore is the contract.
type Store interface {
	// Create stores a new request with its first code and audit entries, and marks
	// (SubjectHash, Type) open, all or nothing. ErrDuplicate if that pair is already open.
	Create(ctx context.Context, r Request, c Code, audit []AuditEntry) error
	// OpenRequest returns the id of the open request of a subject and type (ErrNotFound).
	OpenRequest(ctx context.Context, subjectHash string, t Type) (string, error)
	// Get returns a request (ErrNotFound, also once its retention has expired).
	Get(ctx context.Context, id string) (Request, error)
	// Save applies a change atomically (ErrConflict if the stored request is not at
	// version ch.Request.Version-1, or ConsumeCode is no longer the stored code).
	Save(ctx context.Context, ch Change) error
	// Code returns the request's current code (ErrNotFound if none or expired).
	Code(ctx context.Context, requestID string) (Code, error)
	// FailAttempt counts a wrong attempt on c and appends a, only if the stored code is
	// still c (ErrConflict otherwise), so concurrent guesses cannot exceed MaxAttempts.
	// r is the request c and a belong to.
	FailAttempt(ctx context.Context, r Request, c Code, a AuditEntry) error
	// AppendAudit adds audit entries of r that go with no state change (notices, mail
	// failures). r is passed because every record of a request expires with it
	// (Request.ExpiresAt), however late it is written.
	AppendAudit(ctx context.Context, r Request, entries ...AuditEntry) error
	// Audit returns a request's audit log, oldest first.
	Audit(ctx context.Context, requestID string) ([]AuditEntry, error)
	// List returns requests newest first (by receipt, then id) that match q.
	List(ctx context.Context, q Query) (Page, error)
}

// Change is one atomic write of a request's state.
type Change struct {
	// Request is the new state. Its Version must be one more than the stored version.
	Request Request
	Audit   []AuditEntry
	// PutCode replaces the request's code.
	PutCode *Code
	// ConsumeCode deletes the code, only if the stored one is still exactly this one
	// (same hash and attempts): a code verifies once.
	ConsumeCode *Code
	// Close removes the (SubjectHash, Type) open marker: the request is finished, so a new
	// request of this type may be filed.
	Close bool
}

// Position is a place in a listing (newest first): the last request of a page.
type Position struct {
	ReceivedAt time.Time
	ID         string
}

// Query selects requests for List.
type Query struct {
	Statuses []Status // required: the statuses to list
	Type     Type     // "": every type
	// OverdueOn, when set, keeps only requests overdue on that date (Request.Overdue).
	OverdueOn Date
	// After, when set, starts after this position (the next page).
	After *Position
	Limit int
}

// Page is one page of a listing.
type Page struct {
	Requests []Request
	// More says whether requests after the last one match too.
	More bool
}

// FilingCounter counts the requests filed per network (Service.File). Implementations:
// shared/dynamo.Privacy, privacytest.Filings.
type FilingCounter interface {
	// TakeFiling counts one filing under key (NetworkKey) and reports whether the count
	// stayed within limit; the count is kept until windowEnd. A refused filing counts
	// nothing.
	TakeFiling(ctx context.Context, key string, limit int, windowEnd, now time.Time) (bool, error)
}

// Mailer sends one plain-text e-mail. Implementations: shared/mail (SES, Outbox).
type Mailer interface {
	Send(ctx context.Context, to, subject, text string) error
}

// AccountLookup finds the accounts registered under an address, so a request can be
// matched to the data it is about. Implementation: shared/dynamo.Accounts.
type AccountLookup interface {
	// IntegratorsByEmail returns the ids of the integrators whose account e-mail is
	// normalizedEmail (NormalizeEmail), compared case-insensitively; none is not an error.
	IntegratorsByEmail(ctx context.Context, normalizedEmail string) ([]string, error)
	// CustomersByEmail does the same for customer accounts.
	CustomersByEmail(ctx context.Context, normalizedEmail string) ([]string, error)
}

// HoldCustomer is what filing records in Request.Holds for an address that customer
// accounts are registered under. Their ids are not kept on the request (the worker finds
// them by the address at each run), so without it a customer's contact would look like a
// no_match to the compliance team.
const HoldCustomer = "customer"

// Queue sends jobs to the privacy worker (a platform.Sender for the privacy queue).
type Queue interface {
	SendJSON(ctx context.Context, msgs ...any) error
}

// Clock tells the time.
type Clock interface{ Now() time.Time }

// ClockFunc adapts a function (time.Now) to Clock.
type ClockFunc func() time.Time

// Now implements Clock.
func (f ClockFunc) Now() time.Time { return f() }

// Executor carries an approved request out on one store (accounts, labels, risk, …). The
// privacy worker runs one per store through Service.Run, which saves a Checkpoint after
// every step, so a worker that dies (or an SQS redelivery) resumes where it stopped.
type Executor interface {
	// Name identifies the store; it keys the request's Progress.
	Name() string
	// Step does one bounded piece of work for r from cursor ("" first) and says where
	// to continue. Steps must be idempotent: a step may be repeated after a crash. A
	// step that fails after doing some work may return, with its error, a Step whose
	// Cursor records that work (Done false); Run saves it before returning the error.
	Step(ctx context.Context, r Request, cursor string) (Step, error)
}

// Step is the outcome of one Executor step.
type Step struct {
	Cursor string // where the next step continues
	Done   bool   // nothing left in this store
	Items  int    // records handled by this step
	// Note, on the step that finishes a store, summarises what was done there for the
	// audit log ("item 3, job 1"); it must not name the subject or their records.
	Note string
}

// Job is the privacy queue's message (docs/API.md): an approved request for the worker. It
// carries no personal data; the worker reads the request from the table.
type Job struct {
	V          int        `json:"v"`
	RequestID  string     `json:"request_id"`
	Type       Type       `json:"type"`
	Regulation Regulation `json:"regulation"`
	ApprovedAt time.Time  `json:"approved_at"`
}

// JobVersion is Job.V.
const JobVersion = 1

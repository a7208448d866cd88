// Package privacy runs data-subject requests (access, delete, correct, opt-out, limit,
// withdraw consent, child deletion) under the CCPA or the GDPR: filing with an e-mailed
// verification code, the compliance team's approve / deny / extend, statutory deadlines,
// duplicate detection and an audit log of every action. Carrying an approved request out
// over every store is the privacy worker's job (Run with one Executor per store).
//
// What is kept, and for how long (docs/API.md "Privacy API" says the same to users):
//   - The data subject is identified by SubjectHash, a keyed HMAC of the normalised e-mail
//     address; the privacy table never needs the address to find a request.
//   - The address itself is kept on the request only while the request is open, because
//     notices (extension, denial, completion) must reach the subject: the write that moves
//     the request to completed or denied removes it, together with free-text details and
//     corrections. It never appears in logs or audit entries.
//   - Verification codes are stored only as keyed hashes, on a record that expires with
//     the code (10 minutes); status secrets only as SHA-256 hashes.
//   - Every record of a request (the request, its audit entries, its duplicate marker)
//     expires Retention after receipt: 24 months after the latest lawful response date.
//
// It imports no AWS SDK: shared/dynamo implements the Store, shared/mail the Mailer.
package privacy

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Type is the kind of a request.
type Type string

const (
	TypeAccess          Type = "access"           // right to know / access (CCPA §1798.110, GDPR Art. 15)
	TypeDelete          Type = "delete"           // CCPA §1798.105, GDPR Art. 17
	TypeCorrect         Type = "correct"          // CCPA §1798.106, GDPR Art. 16
	TypeOptOut          Type = "opt_out"          // opt-out of sale/sharing (CCPA §1798.120)
	TypeLimit           Type = "limit"            // limit use of sensitive personal information (CCPA §1798.121)
	TypeWithdrawConsent Type = "withdraw_consent" // GDPR Art. 7(3)
	TypeChildDelete     Type = "child_delete"     // deletion of a child's data by a parent (COPPA 16 CFR 312.6)
)

// Types lists every request type.
var Types = []Type{TypeAccess, TypeDelete, TypeCorrect, TypeOptOut, TypeLimit, TypeWithdrawConsent, TypeChildDelete}

// Valid reports whether t is a known type.
func (t Type) Valid() bool { return slices.Contains(Types, t) }

// NeedsVerification reports whether an operator may act on the request only after the
// subject verified the code. Requests that only stop processing need no verification: the
// CCPA forbids requiring it for opt-out and limit requests (11 CCR §7026(d), §7027(e)),
// and a withdrawal of consent must be as easy as giving it (GDPR Art. 7(3)); acting on a
// forged one harms nobody.
func (t Type) NeedsVerification() bool {
	return t != TypeOptOut && t != TypeLimit && t != TypeWithdrawConsent
}

// Regulation is the law a request is made under.
type Regulation string

const (
	CCPA Regulation = "ccpa"
	GDPR Regulation = "gdpr"
)

// Regulations lists every regulation.
var Regulations = []Regulation{CCPA, GDPR}

// Valid reports whether r is a known regulation.
func (r Regulation) Valid() bool { return slices.Contains(Regulations, r) }

// Status is where a request stands.
type Status string

const (
	StatusReceived   Status = "received"    // filed; the subject has not entered the code yet
	StatusVerified   Status = "verified"    // the subject proved control of the address
	StatusInProgress Status = "in_progress" // approved; the privacy worker carries it out
	StatusCompleted  Status = "completed"   // carried out; the subject was notified
	StatusDenied     Status = "denied"      // refused with a DenyReason; the subject was notified
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusReceived, StatusVerified, StatusInProgress, StatusCompleted, StatusDenied}

// OpenStatuses are the statuses of a request that is not finished.
var OpenStatuses = []Status{StatusReceived, StatusVerified, StatusInProgress}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Open reports whether a request in status s still awaits an outcome.
func (s Status) Open() bool { return slices.Contains(OpenStatuses, s) }

// DenyReason is the fixed vocabulary of denials.
type DenyReason string

const (
	DenyInsufficientVerification DenyReason = "insufficient_verification"
	DenyNoMatch                  DenyReason = "no_match"
	DenySuspectedFraud           DenyReason = "suspected_fraud"
	DenyOutsideJurisdiction      DenyReason = "outside_jurisdiction"
	DenyTooManyRequests          DenyReason = "too_many_requests"
	DenyOther                    DenyReason = "other"
)

// DenyReasons lists every deny reason.
var DenyReasons = []DenyReason{DenyInsufficientVerification, DenyNoMatch, DenySuspectedFraud, DenyOutsideJurisdiction, DenyTooManyRequests, DenyOther}

// Valid reports whether d is in the vocabulary.
func (d DenyReason) Valid() bool { return slices.Contains(DenyReasons, d) }

// Correction is one change a correct request asks for.
type Correction struct {
	Field string // one of CorrectableFields
	Value string
}

// CorrectableFields are the account fields a correct request can change.
var CorrectableFields = []string{"name", "email", "country"}

// Checkpoint is how far the worker got in one store (Executor.Name).
type Checkpoint struct {
	Cursor string // opaque to the domain; "" before the first step
	Done   bool
	Items  int // records handled so far
}

// Request is one data-subject request.
type Request struct {
	ID          string
	Type        Type
	Regulation  Regulation
	Status      Status
	SubjectHash string // SubjectHash of the address: how duplicates and lookups find the subject
	// Email is where notices go; set only while the request is open (see the package doc).
	Email string
	// AccountIDs are the integrator accounts registered under the address (matched at filing).
	AccountIDs []string
	// Holds names other data found at filing that AccountIDs do not show (HoldCustomer:
	// customer accounts under the address; HoldAccessibility: accessibility sign-ups or
	// tokens under the subject hash), so such a subject is no no_match.
	Holds       []string
	Details     string       // optional free text from the subject; dropped when closed
	Corrections []Correction // correct requests only; dropped when closed

	ReceivedAt time.Time
	Deadlines  Deadlines
	AckedAt    time.Time // when the acknowledgement (the code e-mail) was sent

	VerifiedAt time.Time
	ApprovedAt time.Time
	ClosedAt   time.Time
	DenyReason DenyReason
	DenyNote   string
	// SecretHash is HashStatusSecret of the status secret handed out at the last successful
	// verification; "" until then.
	SecretHash string

	// CodesSent counts codes sent since CodeWindowStart (the resend limit).
	CodesSent       int
	CodeWindowStart time.Time

	Progress map[string]Checkpoint // Executor.Name → checkpoint

	// Version increases with every stored change; the store writes a change only if the
	// stored version is the one the change was made from (no lost updates).
	Version int
}

// Subject is who a request is about, as the executors need it.
type Subject struct {
	EmailHash  string
	AccountIDs []string
}

// Subject returns who the request is about.
func (r Request) Subject() Subject {
	return Subject{EmailHash: r.SubjectHash, AccountIDs: slices.Clone(r.AccountIDs)}
}

// ExpiresAt is when every record of the request is deleted (ttl).
func (r Request) ExpiresAt() time.Time { return r.ReceivedAt.AddDate(0, RetentionMonths, 0) }

// Overdue reports whether the request missed a deadline as of today: it is open past its
// response date, or nobody acknowledged it past its acknowledgement date.
func (r Request) Overdue(today Date) bool {
	if !r.Status.Open() {
		return false
	}
	if today.After(r.Deadlines.Due()) {
		return true
	}
	return !r.Deadlines.Ack.IsZero() && r.AckedAt.IsZero() && today.After(r.Deadlines.Ack)
}

// Actor is who did something to a request.
type Actor struct {
	Kind string // ActorRequester, ActorOperator, ActorSystem, ActorWorker
	// ID names the operator (on AWS the IAM principal's ARN); empty otherwise.
	ID string
}

// Actor kinds.
const (
	ActorRequester = "requester"
	ActorOperator  = "operator"
	ActorSystem    = "system"
	ActorWorker    = "worker"
)

// Action is what an audit entry records.
type Action string

const (
	ActionFiled          Action = "filed"
	ActionDuplicateFiled Action = "duplicate_filed" // filed again while open: a new code was sent
	ActionCodeSent       Action = "code_sent"
	ActionMailFailed     Action = "mail_failed"
	ActionVerifyFailed   Action = "verify_failed"
	ActionVerified       Action = "verified"
	ActionReverified     Action = "reverified" // verified again later: the status secret was replaced
	ActionApproved       Action = "approved"
	ActionRequeued       Action = "requeued" // approve on an in-progress request re-sent the job
	ActionDenied         Action = "denied"
	ActionExtended       Action = "extended"
	ActionNoticeSent     Action = "notice_sent"
	ActionNoticeFailed   Action = "notice_failed"
	ActionProgress       Action = "progress"
	ActionCompleted      Action = "completed"
)

// AuditEntry is one line of a request's audit log. It never holds the address or code.
type AuditEntry struct {
	RequestID string
	At        time.Time
	Actor     Actor
	Action    Action
	From, To  Status // set on status changes
	Reason    string // deny reason or extension reason
	Note      string // operator's note, mail kind, executor name
}

// Domain errors; the handler maps them to status codes and documented error codes.
var (
	ErrNotFound = errors.New("privacy: request not found")
	// ErrConflict: a concurrent change won; reload and retry.
	ErrConflict = errors.New("privacy: conflicting concurrent change")
	// ErrDuplicate: the store already has an open request for this subject and type.
	ErrDuplicate = errors.New("privacy: an open request exists for this subject and type")
	// ErrCodeExpired: no usable code (expired, used up by wrong attempts, or never sent).
	ErrCodeExpired = errors.New("privacy: verification code expired or used up")
	// ErrTooManyCodes: the resend limit was reached; try again after CodeWindow. (A
	// network's filings over FilingsPerNetwork are a *FilingLimitError.)
	ErrTooManyCodes = errors.New("privacy: too many verification codes requested")
	// ErrAlreadyExtended: the one extension was used.
	ErrAlreadyExtended = errors.New("privacy: deadline already extended")
	// ErrNoExtension: the regulation gives this request type no extension.
	ErrNoExtension = errors.New("privacy: this request type cannot be extended")
	// ErrDeadlinePassed: an extension must be noticed before the original deadline.
	ErrDeadlinePassed = errors.New("privacy: the response deadline has passed")
	// ErrMail: the e-mail could not be sent.
	ErrMail = errors.New("privacy: e-mail not sent")
	// ErrQueue: the approved request could not be queued for the worker.
	ErrQueue = errors.New("privacy: request not queued")
)

// ValidationError says which input field is wrong and why (never echoing the value).
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return "privacy: invalid " + e.Field + ": " + e.Reason }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// WrongCodeError: the code did not match; Left attempts remain (0: the code is used up).
type WrongCodeError struct{ Left int }

func (e *WrongCodeError) Error() string {
	return "privacy: wrong verification code (" + AttemptsLeft(e.Left) + ")"
}

// AttemptsLeft says how many tries of a code remain, in words.
func AttemptsLeft(n int) string {
	if n == 1 {
		return "1 attempt left"
	}
	return fmt.Sprintf("%d attempts left", n)
}

// TransitionError: the action is not allowed in the request's status.
type TransitionError struct {
	Action Action
	From   Status
	// Why explains a refusal that the status alone does not (e.g. "not verified").
	Why string
}

func (e *TransitionError) Error() string {
	// Actions are named as the audit log records them ("denied"); the message wants the verb.
	verb := map[Action]string{ActionApproved: "approve", ActionDenied: "deny", ActionExtended: "extend", ActionCompleted: "complete"}[e.Action]
	if verb == "" {
		verb = string(e.Action)
	}
	if e.Why != "" {
		return fmt.Sprintf("privacy: cannot %s a %s request: %s", verb, e.From, e.Why)
	}
	return fmt.Sprintf("privacy: cannot %s a %s request", verb, e.From)
}

// FilingLimitError: FilingsPerNetwork requests were filed from the caller's network this
// window; RetryAfter is the time until the next.
type FilingLimitError struct {
	RetryAfter time.Duration
}

func (e *FilingLimitError) Error() string {
	return fmt.Sprintf("privacy: %d requests were filed from this network this hour; try again in %s", FilingsPerNetwork, e.RetryAfter.Round(time.Second))
}

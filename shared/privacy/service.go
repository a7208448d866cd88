package privacy

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crowdgate/crowdgate/shared/account"
)

// Input limits (docs/API.md).
const (
	MaxDetailsRunes    = 2000
	MaxCorrections     = 10
	MaxCorrectionRunes = 200
	MaxReasonRunes     = 500 // extension reasons and deny notes
	DefaultListLimit   = 50
	MaxListLimit       = 500
	// UnverifiedWindow is how long a request that needs verification may stay unverified
	// before CloseUnverified denies it (insufficient_verification) and drops the address.
	UnverifiedWindow = 30 * 24 * time.Hour
)

// Deps are the Service's ports and settings.
type Deps struct {
	Store  Store
	Mailer Mailer
	// Notices, when set, sends the notices (denial, extension, completion) of verified
	// requests instead of Mailer: on AWS through an SES configuration set that adds no bounce or complaint to
	// the account-level suppression list, where an erasure's completion notice would
	// otherwise put the address it just removed back (docs/PRIVACY.md). The codes keep
	// Mailer, whose suppression guards the sender against addresses anyone may file.
	Notices  Mailer
	Accounts AccountLookup
	Queue    Queue
	Clock    Clock
	// Subjects, when set, finds data held under the subject hash alone (Request.Holds).
	Subjects SubjectData
	// Filings, when set, limits filings per network (FilingsPerNetwork); the privacy
	// worker, which files nothing, has none.
	Filings FilingCounter
	// Key keys the subject and code hashes (at least MinKeyBytes). It must stay the same
	// for as long as requests are kept: a new key makes open requests unfindable by subject.
	Key []byte
	// Rand draws ids, codes and secrets; nil means crypto/rand.
	Rand io.Reader
}

// Service is the request workflow.
type Service struct {
	d Deps
}

// NewService checks the ports and returns the Service.
func NewService(d Deps) (*Service, error) {
	if d.Store == nil || d.Mailer == nil || d.Accounts == nil || d.Queue == nil || d.Clock == nil {
		return nil, errors.New("privacy: Store, Mailer, Accounts, Queue and Clock are required")
	}
	if len(d.Key) < MinKeyBytes {
		return nil, fmt.Errorf("privacy: key must have at least %d bytes", MinKeyBytes)
	}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	if d.Notices == nil {
		d.Notices = d.Mailer
	}
	return &Service{d: d}, nil
}

func (s *Service) now() time.Time { return s.d.Clock.Now().UTC() }

// today is the UTC date, against which deadlines are judged.
func (s *Service) today() Date { return DateOf(s.now()) }

// FileInput is what a data subject submits.
type FileInput struct {
	Email       string
	Type        Type
	Regulation  Regulation
	Details     string
	Corrections []Correction
	// Network is the filer's address, for the per-network limit; nil skips it.
	Network net.IP
}

// Filed is the outcome of File. The answer to the filer must look the same whether or not
// the request was a duplicate, so that filing reveals nothing about someone else's address.
type Filed struct {
	ID            string
	CodeExpiresAt time.Time
	// Duplicate: an open request of this subject and type existed; ID names it and the new
	// code was sent for it. Not for the filer's eyes (see above); for logs and tests.
	Duplicate bool
}

// File validates and records a request and e-mails its verification code. If the same
// address already has an open request of this type, that request is returned instead (its
// original details stand) and a fresh code for it is sent.
func (s *Service) File(ctx context.Context, in FileInput) (Filed, error) {
	email, err := validFiling(in)
	if err != nil {
		return Filed{}, err
	}
	if err := s.countFiling(ctx, in.Network); err != nil {
		return Filed{}, err
	}
	subject := SubjectHash(s.d.Key, email)
	// Two tries: a request can close between finding it open and updating it.
	for range 2 {
		id, err := s.d.Store.OpenRequest(ctx, subject, in.Type)
		switch {
		case err == nil:
			f, err := s.refile(ctx, id, strings.TrimSpace(in.Email))
			if errors.Is(err, ErrNotFound) {
				continue
			}
			return f, err
		case !errors.Is(err, ErrNotFound):
			return Filed{}, fmt.Errorf("find open request: %w", err)
		}
		f, err := s.create(ctx, in, email, subject)
		if errors.Is(err, ErrDuplicate) {
			continue // filed concurrently: refile the winner's request
		}
		return f, err
	}
	return Filed{}, ErrConflict
}

// countFiling counts a filing against its network, after validation (a malformed filing
// sends no mail) and before anything is stored or sent.
func (s *Service) countFiling(ctx context.Context, network net.IP) error {
	if network == nil || s.d.Filings == nil {
		return nil
	}
	now := s.now()
	end := now.Truncate(FilingWindow).Add(FilingWindow)
	ok, err := s.d.Filings.TakeFiling(ctx, NetworkKey(s.d.Key, network, now), FilingsPerNetwork, end, now)
	if err != nil {
		return fmt.Errorf("count filings: %w", err)
	}
	if !ok {
		return &FilingLimitError{RetryAfter: max(end.Sub(now), time.Second)}
	}
	return nil
}

func validFiling(in FileInput) (string, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return "", err
	}
	if !in.Type.Valid() {
		return "", invalid("type", "must be one of %s", joinTypes(Types))
	}
	if !in.Regulation.Valid() {
		return "", invalid("regulation", "must be ccpa or gdpr")
	}
	if err := validText("details", in.Details, MaxDetailsRunes, true); err != nil {
		return "", err
	}
	if in.Type != TypeCorrect {
		if len(in.Corrections) > 0 {
			return "", invalid("corrections", "are only accepted with type correct")
		}
		return email, nil
	}
	if len(in.Corrections) == 0 || len(in.Corrections) > MaxCorrections {
		return "", invalid("corrections", "a correct request needs 1 to %d corrections", MaxCorrections)
	}
	seen := map[string]bool{}
	for _, c := range in.Corrections {
		if !slices.Contains(CorrectableFields, c.Field) {
			return "", invalid("corrections", "field must be one of %s", strings.Join(CorrectableFields, ", "))
		}
		if seen[c.Field] {
			return "", invalid("corrections", "each field may be corrected once")
		}
		seen[c.Field] = true
		if strings.TrimSpace(c.Value) == "" {
			return "", invalid("corrections", "value of %s is empty", c.Field)
		}
		if err := validText("corrections", c.Value, MaxCorrectionRunes, false); err != nil {
			return "", err
		}
		// The worker writes the value to the account: it must pass the account's rules.
		var bad *account.ValidationError
		if _, err := account.NormalizeField(c.Field, c.Value); errors.As(err, &bad) {
			return "", invalid("corrections", "%s %s", c.Field, bad.Reason)
		}
	}
	return email, nil
}

// validText accepts UTF-8 up to max runes without control characters (newlines and tabs
// only where multiline is allowed).
func validText(field, v string, max int, multiline bool) error {
	if !utf8.ValidString(v) {
		return invalid(field, "must be UTF-8 text")
	}
	if n := utf8.RuneCountInString(v); n > max {
		return invalid(field, "must be at most %d characters", max)
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r')) {
			return invalid(field, "must not contain control characters")
		}
	}
	return nil
}

func joinTypes(ts []Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func (s *Service) create(ctx context.Context, in FileInput, email, subject string) (Filed, error) {
	accounts, err := s.d.Accounts.IntegratorsByEmail(ctx, email)
	if err != nil {
		return Filed{}, fmt.Errorf("match accounts: %w", err)
	}
	customers, err := s.d.Accounts.CustomersByEmail(ctx, email)
	if err != nil {
		return Filed{}, fmt.Errorf("match accounts: %w", err)
	}
	var holds []string
	if len(customers) > 0 {
		holds = append(holds, HoldCustomer)
	}
	if s.d.Subjects != nil {
		more, err := s.d.Subjects.Holds(ctx, subject)
		if err != nil {
			return Filed{}, fmt.Errorf("match subject data: %w", err)
		}
		holds = append(holds, more...)
	}
	id, err := newRequestID(s.d.Rand)
	if err != nil {
		return Filed{}, err
	}
	code, err := newCode(s.d.Rand)
	if err != nil {
		return Filed{}, err
	}
	now := s.now()
	r := Request{
		ID: id, Type: in.Type, Regulation: in.Regulation, Status: StatusReceived,
		SubjectHash: subject, Email: strings.TrimSpace(in.Email), AccountIDs: accounts, Holds: holds,
		Details: in.Details, Corrections: slices.Clone(in.Corrections),
		ReceivedAt: now, Deadlines: ComputeDeadlines(in.Regulation, in.Type, now),
		// The code e-mail is the acknowledgement; it is undone below if sending fails.
		AckedAt:   now,
		CodesSent: 1, CodeWindowStart: now,
		Version: 1,
	}
	c := Code{RequestID: id, Hash: codeHash(s.d.Key, id, code), ExpiresAt: now.Add(CodeLifetime)}
	audit := []AuditEntry{
		{RequestID: id, At: now, Actor: Actor{Kind: ActorRequester}, Action: ActionFiled, To: StatusReceived},
	}
	if err := s.d.Store.Create(ctx, r, c, audit); err != nil {
		if errors.Is(err, ErrDuplicate) {
			return Filed{}, err
		}
		return Filed{}, fmt.Errorf("store request: %w", err)
	}
	if err := s.sendCode(ctx, r, r.Email, code, false, true); err != nil {
		return Filed{}, err
	}
	return Filed{ID: id, CodeExpiresAt: c.ExpiresAt}, nil
}

// refile sends a new code for an open request filed again.
func (s *Service) refile(ctx context.Context, id, to string) (Filed, error) {
	r, err := s.d.Store.Get(ctx, id)
	if err != nil {
		return Filed{}, fmt.Errorf("load open request: %w", err)
	}
	if !r.Status.Open() {
		return Filed{}, ErrNotFound // closed meanwhile: the caller files anew
	}
	now := s.now()
	next := r.clone()
	if now.Sub(r.CodeWindowStart) >= CodeWindow {
		next.CodesSent, next.CodeWindowStart = 0, now
	}
	if next.CodesSent >= MaxCodesPerWindow {
		return Filed{}, ErrTooManyCodes
	}
	code, err := newCode(s.d.Rand)
	if err != nil {
		return Filed{}, err
	}
	next.CodesSent++
	ackedNow := next.AckedAt.IsZero()
	if ackedNow {
		next.AckedAt = now
	}
	next.Version++
	c := Code{RequestID: id, Hash: codeHash(s.d.Key, id, code), ExpiresAt: now.Add(CodeLifetime)}
	err = s.d.Store.Save(ctx, Change{Request: next, PutCode: &c, Audit: []AuditEntry{
		{RequestID: id, At: now, Actor: Actor{Kind: ActorRequester}, Action: ActionDuplicateFiled},
	}})
	if err != nil {
		return Filed{}, fmt.Errorf("refile: %w", err)
	}
	if err := s.sendCode(ctx, next, to, code, true, ackedNow); err != nil {
		return Filed{}, err
	}
	return Filed{ID: id, CodeExpiresAt: c.ExpiresAt, Duplicate: true}, nil
}

// sendCode mails a code for r (as stored). On failure the failure is audited and, if
// this mail was to be the acknowledgement (ackedNow), AckedAt is cleared again so the
// request shows as unacknowledged until a code e-mail gets through.
func (s *Service) sendCode(ctx context.Context, r Request, to, code string, duplicate, ackedNow bool) error {
	subject, text := codeMail(r, code, duplicate)
	err := s.d.Mailer.Send(ctx, to, subject, text)
	now := s.now()
	if err == nil {
		if aerr := s.d.Store.AppendAudit(ctx, r, AuditEntry{RequestID: r.ID, At: now, Actor: Actor{Kind: ActorSystem}, Action: ActionCodeSent}); aerr != nil {
			return fmt.Errorf("audit code e-mail: %w", aerr)
		}
		return nil
	}
	mailErr := fmt.Errorf("%w: %w", ErrMail, err)
	entry := AuditEntry{RequestID: r.ID, At: now, Actor: Actor{Kind: ActorSystem}, Action: ActionMailFailed, Note: "verification code"}
	if ackedNow {
		next := r.clone()
		next.AckedAt = time.Time{}
		next.Version++
		return errors.Join(mailErr, s.d.Store.Save(ctx, Change{Request: next, Audit: []AuditEntry{entry}}))
	}
	return errors.Join(mailErr, s.d.Store.AppendAudit(ctx, r, entry))
}

// Verify checks a code. On success the request is verified (if it was not yet) and a new
// status secret is returned: the only way to obtain one, so only whoever reads the
// subject's mail can follow the request. It replaces any earlier status secret.
func (s *Service) Verify(ctx context.Context, id, code string) (Request, string, error) {
	if !IsRequestID(id) {
		return Request{}, "", ErrNotFound
	}
	if !IsCode(code) {
		return Request{}, "", invalid("code", "must be the %d digits from the e-mail", CodeDigits)
	}
	r, err := s.d.Store.Get(ctx, id)
	if err != nil {
		return Request{}, "", fmt.Errorf("load request: %w", err)
	}
	if !r.Status.Open() {
		return Request{}, "", ErrCodeExpired
	}
	now := s.now()
	c, err := s.d.Store.Code(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && !c.Usable(now)) {
		return Request{}, "", ErrCodeExpired
	}
	if err != nil {
		return Request{}, "", fmt.Errorf("load code: %w", err)
	}
	if !codeMatches(s.d.Key, c, code) {
		err := s.d.Store.FailAttempt(ctx, r, c, AuditEntry{RequestID: id, At: now, Actor: Actor{Kind: ActorRequester}, Action: ActionVerifyFailed})
		if err != nil {
			return Request{}, "", fmt.Errorf("count failed attempt: %w", err)
		}
		return Request{}, "", &WrongCodeError{Left: MaxAttempts - c.Attempts - 1}
	}
	secret, err := newStatusSecret(s.d.Rand)
	if err != nil {
		return Request{}, "", err
	}
	next := r.clone()
	next.SecretHash = HashStatusSecret(secret)
	next.Version++
	entry := AuditEntry{RequestID: id, At: now, Actor: Actor{Kind: ActorRequester}, Action: ActionReverified}
	if r.Status == StatusReceived {
		next.Status, next.VerifiedAt = StatusVerified, now
		entry.Action, entry.From, entry.To = ActionVerified, StatusReceived, StatusVerified
	}
	if err := s.d.Store.Save(ctx, Change{Request: next, ConsumeCode: &c, Audit: []AuditEntry{entry}}); err != nil {
		return Request{}, "", fmt.Errorf("verify: %w", err)
	}
	return next, secret, nil
}

// Status returns a request to its subject, who proves it with the status secret. A wrong
// secret and an unknown id are the same ErrNotFound, so ids alone reveal nothing.
func (s *Service) Status(ctx context.Context, id, secret string) (Request, error) {
	if !IsRequestID(id) {
		return Request{}, ErrNotFound
	}
	r, err := s.d.Store.Get(ctx, id)
	if err != nil {
		return Request{}, fmt.Errorf("load request: %w", err)
	}
	if !secretMatches(r.SecretHash, secret) {
		return Request{}, ErrNotFound
	}
	return r, nil
}

// Get returns a request and its audit log (compliance view).
func (s *Service) Get(ctx context.Context, id string) (Request, []AuditEntry, error) {
	if !IsRequestID(id) {
		return Request{}, nil, ErrNotFound
	}
	r, err := s.d.Store.Get(ctx, id)
	if err != nil {
		return Request{}, nil, fmt.Errorf("load request: %w", err)
	}
	audit, err := s.d.Store.Audit(ctx, id)
	if err != nil {
		return Request{}, nil, fmt.Errorf("load audit log: %w", err)
	}
	return r, audit, nil
}

// ListFilter is the compliance listing's query.
type ListFilter struct {
	Status  Status // "": every status
	Type    Type   // "": every type
	Overdue bool   // only requests past a deadline (open ones)
	Cursor  string // from the previous ListResult.Next
	Limit   int    // 0: DefaultListLimit
}

// ListResult is one page of requests, newest first.
type ListResult struct {
	Requests []Request
	Next     string // cursor of the next page; "" on the last one
}

// List lists requests for the compliance team.
func (s *Service) List(ctx context.Context, f ListFilter) (ListResult, error) {
	q := Query{Type: f.Type, Limit: f.Limit}
	if f.Type != "" && !f.Type.Valid() {
		return ListResult{}, invalid("type", "must be one of %s", joinTypes(Types))
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	if q.Limit < 1 || q.Limit > MaxListLimit {
		return ListResult{}, invalid("limit", "must be 1 to %d", MaxListLimit)
	}
	switch {
	case f.Status != "" && !f.Status.Valid():
		return ListResult{}, invalid("status", "must be one of received, verified, in_progress, completed, denied")
	case f.Status != "" && f.Overdue && !f.Status.Open():
		return ListResult{}, nil // a finished request is never overdue
	case f.Status != "":
		q.Statuses = []Status{f.Status}
	case f.Overdue:
		q.Statuses = slices.Clone(OpenStatuses)
	default:
		q.Statuses = slices.Clone(Statuses)
	}
	if f.Overdue {
		q.OverdueOn = s.today()
	}
	if f.Cursor != "" {
		p, err := parseCursor(f.Cursor)
		if err != nil {
			return ListResult{}, err
		}
		q.After = &p
	}
	page, err := s.d.Store.List(ctx, q)
	if err != nil {
		return ListResult{}, fmt.Errorf("list requests: %w", err)
	}
	res := ListResult{Requests: page.Requests}
	if page.More && len(page.Requests) > 0 {
		last := page.Requests[len(page.Requests)-1]
		res.Next = cursorOf(Position{ReceivedAt: last.ReceivedAt, ID: last.ID})
	}
	return res, nil
}

func cursorOf(p Position) string {
	return base64.RawURLEncoding.EncodeToString([]byte(p.ReceivedAt.UTC().Format(time.RFC3339Nano) + " " + p.ID))
}

func parseCursor(c string) (Position, error) {
	bad := invalid("cursor", "is not a cursor from a previous page")
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return Position{}, bad
	}
	ts, id, ok := strings.Cut(string(raw), " ")
	at, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || !IsRequestID(id) {
		return Position{}, bad
	}
	return Position{ReceivedAt: at.UTC(), ID: id}, nil
}

// Outcome is the result of an operator action that notifies the subject.
type Outcome struct {
	Request Request
	// NoticeSent is false when the e-mail to the subject failed (audited as notice_failed;
	// the action itself stands).
	NoticeSent bool
}

// Approve starts carrying a request out: it becomes in_progress and is queued for the
// privacy worker. Approving an in-progress request queues it again (recovery when the
// queue was unavailable). Requests that need verification must be verified first.
func (s *Service) Approve(ctx context.Context, id string, by Actor) (Request, error) {
	r, err := s.load(ctx, id)
	if err != nil {
		return Request{}, err
	}
	now := s.now()
	switch {
	case r.Status == StatusInProgress:
		if err := s.enqueue(ctx, r); err != nil {
			return Request{}, err
		}
		return r, s.d.Store.AppendAudit(ctx, r, AuditEntry{RequestID: id, At: now, Actor: by, Action: ActionRequeued})
	case r.Status == StatusVerified, r.Status == StatusReceived && !r.Type.NeedsVerification():
	case r.Status == StatusReceived:
		return Request{}, &TransitionError{Action: ActionApproved, From: r.Status, Why: "the subject has not verified it"}
	default:
		return Request{}, &TransitionError{Action: ActionApproved, From: r.Status}
	}
	next := r.clone()
	next.Status, next.ApprovedAt = StatusInProgress, now
	next.Version++
	err = s.d.Store.Save(ctx, Change{Request: next, Audit: []AuditEntry{
		{RequestID: id, At: now, Actor: by, Action: ActionApproved, From: r.Status, To: StatusInProgress},
	}})
	if err != nil {
		return Request{}, fmt.Errorf("approve: %w", err)
	}
	if err := s.enqueue(ctx, next); err != nil {
		return next, err
	}
	return next, nil
}

func (s *Service) enqueue(ctx context.Context, r Request) error {
	job := Job{V: JobVersion, RequestID: r.ID, Type: r.Type, Regulation: r.Regulation, ApprovedAt: r.ApprovedAt}
	if err := s.d.Queue.SendJSON(ctx, job); err != nil {
		return fmt.Errorf("%w: %w", ErrQueue, err)
	}
	return nil
}

// Deny refuses a request that is not being carried out yet, tells the subject why and
// drops the address. DenyOther needs a note; any note goes to the subject.
func (s *Service) Deny(ctx context.Context, id string, reason DenyReason, note string, by Actor) (Outcome, error) {
	if !reason.Valid() {
		return Outcome{}, invalid("reason", "must be one of insufficient_verification, no_match, suspected_fraud, outside_jurisdiction, too_many_requests, other")
	}
	note = strings.TrimSpace(note)
	if reason == DenyOther && note == "" {
		return Outcome{}, invalid("note", "is required with reason other")
	}
	if err := validText("note", note, MaxReasonRunes, false); err != nil {
		return Outcome{}, err
	}
	r, err := s.load(ctx, id)
	if err != nil {
		return Outcome{}, err
	}
	if r.Status != StatusReceived && r.Status != StatusVerified {
		why := ""
		if r.Status == StatusInProgress {
			why = "it is being carried out"
		}
		return Outcome{}, &TransitionError{Action: ActionDenied, From: r.Status, Why: why}
	}
	now := s.now()
	next := r.closed(StatusDenied, now)
	next.DenyReason, next.DenyNote = reason, note
	err = s.d.Store.Save(ctx, Change{Request: next, Close: true, Audit: []AuditEntry{
		{RequestID: id, At: now, Actor: by, Action: ActionDenied, From: r.Status, To: StatusDenied, Reason: string(reason), Note: note},
	}})
	if err != nil {
		return Outcome{}, fmt.Errorf("deny: %w", err)
	}
	subject, text := denialMail(next)
	return Outcome{Request: next, NoticeSent: s.notify(ctx, next, r.Email, "denial", subject, text)}, nil
}

// Extend uses the request's one extension (with the reason the subject is told), before
// the original deadline passes.
func (s *Service) Extend(ctx context.Context, id, reason string, by Actor) (Outcome, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Outcome{}, invalid("reason", "is required: the subject is told why")
	}
	if err := validText("reason", reason, MaxReasonRunes, false); err != nil {
		return Outcome{}, err
	}
	r, err := s.load(ctx, id)
	if err != nil {
		return Outcome{}, err
	}
	if !r.Status.Open() {
		return Outcome{}, &TransitionError{Action: ActionExtended, From: r.Status}
	}
	if !r.Deadlines.Extended.IsZero() {
		return Outcome{}, ErrAlreadyExtended
	}
	to, ok := ExtendedDeadline(r.Regulation, r.Type, r.ReceivedAt)
	if !ok {
		return Outcome{}, ErrNoExtension
	}
	if s.today().After(r.Deadlines.Response) {
		return Outcome{}, ErrDeadlinePassed
	}
	now := s.now()
	next := r.clone()
	next.Deadlines.Extended, next.Deadlines.ExtensionReason = to, reason
	next.Version++
	err = s.d.Store.Save(ctx, Change{Request: next, Audit: []AuditEntry{
		{RequestID: id, At: now, Actor: by, Action: ActionExtended, Reason: reason, Note: "due " + to.String()},
	}})
	if err != nil {
		return Outcome{}, fmt.Errorf("extend: %w", err)
	}
	subject, text := extensionMail(next)
	return Outcome{Request: next, NoticeSent: s.notify(ctx, next, r.Email, "extension", subject, text)}, nil
}

// Closing is what one CloseUnverified call did.
type Closing struct {
	// Denied counts the requests it denied.
	Denied int
	// Done is false when it stopped early because late said so, with requests left to
	// deny; calling again continues (a denied request is no longer listed).
	Done bool
}

// CloseUnverified denies (insufficient_verification) every request that needs
// verification and was received more than olderThan ago without being verified, so their
// addresses are not kept. The privacy worker runs it on a schedule. Before each denial it
// asks late (nil: never) whether to stop, so the worker can stop before its invocation's
// deadline and send the sweep again; with nothing left to deny it is Done however late.
func (s *Service) CloseUnverified(ctx context.Context, olderThan time.Duration, late func() bool) (Closing, error) {
	if late == nil {
		late = func() bool { return false }
	}
	cutoff := s.now().Add(-olderThan)
	// Newest first, so start just before the cutoff: everything after is older.
	q := Query{Statuses: []Status{StatusReceived}, After: &Position{ReceivedAt: cutoff}, Limit: MaxListLimit}
	var c Closing
	for {
		page, err := s.d.Store.List(ctx, q)
		if err != nil {
			return c, fmt.Errorf("list unverified: %w", err)
		}
		for _, r := range page.Requests {
			if !r.Type.NeedsVerification() || !r.ReceivedAt.Before(cutoff) {
				continue
			}
			if late() {
				return c, nil
			}
			days := int(olderThan / (24 * time.Hour))
			_, err := s.Deny(ctx, r.ID, DenyInsufficientVerification, fmt.Sprintf("not verified within %d days", days), Actor{Kind: ActorSystem})
			var te *TransitionError
			if errors.As(err, &te) || errors.Is(err, ErrConflict) {
				continue // verified or closed meanwhile
			}
			if err != nil {
				return c, err
			}
			c.Denied++
		}
		if !page.More || len(page.Requests) == 0 {
			c.Done = true
			return c, nil
		}
		last := page.Requests[len(page.Requests)-1]
		q.After = &Position{ReceivedAt: last.ReceivedAt, ID: last.ID}
	}
}

// Run carries an in-progress request out with one executor per store, saving a checkpoint
// after every step, then completes it and notifies the subject. Running a completed
// request again does nothing, so queue redeliveries are harmless.
func (s *Service) Run(ctx context.Context, id string, executors []Executor) (Request, error) {
	r, err := s.load(ctx, id)
	if err != nil {
		return Request{}, err
	}
	if r.Status == StatusCompleted {
		return r, nil
	}
	if r.Status != StatusInProgress {
		return Request{}, &TransitionError{Action: ActionCompleted, From: r.Status, Why: "only approved requests are carried out"}
	}
	for _, ex := range executors {
		name := ex.Name()
		cp := r.Progress[name]
		for !cp.Done {
			step, err := ex.Step(ctx, r, cp.Cursor)
			if err != nil {
				err = fmt.Errorf("%s: %w", name, err)
				if step.Cursor == "" {
					return r, err
				}
				// The step did some work before it failed (records it removed cannot be
				// counted by the retry): save that, then fail as before, so the queue retries.
				step.Done = false
			}
			cp = Checkpoint{Cursor: step.Cursor, Done: step.Done, Items: cp.Items + step.Items}
			next := r.clone()
			if next.Progress == nil {
				next.Progress = map[string]Checkpoint{}
			}
			next.Progress[name] = cp
			next.Version++
			var audit []AuditEntry
			if cp.Done {
				note := fmt.Sprintf("%s: %d records", name, cp.Items)
				if step.Note != "" {
					note += " (" + step.Note + ")"
				}
				audit = []AuditEntry{{RequestID: id, At: s.now(), Actor: Actor{Kind: ActorWorker}, Action: ActionProgress, Note: note}}
			}
			if serr := s.d.Store.Save(ctx, Change{Request: next, Audit: audit}); serr != nil {
				return r, errors.Join(err, fmt.Errorf("checkpoint %s: %w", name, serr))
			}
			r = next
			if err != nil {
				return r, err
			}
		}
	}
	now := s.now()
	done := r.closed(StatusCompleted, now)
	if r.Erases() {
		// The accounts are gone: the request log keeps no id of them (only the subject
		// hash, counts and dates).
		done.AccountIDs = nil
	}
	if err := s.d.Store.Save(ctx, Change{Request: done, Close: true, Audit: []AuditEntry{
		{RequestID: id, At: now, Actor: Actor{Kind: ActorWorker}, Action: ActionCompleted, From: StatusInProgress, To: StatusCompleted},
	}}); err != nil {
		return r, fmt.Errorf("complete: %w", err)
	}
	subject, text := completionMail(done)
	s.notify(ctx, done, r.Email, "completion", subject, text)
	return done, nil
}

// load reads a request by a well-formed id.
func (s *Service) load(ctx context.Context, id string) (Request, error) {
	if !IsRequestID(id) {
		return Request{}, ErrNotFound
	}
	r, err := s.d.Store.Get(ctx, id)
	if err != nil {
		return Request{}, fmt.Errorf("load request: %w", err)
	}
	return r, nil
}

// notify sends a notice about r to the address to (r, once closed, no longer holds it)
// and audits the outcome; the action it reports stands either way.
func (s *Service) notify(ctx context.Context, r Request, to, kind, subject, text string) bool {
	entry := AuditEntry{RequestID: r.ID, Actor: Actor{Kind: ActorSystem}, Action: ActionNoticeSent, Note: kind}
	sent := to != ""
	if sent {
		// A request never verified may name any address anyone typed: its notice keeps
		// Mailer, whose suppression guards the sender against addresses that bounce.
		m := s.d.Notices
		if r.VerifiedAt.IsZero() {
			m = s.d.Mailer
		}
		sent = m.Send(ctx, to, subject, text) == nil
	}
	if !sent {
		entry.Action = ActionNoticeFailed
	}
	entry.At = s.now()
	// An audit failure here must not undo the action; the notice outcome is also returned.
	_ = s.d.Store.AppendAudit(ctx, r, entry)
	return sent
}

// clone copies r deeply enough that changing the copy leaves r alone.
func (r Request) clone() Request {
	c := r
	c.AccountIDs = slices.Clone(r.AccountIDs)
	c.Corrections = slices.Clone(r.Corrections)
	c.Progress = maps.Clone(r.Progress)
	return c
}

// closed returns r finished with status at now: the address, details and corrections are
// dropped (kept only while the request is open) and the status secret stays valid.
func (r Request) closed(status Status, now time.Time) Request {
	c := r.clone()
	c.Status, c.ClosedAt = status, now
	c.Email, c.Details, c.Corrections = "", "", nil
	c.Version++
	return c
}

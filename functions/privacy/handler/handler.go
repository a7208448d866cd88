// Package handler is the privacy function's HTTP API (docs/API.md "Privacy API"): data
// subjects file, verify and follow requests; the compliance team lists, approves, denies
// and extends them. The compliance routes are IAM-authorised on AWS (the local stack asks
// for its admin token), so the handler does not authenticate operators itself; it records
// the IAM principal in the audit log. Approved requests go to the privacy queue, whose
// worker carries them out.
package handler

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/mail"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// Body limits (docs/API.md): filings carry up to 2000 characters of details and ten
// corrections, which in UTF-8 and JSON escaping stays well below MaxPublicBody.
const (
	MaxPublicBody   = 32 << 10
	MaxOperatorBody = 8 << 10
)

// Error codes of the privacy API besides web's common ones and invalid_<field> (docs/API.md).
const (
	CodeRequestNotFound   = "request_not_found"
	CodeWrongCode         = "wrong_code"
	CodeCodeExpired       = "code_expired"
	CodeTooManyRequests   = "too_many_requests"
	CodeInvalidTransition = "invalid_transition"
	CodeAlreadyExtended   = "already_extended"
	CodeNoExtension       = "extension_not_allowed"
	CodeDeadlinePassed    = "deadline_passed"
	CodeMailUnavailable   = "mail_unavailable"
	CodeQueueUnavailable  = "queue_unavailable"
	CodeNoPackage         = "no_package"
	CodePackageNotReady   = "package_not_ready"
	CodePackageExpired    = "package_expired"
)

// Privacy is what the API needs from the request workflow.
type Privacy interface {
	File(ctx context.Context, in privacy.FileInput) (privacy.Filed, error)
	Verify(ctx context.Context, id, code string) (privacy.Request, string, error)
	Status(ctx context.Context, id, secret string) (privacy.Request, error)
	Get(ctx context.Context, id string) (privacy.Request, []privacy.AuditEntry, error)
	List(ctx context.Context, f privacy.ListFilter) (privacy.ListResult, error)
	Approve(ctx context.Context, id string, by privacy.Actor) (privacy.Request, error)
	Deny(ctx context.Context, id string, reason privacy.DenyReason, note string, by privacy.Actor) (privacy.Outcome, error)
	Extend(ctx context.Context, id, reason string, by privacy.Actor) (privacy.Outcome, error)
}

var _ Privacy = (*privacy.Service)(nil)

// PackageLinks signs short-lived download links to access packages in the privacy bucket
// (packageBucket), and tells whether a package file is still there.
type PackageLinks interface {
	PresignDownload(ctx context.Context, key string, d blob.Download, ttl time.Duration) (string, error)
	// Exists reports whether the object key is stored.
	Exists(ctx context.Context, key string) (bool, error)
}

// packageBucket is the privacy bucket as the package route uses it.
type packageBucket struct{ blob.Bucket }

// Exists reads the object's first byte: the function may read the privacy bucket (it signs
// read links with its own role), and a missing object answers blob.ErrNotFound.
func (b packageBucket) Exists(ctx context.Context, key string) (bool, error) {
	_, _, err := b.Store.ReadHead(ctx, b.Name, key, 1)
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look for the access package: %w", err)
	}
	return true, nil
}

// Deps are the privacy API's ports.
type Deps struct {
	Privacy Privacy
	// Packages signs access-package links; nil answers the package route with 503.
	Packages PackageLinks
	// Now judges overdue flags in answers; nil means time.Now.
	Now func() time.Time
}

// New returns the privacy function's handler.
func New(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	a := &api{svc: d.Privacy, now: d.Now, packages: d.Packages}
	handlers := map[string]http.HandlerFunc{
		"POST /v1/privacy/requests":                 a.file,
		"GET /v1/privacy/requests/{id}":             a.status,
		"POST /v1/privacy/requests/{id}/verify":     a.verify,
		"GET /v1/privacy/requests/{id}/package":     a.accessPackage,
		"GET /v1/privacy/end-user":                  a.endUser,
		"GET /v1/compliance/requests":               a.list,
		"GET /v1/compliance/requests/{id}":          a.get,
		"POST /v1/compliance/requests/{id}/approve": a.approve,
		"POST /v1/compliance/requests/{id}/deny":    a.deny,
		"POST /v1/compliance/requests/{id}/extend":  a.extend,
	}
	return web.Mount(routes.FunctionPrivacy, handlers)
}

// Wire builds the handler over the privacy and accounts tables, the privacy queue, SES
// (or the local outbox) and the privacy key.
func Wire(ctx context.Context, env *platform.Env) (http.Handler, error) {
	privTable, err := env.Config.Table(schema.TablePrivacy)
	if err != nil {
		return nil, err
	}
	acctTable, err := env.Config.Table(schema.TableAccounts)
	if err != nil {
		return nil, err
	}
	queue, err := env.Queue(schema.QueuePrivacy)
	if err != nil {
		return nil, err
	}
	mailer, err := Mailer(env)
	if err != nil {
		return nil, err
	}
	notices := NoticeMailer(mailer, env.Config.MailNoticeConfigurationSet)
	key, err := PrivacyKey(ctx, env)
	if err != nil {
		return nil, err
	}
	packages, err := env.Config.Bucket(schema.BucketPrivacy)
	if err != nil {
		return nil, err
	}
	now := env.Clock()
	store := dynamo.NewPrivacy(env.DynamoDB(), privTable, now)
	svc, err := privacy.NewService(privacy.Deps{
		Store:    store,
		Filings:  store, // the per-network filing counters
		Mailer:   mailer,
		Notices:  notices, // denial and extension notices
		Accounts: dynamo.NewAccounts(env.DynamoDB(), acctTable),
		// Accessibility sign-ups and tokens: a subject may hold these without an account.
		Subjects: dynamo.NewAccessibility(env.DynamoDB(), acctTable),
		Queue:    queue,
		Clock:    privacy.ClockFunc(now),
		Key:      key,
	})
	if err != nil {
		return nil, err
	}
	return New(Deps{Privacy: svc, Now: now, Packages: packageBucket{blob.Bucket{Store: blob.New(env.S3()), Name: packages}}}), nil
}

// Mailer returns the local outbox when MAIL_OUTBOX_DIR is set, else SES from MAIL_FROM.
func Mailer(env *platform.Env) (privacy.Mailer, error) {
	if dir := env.Config.MailOutboxDir; dir != "" {
		return mail.NewFileOutbox(dir)
	}
	if env.Config.MailFrom == "" {
		return nil, errors.New("config: set MAIL_FROM (a verified SES sender), or MAIL_OUTBOX_DIR locally")
	}
	return mail.NewSES(sesv2.NewFromConfig(env.AWS), env.Config.MailFrom)
}

// NoticeMailer is the mailer of verified requests' notices (privacy.Deps.Notices): m (from
// Mailer) sending through the SES configuration set configSet
// (config.MailNoticeConfigurationSet), so a notice that bounces or draws a complaint does
// not put the address on the account-level suppression list an erasure has just removed it
// from. An empty configSet (a stack without the set) sends as m does; the local outbox has
// no configuration sets.
func NoticeMailer(m privacy.Mailer, configSet string) privacy.Mailer {
	if ses, ok := m.(*mail.SES); ok {
		return ses.WithConfigurationSet(configSet)
	}
	return m
}

// SuppressionList returns the mail provider's suppression list, which the privacy worker
// erases an address from and reports in access packages: SES's account-level list, or
// in the local stack (MAIL_OUTBOX_DIR) an outbox, where nothing bounces and nothing is listed.
func SuppressionList(env *platform.Env) privacy.SuppressionList {
	if env.Config.MailOutboxDir != "" {
		return mail.NewOutbox()
	}
	return mail.NewSESSuppressions(sesv2.NewFromConfig(env.AWS))
}

// PrivacyKey returns the key of the subject and code hashes from PRIVACY_KEY, or from the
// Secrets Manager secret PRIVACY_KEY_SECRET_ARN names (base64, at least 32 bytes).
func PrivacyKey(ctx context.Context, env *platform.Env) ([]byte, error) {
	raw, err := env.Secret(ctx, env.Config.PrivacyKey, env.Config.PrivacyKeySecretARN, "PRIVACY_KEY or PRIVACY_KEY_SECRET_ARN")
	if err != nil {
		return nil, err
	}
	raw = strings.TrimSpace(raw)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(raw); err == nil {
			if len(key) < privacy.MinKeyBytes {
				return nil, fmt.Errorf("config: the privacy key must have at least %d bytes (has %d)", privacy.MinKeyBytes, len(key))
			}
			return key, nil
		}
	}
	return nil, errors.New("config: the privacy key is not base64")
}

type api struct {
	svc      Privacy
	now      func() time.Time
	packages PackageLinks
}

// --- data subjects -------------------------------------------------------------------

type correctionJSON struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

func (a *api) file(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email       string           `json:"email"`
		Type        string           `json:"type"`
		Regulation  string           `json:"regulation"`
		Details     string           `json:"details"`
		Corrections []correctionJSON `json:"corrections"`
	}
	if err := web.DecodeJSON(r, MaxPublicBody, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	in := privacy.FileInput{Email: body.Email, Type: privacy.Type(body.Type), Regulation: privacy.Regulation(body.Regulation), Details: body.Details,
		Network: web.ClientIP(r)}
	for _, c := range body.Corrections {
		in.Corrections = append(in.Corrections, privacy.Correction{Field: c.Field, Value: c.Value})
	}
	filed, err := a.svc.File(r.Context(), in)
	var limited *privacy.FilingLimitError
	if errors.As(err, &limited) {
		secs := web.RetrySeconds(limited.RetryAfter)
		web.WriteTryLater(w, r, CodeTooManyRequests, fmt.Sprintf("%d requests were filed from this network this hour; try again in %d seconds", privacy.FilingsPerNetwork, secs), secs)
		return
	}
	if err != nil {
		web.WriteError(w, r, mapError(err))
		return
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "privacy request filed", "privacy_request", filed.ID, "type", body.Type, "duplicate", filed.Duplicate)
	// The same answer whether or not the request existed: filing reveals nothing about an
	// address, and only its mailbox receives the code that unlocks the status.
	web.WriteJSON(w, http.StatusAccepted, map[string]any{
		"id":              filed.ID,
		"code_expires_in": int(privacy.CodeLifetime.Seconds()),
		"code_attempts":   privacy.MaxAttempts,
		"verify":          "/v1/privacy/requests/" + filed.ID + "/verify",
	})
}

func (a *api) verify(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Code string `json:"code"`
	}
	if err := web.DecodeJSON(r, MaxPublicBody, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	req, secret, err := a.svc.Verify(r.Context(), r.PathValue("id"), body.Code)
	if err != nil {
		web.WriteError(w, r, mapError(err))
		return
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "privacy request verified", "privacy_request", req.ID)
	web.WriteJSON(w, http.StatusOK, map[string]any{"status_secret": secret, "request": subjectView(req)})
}

func (a *api) status(w http.ResponseWriter, r *http.Request) {
	secret, ok := statusSecret(w, r)
	if !ok {
		return
	}
	req, err := a.svc.Status(r.Context(), r.PathValue("id"), secret)
	if err != nil {
		web.WriteError(w, r, mapError(err))
		return
	}
	web.WriteJSON(w, http.StatusOK, subjectView(req))
}

// statusSecret reads the status secret a subject follows a request with, or answers 401.
func statusSecret(w http.ResponseWriter, r *http.Request) (string, bool) {
	secret, ok := web.BearerToken(r)
	if !ok {
		web.Unauthorized(w, r, "crowdgate-privacy", "send the status secret from verification as Authorization: Bearer <secret>")
	}
	return secret, ok
}

func (a *api) endUser(w http.ResponseWriter, _ *http.Request) {
	// Nothing about the caller is read, so nothing is collected.
	web.WriteJSON(w, http.StatusOK, privacy.EndUser())
}

// --- compliance ----------------------------------------------------------------------

var listParams = map[string]bool{"status": true, "type": true, "overdue": true, "limit": true, "cursor": true}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := listFilter(q)
	if err != nil {
		web.WriteError(w, r, err)
		return
	}
	res, err := a.svc.List(r.Context(), f)
	if err != nil {
		web.WriteError(w, r, mapError(err))
		return
	}
	today := privacy.DateOf(a.now().UTC())
	out := make([]operatorJSON, 0, len(res.Requests))
	for _, req := range res.Requests {
		out = append(out, operatorView(req, today))
	}
	body := map[string]any{"requests": out}
	if res.Next != "" {
		body["next"] = res.Next
	}
	web.WriteJSON(w, http.StatusOK, body)
}

func listFilter(q url.Values) (privacy.ListFilter, error) {
	for k, v := range q {
		if !listParams[k] {
			return privacy.ListFilter{}, web.Errorf(http.StatusBadRequest, web.CodeBadRequest, "unknown query parameter %q (status, type, overdue, limit, cursor)", k)
		}
		if len(v) > 1 {
			return privacy.ListFilter{}, web.Errorf(http.StatusBadRequest, web.CodeBadRequest, "query parameter %q given more than once", k)
		}
	}
	f := privacy.ListFilter{Status: privacy.Status(q.Get("status")), Type: privacy.Type(q.Get("type")), Cursor: q.Get("cursor")}
	switch q.Get("overdue") {
	case "", "false":
	case "true":
		f.Overdue = true
	default:
		return f, web.Errorf(http.StatusBadRequest, "invalid_overdue", "overdue must be true or false")
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return f, web.Errorf(http.StatusBadRequest, "invalid_limit", "limit must be 1 to %d", privacy.MaxListLimit)
		}
		f.Limit = n
	}
	return f, nil
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	req, log, err := a.svc.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		web.WriteError(w, r, mapError(err))
		return
	}
	audit := make([]auditJSON, 0, len(log))
	for _, e := range log {
		audit = append(audit, auditJSON{
			At: e.At.UTC().Truncate(time.Second), Actor: actorJSON{Kind: e.Actor.Kind, ID: e.Actor.ID}, Action: string(e.Action),
			From: string(e.From), To: string(e.To), Reason: e.Reason, Note: e.Note,
		})
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"request": operatorView(req, privacy.DateOf(a.now().UTC())), "audit": audit})
}

func (a *api) approve(w http.ResponseWriter, r *http.Request) {
	if !web.NoBody(w, r, MaxOperatorBody) {
		return
	}
	req, err := a.svc.Approve(r.Context(), r.PathValue("id"), operator(r))
	if err != nil {
		web.WriteError(w, r, mapError(err))
		return
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "privacy request approved", "privacy_request", req.ID)
	web.WriteJSON(w, http.StatusOK, map[string]any{"request": operatorView(req, privacy.DateOf(a.now().UTC())), "queued": true})
}

func (a *api) deny(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
		Note   string `json:"note"`
	}
	if err := web.DecodeJSON(r, MaxOperatorBody, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	out, err := a.svc.Deny(r.Context(), r.PathValue("id"), privacy.DenyReason(body.Reason), body.Note, operator(r))
	a.outcome(w, r, out, err, "privacy request denied")
}

func (a *api) extend(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := web.DecodeJSON(r, MaxOperatorBody, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	out, err := a.svc.Extend(r.Context(), r.PathValue("id"), body.Reason, operator(r))
	a.outcome(w, r, out, err, "privacy request extended")
}

func (a *api) outcome(w http.ResponseWriter, r *http.Request, out privacy.Outcome, err error, msg string) {
	if err != nil {
		web.WriteError(w, r, mapError(err))
		return
	}
	l := web.Logger(r.Context())
	l.InfoContext(r.Context(), msg, "privacy_request", out.Request.ID, "notice_sent", out.NoticeSent)
	if !out.NoticeSent {
		l.WarnContext(r.Context(), "notice to the data subject failed", "privacy_request", out.Request.ID)
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"request": operatorView(out.Request, privacy.DateOf(a.now().UTC())), "notice_sent": out.NoticeSent})
}

// operator names the caller for the audit log: the IAM principal API Gateway authorised
// (on AWS), or just "operator" (the local stack's admin token names nobody).
func operator(r *http.Request) privacy.Actor {
	a := privacy.Actor{Kind: privacy.ActorOperator}
	if rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok && rc.Authorizer != nil && rc.Authorizer.IAM != nil {
		a.ID = rc.Authorizer.IAM.UserARN
	}
	return a
}

// mapError maps domain errors to the documented status and code. Anything else is an
// internal error (logged, not shown).
func mapError(err error) error {
	var (
		v  *privacy.ValidationError
		wc *privacy.WrongCodeError
		te *privacy.TransitionError
	)
	e := func(status int, code, msg string) error {
		return &web.Error{Status: status, Code: code, Message: msg, Err: err}
	}
	switch {
	case errors.As(err, &v):
		return e(http.StatusBadRequest, "invalid_"+v.Field, v.Field+" "+v.Reason)
	case errors.Is(err, privacy.ErrNotFound):
		return e(http.StatusNotFound, CodeRequestNotFound, "no such request (or not yours)")
	case errors.As(err, &wc):
		return e(http.StatusForbidden, CodeWrongCode, "wrong code; "+privacy.AttemptsLeft(wc.Left))
	case errors.Is(err, privacy.ErrCodeExpired):
		return e(http.StatusGone, CodeCodeExpired, "the code expired or was used up; file the request again to get a new one")
	case errors.Is(err, privacy.ErrTooManyCodes):
		return e(http.StatusTooManyRequests, CodeTooManyRequests, fmt.Sprintf("at most %d codes are sent per request in 24 hours", privacy.MaxCodesPerWindow))
	case errors.As(err, &te):
		return e(http.StatusConflict, CodeInvalidTransition, strings.TrimPrefix(te.Error(), "privacy: "))
	case errors.Is(err, privacy.ErrAlreadyExtended):
		return e(http.StatusConflict, CodeAlreadyExtended, "the one extension was already used")
	case errors.Is(err, privacy.ErrNoExtension):
		return e(http.StatusConflict, CodeNoExtension, "this request type cannot be extended under its regulation")
	case errors.Is(err, privacy.ErrDeadlinePassed):
		return e(http.StatusConflict, CodeDeadlinePassed, "an extension must be noticed before the original deadline")
	case errors.Is(err, privacy.ErrConflict):
		return e(http.StatusConflict, web.CodeConflict, "a concurrent change won; retry")
	case errors.Is(err, privacy.ErrMail):
		return e(http.StatusServiceUnavailable, CodeMailUnavailable, "the e-mail could not be sent; try again later")
	case errors.Is(err, privacy.ErrNoPackage):
		return e(http.StatusConflict, CodeNoPackage, "only access requests have a package")
	case errors.Is(err, privacy.ErrPackageNotReady):
		return e(http.StatusConflict, CodePackageNotReady, "the request is not carried out yet; its status says when it is completed")
	case errors.Is(err, privacy.ErrPackageExpired):
		return e(http.StatusGone, CodePackageExpired, fmt.Sprintf("the package was deleted %d days after it was made; file a new access request", privacy.PackageKeepDays))
	case errors.Is(err, privacy.ErrQueue):
		return e(http.StatusServiceUnavailable, CodeQueueUnavailable, "approved, but the worker could not be reached; approve again to retry")
	}
	return err
}

// Package handler is the accessibility function (docs/API.md "Accessibility"): the
// first-party sign-up pages (GET /accessibility, sign-up, confirm, revoke) and the text
// challenges the widget asks for with the cg_a11y cookie.
package handler

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	privacyhandler "github.com/crowdgate/crowdgate/functions/privacy/handler"
	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/locale"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// Body limits (docs/API.md).
const (
	MaxJSONBody = 4 << 10
	MaxFormBody = 4 << 10
)

// Error codes of the JSON routes (docs/API.md). The challenge codes are the visual
// answer route's.
const (
	CodeTokenRequired      = "accessibility_token_required"
	CodeTryLater           = "try_later"
	CodeUnknownSitekey     = "unknown_sitekey"
	CodeHostnameNotAllowed = "hostname_not_allowed"
	CodeNotFound           = "challenge_not_found"
	CodeExpired            = "challenge_expired"
	CodeUsed               = "challenge_used"
	CodeSitekeyMismatch    = "sitekey_mismatch"
	CodeInvalidAnswer      = "invalid_answer"
)

// Deps are the accessibility service's ports and settings.
type Deps struct {
	accessibility.Deps
}

// New returns the function's handler. Missing ports are a wiring mistake: it panics.
func New(d Deps) http.Handler {
	svc, err := accessibility.New(d.Deps)
	if err != nil {
		panic("accessibility handler: " + err.Error())
	}
	a := &api{svc: svc, base: d.BaseURL}
	// The two challenge routes are credentialed browser routes (the cg_a11y cookie):
	// Mount gives them CORSWithCredentials.
	return web.Mount(routes.FunctionAccessibility, map[string]http.HandlerFunc{
		"GET /accessibility":                            a.signupPage,
		"POST /accessibility/signup":                    a.signup,
		"GET /accessibility/confirm":                    a.confirmPage,
		"POST /accessibility/confirm":                   a.confirm,
		"POST /accessibility/revoke":                    a.revoke,
		"POST /1/accessibility/challenges":              a.issue,
		"POST /1/accessibility/challenges/{id}/answers": a.answer,
	})
}

type api struct {
	svc  *accessibility.Service
	base string
}

// --- pages ----------------------------------------------------------------------------

// pageLocale is the page language: hl (query or form) and Accept-Language, as
// locale.Pick weighs them. The form is parseForm's, read within MaxFormBody: FormValue
// would read a body itself, a GET's too (multipart, up to 32 MiB), so a GET page takes hl
// from its query alone.
func pageLocale(r *http.Request) string {
	form := r.Form
	if form == nil {
		form = r.URL.Query()
	}
	return locale.Pick(form.Get("hl"), r.Header.Get("Accept-Language"), accessibility.Locales)
}

func hidden(loc string, kv ...string) map[string]string {
	m := map[string]string{"hl": loc}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// errorPage says what went wrong and links back to the sign-up page, where every way on
// starts (a new link, another address, a later try), so no error is a dead end.
func errorPage(w http.ResponseWriter, status int, loc, msg string) {
	l := langs[loc]
	writePage(w, status, page{Lang: loc, Title: l.errTitle, Lead: msg, Error: true,
		Link: &link{Href: "/accessibility?" + url.Values{"hl": {loc}}.Encode(), Text: l.toSignup}})
}

func (a *api) signupPage(w http.ResponseWriter, r *http.Request) {
	loc := pageLocale(r)
	l := langs[loc]
	p := page{Lang: loc, Title: l.signup.Title, Lead: l.signup.Lead, Privacy: l.privacy,
		Form: &form{Action: "/accessibility/signup", Button: l.signup.Button, Email: l.emailLabel, Hidden: hidden(loc)}}
	// A browser that holds a pass can end it here too, not only on the page right after
	// confirming (PRIVACY.md points people to this page for it). Only a token that works
	// is a pass: a revoked, erased or expired one must not be announced as one.
	if c, err := r.Cookie(accessibility.CookieName); err == nil {
		_, err := a.svc.Authenticate(r.Context(), c.Value)
		switch {
		case err == nil:
			p.ThenIntro, p.Then = l.holdsPass, &form{Action: "/accessibility/revoke", Button: l.removeButton, Hidden: hidden(loc)}
		case errors.Is(err, accessibility.ErrTokenRequired):
			// A dead token (or no token at all) is only an identifier the browser keeps
			// sending: expire the cookie.
			http.SetCookie(w, cookie("", -1))
		default:
			// The sign-up form still works; only the notice is left out.
			web.Logger(r.Context()).ErrorContext(r.Context(), "accessibility token check failed", "err", err)
		}
	}
	writePage(w, http.StatusOK, p)
}

// parseForm reads a form body of at most MaxFormBody bytes, from this origin only. The
// pages send form-encoded bodies; multipart ones (a form with enctype="multipart/form-data",
// a script's FormData) are read too, as siteverify reads them, instead of looking empty.
// It answers the error page itself and reports false on failure.
func (a *api) parseForm(w http.ResponseWriter, r *http.Request) (string, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBody)
	err := r.ParseForm()
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		err = r.ParseMultipartForm(MaxFormBody)
	}
	loc := pageLocale(r)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		errorPage(w, http.StatusRequestEntityTooLarge, loc, langs[loc].tooLarge)
		return loc, false
	case err != nil:
		// A malformed body is the form's fault, not the mailed link's (sign-up and Remove
		// have no link at all).
		errorPage(w, http.StatusBadRequest, loc, langs[loc].badForm)
		return loc, false
	case !a.sameOrigin(r):
		// Another site may not post our forms with the visitor's cookie (revoke) or make
		// the visitor confirm someone else's code.
		errorPage(w, http.StatusForbidden, loc, langs[loc].origin)
		return loc, false
	}
	return loc, true
}

// sameOrigin accepts requests without Origin (older browsers, non-browser clients) and
// those whose Origin is this service's public URL or the host the request was sent to.
func (a *api) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if b, err := url.Parse(a.base); err == nil && strings.EqualFold(u.Scheme+"://"+u.Host, b.Scheme+"://"+b.Host) {
		return true
	}
	return strings.EqualFold(u.Host, r.Host)
}

func (a *api) signup(w http.ResponseWriter, r *http.Request) {
	loc, ok := a.parseForm(w, r)
	if !ok {
		return
	}
	l := langs[loc]
	err := a.svc.SignUp(r.Context(), accessibility.SignUpInput{Email: r.PostForm.Get("email"), Network: web.ClientIP(r), Locale: loc})
	var le *accessibility.LimitError
	var ve *privacy.ValidationError
	switch {
	case err == nil:
		writePage(w, http.StatusOK, page{Lang: loc, Title: l.inbox.Title, Lead: l.inbox.Lead})
	case errors.As(err, &le):
		msg := l.tooMany
		if le.What == accessibility.LimitNetwork {
			msg = l.tooManyNetwork
		}
		w.Header().Set("Retry-After", strconv.Itoa(web.RetrySeconds(le.RetryAfter)))
		errorPage(w, http.StatusTooManyRequests, loc, fmt.Sprintf(msg, wait(l, le.RetryAfter)))
	case errors.Is(err, accessibility.ErrInvalidEmail):
		reason := "must be a plain address like name@example.com"
		if errors.As(err, &ve) {
			reason = ve.Reason
		}
		msg := "it " + reason + "."
		if l.emailHint != "" {
			msg = l.emailHint
		}
		errorPage(w, http.StatusBadRequest, loc, l.badEmail+msg)
	case errors.Is(err, accessibility.ErrMail):
		web.Logger(r.Context()).ErrorContext(r.Context(), "accessibility sign-up mail failed", "err", err)
		errorPage(w, http.StatusServiceUnavailable, loc, l.mailDown)
	default:
		web.Logger(r.Context()).ErrorContext(r.Context(), "accessibility sign-up failed", "err", err)
		errorPage(w, http.StatusInternalServerError, loc, l.internal)
	}
}

// confirmPage shows the Confirm button; it never consumes the code, because mail
// scanners open links.
func (a *api) confirmPage(w http.ResponseWriter, r *http.Request) {
	loc := pageLocale(r)
	l := langs[loc]
	code := r.URL.Query().Get("c")
	if code == "" || len(code) > 100 {
		errorPage(w, http.StatusBadRequest, loc, l.badLink)
		return
	}
	writePage(w, http.StatusOK, page{Lang: loc, Title: l.confirm.Title, Lead: l.confirm.Lead,
		Form: &form{Action: "/accessibility/confirm", Button: l.confirm.Button, Hidden: hidden(loc, "c", code)}})
}

func (a *api) confirm(w http.ResponseWriter, r *http.Request) {
	loc, ok := a.parseForm(w, r)
	if !ok {
		return
	}
	l := langs[loc]
	tok, _, err := a.svc.Confirm(r.Context(), r.PostForm.Get("c"))
	if errors.Is(err, accessibility.ErrInvalidCode) {
		errorPage(w, http.StatusBadRequest, loc, l.badCode)
		return
	}
	if err != nil {
		web.Logger(r.Context()).ErrorContext(r.Context(), "accessibility confirm failed", "err", err)
		errorPage(w, http.StatusInternalServerError, loc, l.internal)
		return
	}
	// The token is fresh: the cookie lives exactly as long.
	http.SetCookie(w, cookie(tok, int(accessibility.TokenTTL/time.Second)))
	writePage(w, http.StatusOK, page{Lang: loc, Title: l.confirmed.Title, Lead: l.confirmed.Lead, Extra: l.confirmed.Extra,
		Form: &form{Action: "/accessibility/revoke", Button: l.removeButton, Hidden: hidden(loc)}})
}

func (a *api) revoke(w http.ResponseWriter, r *http.Request) {
	loc, ok := a.parseForm(w, r)
	if !ok {
		return
	}
	l := langs[loc]
	if c, err := r.Cookie(accessibility.CookieName); err == nil {
		if err := a.svc.Revoke(r.Context(), c.Value); err != nil {
			web.Logger(r.Context()).ErrorContext(r.Context(), "accessibility revoke failed", "err", err)
			errorPage(w, http.StatusInternalServerError, loc, l.internal)
			return
		}
	}
	http.SetCookie(w, cookie("", -1))
	writePage(w, http.StatusOK, page{Lang: loc, Title: l.revoked.Title, Lead: l.revoked.Lead,
		Form: &form{Action: "/accessibility", Get: true, Button: l.signup.Button, Hidden: hidden(loc)}})
}

// cookie is the accessibility cookie: HttpOnly (scripts never see the token), SameSite=None
// (the widget sends it from integrators' pages) and therefore always Secure — browsers drop
// SameSite=None cookies without Secure, and treat http://127.0.0.1 and http://localhost as
// secure, so the local stack works too. maxAge < 0 deletes it.
func cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: accessibility.CookieName, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode}
}

// wait writes a wait for people, in words of the page's language: minutes, hours, or
// hours and minutes (rounded up to whole minutes, at least one).
func wait(l lang, d time.Duration) string {
	unit := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + many
	}
	m := max(int((d+time.Minute-1)/time.Minute), 1)
	switch {
	case m < 60:
		return unit(m, l.minute, l.minutes)
	case m%60 == 0:
		return unit(m/60, l.hour, l.hours)
	}
	return unit(m/60, l.hour, l.hours) + " " + l.and + " " + unit(m%60, l.minute, l.minutes)
}

// --- widget JSON routes ---------------------------------------------------------------

type issueRequest struct {
	Sitekey string `json:"sitekey"`
	Host    string `json:"host"`
	HL      string `json:"hl"`
}

type issueResponse struct {
	ID        string `json:"id"`
	Question  string `json:"question"`
	Lang      string `json:"lang"`
	ExpiresIn int    `json:"expires_in"`
}

type answerRequest struct {
	Answer string `json:"answer"`
	// Sitekey is optional; when sent it must be the challenge's.
	Sitekey string `json:"sitekey"`
	// SetAside is optional: the visual challenge the visitor turned from.
	SetAside string `json:"set_aside"`
}

type passResponse struct {
	Pass      bool   `json:"pass"`
	Token     string `json:"token,omitempty"`
	ExpiresIn int    `json:"expires_in,omitempty"`
}

func tokenOf(r *http.Request) string {
	c, err := r.Cookie(accessibility.CookieName)
	if err != nil {
		return ""
	}
	return c.Value
}

func (a *api) issue(w http.ResponseWriter, r *http.Request) {
	var body issueRequest
	if err := web.DecodeJSON(r, MaxJSONBody, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	// A browser names the page that sent the cookie in Origin: a page may ask for questions
	// only for its own hostname, so another site cannot spend the visitor's token on a
	// sitekey that does not allow it.
	if !challenge.OriginAllows(r.Header.Get("Origin"), body.Host) {
		a.writeError(w, r, accessibility.ErrHostNotAllowed)
		return
	}
	is, err := a.svc.Issue(r.Context(), accessibility.IssueInput{Token: tokenOf(r), Sitekey: body.Sitekey, Host: body.Host,
		Locale: body.HL, AcceptLanguage: r.Header.Get("Accept-Language")})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, issueResponse{ID: is.ID, Question: is.Question, Lang: is.Lang, ExpiresIn: int(is.ExpiresIn / time.Second)})
}

func (a *api) answer(w http.ResponseWriter, r *http.Request) {
	var body answerRequest
	if err := web.DecodeJSON(r, MaxJSONBody, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	res, err := a.svc.Answer(r.Context(), accessibility.AnswerInput{Token: tokenOf(r), ID: r.PathValue("id"), Answer: body.Answer, Sitekey: body.Sitekey,
		SetAside: body.SetAside, IP: web.ClientIP(r)})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "text challenge answered", "pass", res.Pass)
	if !res.Pass {
		web.WriteJSON(w, http.StatusOK, passResponse{Pass: false})
		return
	}
	web.WriteJSON(w, http.StatusOK, passResponse{Pass: true, Token: res.Token, ExpiresIn: int(res.TokenTTL / time.Second)})
}

// writeError maps domain errors to documented statuses and codes.
func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var le *accessibility.LimitError
	if errors.As(err, &le) {
		secs := web.RetrySeconds(le.RetryAfter)
		web.WriteTryLater(w, r, CodeTryLater, fmt.Sprintf("this accessibility token asked for %d text questions this hour; try again in %d seconds", accessibility.ChallengesPerToken, secs), secs)
		return
	}
	if errors.Is(err, accessibility.ErrTokenRequired) {
		// The 401 envelope names the sign-up page.
		body := web.NewErrorBody(r, CodeTokenRequired, "a working accessibility token (cookie "+accessibility.CookieName+") is required; sign up at signup_url")
		body.Error.SignupURL = a.svc.SignupURL()
		web.WriteJSON(w, http.StatusUnauthorized, body)
		return
	}
	e := func(status int, code, msg string) error {
		return &web.Error{Status: status, Code: code, Message: msg, Err: err}
	}
	switch {
	case errors.Is(err, accessibility.ErrBadRequest):
		err = e(http.StatusBadRequest, web.CodeBadRequest, strings.TrimPrefix(err.Error(), accessibility.ErrBadRequest.Error()+": "))
	case errors.Is(err, accessibility.ErrInvalidAnswer):
		err = e(http.StatusBadRequest, CodeInvalidAnswer, fmt.Sprintf("the answer must be 1 to %d characters", accessibility.MaxAnswerRunes))
	case errors.Is(err, accessibility.ErrUnknownSite):
		err = e(http.StatusNotFound, CodeUnknownSitekey, "unknown sitekey")
	case errors.Is(err, accessibility.ErrHostNotAllowed):
		err = e(http.StatusForbidden, CodeHostnameNotAllowed, "this hostname is not allowed for the sitekey (or is not the page's origin)")
	case errors.Is(err, accessibility.ErrNotFound):
		err = e(http.StatusNotFound, CodeNotFound, "no such challenge")
	case errors.Is(err, accessibility.ErrExpired):
		err = e(http.StatusGone, CodeExpired, "the challenge has expired")
	case errors.Is(err, accessibility.ErrUsed):
		err = e(http.StatusConflict, CodeUsed, "the challenge was already answered")
	case errors.Is(err, accessibility.ErrSitekeyMismatch):
		err = e(http.StatusForbidden, CodeSitekeyMismatch, "the challenge was issued for another site")
	}
	web.WriteError(w, r, err)
}

// Wire builds the handler from the function's environment: accessibility records in the
// accounts table (A11Y#…), sites from the accounts table, text challenges and pass tokens
// in the challenges table (with the visual challenge a pass ends), the signing keys, the
// privacy key (subject hashes), SES (or the local outbox), and the risk salts and
// risk-events queue for that visual challenge's pass. No labeled data is published.
func Wire(ctx context.Context, env *platform.Env) (http.Handler, error) {
	accounts, err := env.Config.Table(schema.TableAccounts)
	if err != nil {
		return nil, err
	}
	challenges, err := env.Config.Table(schema.TableChallenges)
	if err != nil {
		return nil, err
	}
	riskTable, err := env.Config.Table(schema.TableRisk)
	if err != nil {
		return nil, err
	}
	riskEvents, err := env.Queue(schema.QueueRiskEvents)
	if err != nil {
		return nil, err
	}
	if env.Config.PublicURL == "" {
		return nil, errors.New("config: set PUBLIC_URL (the confirm link's base)")
	}
	signer, err := env.Keyring(ctx)
	if err != nil {
		return nil, fmt.Errorf("accessibility: %w", err)
	}
	mailer, err := privacyhandler.Mailer(env)
	if err != nil {
		return nil, err
	}
	key, err := privacyhandler.PrivacyKey(ctx, env)
	if err != nil {
		return nil, err
	}
	now := env.Clock()
	db := env.DynamoDB()
	d := Deps{Deps: accessibility.Deps{
		Store:      dynamo.NewAccessibility(db, accounts),
		Challenges: dynamo.NewTextChallenges(db, challenges),
		Mailer:     mailer,
		Sites:      challenge.AccountSites{Store: dynamo.NewAccounts(db, accounts)},
		Signer:     signer,
		Tokens:     dynamo.NewTokens(db, challenges),
		Visual:     dynamo.NewChallenges(db, challenges),
		// Only Record is used: it needs the salts and the queue, not the windows.
		Risk: &challenge.ScoringHook{
			Salts:  dynamo.NewSalts(db, riskTable, dynamo.SaltPurposeRisk),
			Events: riskEvents,
			Now:    now,
		},
		Key:     key,
		BaseURL: env.Config.PublicURL,
		TTL:     env.Config.ChallengeTTL,
		Now:     now,
	}}
	if _, err := accessibility.New(d.Deps); err != nil {
		return nil, err
	}
	return New(d), nil
}

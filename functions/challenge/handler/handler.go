// Package handler is the challenge function: the widget script (GET /1/api.js), issuing
// challenges (POST /1/challenges) and grading answers (POST /1/challenges/{id}/answers),
// as documented in docs/API.md.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/functions/challenge/widget"
	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/risk"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// MaxBody caps request bodies (docs/API.md).
const MaxBody = 64 << 10

// Error codes of the challenge API (docs/API.md).
const (
	CodeInvalidAnswers     = "invalid_answers"
	CodeSitekeyMismatch    = "sitekey_mismatch"
	CodeHostnameNotAllowed = "hostname_not_allowed"
	CodeUnknownSitekey     = "unknown_sitekey"
	CodeNotFound           = "challenge_not_found"
	CodeUsed               = "challenge_used"
	CodeExpired            = "challenge_expired"
	// CodeTryLater refuses a challenge for a while (429 with retry_after).
	CodeTryLater = "try_later"
)

// Deps are the challenge service's ports plus the widget script's handler.
type Deps struct {
	challenge.Deps
	Widget http.Handler
}

// New returns the challenge function's handler.
func New(d Deps) http.Handler {
	svc := challenge.New(d.Deps)
	widget := d.Widget
	if widget == nil {
		widget = http.NotFoundHandler()
	}
	return web.Mount(routes.FunctionChallenge, map[string]http.Handler{
		"GET /1/api.js":                   widget,
		"POST /1/challenges":              issue(svc),
		"POST /1/challenges/{id}/answers": answer(svc),
	})
}

type issueRequest struct {
	Sitekey   string          `json:"sitekey"`
	Host      string          `json:"host"`
	HL        string          `json:"hl"`
	Telemetry json.RawMessage `json:"telemetry"`
}

type answerRequest struct {
	Sitekey   string          `json:"sitekey"`
	Answers   []taskAnswer    `json:"answers"`
	Telemetry json.RawMessage `json:"telemetry"`
}

type taskAnswer struct {
	Task     string    `json:"task"`
	Selected *[]string `json:"selected"`
	Choice   string    `json:"choice"`
}

type passResponse struct {
	Pass      bool   `json:"pass"`
	Token     string `json:"token"`
	ExpiresIn int    `json:"expires_in"`
}

type challengeResponse struct {
	Pass      bool          `json:"pass"`
	Challenge challengeJSON `json:"challenge"`
}

type challengeJSON struct {
	ID        string     `json:"id"`
	ExpiresIn int        `json:"expires_in"`
	Prompt    string     `json:"prompt"`
	Tasks     []taskJSON `json:"tasks"`
}

type taskJSON struct {
	ID       string     `json:"id"`
	Kind     string     `json:"kind"`
	Question string     `json:"question"`
	Lang     string     `json:"lang"`
	Tiles    []tileJSON `json:"tiles,omitempty"`
	ImageURL string     `json:"image_url,omitempty"`
	Text     string     `json:"text,omitempty"`
	TextLang string     `json:"text_lang,omitempty"`
}

type tileJSON struct {
	ID       string `json:"id"`
	ImageURL string `json:"image_url"`
}

func issue(svc *challenge.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body issueRequest
		if err := web.DecodeJSON(r, MaxBody, &body); err != nil {
			web.WriteError(w, r, err)
			return
		}
		res, err := svc.Issue(r.Context(), challenge.IssueRequest{
			Sitekey: body.Sitekey, Host: body.Host, Locale: body.HL, AcceptLanguage: r.Header.Get("Accept-Language"),
			Telemetry: body.Telemetry, Client: client(r), Origin: r.Header.Get("Origin"),
		})
		if err != nil {
			writeError(w, r, err)
			return
		}
		web.WriteJSON(w, http.StatusOK, result(res))
	})
}

func answer(svc *challenge.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body answerRequest
		if err := web.DecodeJSON(r, MaxBody, &body); err != nil {
			web.WriteError(w, r, err)
			return
		}
		answers := make([]challenge.TaskAnswer, len(body.Answers))
		for i, a := range body.Answers {
			answers[i] = challenge.TaskAnswer{Task: a.Task, Choice: a.Choice}
			if a.Selected != nil {
				// Present but empty means "none selected", which differs from absent.
				answers[i].Selected = append([]string{}, *a.Selected...)
			}
		}
		res, err := svc.Answer(r.Context(), challenge.AnswerRequest{
			ID: r.PathValue("id"), Sitekey: body.Sitekey, Answers: answers, Telemetry: body.Telemetry, Client: client(r),
			AcceptLanguage: r.Header.Get("Accept-Language"), OptOut: GlobalPrivacyControl(r), Origin: r.Header.Get("Origin"),
		})
		if err != nil {
			writeError(w, r, err)
			return
		}
		web.Logger(r.Context()).InfoContext(r.Context(), "challenge answered", "pass", res.Pass)
		web.WriteJSON(w, http.StatusOK, result(res))
	})
}

// GlobalPrivacyControl reports whether the browser sent Sec-GPC: 1, the Global Privacy
// Control opt-out of sale/sharing. The GPC spec defines "1" as the only opt-out value, so
// anything else (absent, "0", garbage) is no signal. Browsers set the header themselves on
// the widget's fetch calls; it is a forbidden request header name, so CORS needs no
// Access-Control-Allow-Headers entry for it.
func GlobalPrivacyControl(r *http.Request) bool {
	return r.Header.Get("Sec-GPC") == "1"
}

// client is what the challenge may know about the caller: kept in memory for risk scoring
// and the answerer pseudonym, never stored. Credentials are dropped.
func client(r *http.Request) challenge.Client {
	h := r.Header.Clone()
	for _, k := range []string{"Cookie", "Authorization", "Proxy-Authorization"} {
		h.Del(k)
	}
	return challenge.Client{IP: web.ClientIP(r), UserAgent: r.UserAgent(), Headers: h}
}

func result(res challenge.Result) any {
	if res.Pass {
		return passResponse{Pass: true, Token: res.Token, ExpiresIn: seconds(res.TokenTTL)}
	}
	c := res.Challenge
	out := challengeJSON{ID: c.ID, ExpiresIn: seconds(c.ExpiresIn), Prompt: c.Prompt, Tasks: make([]taskJSON, len(c.Tasks))}
	for i, t := range c.Tasks {
		tj := taskJSON{ID: t.ID, Kind: string(t.Kind), Question: t.Question, Lang: t.Lang, ImageURL: t.ImageURL, Text: t.Text, TextLang: t.TextLang}
		for _, tile := range t.Tiles {
			tj.Tiles = append(tj.Tiles, tileJSON{ID: tile.ID, ImageURL: tile.ImageURL})
		}
		out.Tasks[i] = tj
	}
	return challengeResponse{Challenge: out}
}

func seconds(d time.Duration) int { return int(d / time.Second) }

// writeError answers a domain error: a refusal as 429 try_later with Retry-After and
// retry_after (whole seconds, rounded up), anything else through mapError.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var tl *challenge.TryLaterError
	if !errors.As(err, &tl) {
		web.WriteError(w, r, mapError(err))
		return
	}
	secs := web.RetrySeconds(tl.RetryAfter)
	web.Logger(r.Context()).InfoContext(r.Context(), "challenge refused", "retry_after", secs)
	web.WriteTryLater(w, r, CodeTryLater, fmt.Sprintf("too many attempts from this network; try again in %d seconds", secs), secs)
}

// mapError turns domain errors into documented statuses and codes.
func mapError(err error) error {
	e := func(status int, code, msg string) error {
		return &web.Error{Status: status, Code: code, Message: msg, Err: err}
	}
	switch {
	case errors.Is(err, challenge.ErrBadRequest):
		// The domain's reason names the missing field ("sitekey is required").
		return e(http.StatusBadRequest, web.CodeBadRequest, strings.TrimPrefix(err.Error(), challenge.ErrBadRequest.Error()+": "))
	case errors.Is(err, challenge.ErrBadTelemetry):
		// The message names the refused field (docs/TELEMETRY.md), never its value.
		var fe *risk.FieldError
		msg := "telemetry does not follow docs/TELEMETRY.md"
		if errors.As(err, &fe) {
			msg = "telemetry: " + fe.Error()
		}
		return e(http.StatusBadRequest, web.CodeBadRequest, msg)
	case errors.Is(err, challenge.ErrTelemetryTooLarge):
		return e(http.StatusRequestEntityTooLarge, web.CodeTooLarge, fmt.Sprintf("telemetry exceeds %d bytes", challenge.MaxTelemetry))
	case errors.Is(err, challenge.ErrUnknownSite):
		return e(http.StatusNotFound, CodeUnknownSitekey, "unknown sitekey")
	case errors.Is(err, challenge.ErrHostNotAllowed):
		return e(http.StatusForbidden, CodeHostnameNotAllowed, "this hostname is not allowed for the sitekey")
	case errors.Is(err, challenge.ErrNotFound):
		return e(http.StatusNotFound, CodeNotFound, "no such challenge")
	case errors.Is(err, challenge.ErrExpired):
		return e(http.StatusGone, CodeExpired, "the challenge has expired")
	case errors.Is(err, challenge.ErrUsed):
		return e(http.StatusConflict, CodeUsed, "the challenge was already answered")
	case errors.Is(err, challenge.ErrSitekeyMismatch):
		return e(http.StatusForbidden, CodeSitekeyMismatch, "the challenge was issued for another site")
	case errors.Is(err, challenge.ErrInvalidAnswers):
		// The domain's reason names tasks, never the client's tile ids.
		return e(http.StatusBadRequest, CodeInvalidAnswers, strings.TrimPrefix(err.Error(), "challenge: "))
	case errors.Is(err, challenge.ErrNoMaterial):
		return e(http.StatusServiceUnavailable, web.CodeUnavailable, "no challenges can be issued right now")
	}
	return err
}

// Wire builds the handler from the function's environment: sites from the accounts table,
// challenges and tokens in the challenges table, jobs from the labels table, salts and the
// risk function's windows in the risk table, media links for the media bucket, answers to
// the answers queue and risk events to the risk-events queue.
func Wire(ctx context.Context, env *platform.Env) (http.Handler, error) {
	tables := map[string]string{}
	for _, t := range []string{schema.TableAccounts, schema.TableChallenges, schema.TableLabels, schema.TableRisk} {
		name, err := env.Config.Table(t)
		if err != nil {
			return nil, err
		}
		tables[t] = name
	}
	media, err := env.Config.Bucket(schema.BucketMedia)
	if err != nil {
		return nil, err
	}
	signer, err := env.Keyring(ctx)
	if err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	answers, err := env.Queue(schema.QueueAnswers)
	if err != nil {
		return nil, err
	}
	riskEvents, err := env.Queue(schema.QueueRiskEvents)
	if err != nil {
		return nil, err
	}
	now := env.Clock()
	db := env.DynamoDB()
	return New(Deps{
		Deps: challenge.Deps{
			Sites:     challenge.AccountSites{Store: dynamo.NewAccounts(db, tables[schema.TableAccounts])},
			Store:     dynamo.NewChallenges(db, tables[schema.TableChallenges]),
			Pool:      dynamo.NewJobPool(dynamo.NewJobs(db, tables[schema.TableLabels])),
			Media:     blob.NewLinks(blob.Bucket{Store: blob.New(env.S3()), Name: media}, time.Minute),
			Signer:    signer,
			Tokens:    dynamo.NewTokens(db, tables[schema.TableChallenges]),
			Salts:     dynamo.NewSalts(db, tables[schema.TableRisk], dynamo.SaltPurposeAnswerer),
			Publisher: answers,
			Risk: &challenge.ScoringHook{
				Salts:   dynamo.NewSalts(db, tables[schema.TableRisk], dynamo.SaltPurposeRisk),
				Windows: dynamo.NewRisk(db, tables[schema.TableRisk], now),
				Events:  riskEvents,
				Now:     now,
			},
			TTL: env.Config.ChallengeTTL,
			Now: now,
		},
		Widget: widget.Handler(),
	}), nil
}

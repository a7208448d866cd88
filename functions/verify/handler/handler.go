// Package handler is the verify function: POST (and GET) /siteverify in hCaptcha's protocol.
package handler

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/verify"
	"github.com/crowdgate/crowdgate/shared/web"
)

// Deps are the verify function's ports.
type Deps struct {
	Parser   verify.TokenParser // *token.Keyring
	Sites    verify.Sites       // *account.Service
	Redeemer verify.Redeemer    // *dynamo.Tokens
	Now      func() time.Time
}

// CodeInternal is the error code of a siteverify answer when a store failed (HTTP 500);
// hCaptcha has no code for it. The integrator must treat it as not verified.
const CodeInternal = "internal-error"

// New returns the verify function's handler.
func New(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	v := &verify.Verifier{Parser: d.Parser, Sites: d.Sites, Redeemer: d.Redeemer, Now: d.Now}
	mux := http.NewServeMux()
	allow := map[string][]string{}
	for _, r := range routes.For(routes.FunctionVerify) {
		mux.Handle(r.Pattern(), siteverify(v))
		allow[r.Path] = append(allow[r.Path], r.Method)
	}
	for path, methods := range allow {
		// Other methods get hCaptcha's JSON shape too, with 405. HEAD too: the router would
		// send it to the GET route, and verifying on a HEAD would use a token up for a
		// caller that reads no answer.
		notAllowed := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			web.WriteJSON(w, http.StatusMethodNotAllowed, verify.Failure(verify.CodeBadRequest))
		})
		mux.Handle(path, notAllowed)
		if slices.Contains(methods, http.MethodGet) {
			mux.Handle(http.MethodHead+" "+path, notAllowed)
		}
	}
	mux.Handle("/", web.NotFound())
	return web.CanonicalPathsOnly(mux)
}

func siteverify(v *verify.Verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := verify.ParseRequest(r.Header.Get("Content-Type"), r.Body)
		if err == nil {
			req, err = req.WithQuery(r.URL.RawQuery)
		}
		if err != nil {
			web.WriteJSON(w, http.StatusOK, verify.Failure(verify.CodeBadRequest))
			return
		}
		resp, err := v.Verify(r.Context(), req)
		if err != nil {
			web.Logger(r.Context()).ErrorContext(r.Context(), "siteverify failed", "err", err)
			web.WriteJSON(w, http.StatusInternalServerError, verify.Failure(CodeInternal))
			return
		}
		if !resp.Success {
			// Codes only: never the secret, token or IP.
			web.Logger(r.Context()).InfoContext(r.Context(), "siteverify refused", "codes", resp.ErrorCodes)
		}
		web.WriteJSON(w, http.StatusOK, resp)
	})
}

// Wire builds the handler from the function's environment: the signing keys, the accounts
// table (secret lookup) and the challenges table (token redemption).
func Wire(ctx context.Context, env *platform.Env) (http.Handler, error) {
	signer, err := env.Keyring(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	accounts, err := env.Config.Table(schema.TableAccounts)
	if err != nil {
		return nil, err
	}
	challenges, err := env.Config.Table(schema.TableChallenges)
	if err != nil {
		return nil, err
	}
	now := env.Clock()
	db := env.DynamoDB()
	return New(Deps{
		Parser:   signer,
		Sites:    account.NewService(dynamo.NewAccounts(db, accounts), now),
		Redeemer: dynamo.NewTokens(db, challenges),
		Now:      now,
	}), nil
}

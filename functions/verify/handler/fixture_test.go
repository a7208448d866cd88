package handler_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/functions/verify/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
	"github.com/crowdgate/crowdgate/shared/token"
	"github.com/crowdgate/crowdgate/shared/verify"
	"github.com/crowdgate/crowdgate/shared/verify/verifytest"
)

// The material the events/verify files were made with.
var (
	evKeys       = "ev1:" + base64.StdEncoding.EncodeToString([]byte("crowdgate-events-signing-key-000"))
	evSecret     = "0x6c1f0e4a9b2d7c3e8f5a0b1c2d3e4f5a6b7c8d9e"
	evSitekey    = "4f0e1c2a-7b1d-4a9e-9c3f-2d8e6b5a1f00"
	evIntegrator = "7d2c1f0e-4b3a-4c5d-8e9f-0a1b2c3d4e5f"
	evNow        = time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC)
	// Token ids in the event files that have a stored record.
	evTokenIDs = []string{"0000000000000000000000000000f001", "0000000000000000000000000000f002", "0000000000000000000000000000f003"}
)

// fix is a verify handler over in-memory stores with a settable clock.
type fix struct {
	t        testing.TB
	h        http.Handler
	signer   *token.Signer
	sites    *account.Service
	accounts *accounttest.Store
	tokens   *verifytest.Tokens
	clock    atomic.Int64 // unix nanoseconds
}

func newFix(t testing.TB) *fix {
	t.Helper()
	signer, err := token.NewSigner(evKeys)
	if err != nil {
		t.Fatal(err)
	}
	f := &fix{t: t, signer: signer, accounts: &accounttest.Store{}, tokens: &verifytest.Tokens{}}
	f.clock.Store(evNow.UnixNano())
	now := func() time.Time { return time.Unix(0, f.clock.Load()).UTC() }
	f.sites = account.NewService(f.accounts, now)
	ctx := context.Background()
	if err := f.accounts.CreateIntegrator(ctx, account.Integrator{ID: evIntegrator, Name: "Example", Email: "ops@shop.example", Country: "DE", CreatedAt: evNow}); err != nil {
		t.Fatal(err)
	}
	if err := f.accounts.CreateSite(ctx, account.Site{Sitekey: evSitekey, IntegratorID: evIntegrator, Name: "shop", Hostnames: []string{"shop.example"},
		SecretHash: account.HashSecret(evSecret), CreatedAt: evNow, SecretRotatedAt: evNow}); err != nil {
		t.Fatal(err)
	}
	for _, id := range evTokenIDs {
		f.put(token.Claims{ID: id, Sitekey: evSitekey, IssuedAt: evNow.Add(-10 * time.Second), ExpiresAt: evNow.Add(110 * time.Second)})
	}
	f.h = handler.New(handler.Deps{Parser: signer, Sites: f.sites, Redeemer: f.tokens, Now: now})
	return f
}

func (f *fix) now() time.Time { return time.Unix(0, f.clock.Load()).UTC() }

func (f *fix) advance(d time.Duration) { f.clock.Add(int64(d)) }

// put stores the record the challenge function would write for claims.
func (f *fix) put(c token.Claims) {
	f.t.Helper()
	err := f.tokens.Put(context.Background(), token.Record{ID: c.ID, Sitekey: c.Sitekey, Hostname: "shop.example",
		ChallengeTS: c.IssuedAt, ExpiresAt: c.ExpiresAt, Score: 0.1, ScoreReasons: []string{"new_ip"}})
	if err != nil {
		f.t.Fatal(err)
	}
}

// pass issues a token for sitekey as the challenge function does when a visitor passes.
func (f *fix) pass(sitekey string) string {
	f.t.Helper()
	tok, c, err := f.signer.Issue(sitekey, f.now())
	if err != nil {
		f.t.Fatal(err)
	}
	f.put(c)
	return tok
}

// site creates another site through the service and returns it with its secret.
func (f *fix) site(requireRemoteIP bool) (account.Site, string) {
	f.t.Helper()
	s, secret, err := f.sites.CreateSite(context.Background(), evIntegrator, account.NewSite{Name: "other", Hostnames: []string{"other.example"}, RequireRemoteIP: requireRemoteIP})
	if err != nil {
		f.t.Fatal(err)
	}
	return s, secret
}

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func (a answer) codes() string {
	var out []string
	if cs, ok := a.body["error-codes"].([]any); ok {
		for _, c := range cs {
			out = append(out, c.(string))
		}
	}
	return strings.Join(out, ",")
}

func (f *fix) do(method, contentType, body string) answer {
	f.t.Helper()
	r := httptest.NewRequest(method, "/siteverify", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return f.serve(r)
}

func (f *fix) serve(r *http.Request) answer {
	f.t.Helper()
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	a := answer{status: w.Code, raw: w.Body.String()}
	if err := json.Unmarshal(w.Body.Bytes(), &a.body); err != nil {
		f.t.Fatalf("answer is not JSON: %q", a.raw)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.t.Fatalf("Content-Type %q", ct)
	}
	return a
}

// query sends method /siteverify with q as its query string (nil: a broken one) and the
// given body.
func (f *fix) query(method string, q url.Values, contentType, body string) answer {
	f.t.Helper()
	raw := "secret=%zz"
	if q != nil {
		raw = q.Encode()
	}
	r := httptest.NewRequest(method, "/siteverify?"+raw, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return f.serve(r)
}

func (f *fix) form(v url.Values) answer {
	f.t.Helper()
	return f.do(http.MethodPost, "application/x-www-form-urlencoded", v.Encode())
}

var _ verify.Redeemer = (*verifytest.Tokens)(nil)

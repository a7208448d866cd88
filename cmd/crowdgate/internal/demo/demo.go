// Package demo is the local stack's demo website: a form protected by the widget, and the
// "demo backend" that checks the form's token with POST /siteverify over HTTP exactly as an
// integrator's server would. Pages carry no inline script, so they run under a
// `script-src 'self'` Content-Security-Policy like a careful integrator's site.
package demo

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/token"
	"github.com/crowdgate/crowdgate/shared/web"
)

//go:embed assets
var assets embed.FS

var (
	pageTmpl   = template.Must(template.ParseFS(assets, "assets/page.html"))
	resultTmpl = template.Must(template.ParseFS(assets, "assets/result.html"))
)

// csp keeps the demo honest about script-src 'self': any inline script would be refused.
const csp = "script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'"

// Config is what the demo site needs.
type Config struct {
	Sitekey string
	Secret  string
	// VerifyURL is the local stack's /siteverify, called over HTTP.
	VerifyURL string
	HTTP      *http.Client
}

// Routes returns the demo site's routes (mux pattern → handler): GET / (redirect),
// GET /demo, POST /demo/submit and the page's static files. `?keys=test` switches the form
// to hCaptcha's published test keys.
func Routes(cfg Config) map[string]http.Handler {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 15 * time.Second}
	}
	d := &site{cfg: cfg}
	return map[string]http.Handler{
		"GET /{$}":           http.RedirectHandler("/demo", http.StatusFound),
		"GET /demo":          http.HandlerFunc(d.page),
		"POST /demo/submit":  http.HandlerFunc(d.submit),
		"GET /demo/demo.js":  static("assets/demo.js", "text/javascript; charset=utf-8"),
		"GET /demo/demo.css": static("assets/demo.css", "text/css; charset=utf-8"),
		// Browsers ask for a favicon; an empty answer keeps their consoles free of 404s.
		"GET /favicon.ico": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }),
	}
}

// New returns the demo site as one handler.
func New(cfg Config) http.Handler {
	mux := http.NewServeMux()
	for pattern, h := range Routes(cfg) {
		mux.Handle(pattern, h)
	}
	return mux
}

type site struct{ cfg Config }

func (d *site) keys(test bool) (sitekey, secret string) {
	if test {
		return token.TestSitekey, token.TestSecret
	}
	return d.cfg.Sitekey, d.cfg.Secret
}

func (d *site) page(w http.ResponseWriter, r *http.Request) {
	test := r.URL.Query().Get("keys") == "test"
	sitekey, _ := d.keys(test)
	render(w, http.StatusOK, pageTmpl, map[string]any{"Sitekey": sitekey, "TestKeys": test})
}

type result struct {
	Success bool
	Name    string
	Problem string
	Result  string
	Back    string
}

func (d *site) submit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		render(w, http.StatusBadRequest, resultTmpl, result{Problem: "the form could not be read", Result: "{}", Back: "/demo"})
		return
	}
	test := r.PostForm.Get("keys") == "test"
	back := "/demo"
	if test {
		back = "/demo?keys=test"
	}
	resp := r.PostForm.Get("h-captcha-response")
	if resp == "" {
		resp = r.PostForm.Get("g-recaptcha-response")
	}
	sitekey, secret := d.keys(test)
	form := url.Values{"secret": {secret}, "response": {resp}, "sitekey": {sitekey}}
	if ip := web.ClientIP(r); ip != nil {
		form.Set("remoteip", ip.String())
	}
	// A backend should be able to retry a siteverify call whose answer it lost without
	// failing a visitor who passed: the key makes the retry get the first call's answer.
	key, err := account.NewUUID()
	if err != nil {
		render(w, http.StatusInternalServerError, resultTmpl, result{Problem: "no idempotency key", Result: "{}", Back: back})
		return
	}
	form.Set("idempotency_key", key)
	raw, err := d.verify(r.Context(), form)
	if err != nil {
		web.Logger(r.Context()).WarnContext(r.Context(), "demo backend: siteverify call failed; retrying once with the same idempotency key", "err", err)
		raw, err = d.verify(r.Context(), form)
	}
	if err != nil {
		web.Logger(r.Context()).WarnContext(r.Context(), "demo backend: siteverify call failed", "err", err)
		render(w, http.StatusBadGateway, resultTmpl, result{Problem: "siteverify could not be reached", Result: "{}", Back: back})
		return
	}
	var answer struct {
		Success bool `json:"success"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		render(w, http.StatusBadGateway, resultTmpl, result{Problem: "siteverify did not answer JSON", Result: string(raw), Back: back})
		return
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, raw, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(raw)
	}
	res := result{Success: answer.Success, Name: strings.TrimSpace(r.PostForm.Get("name")), Result: pretty.String(), Back: back}
	if !answer.Success {
		res.Problem = "siteverify refused the token"
	}
	render(w, http.StatusOK, resultTmpl, res)
}

func (d *site) verify(ctx context.Context, form url.Values) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.VerifyURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("build siteverify request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := d.cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("call siteverify: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 {
		return nil, fmt.Errorf("siteverify answered %s", resp.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read siteverify answer: %w", err)
	}
	return bytes.TrimSpace(raw), nil
}

func render(w http.ResponseWriter, status int, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func static(name, contentType string) http.HandlerFunc {
	body, err := assets.ReadFile(name)
	if err != nil {
		panic("demo: missing embedded asset " + name)
	}
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(body)
	}
}

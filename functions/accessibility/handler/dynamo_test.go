package handler_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/crowdgate/crowdgate/functions/accessibility/handler"
	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/mail"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/verify"
)

type endpoints map[string]string

func (e endpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	u, ok := e[sdkID]
	return u, ok, nil
}

// The function as Wire builds it over DynamoDB Local and the file outbox: sign up, confirm,
// a text question, a pass that siteverify's store redeems once and that ends the visual
// challenge set aside (its risk event the only message sent); then a
// privacy erasure of the address removes every A11Y# record and the token stops working.
func TestWiredFunctionOnDynamoDB(t *testing.T) {
	db := dynamotest.Client(t)
	tables := dynamotest.Tables(t, db)
	ctx := context.Background()
	outbox := t.TempDir()
	riskEvents := &sentMessages{}
	env := &platform.Env{
		Config: config.Config{
			Tables: tables, SigningKeys: challengetest.SigningKeys, ChallengeTTL: 5 * time.Minute,
			PrivacyKey: base64.StdEncoding.EncodeToString(key), MailOutboxDir: outbox, PublicURL: "http://127.0.0.1:8080",
		},
		AWS: aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
			ConfigSources: []any{endpoints{"DynamoDB": dynamotest.Endpoint(t)}}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now,
		Queues: func(logical string) (platform.Sender, error) {
			if logical == schema.QueueRiskEvents {
				return riskEvents, nil
			}
			t.Errorf("the accessibility function asked for queue %s: an accessibility pass publishes no labeled data", logical)
			return nil, fmt.Errorf("no queue %s", logical)
		},
	}
	accounts := account.NewService(dynamo.NewAccounts(db, tables[schema.TableAccounts]), time.Now)
	it, err := accounts.CreateIntegrator(ctx, account.NewIntegrator{Name: "Shop", Email: "ops@shop.example", Country: "DE"})
	if err != nil {
		t.Fatal(err)
	}
	site, secret, err := accounts.CreateSite(ctx, it.ID, account.NewSite{Name: "shop", Hostnames: []string{"shop.example"}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := handler.Wire(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, ctype, body, cookie string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.RemoteAddr = "203.0.113.9:4711"
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: accessibility.CookieName, Value: cookie})
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	const form = "application/x-www-form-urlencoded"
	email := "Reader@Example.org"
	if rec := do("POST", "/accessibility/signup", form, "email="+url.QueryEscape(email), ""); rec.Code != 200 {
		t.Fatalf("sign-up %d %s", rec.Code, rec.Body)
	}
	box, err := mail.NewFileOutbox(outbox)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := box.Messages()
	if len(msgs) != 1 || msgs[0].To != email {
		t.Fatalf("outbox %+v", msgs)
	}
	_, after, _ := strings.Cut(msgs[0].Text, "http://127.0.0.1:8080/accessibility/confirm?c=")
	code, _, _ := strings.Cut(after, "&hl=")
	rec := do("POST", "/accessibility/confirm", form, "c="+code, "")
	var tok string
	for _, c := range rec.Result().Cookies() {
		if c.Name == accessibility.CookieName {
			tok = c.Value
		}
	}
	if rec.Code != 200 || !accessibility.ValidToken(tok) {
		t.Fatalf("confirm %d %v", rec.Code, rec.Result().Cookies())
	}

	rec = do("POST", "/1/accessibility/challenges", "application/json", `{"sitekey":"`+site.Sitekey+`","host":"shop.example","hl":"de"}`, tok)
	var is struct {
		ID       string `json:"id"`
		Question string `json:"question"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &is); err != nil || rec.Code != 200 {
		t.Fatalf("issue %d %s", rec.Code, rec.Body)
	}
	stored, err := dynamo.NewTextChallenges(db, tables[schema.TableChallenges]).Get(ctx, is.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The visual challenge the visitor set aside, as the challenge function stores it.
	visual := dynamo.NewChallenges(db, tables[schema.TableChallenges])
	setAside := challenge.Record{ID: "c_" + strings.Repeat("5e", 16), Sitekey: site.Sitekey, Host: "shop.example",
		IssuedAt: time.Now().Add(-time.Minute), ExpiresAt: time.Now().Add(4 * time.Minute), Tasks: []challenge.TaskRecord{{ID: "t0"}}}
	if err := visual.Put(ctx, setAside); err != nil {
		t.Fatal(err)
	}
	rec = do("POST", "/1/accessibility/challenges/"+is.ID+"/answers", "application/json",
		`{"answer":"`+strings.ToUpper(stored.Answers[0])+`","set_aside":"`+setAside.ID+`"}`, tok)
	var pass struct {
		Pass  bool   `json:"pass"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &pass); err != nil || !pass.Pass {
		t.Fatalf("answer %d %s (question %q)", rec.Code, rec.Body, is.Question)
	}
	// The pass ended the set-aside challenge with a visual pass's risk event, which names
	// nothing of the text question, the token or the subject.
	if r, err := visual.Get(ctx, setAside.ID); err != nil || !r.Used {
		t.Errorf("set-aside challenge after the pass: used %v (%v), want used up", r.Used, err)
	}
	if len(riskEvents.msgs) != 1 {
		t.Fatalf("risk events %v, want the set-aside challenge's pass", riskEvents.msgs)
	}
	ev, _ := riskEvents.msgs[0].(challenge.RiskEvent)
	raw, _ := json.Marshal(riskEvents.msgs[0])
	if ev.Kind != challenge.RiskEventAnswer || ev.Outcome != challenge.OutcomePassed || ev.Challenge != setAside.ID || ev.Score != 0 ||
		len(ev.Reasons) != 0 || ev.IP == "" || strings.Contains(string(raw), is.ID) || strings.Contains(string(raw), tok) {
		t.Errorf("risk event %s", raw)
	}
	v := &verify.Verifier{Parser: challengetest.Signer(), Sites: accounts, Redeemer: dynamo.NewTokens(db, tables[schema.TableChallenges]), Now: time.Now}
	out, err := v.Verify(ctx, verify.Request{Secret: secret, Response: pass.Token})
	if err != nil || !out.Success || out.Hostname != "shop.example" {
		t.Fatalf("siteverify %+v %v", out, err)
	}

	// A second link, opened while the erasure below runs.
	if rec := do("POST", "/accessibility/signup", form, "email="+url.QueryEscape(email), ""); rec.Code != 200 {
		t.Fatalf("second sign-up %d %s", rec.Code, rec.Body)
	}
	msgs, _ = box.Messages()
	_, after, _ = strings.Cut(msgs[len(msgs)-1].Text, "http://127.0.0.1:8080/accessibility/confirm?c=")
	raced, _, _ := strings.Cut(after, "&hl=")

	// Erasure of the address, by the privacy worker's executor over the same table.
	store := dynamo.NewAccessibility(db, tables[schema.TableAccounts])
	subject := privacy.SubjectHash(key, strings.ToLower(email))
	if h, err := store.Holds(ctx, subject); err != nil || len(h) != 1 {
		t.Fatalf("holds %v %v", h, err)
	}
	holdings := dynamo.NewHoldings(db, dynamo.HoldingsTables{Accounts: tables[schema.TableAccounts], Labels: tables[schema.TableLabels], Privacy: tables[schema.TablePrivacy]}, time.Now)
	deps := privacy.ExecDeps{Accounts: holdings, Labels: holdings, Log: holdings, Media: &privacytest.Bucket{}, Exports: &privacytest.Bucket{}, Files: &privacytest.Bucket{}, Accessibility: store}
	r := privacy.Request{ID: "pr_0123456789abcdef0123456789abcdef", Type: privacy.TypeDelete, SubjectHash: subject, Email: email}
	exs, err := privacy.Executors(r, deps)
	if err != nil {
		t.Fatal(err)
	}
	var counted int
	for _, ex := range exs {
		if ex.Name() != privacy.ExecAccessibility {
			continue
		}
		// The first step fences the subject (it has no account to fence), the next erases.
		cursor := ""
		for i := 0; ; i++ {
			step, err := ex.Step(ctx, r, cursor)
			if err != nil || i == 2 {
				t.Fatalf("step %d: %+v %v", i, step, err)
			}
			if i == 0 {
				// The fence is up: the link makes no token, which the listing would miss.
				rec := do("POST", "/accessibility/confirm", form, "c="+raced, "")
				if rec.Code != 400 || len(rec.Result().Cookies()) != 0 {
					t.Fatalf("confirm during the erasure: %d %v, want 400 and no cookie", rec.Code, rec.Result().Cookies())
				}
			}
			counted += step.Items
			if step.Done {
				break
			}
			cursor = step.Cursor
		}
	}
	// The token, the address's mail counter, the token's question counter (the second
	// sign-up went with the refused confirm).
	if counted != 3 {
		t.Fatalf("erased %d records, want 3", counted)
	}
	if recs, err := store.AccessibilityOf(ctx, subject); err != nil || len(recs) != 0 {
		t.Fatalf("left %v %v", recs, err)
	}
	if rec := do("POST", "/1/accessibility/challenges", "application/json", `{"sitekey":"`+site.Sitekey+`","host":"shop.example"}`, tok); rec.Code != 401 {
		t.Fatalf("token after erasure: %d %s", rec.Code, rec.Body)
	}
}

// Wire refuses an environment it cannot run in, naming what to set.
func TestWireNamesMissingSettings(t *testing.T) {
	good := config.Config{
		Tables:      map[string]string{schema.TableAccounts: "a", schema.TableChallenges: "c", schema.TableRisk: "r"},
		Queues:      map[string]string{schema.QueueRiskEvents: "https://sqs.example/risk-events"},
		SigningKeys: challengetest.SigningKeys, PrivacyKey: base64.StdEncoding.EncodeToString(key),
		MailOutboxDir: t.TempDir(), PublicURL: "https://cg.example",
	}
	for name, c := range map[string]struct {
		edit func(*config.Config)
		want string
	}{
		"no accounts table": {func(c *config.Config) { c.Tables = map[string]string{schema.TableChallenges: "c"} }, "TABLE_ACCOUNTS"},
		"no risk table": {func(c *config.Config) {
			c.Tables = map[string]string{schema.TableAccounts: "a", schema.TableChallenges: "c"}
		}, "TABLE_RISK"},
		"no risk-events queue": {func(c *config.Config) { c.Queues = nil }, "QUEUE_RISK_EVENTS_URL"},
		"no public URL":        {func(c *config.Config) { c.PublicURL = "" }, "PUBLIC_URL"},
		"no privacy key":       {func(c *config.Config) { c.PrivacyKey = "" }, "PRIVACY_KEY"},
		"no mailer":            {func(c *config.Config) { c.MailOutboxDir = "" }, "MAIL_FROM"},
	} {
		cfg := good
		c.edit(&cfg)
		_, err := handler.Wire(context.Background(), &platform.Env{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, c.want)
		}
	}
	if _, err := handler.Wire(context.Background(), &platform.Env{Config: good}); err != nil {
		t.Fatalf("good config: %v", err)
	}
}

// sentMessages is a platform.Sender that keeps what it was given.
type sentMessages struct{ msgs []any }

func (s *sentMessages) SendJSON(_ context.Context, msgs ...any) error {
	s.msgs = append(s.msgs, msgs...)
	return nil
}

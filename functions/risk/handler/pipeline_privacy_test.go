package handler_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	challengehandler "github.com/crowdgate/crowdgate/functions/challenge/handler"
	"github.com/crowdgate/crowdgate/functions/risk/handler"
	"github.com/crowdgate/crowdgate/shared/analytics"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/web"
)

// What the visitors of the pipeline test send, each distinctive enough that finding it
// anywhere can only mean it was kept.
const (
	leakIPv4      = "203.0.113.219"
	leakIPv4Net   = "203.0.113."
	leakIPv6      = "2001:db8:7a3:19::5e"
	leakIPv6Net   = "2001:db8:7a3"
	leakUserAgent = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0 LeakProbe/93.7"
	// leakPlatform is a telemetry sample: navigator.platform in the automation tells.
	leakPlatform = "LeakPlatform-7311"
)

// pipeline is the challenge function, the risk-events queue, the risk consumer and the
// risk lookup wired as on AWS, over minidyn's in-memory risk table, with every log line,
// queue message and stored record kept for inspection.
type pipeline struct {
	t         *testing.T
	env       *challengetest.Env
	challenge http.Handler
	consumer  func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)
	lookup    http.Handler
	db        *dynamo.Risk
	client    dynamo.API
	logs      bytes.Buffer
	riskBox   challengetest.Outbox
	delivered int
	lookups   *lookupFakes
}

func newPipeline(t *testing.T, start time.Time) *pipeline {
	t.Helper()
	p := &pipeline{t: t, env: challengetest.NewEnv(), lookups: &lookupFakes{}}
	p.env.Clock.Advance(start.Sub(p.env.Clock.Now()))
	logger := slog.New(slog.NewJSONHandler(&p.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := dynamotest.Minidyn(t, "risk")
	p.client = c
	now := p.env.Clock.Now
	p.db = dynamo.NewRisk(c, "risk", now)
	// The two purposes' salts differ, as on AWS (dynamo.SaltPurposeRisk, SaltPurposeAnswerer).
	riskSalts := &challengetest.Salts{SaltFunc: func(_ context.Context, day string) ([]byte, error) {
		s := sha256.Sum256([]byte("risk salt:" + day))
		return s[:], nil
	}}
	p.env.Deps.Risk = &challenge.ScoringHook{Salts: riskSalts, Windows: p.db, Events: challengetest.NewPublisher(&p.riskBox), Now: now}
	p.challenge = web.Middleware(logger, challengehandler.New(challengehandler.Deps{Deps: p.env.Deps}))
	consumer := handler.NewConsumer(handler.ConsumerDeps{Store: p.db, Analytics: dynamo.NewAnalytics(c, "risk", now)})
	p.consumer = func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		return consumer(web.WithLogger(ctx, logger), ev)
	}
	p.lookup = web.Middleware(logger, handler.New(handler.Deps{Keys: p.lookups, Sites: p.lookups, Store: p.db, Salts: riskSalts,
		Disclosures: p.lookups, Analytics: dynamo.NewAnalytics(c, "risk", now), Now: now}))
	return p
}

// visit sends one widget request from addr with the leak user agent and telemetry.
func (p *pipeline) visit(addr, path string, body map[string]any) map[string]any {
	p.t.Helper()
	body["telemetry"] = map[string]any{"v": 1, "dur": 4100, "act": 0,
		"p": [][]any{{17, 402, 311, "m"}, {16, 409, 318, "m"}, {15, 415, 322, "m"}, {0, 415, 322, "d"}, {90, 415, 322, "u"}},
		"a": map[string]any{"wd": false, "pf": leakPlatform, "pl": 5, "lg": 2, "chr": false}}
	raw, _ := json.Marshal(body)
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(raw))
	req.RemoteAddr = net.JoinHostPort(addr, "51234")
	req.Header.Set("User-Agent", leakUserAgent)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://"+p.env.Hostname)
	rec := httptest.NewRecorder()
	p.challenge.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		p.t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		p.t.Fatal(err)
	}
	p.deliver()
	return out
}

// deliver hands the risk events published since the last delivery to the consumer.
func (p *pipeline) deliver() {
	p.t.Helper()
	msgs := p.riskBox.All()[p.delivered:]
	p.delivered += len(msgs)
	var batch events.SQSEvent
	for i, m := range msgs {
		batch.Records = append(batch.Records, events.SQSMessage{MessageId: fmt.Sprintf("m%d-%d", p.delivered, i), Body: string(m)})
	}
	resp, err := p.consumer(context.Background(), batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		p.t.Fatalf("consumer: %+v %v", resp.BatchItemFailures, err)
	}
}

// issue asks for a challenge for addr and returns its id.
func (p *pipeline) issue(addr string) string {
	p.t.Helper()
	out := p.visit(addr, "/1/challenges", map[string]any{"sitekey": p.env.Sitekey, "host": p.env.Hostname})
	ch, _ := out["challenge"].(map[string]any)
	id, _ := ch["id"].(string)
	if id == "" {
		p.t.Fatalf("no challenge: %v", out)
	}
	return id
}

// answer answers challenge id from addr, right or wrong, and returns the next challenge's
// id (after a failure) or "".
func (p *pipeline) answer(addr, id string, right bool) string {
	p.t.Helper()
	rec, ok := p.env.Store.Record(id)
	if !ok {
		p.t.Fatalf("challenge %s not stored", id)
	}
	var answers []map[string]any
	for _, a := range challengetest.Solve(rec, right) {
		m := map[string]any{"task": a.Task}
		if a.Selected != nil {
			m["selected"] = a.Selected
		} else {
			m["choice"] = a.Choice
		}
		answers = append(answers, m)
	}
	out := p.visit(addr, "/1/challenges/"+id+"/answers", map[string]any{"sitekey": p.env.Sitekey, "answers": answers})
	if pass, _ := out["pass"].(bool); pass != right {
		p.t.Fatalf("answer of %s: %v", id, out)
	}
	ch, _ := out["challenge"].(map[string]any)
	next, _ := ch["id"].(string)
	return next
}

func (p *pipeline) get(path string) (int, []byte) {
	p.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+ownKey)
	rec := httptest.NewRecorder()
	p.lookup.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// visitAcrossMidnight runs the pipeline's visits: at 23:58 UTC on 30 November a
// challenge and a wrong answer (which brings a fresh challenge), at 00:02 the fresh one
// answered right; another visitor, over IPv6, passes after midnight. The clock is left at
// 00:04:47.
func visitAcrossMidnight(t *testing.T) (p *pipeline, first, second, v6 string) {
	t.Helper()
	midnight := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	p = newPipeline(t, midnight.Add(-2*time.Minute))
	first = p.issue(leakIPv4)
	p.env.Clock.Advance(9 * time.Second)
	second = p.answer(leakIPv4, first, false)
	if second == "" {
		t.Fatal("a failed answer brought no fresh challenge")
	}
	p.env.Clock.Advance(4*time.Minute + 30*time.Second) // 00:02:39
	if p.answer(leakIPv4, second, true) != "" {
		t.Fatal("a pass brought a challenge")
	}
	v6 = p.issue(leakIPv6)
	p.env.Clock.Advance(8 * time.Second)
	p.answer(leakIPv6, v6, true)
	p.env.Clock.Advance(2 * time.Minute) // 00:04:47
	return p, first, second, v6
}

// riskItems returns every item of the pipeline's risk table as plain values.
func (p *pipeline) riskItems() []map[string]any {
	p.t.Helper()
	scan, err := p.client.Scan(context.Background(), &dynamodb.ScanInput{TableName: ptr("risk")})
	if err != nil {
		p.t.Fatal(err)
	}
	if len(scan.Items) == 0 {
		p.t.Fatal("the risk table is empty")
	}
	var out []map[string]any
	for _, it := range scan.Items {
		var item map[string]any
		if err := attributevalue.UnmarshalMap(it, &item); err != nil {
			p.t.Fatal(err)
		}
		out = append(out, item)
	}
	return out
}

// A visitor's address, user agent and telemetry reach no store, queue message or log line
// on the way from the challenge function through the risk-events queue to the risk
// function's counters, daily aggregates and lookups: only keyed pseudonyms and, in the
// disclosure log, the /24 or /48 network. The visitor answers just before and just after
// midnight UTC, so the lookup has to join the two days' pseudonyms (two salts) into one
// 24-hour window.
func TestVisitorDataReachesNoStoreQueueOrLogAcrossMidnight(t *testing.T) {
	p, first, second, v6 := visitAcrossMidnight(t)

	// The lookup joins both days: 2 issued and the failure on 30 November, the pass on
	// 1 December.
	status, body := p.get("/v1/risk/ips/" + leakIPv4)
	if status != http.StatusOK {
		t.Fatalf("lookup across midnight: %d %s", status, body)
	}
	var got struct {
		IP      string `json:"ip"`
		Windows map[string]struct{ Issued, Refused, Passed, Failed int }
		Answers struct{ Count int }
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := struct{ Issued, Refused, Passed, Failed int }{Issued: 2, Passed: 1, Failed: 1}
	if got.IP != leakIPv4 || got.Windows["24h"] != want || got.Windows["15m"] != want || got.Answers.Count != 2 {
		t.Fatalf("lookup across midnight: %s", body)
	}
	if status, body := p.get("/v1/risk/challenges/" + first); status != http.StatusOK {
		t.Fatalf("challenge lookup: %d %s", status, body)
	}
	// The two days' counts once they are published (final, analytics.FinalAt): too small
	// to show.
	p.env.Clock.Advance(analytics.FinalAt(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)).Sub(p.env.Clock.Now()))
	if status, body := p.get("/v1/analytics/sites/" + p.env.Sitekey + "/daily?from=2026-11-30&to=2026-12-01"); status != http.StatusOK ||
		strings.Count(string(body), `"final":true`) != 2 || strings.Contains(string(body), `"challenges":2`) || strings.Contains(string(body), `"passes":2`) {
		t.Fatalf("analytics (small counts must be suppressed): %d %s", status, body)
	}

	// What was kept: every record of the risk table, every queue message, the challenge
	// and token stores, the disclosures, every log line.
	kept := map[string]string{"logs": p.logs.String()}
	for i, item := range p.riskItems() {
		raw, _ := json.Marshal(item)
		kept[fmt.Sprintf("risk table item %d", i)] = string(raw)
	}
	for i, m := range p.riskBox.All() {
		kept[fmt.Sprintf("risk event %d", i)] = string(m)
	}
	for i, m := range p.env.Outbox.All() {
		kept[fmt.Sprintf("answers message %d", i)] = string(m)
	}
	for _, id := range []string{first, second, v6} {
		rec, _ := p.env.Store.Record(id)
		raw, _ := json.Marshal(rec)
		kept["challenge "+id] = string(raw)
	}
	for i, tok := range p.env.Tokens.All() {
		raw, _ := json.Marshal(tok)
		kept[fmt.Sprintf("token %d", i)] = string(raw)
	}
	for i, d := range p.lookups.disclosed {
		if d.Subject != first && d.Subject != leakIPv4Net+"0/24" {
			t.Errorf("disclosure %d names %q: want the challenge id or the address's /24", i, d.Subject)
		}
	}
	if len(p.lookups.disclosed) != 2 {
		t.Fatalf("%d disclosures, want the address lookup's and the challenge lookup's", len(p.lookups.disclosed))
	}
	ipHex := hex.EncodeToString(net.ParseIP(leakIPv4).To4())
	for where, text := range kept {
		for _, leak := range []string{leakIPv4Net, leakIPv6Net, ipHex, leakUserAgent, "LeakProbe", leakPlatform} {
			if strings.Contains(strings.ToLower(text), strings.ToLower(leak)) {
				t.Errorf("%s holds %q: %s", where, leak, text)
			}
		}
	}
}

func ptr(s string) *string { return &s }

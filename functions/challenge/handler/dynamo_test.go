package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/crowdgate/crowdgate/functions/challenge/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// endpoints names a base endpoint per SDK service, as AWS_ENDPOINT_URL_<SERVICE> would.
type endpoints map[string]string

func (e endpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	u, ok := e[sdkID]
	return u, ok, nil
}

// queueBox is an in-process answers queue.
type queueBox struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (q *queueBox) SendJSON(_ context.Context, msgs ...any) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		q.msgs = append(q.msgs, b)
	}
	return nil
}

// wired is the challenge function as Wire builds it, over DynamoDB Local, gofakes3 and
// in-process queues, with an integrator's site and a job whose images are in the media
// bucket.
type wired struct {
	h                http.Handler
	env              *platform.Env
	db               *dynamodb.Client
	tables           map[string]string
	site             account.Site
	secret           string
	queue, riskQueue *queueBox
	// clock is the function's clock, so a visitor can take a person's time over a challenge.
	clock *challengetest.Clock
}

func newWired(tb testing.TB) *wired {
	tb.Helper()
	db := dynamotest.Client(tb)
	tables := dynamotest.Tables(tb, db)
	ctx := context.Background()

	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	tb.Cleanup(s3srv.Close)
	awsCfg := aws.Config{
		Region:        "us-east-1",
		Credentials:   credentials.NewStaticCredentialsProvider("local", "local", ""),
		ConfigSources: []any{endpoints{"DynamoDB": dynamotest.Endpoint(tb), "S3": s3srv.URL}},
	}
	queue, riskQueue := &queueBox{}, &queueBox{}
	clock := challengetest.NewClock(time.Now())
	env := &platform.Env{
		Config: config.Config{
			Tables: tables, Buckets: map[string]string{schema.BucketMedia: "media-test"},
			SigningKeys: challengetest.SigningKeys, ChallengeTTL: 5 * time.Minute,
		},
		AWS: awsCfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock.Now, LocalS3: true,
		Queues: func(logical string) (platform.Sender, error) {
			switch logical {
			case schema.QueueAnswers:
				return queue, nil
			case schema.QueueRiskEvents:
				return riskQueue, nil
			}
			return nil, fmt.Errorf("unexpected queue %s", logical)
		},
	}
	if _, err := env.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("media-test")}); err != nil {
		tb.Fatal(err)
	}

	accounts := account.NewService(dynamo.NewAccounts(db, tables[schema.TableAccounts]), time.Now)
	it, err := accounts.CreateIntegrator(ctx, account.NewIntegrator{Name: "Shop", Email: "ops@shop.example", Country: "DE"})
	if err != nil {
		tb.Fatal(err)
	}
	site, secret, err := accounts.CreateSite(ctx, it.ID, account.NewSite{Name: "shop", Hostnames: []string{"shop.example"}})
	if err != nil {
		tb.Fatal(err)
	}
	jobs := dynamo.NewJobs(db, tables[schema.TableLabels])
	j := challengetest.ShapesJob
	j.CreatedAt = time.Now()
	if err := jobs.PutJob(ctx, j); err != nil {
		tb.Fatal(err)
	}
	stock := challengetest.DemoStocks(8, 10)[0]
	items := append(stock.Gold, stock.Open...)
	media := blob.New(env.S3())
	for _, x := range items {
		if err := media.Put(ctx, "media-test", x.MediaKey, "image/png", strings.NewReader("png:"+x.ID)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := jobs.PutItems(ctx, j, items...); err != nil {
		tb.Fatal(err)
	}

	h, err := handler.Wire(ctx, env)
	if err != nil {
		tb.Fatal(err)
	}
	return &wired{h: h, env: env, db: db, tables: tables, site: site, secret: secret, queue: queue, riskQueue: riskQueue, clock: clock}
}

// solve answers a stored challenge correctly, as the answers route's body.
func (w *wired) solve(tb testing.TB, id string) string {
	tb.Helper()
	return w.solveWith(tb, id, nil)
}

// solveWith is solve with the widget's telemetry in the body (none when nil).
func (w *wired) solveWith(tb testing.TB, id string, telemetry map[string]any) string {
	tb.Helper()
	stored, err := dynamo.NewChallenges(w.db, w.tables[schema.TableChallenges]).Get(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	answers := []map[string]any{}
	for _, a := range challengetest.Solve(stored, true) {
		if a.Selected != nil {
			answers = append(answers, map[string]any{"task": a.Task, "selected": a.Selected})
		} else {
			answers = append(answers, map[string]any{"task": a.Task, "choice": a.Choice})
		}
	}
	fields := map[string]any{"sitekey": w.site.Sitekey, "answers": answers}
	if telemetry != nil {
		fields["telemetry"] = telemetry
	}
	body, _ := json.Marshal(fields)
	return string(body)
}

// The whole function as Wire builds it, over DynamoDB Local, gofakes3 and an in-process
// queue: a visitor gets a challenge with working image links, passes, and the token, the
// salt and the queue messages land where siteverify and consensus look for them.
func TestWiredFunctionOnDynamoDBAndS3(t *testing.T) {
	w := newWired(t)
	db, tables, site, h, queue, riskQueue := w.db, w.tables, w.site, w.h, w.queue, w.riskQueue
	ctx := context.Background()
	postAs := func(header http.Header, addr, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.RemoteAddr = addr
		for k, v := range header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	post := func(path, body string) *httptest.ResponseRecorder {
		return postAs(http.Header{"User-Agent": {"Mozilla/5.0 test"}}, "203.0.113.77:4711", path, body)
	}

	rec := post("/1/challenges", `{"sitekey":"`+site.Sitekey+`","host":"Shop.Example","hl":"en"}`)
	if rec.Code != 200 {
		t.Fatalf("issue: %d %s", rec.Code, rec.Body)
	}
	c := decodeChallenge(t, rec.Body.Bytes())
	tileURL := c.Challenge.Tasks[0].Tiles[0].ImageURL
	resp, err := http.Get(tileURL)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.HasPrefix(img, []byte("png:")) {
		t.Fatalf("tile link %s: %d %q", tileURL, resp.StatusCode, img)
	}

	body := w.solve(t, c.Challenge.ID)
	rec = post("/1/challenges/"+c.Challenge.ID+"/answers", body)
	if rec.Code != 200 {
		t.Fatalf("answer: %d %s", rec.Code, rec.Body)
	}
	var pass struct {
		Pass  bool   `json:"pass"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &pass); err != nil || !pass.Pass {
		t.Fatalf("answer: %s", rec.Body)
	}
	claims, err := challengetest.Signer().Parse(pass.Token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Siteverify's store redeems the token and finds the hostname the visitor was on.
	r, err := dynamo.NewTokens(db, tables[schema.TableChallenges]).Redeem(ctx, claims.ID, time.Now(), "")
	if err != nil || r.Hostname != "shop.example" || r.Sitekey != site.Sitekey {
		t.Fatalf("token record %+v: %v", r, err)
	}
	// The real scorer ran: an answer without the widget's telemetry is risky.
	if r.Score < 0.45 || !slices.Contains(r.ScoreReasons, "no_telemetry") {
		t.Fatalf("token score %v reasons %v, want the no_telemetry finding", r.Score, r.ScoreReasons)
	}
	// Issue and answer went to the risk-events queue under pseudonyms, and the risk
	// function's store counts them where the next request's scoring reads them.
	riskQueue.mu.Lock()
	raw := append([][]byte(nil), riskQueue.msgs...)
	riskQueue.mu.Unlock()
	if len(raw) != 2 {
		t.Fatalf("%d risk events, want issue and answer", len(raw))
	}
	store := dynamo.NewRisk(db, tables[schema.TableRisk], nil)
	for _, b := range raw {
		if bytes.Contains(b, []byte("203.0.113")) {
			t.Fatalf("risk event carries the address: %s", b)
		}
		var ev challenge.RiskEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		if ok, err := store.Apply(ctx, ev); !ok || err != nil {
			t.Fatalf("apply %s: %v %v", ev.ID, ok, err)
		}
	}
	cr, err := store.ChallengeRisk(ctx, c.Challenge.ID)
	if err != nil || cr.Outcome != challenge.OutcomePassed || cr.AnswerScore != r.Score || !cr.Issued {
		t.Fatalf("challenge risk %+v %v", cr, err)
	}
	// That pass was scored as risky (a client that skipped the widget, answering at once):
	// it verifies, but its answers do not become labeled data.
	queue.mu.Lock()
	n := len(queue.msgs)
	queue.mu.Unlock()
	if n != 0 {
		t.Fatalf("a pass scored %.2f published %d answers messages, want none", r.Score, n)
	}

	rec = post("/1/challenges/"+c.Challenge.ID+"/answers", body)
	if rec.Code != 409 {
		t.Fatalf("replay: %d %s", rec.Code, rec.Body)
	}

	// A browser that looks like a person's, through the widget, taking a few seconds: its
	// answers go to the answers queue, one message per task with open items.
	browser := http.Header{
		"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"},
		"Accept-Language": {"en"}, "Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"cors"}, "Sec-Fetch-Dest": {"empty"},
	}
	rec = postAs(browser, "198.51.100.9:4711", "/1/challenges", `{"sitekey":"`+site.Sitekey+`","host":"shop.example","hl":"en"}`)
	if rec.Code != 200 {
		t.Fatalf("issue to a browser: %d %s", rec.Code, rec.Body)
	}
	c = decodeChallenge(t, rec.Body.Bytes())
	stored, err := dynamo.NewChallenges(db, tables[schema.TableChallenges]).Get(ctx, c.Challenge.ID)
	if err != nil {
		t.Fatal(err)
	}
	body = w.solveWith(t, c.Challenge.ID, map[string]any{"v": 1, "act": 2})
	w.clock.Advance(time.Duration(len(stored.Tasks)) * 2 * time.Second)
	rec = postAs(browser, "198.51.100.9:4711", "/1/challenges/"+c.Challenge.ID+"/answers", body)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"pass":true`) {
		t.Fatalf("a browser's right answer: %d %s", rec.Code, rec.Body)
	}
	queue.mu.Lock()
	n = len(queue.msgs)
	queue.mu.Unlock()
	if n < 2 {
		t.Fatalf("%d answers messages from a person's pass, want one per grid", n)
	}
	if _, err := dynamo.NewSalts(db, tables[schema.TableRisk], dynamo.SaltPurposeAnswerer).Salt(ctx, w.clock.Now().UTC().Format(time.DateOnly)); err != nil {
		t.Fatalf("today's salt: %v", err)
	}
}

package stack

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/shapes"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/token"
)

// lockedBuffer collects the stack's logs from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serve runs the stack as `crowdgate serve` does, waits for demo.json like a tool would,
// and returns a stop function that cancels (Ctrl-C) and returns Run's result.
func serve(t *testing.T, dir string, logs io.Writer) (Demo, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Addr: "127.0.0.1:0", DataDir: dir, Log: slog.New(slog.NewJSONHandler(logs, nil))})
	}()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	deadline := time.Now().Add(90 * time.Second)
	for {
		if d, err := ReadDemo(dir); err == nil {
			return d, stop
		}
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("stack stopped before it was ready: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("demo.json did not appear")
		}
	}
}

// httpc plays a person's browser (its headers): only a pass the risk scorer takes for a
// person publishes its answers, and a Go client's own user agent is a bot's.
var httpc = &http.Client{Timeout: 30 * time.Second, Transport: browserHeaders{http.DefaultTransport}}

type browserHeaders struct{ next http.RoundTripper }

func (b browserHeaders) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0")
	if r.Header.Get("Accept-Language") == "" {
		r.Header.Set("Accept-Language", "en")
	}
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	r.Header.Set("Sec-Fetch-Mode", "cors")
	r.Header.Set("Sec-Fetch-Dest", "empty")
	return b.next.RoundTrip(r)
}

func postJSON(t *testing.T, u string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := httpc.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("POST %s: %d %s", u, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

type siteverifyAnswer struct {
	Success    bool     `json:"success"`
	Hostname   string   `json:"hostname"`
	ErrorCodes []string `json:"error-codes"`
}

func siteverify(t *testing.T, base, secret, response string) siteverifyAnswer {
	t.Helper()
	resp, err := httpc.PostForm(base+"/siteverify", url.Values{"secret": {secret}, "response": {response}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out siteverifyAnswer
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("siteverify: %d %s", resp.StatusCode, raw)
	}
	return out
}

type tile struct {
	ID       string `json:"id"`
	ImageURL string `json:"image_url"`
}

type challengeAnswer struct {
	Pass      bool   `json:"pass"`
	Token     string `json:"token"`
	Challenge struct {
		ID    string `json:"id"`
		Tasks []struct {
			ID       string `json:"id"`
			Kind     string `json:"kind"`
			Question string `json:"question"`
			Tiles    []tile `json:"tiles"`
			ImageURL string `json:"image_url"`
		} `json:"tasks"`
	} `json:"challenge"`
	Error struct{ Code string } `json:"error"`
}

func issue(t *testing.T, d Demo) challengeAnswer {
	t.Helper()
	var ch challengeAnswer
	if code := postJSON(t, d.URL+"/1/challenges", map[string]string{"sitekey": d.Sitekey, "host": "localhost"}, &ch); code != 200 {
		t.Fatalf("POST /1/challenges: %d %+v", code, ch.Error)
	}
	if ch.Pass || ch.Challenge.ID == "" || len(ch.Challenge.Tasks) == 0 {
		t.Fatalf("no challenge issued for the demo sitekey: %+v", ch)
	}
	return ch
}

// truth knows what each seeded image shows, as a visitor would see it (from the data
// dir's demo media key).
func truth(t *testing.T, dir string) map[string]shapes.Shape {
	t.Helper()
	var st state
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		t.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(st.DemoMediaKey)
	if err != nil {
		t.Fatal(err)
	}
	specs := shapes.Specs(demoImageSeed, demoImageCount, demoImageSize)
	m := map[string]shapes.Shape{}
	for i, it := range demoItems(specs, key) {
		m[it.MediaKey] = specs[i].Shape
	}
	return m
}

// mediaKey is what an image link names: a random-looking key under the job's prefix, never
// the item's id or its index in the public image seed.
var mediaKey = regexp.MustCompile(`/(jobs/` + demoJobID + `/m_[0-9a-f]{32})\?`)

func shownShape(t *testing.T, imageURL string, shows map[string]shapes.Shape) shapes.Shape {
	t.Helper()
	m := mediaKey.FindStringSubmatch(imageURL)
	if m == nil {
		t.Fatalf("image URL %q is not a seeded image", imageURL)
	}
	return shows[m[1]]
}

func askedShape(t *testing.T, question string) shapes.Shape {
	t.Helper()
	for _, s := range shapes.All {
		if strings.Contains(question, string(s)) {
			return s
		}
	}
	t.Fatalf("question %q names no shape", question)
	return ""
}

// solve answers every task correctly by looking at the pictures.
func solve(t *testing.T, dir string, ch challengeAnswer) []map[string]any {
	shows := truth(t, dir)
	var answers []map[string]any
	for _, task := range ch.Challenge.Tasks {
		want := askedShape(t, task.Question)
		switch task.Kind {
		case "image_grid":
			selected := []string{}
			for _, tl := range task.Tiles {
				if shownShape(t, tl.ImageURL, shows) == want {
					selected = append(selected, tl.ID)
				}
			}
			answers = append(answers, map[string]any{"task": task.ID, "selected": selected})
		case "yes_no":
			choice := "no"
			if shownShape(t, task.ImageURL, shows) == want {
				choice = "yes"
			}
			answers = append(answers, map[string]any{"task": task.ID, "choice": choice})
		default:
			t.Fatalf("unexpected task kind %q", task.Kind)
		}
	}
	return answers
}

func TestServeRunsTheCaptchaLoopAndKeepsDataAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	logs := &lockedBuffer{}
	d, stop := serve(t, dir, logs)

	if info, err := os.Stat(filepath.Join(dir, DemoFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("demo.json: %v, mode %v (want 0600: it holds the secret)", err, info.Mode().Perm())
	}
	if d.Sitekey == "" || d.Secret == "" || d.AdminToken == "" || d.DemoURL != d.URL+"/demo" ||
		len(d.Tables) != len(schema.Tables) || len(d.Buckets) != len(schema.Buckets) ||
		!strings.HasPrefix(d.DynamoDBEndpoint, "http://127.0.0.1:") || !strings.HasPrefix(d.S3Endpoint, "http://127.0.0.1:") {
		t.Fatalf("demo.json incomplete: %+v", d)
	}

	// A visitor on the demo page gets a challenge whose pictures load.
	issued := time.Now()
	ch := issue(t, d)
	var img string
	for _, task := range ch.Challenge.Tasks {
		if len(task.Tiles) > 0 {
			img = task.Tiles[0].ImageURL
		} else if task.ImageURL != "" {
			img = task.ImageURL
		}
	}
	if img == "" {
		t.Fatal("challenge has no images")
	}
	resp, err := httpc.Get(img)
	if err != nil {
		t.Fatal(err)
	}
	pic, err := png.Decode(resp.Body)
	resp.Body.Close()
	if err != nil || pic.Bounds().Dx() != demoImageSize {
		t.Fatalf("tile image: %v", err)
	}

	// hCaptcha's test keys work without any challenge.
	if got := siteverify(t, d.URL, token.TestSecret, token.TestResponse); !got.Success {
		t.Errorf("siteverify with the test keys: %+v", got)
	}

	// The demo backend verifies over HTTP.
	resp, err = httpc.PostForm(d.URL+"/demo/submit", url.Values{"keys": {"test"}, "name": {"Ada"}, "h-captcha-response": {token.TestResponse}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), ">Verified</h1>") || !strings.Contains(string(page), `id="verify-result"`) {
		t.Errorf("demo submit with the test keys:\n%s", page)
	}
	// The stack's own address, opened in a browser, leads to the demo page.
	resp, _ = httpc.Get(d.URL + "/")
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.String() != d.DemoURL || !strings.Contains(string(page), `data-sitekey="`+d.Sitekey+`"`) {
		t.Errorf("GET / ended at %s: the demo page with the demo sitekey expected", resp.Request.URL)
	}

	// Operator routes need the admin token.
	getSite := func(auth string) int {
		req, _ := http.NewRequest(http.MethodGet, d.URL+"/admin/sites/"+d.Sitekey, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := getSite(""); code != http.StatusUnauthorized {
		t.Errorf("admin route without token: %d", code)
	}
	if code := getSite("Bearer " + d.AdminToken); code != http.StatusOK {
		t.Errorf("admin route with token: %d", code)
	}

	// A visitor who answers correctly passes, and the demo site's secret verifies the token
	// once. They take a person's time over it (under 0.8 s a task is scored too fast).
	var res challengeAnswer
	answers := solve(t, dir, ch)
	time.Sleep(time.Until(issued.Add(time.Duration(len(ch.Challenge.Tasks)) * 1200 * time.Millisecond)))
	postJSON(t, d.URL+"/1/challenges/"+ch.Challenge.ID+"/answers", map[string]any{"sitekey": d.Sitekey, "answers": answers, "telemetry": map[string]any{"v": 1, "act": 2}}, &res)
	if !res.Pass || res.Token == "" {
		t.Fatalf("correct answers did not pass: %+v", res)
	}
	if got := siteverify(t, d.URL, d.Secret, res.Token); !got.Success || got.Hostname != "localhost" {
		t.Errorf("siteverify of a real token with the demo secret: %+v", got)
	}
	if got := siteverify(t, d.URL, d.Secret, res.Token); got.Success {
		t.Error("a token verified twice")
	}

	// The pass queued the answers to the job's open items; the consensus consumer (an
	// in-process queue subscriber) counts them on the items.
	answered := func() int {
		entries, _, err := dynamo.NewJobs(dynamoClient(d), d.Tables[schema.TableLabels]).ListEntries(context.Background(), d.JobID, "", 100)
		if err != nil {
			t.Fatalf("list demo items: %v", err)
		}
		n := 0
		for _, e := range entries {
			if !e.Gold && e.AnswerCount > 0 {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for answered() == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if answered() == 0 {
		t.Error("no open demo item counts an answer: the answers queue was not consumed")
	}

	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	// Restart: the same accounts, keys and job.
	d2, stop2 := serve(t, dir, io.Discard)
	if d2.Sitekey != d.Sitekey || d2.Secret != d.Secret || d2.AdminToken != d.AdminToken || d2.JobID != d.JobID || d2.CustomerID != d.CustomerID {
		t.Errorf("restart changed the demo data:\n%+v\n%+v", d, d2)
	}
	jobs := dynamo.NewJobs(dynamoClient(d2), d2.Tables[schema.TableLabels])
	j, err := jobs.GetJob(context.Background(), d2.JobID)
	if err != nil || j.Kind != job.KindImageGrid || j.CustomerID != d.CustomerID {
		t.Errorf("seeded job after restart: %+v, %v", j, err)
	}
	issue(t, d2)
	checkPreflights(t, d2)
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
}

// checkPreflights sends a browser's CORS preflight to every browser path: each function
// answers its own (as behind API Gateway), credentialed routes naming the page's origin.
func checkPreflights(t *testing.T, d Demo) {
	t.Helper()
	const origin = "https://shop.example"
	placeholder := regexp.MustCompile(`\{[^}]+\}`)
	for _, r := range routes.Table {
		if !r.Browser {
			continue
		}
		req, err := http.NewRequest(http.MethodOptions, d.URL+placeholder.ReplaceAllString(r.Path, "x1"), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", r.Method)
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		allow := res.Header.Get("Access-Control-Allow-Origin")
		wantOrigin := "*"
		if r.Credentials {
			wantOrigin = origin
		}
		if res.StatusCode >= 300 || allow != wantOrigin || !strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), r.Method) ||
			(r.Credentials != (res.Header.Get("Access-Control-Allow-Credentials") == "true")) {
			t.Errorf("preflight of %s %s: %d, allow-origin %q, methods %q, credentials %q", r.Method, r.Path, res.StatusCode, allow,
				res.Header.Get("Access-Control-Allow-Methods"), res.Header.Get("Access-Control-Allow-Credentials"))
		}
	}
}

func TestRestartAfterSecretRotationKnowsTheNewSecret(t *testing.T) {
	dir := t.TempDir()
	d, stop := serve(t, dir, io.Discard)
	req, _ := http.NewRequest(http.MethodPost, d.URL+"/admin/sites/"+d.Sitekey+"/secret", nil)
	req.Header.Set("Authorization", "Bearer "+d.AdminToken)
	resp, err := httpc.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("rotate: %v %v", err, resp)
	}
	resp.Body.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	d2, _ := serve(t, dir, io.Discard)
	if d2.Sitekey != d.Sitekey || d2.Secret == d.Secret {
		t.Fatalf("after rotation: sitekey %s→%s, secret changed %v", d.Sitekey, d2.Sitekey, d2.Secret != d.Secret)
	}
	// A known secret with a made-up token is an invalid response, not an invalid secret.
	got := siteverify(t, d2.URL, d2.Secret, "P1_bogus")
	if got.Success || len(got.ErrorCodes) == 0 || got.ErrorCodes[0] == "invalid-input-secret" {
		t.Errorf("demo secret after restart is not the site's: %+v", got)
	}
}

func TestBusyPortFailsCleanly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	err = Run(context.Background(), Options{Addr: ln.Addr().String(), DataDir: dir})
	// The message says what to do: a developer's second `make run` is the usual cause.
	if err == nil || !strings.Contains(err.Error(), "listen") || !strings.Contains(err.Error(), "already running") ||
		!strings.Contains(err.Error(), `make run ARGS="--addr 127.0.0.1:`) {
		t.Fatalf("stack on a busy port: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, DemoFile)); err == nil {
		t.Error("demo.json written by a stack that never ran")
	}
}

func dynamoClient(d Demo) *dynamodb.Client {
	return dynamodb.NewFromConfig(LocalAWS(d.DynamoDBEndpoint, d.S3Endpoint))
}

// A second `crowdgate serve` on the same data directory (a second `make run`) fails on the
// busy port and leaves the running stack's demo.json, which the CLI reads its admin token from.
func TestSecondStackOnTheSamePortKeepsTheRunningOnesDemoFile(t *testing.T) {
	dir := t.TempDir()
	d, _ := serve(t, dir, io.Discard)
	u, err := url.Parse(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	err = Run(context.Background(), Options{Addr: u.Host, DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("second stack on the running one's port: %v", err)
	}
	if got, err := ReadDemo(dir); err != nil || got.AdminToken != d.AdminToken {
		t.Errorf("running stack's demo.json after a failed second start: %+v, %v", got, err)
	}
}

// The stack serves the mail outbox and the demo pages without credentials: it listens on
// loopback only, whatever --addr says.
func TestNonLoopbackAddressIsRefused(t *testing.T) {
	// Cancelled: a stack that did start stops at once instead of blocking the test.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:0", "example.com:0"} {
		dir := t.TempDir()
		err := Run(ctx, Options{Addr: addr, DataDir: dir})
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("stack on %s: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:8080", "[::1]:8080", "localhost:8080", "127.0.0.2:0"} {
		if err := CheckAddr(addr); err != nil {
			t.Errorf("CheckAddr(%s): %v", addr, err)
		}
	}
}

// Two stacks on one data directory (on different ports) would overwrite each other's
// DynamoDB snapshot: the second is refused before it touches the directory, and the
// directory is free again once the first stops.
func TestASecondStackOnTheSameDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := Start(ctx, Options{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	before, err := ReadDemo(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(ctx, Options{Addr: "127.0.0.1:0", DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use by another crowdgate serve") {
		t.Fatalf("second stack on the same data dir: %v", err)
	}
	if got, err := ReadDemo(dir); err != nil || got.AdminToken != before.AdminToken {
		t.Errorf("the running stack's demo.json after the refused start: %+v, %v", got, err)
	}
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	again, err := Start(ctx, Options{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatalf("start after the first stopped: %v", err)
	}
	if err := again.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A message still on a queue when the stack stops (here one the consumer keeps failing) is
// there again after the next start, as SQS keeps it while nothing consumes.
func TestQueueMessagesSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first, err := Start(ctx, Options{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	send, err := first.broker.Sender(schema.QueueAnswers)
	if err != nil {
		t.Fatal(err)
	}
	if err := send.SendJSON(ctx, map[string]any{"v": 1, "poison": true}); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, QueuesFile)); err != nil {
		t.Fatalf("nothing saved at the stop: %v", err)
	}
	second, err := Start(ctx, Options{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close(ctx)
	if visible, inFlight, dead := second.broker.Stats(schema.QueueAnswers); visible+inFlight+dead != 1 {
		t.Fatalf("after the restart: visible %d, in flight %d, dead %d; want the one message", visible, inFlight, dead)
	}
	if _, err := os.Stat(filepath.Join(dir, QueuesFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s left behind after the restore: %v", QueuesFile, err)
	}
}

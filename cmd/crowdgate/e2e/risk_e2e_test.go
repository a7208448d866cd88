package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/risk"
	"github.com/crowdgate/crowdgate/shared/risk/sapimouse"
)

// Risk scoring end to end: the widget's telemetry in a real browser, robotic and human
// pointers through the whole stack, the integrator risk lookup, and refusals.

// runRiskScenario runs testdata/risk.mjs <name> like runScenario runs scenarios.mjs.
func runRiskScenario(t *testing.T, name string, cfg map[string]any, out any) {
	t.Helper()
	runScript(t, "risk.mjs", name, cfg, out)
}

// recorder stands between the page and a challenge API: it keeps the body of every
// challenge request and answer, and can refuse challenges with 429 try_later.
type recorder struct {
	srv *httptest.Server

	mu     sync.Mutex
	bodies []recorded
	refuse int // retry_after seconds; 0 passes requests on
}

type recorded struct {
	Path            string
	Body            []byte
	Referer, Origin string
}

func newRecorder(t *testing.T, target string) *recorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/1/challenges") {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec.mu.Lock()
			rec.bodies = append(rec.bodies, recorded{r.URL.Path, body, r.Header.Get("Referer"), r.Header.Get("Origin")})
			refuse := rec.refuse
			rec.mu.Unlock()
			if refuse > 0 {
				w.Header().Set("Access-Control-Allow-Origin", "*")
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", fmt.Sprint(refuse))
				w.WriteHeader(http.StatusTooManyRequests)
				fmt.Fprintf(w, `{"error":{"code":"try_later","message":"too many attempts","request_id":"r1","retry_after":%d}}`, refuse)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bodies)
}

// telemetryOf returns the raw telemetry of a recorded request and its parse.
func telemetryOf(t *testing.T, rec recorded) (json.RawMessage, risk.Telemetry) {
	t.Helper()
	var body struct {
		Telemetry json.RawMessage `json:"telemetry"`
	}
	if err := json.Unmarshal(rec.Body, &body); err != nil {
		t.Fatalf("%s: body is not JSON: %v", rec.Path, err)
	}
	if len(body.Telemetry) == 0 || string(body.Telemetry) == "null" {
		t.Fatalf("%s was sent without telemetry", rec.Path)
	}
	tel, err := risk.ParseTelemetry(body.Telemetry)
	if err != nil {
		t.Fatalf("%s: the widget's telemetry does not follow docs/TELEMETRY.md: %v", rec.Path, err)
	}
	return body.Telemetry, tel
}

func count[T any](s []T, f func(T) bool) int {
	n := 0
	for _, v := range s {
		if f(v) {
			n++
		}
	}
	return n
}

// The widget's telemetry, captured from a real browser session and checked with the
// server's own parser: every field in the schema, nothing typed, within the caps.
func TestWidgetTelemetryFollowsTheSchema(t *testing.T) {
	requireBrowser(t)
	api := newFakeAPI(t)
	rec := newRecorder(t, api.URL())
	pages := newPageServer(t, rec.srv.URL, api.verify)
	const typed = "Jane Q. Secret"
	const burst = 2100
	var res struct {
		Console []string `json:"console"`
		Token   string   `json:"token"`
	}
	runRiskScenario(t, "telemetry", map[string]any{
		"pageURL":   pages.URL("/form", url.Values{"sitekey": {fakeSitekey}}),
		"oracleURL": api.URL() + "/gold",
		"typed":     typed, "password": "hunter2!", "burst": burst, "burstTo": []int{850, 700},
	}, &res)
	if res.Token == "" || !api.verify(res.Token) {
		t.Fatalf("the solve did not yield a token that verifies: %q", res.Token)
	}
	reqs := rec.requests()
	var issues, answers []recorded
	for _, r := range reqs {
		if strings.HasSuffix(r.Path, "/answers") {
			answers = append(answers, r)
		} else {
			issues = append(issues, r)
		}
	}
	if len(issues) != 2 || len(answers) != 1 {
		t.Fatalf("%d challenge requests and %d answers, want 2 and 1", len(issues), len(answers))
	}

	raw, first := telemetryOf(t, issues[0])
	t.Logf("first challenge request's telemetry: %d bytes, %d pointer, %d scroll, %d key, %d focus events", len(raw),
		len(first.Pointer), len(first.Scroll), len(first.Keys), len(first.Focus))
	moves := count(first.Pointer, func(e risk.PointerEvent) bool { return e.Kind == risk.Move })
	if moves < 20 || count(first.Pointer, func(e risk.PointerEvent) bool { return e.Kind == risk.Down }) < 2 ||
		count(first.Pointer, func(e risk.PointerEvent) bool { return e.Kind == risk.Up }) < 1 {
		t.Errorf("pointer events %d (moves %d): want the moves and the clicks on the name field and the checkbox", len(first.Pointer), moves)
	}
	if count(first.Pointer, func(e risk.PointerEvent) bool { return e.Dev != risk.Mouse }) != 0 {
		t.Error("mouse events reported as touch or pen")
	}
	for i := 1; i < len(first.Pointer); i++ {
		if first.Pointer[i].T < first.Pointer[i-1].T {
			t.Fatal("pointer times run backwards")
		}
	}
	if len(first.Scroll) < 1 {
		t.Error("no scroll positions")
	}
	if len(first.Keys) != len([]rune(typed)) {
		t.Errorf("%d key presses, want one per character typed into the name field (%d) and none from the password field", len(first.Keys), len([]rune(typed)))
	}
	for _, k := range first.Keys {
		if k.Hold < 0 || k.Hold > 1000 {
			t.Errorf("key hold %v ms", k.Hold)
		}
	}
	// Nothing typed leaves the page: no letters of it, no key names.
	for _, leak := range []string{"Jane", "Secret", `"J"`, `"Q"`, "KeyJ", "Shift"} {
		if bytes.Contains(raw, []byte(leak)) {
			t.Errorf("telemetry contains %q: %s", leak, raw)
		}
	}
	if !slices.ContainsFunc(first.Focus, func(f risk.FocusEvent) bool { return f.Kind == risk.Blur }) ||
		!slices.ContainsFunc(first.Focus, func(f risk.FocusEvent) bool { return f.Kind == risk.Focus }) {
		t.Errorf("focus events %+v, want the blur and focus", first.Focus)
	}
	if first.Viewport == nil || first.Viewport.W != 900 || first.Viewport.H != 760 || first.Viewport.PixelRatio <= 0 {
		t.Errorf("viewport %+v", first.Viewport)
	}
	a := first.Automation
	if a == nil || a.Webdriver == nil || !*a.Webdriver || a.Plugins == nil || a.Languages == nil || a.Globals == nil || a.ChromeObject == nil || a.Platform == "" {
		t.Errorf("automation tells %+v: playwright's navigator.webdriver must show", a)
	}
	if first.Duration <= 0 || first.Version != 1 {
		t.Errorf("dur %v v %d", first.Duration, first.Version)
	}
	// An emulated desktop has no motion sensors to report.
	if first.Motion != nil && first.Motion.N > 0 {
		t.Errorf("device motion %+v on a desktop browser", first.Motion)
	}

	// The answer carries the clicks on the tiles and buttons that followed, and the two
	// keyboard activations of a tile.
	_, ans := telemetryOf(t, answers[0])
	if downs := count(ans.Pointer, func(e risk.PointerEvent) bool { return e.Kind == risk.Down }); downs < 5 || len(ans.Pointer) <= len(first.Pointer) {
		t.Errorf("answer telemetry: %d pointer events, %d downs", len(ans.Pointer), downs)
	}
	if ans.Activations != 2 || first.Activations != 0 {
		t.Errorf("activations %d (issue %d), want the 2 keyboard activations in the dialog", ans.Activations, first.Activations)
	}

	// After the burst of moves: capped, newest kept.
	raw, last := telemetryOf(t, issues[1])
	if len(raw) > risk.MaxTelemetryBytes || len(last.Pointer) > risk.MaxPointerEvents {
		t.Fatalf("capped document: %d bytes, %d pointer events", len(raw), len(last.Pointer))
	}
	if len(last.Pointer) < 1000 {
		t.Errorf("only %d pointer events kept of a %d-move burst", len(last.Pointer), burst)
	}
	found := slices.ContainsFunc(last.Pointer, func(e risk.PointerEvent) bool { return e.X == 850 && e.Y == 700 })
	if !found {
		t.Errorf("the burst's last position (850,700) was dropped; the newest events must be kept")
	}
	if last.Pointer[0].T < 1 {
		t.Errorf("first kept event at %v ms: after dropping the oldest, its delta still counts from the collector's start", last.Pointer[0].T)
	}
	for _, c := range res.Console {
		t.Errorf("console: %s", c)
	}
}

// A refused visitor sees why, in the widget's own language, announced as an alert. The
// page's Referrer-Policy is unsafe-url and its URL has a query, yet the challenge request
// carries no Referer (the page's hostname is in the body, its origin in Origin), and the
// widget left nothing in the page's cookies or storage (docs/PRIVACY.md).
func TestWidgetShowsARefusalAsAnAlert(t *testing.T) {
	requireBrowser(t)
	api := newFakeAPI(t)
	rec := newRecorder(t, api.URL())
	rec.refuse = 170
	pages := newPageServer(t, rec.srv.URL, api.verify)
	var res struct {
		Status struct {
			Text string `json:"text"`
			Role string `json:"role"`
		} `json:"status"`
		Events []string `json:"events"`
		Stored struct {
			Cookie         string `json:"cookie"`
			Local, Session int
		} `json:"stored"`
	}
	pageURL := pages.URL("/form", url.Values{"sitekey": {fakeSitekey}, "hl": {"de"}, "referrer": {"unsafe-url"}, "order": {"4711"}})
	runRiskScenario(t, "refused", map[string]any{"pageURL": pageURL}, &res)
	if res.Status.Role != "alert" || !strings.Contains(res.Status.Text, "3 Min") || !strings.Contains(res.Status.Text, "Zu viele Versuche") {
		t.Fatalf("status %+v: want the German message with the minutes to wait, as role=alert", res.Status)
	}
	if !slices.Contains(res.Events, "error:rate-limited") {
		t.Errorf("error-callback events %v, want rate-limited", res.Events)
	}
	u, _ := url.Parse(pageURL)
	reqs := rec.requests()
	if len(reqs) == 0 {
		t.Fatal("the recorder saw no challenge request")
	}
	for _, r := range reqs {
		if r.Referer != "" || r.Origin != u.Scheme+"://"+u.Host {
			t.Errorf("%s from a page with Referrer-Policy unsafe-url: Referer %q, Origin %q; want no Referer and Origin %s://%s", r.Path, r.Referer, r.Origin, u.Scheme, u.Host)
		}
	}
	if res.Stored.Cookie != "" || res.Stored.Local != 0 || res.Stored.Session != 0 {
		t.Errorf("the page's storage after the widget ran: %+v, want nothing", res.Stored)
	}
}

// chromeUA is the user agent of the installed Chromium without "Headless".
func chromeUA(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(chromiumPath, "--version").Output()
	m := regexp.MustCompile(`(\d+)\.\d+\.\d+\.\d+`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("chromium --version: %v %q", err, out)
	}
	return "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + string(m[1]) + ".0.0.0 Safari/537.36"
}

// humanMovements cuts a recorded person's mouse session (SapiMouse, a person the risk
// model was not trained on) into movements that end in a click, each as [t ms, dx, dy]
// relative to the click. Empty when the recordings are not on this machine.
func humanMovements(t *testing.T) ([][][3]float64, string) {
	t.Helper()
	dir, err := sapimouse.Locate()
	if err != nil {
		return nil, err.Error()
	}
	users, _ := risk.DefaultModel().Meta["test_users"].([]any)
	if len(users) == 0 {
		t.Fatal("the embedded risk model lists no held-out users")
	}
	var out [][][3]float64
	for _, u := range users {
		files, _ := filepath.Glob(filepath.Join(dir, u.(string)+"*", "session_3min.csv"))
		for _, f := range files {
			rec, err := sapimouse.LoadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ev := rec.Events
			for _, m := range risk.Segment(ev, nil) {
				if !m.Click || m.End-m.Start < 10 {
					continue
				}
				seg := ev[m.Start:m.End]
				end := seg[len(seg)-1]
				path, minX, maxX, minY, maxY := 0.0, end.X, end.X, end.Y, end.Y
				for i, e := range seg {
					if i > 0 {
						path += math.Hypot(e.X-seg[i-1].X, e.Y-seg[i-1].Y)
					}
					minX, maxX, minY, maxY = min(minX, e.X), max(maxX, e.X), min(minY, e.Y), max(maxY, e.Y)
				}
				dur := end.T - seg[0].T
				if path < 80 || maxX-minX > 380 || maxY-minY > 300 || dur > 2500 {
					continue
				}
				var mv [][3]float64
				for _, e := range seg {
					mv = append(mv, [3]float64{e.T - seg[0].T, e.X - end.X, e.Y - end.Y})
				}
				out = append(out, mv)
			}
			if len(out) >= 60 {
				return out, ""
			}
		}
	}
	if len(out) < 20 {
		return nil, fmt.Sprintf("only %d usable movements in the held-out recordings", len(out))
	}
	return out, ""
}

type pointerResult struct {
	Console   []string `json:"console"`
	Token     string   `json:"token"`
	Key       string   `json:"key"`
	Challenge string   `json:"challenge"`
	Tasks     int      `json:"tasks"`
	Tells     struct {
		Webdriver bool   `json:"webdriver"`
		UA        string `json:"ua"`
	} `json:"tells"`
}

func scoreOf(t *testing.T, v map[string]any) (float64, []string) {
	t.Helper()
	if v["success"] != true {
		t.Fatalf("siteverify: %v", v)
	}
	score, ok := v["score"].(float64)
	if !ok {
		t.Fatalf("siteverify answered no score: %v", v)
	}
	var reasons []string
	for _, r := range v["score_reason"].([]any) {
		reasons = append(reasons, r.(string))
	}
	return score, reasons
}

// A browser whose pointer moves in straight lines at constant speed passes the challenge
// (it has the answers) but siteverify reports it as very risky; the same browser replaying
// a person's recorded movements scores far lower. Both runs hide the same automation tells
// (navigator.webdriver, the headless user agent), so the pointer is the difference.
func TestStackRoboticPointerScoresHighAndHumanLow(t *testing.T) {
	requireBrowser(t)
	d := startStack(t)
	oracle := newOracle(t, d)
	base := map[string]any{"pageURL": d.DemoURL, "oracleURL": oracle, "plainBrowser": true, "userAgent": chromeUA(t)}

	var robot pointerResult
	runRiskScenario(t, "pointer", merge(base, map[string]any{"driver": "robot", "steps": 25, "screenshot": "robot"}), &robot)
	if robot.Tells.Webdriver || strings.Contains(robot.Tells.UA, "Headless") {
		t.Fatalf("the automation tells were not hidden: %+v", robot.Tells)
	}
	robotScore, robotReasons := scoreOf(t, siteverify(t, d.URL, d.Secret, robot.Token))
	t.Logf("robotic pointer: score %.3f reasons %v (%d tasks)", robotScore, robotReasons, robot.Tasks)
	if robotScore < 0.9 || !slices.Contains(robotReasons, risk.ReasonSyntheticPointer) {
		t.Errorf("robotic pointer scored %.3f %v; want at least 0.9 with synthetic_pointer", robotScore, robotReasons)
	}
	for _, c := range robot.Console {
		t.Errorf("console: %s", c)
	}

	moves, why := humanMovements(t)
	if moves == nil {
		t.Skipf("the human half needs recorded human movements (../shared/datasets/mouse/sapimouse): %s", why)
	}
	var human pointerResult
	runRiskScenario(t, "pointer", merge(base, map[string]any{"driver": "human", "movements": moves, "screenshot": "human"}), &human)
	humanScore, humanReasons := scoreOf(t, siteverify(t, d.URL, d.Secret, human.Token))
	t.Logf("replayed human pointer: score %.3f reasons %v (%d tasks)", humanScore, humanReasons, human.Tasks)
	if slices.Contains(humanReasons, risk.ReasonSyntheticPointer) || humanScore >= 0.5 || humanScore > robotScore-0.4 {
		t.Errorf("replayed human pointer scored %.3f %v, robot %.3f; want below 0.5, without synthetic_pointer and well below the robot", humanScore, humanReasons, robotScore)
	}
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// loopbackClient sends from its own loopback address, so the stack's per-IP windows for
// it hold only this test's traffic (all of 127.0.0.0/8 is loopback).
func loopbackClient(source string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// lookup calls the integrator risk lookup with a site secret.
func lookup(t *testing.T, base, secret, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// asyncWait bounds the waits for what the stack does asynchronously (queue consumers):
// generous, as two test binaries and Chromium may share two busy cores.
const asyncWait = 60 * time.Second

// eventually polls a lookup until it answers 200 and done (nil: any 200) holds: risk
// events reach the risk function asynchronously.
func eventually(t *testing.T, base, secret, path string, done func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(asyncWait)
	for {
		status, body := lookup(t, base, secret, path)
		if status == http.StatusOK && (done == nil || done(body)) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d %v after %s", path, status, body, asyncWait)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// An integrator looks up a challenge and an address of its own site; another integrator
// gets 404 for both, and a wrong secret 401.
func TestStackRiskLookupAnswersOnlyAboutTheOwnSite(t *testing.T) {
	d := startStack(t)
	const source = "127.88.0.1"
	client := loopbackClient(source)
	u, _ := url.Parse(d.URL)
	status, res := postJSON(t, client, d.URL+"/1/challenges", map[string]any{"sitekey": d.Sitekey, "host": u.Hostname(), "hl": "en"})
	if status != http.StatusOK || res.Challenge == nil {
		t.Fatalf("issue: %d %+v", status, res)
	}
	id := res.Challenge.ID
	answers := oracleAnswers(t, d, id)
	time.Sleep(3 * time.Second) // a visitor takes a moment
	status, res = postJSON(t, client, d.URL+"/1/challenges/"+id+"/answers", map[string]any{"sitekey": d.Sitekey, "answers": answers})
	if status != http.StatusOK || !res.Pass {
		t.Fatalf("answer: %d %+v", status, res)
	}
	verdict := siteverify(t, d.URL, d.Secret, res.Token)
	score, _ := scoreOf(t, verdict)

	// The issue and answer events may land apart.
	c := eventually(t, d.URL, d.Secret, "/v1/risk/challenges/"+id, func(c map[string]any) bool {
		return c["answer"] != nil && c["issue"] != nil
	})
	answer, _ := c["answer"].(map[string]any)
	solveMS, _ := answer["solve_ms"].(float64)
	if c["sitekey"] != d.Sitekey || answer["outcome"] != "pass" || answer["score"] != score || solveMS < 3000 {
		t.Fatalf("challenge lookup %v; siteverify score %v", c, score)
	}
	ip := eventually(t, d.URL, d.Secret, "/v1/risk/ips/"+source, nil)
	day, _ := ip["windows"].(map[string]any)["24h"].(map[string]any)
	if ip["ip"] != source || day["issued"] != float64(1) {
		t.Fatalf("address lookup %v", ip)
	}

	// Another integrator, with a site of its own.
	other := newIntegratorSite(t, d)
	for _, path := range []string{"/v1/risk/challenges/" + id, "/v1/risk/ips/" + source} {
		if status, body := lookup(t, d.URL, other, path); status != http.StatusNotFound {
			t.Errorf("another integrator's GET %s: %d %v, want 404", path, status, body)
		}
		if status, _ := lookup(t, d.URL, "0x0123456789012345678901234567890123456789", path); status != http.StatusUnauthorized {
			t.Errorf("unknown secret GET %s: %d, want 401", path, status)
		}
	}
}

// oracleAnswers are the right answers to a stored challenge, in the API's shape.
func oracleAnswers(t *testing.T, d *demoInfo, id string) []map[string]any {
	t.Helper()
	resp, err := http.Get(newOracle(t, d) + "?id=" + url.QueryEscape(id))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var g struct {
		Answers map[string]goldAnswer `json:"answers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&g); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for task, a := range g.Answers {
		if a.Choice != "" {
			out = append(out, map[string]any{"task": task, "choice": a.Choice})
		} else {
			out = append(out, map[string]any{"task": task, "selected": append([]string{}, a.Selected...)})
		}
	}
	return out
}

// newIntegratorSite creates an integrator and a site through the admin API and returns
// the site's secret.
func newIntegratorSite(t *testing.T, d *demoInfo) string {
	t.Helper()
	admin := func(path string, body any) map[string]any {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, d.URL+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+d.AdminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %d %v", path, resp.StatusCode, out)
		}
		return out
	}
	it := admin("/admin/integrators", map[string]any{"name": "Other Shop", "email": "ops@other.example", "country": "FR"})
	site := admin("/admin/integrators/"+it["id"].(string)+"/sites", map[string]any{"name": "other", "hostnames": []string{"other.example"}})
	return site["secret"].(string)
}

package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/challenge"
)

// Tests against the whole local stack (`crowdgate serve`): the real challenge function,
// DynamoDB, the demo site and /siteverify.

// (a) A visitor opens /demo, ticks the box with the keyboard, solves the challenge, submits
// the form, and the demo backend's call to /siteverify succeeds.
func TestStackVisitorSolvesDemoWithKeyboard(t *testing.T) {
	requireBrowser(t)
	d := startStack(t)
	var res solveResult
	runScenario(t, "solve", map[string]any{
		"pageURL":    d.DemoURL,
		"oracleURL":  newOracle(t, d),
		"submit":     true,
		"screenshot": "demo-solved",
	}, &res)
	checkKeyboardSolve(t, res)
	var verdict struct {
		Success    bool     `json:"success"`
		Hostname   string   `json:"hostname"`
		ErrorCodes []string `json:"error-codes"`
	}
	if err := json.Unmarshal([]byte(res.VerifyText), &verdict); err != nil {
		t.Fatalf("#verify-result is not siteverify JSON (%v): %q", err, res.VerifyText)
	}
	if !verdict.Success {
		t.Fatalf("demo backend's siteverify answered %s", res.VerifyText)
	}
	if verdict.Hostname != "127.0.0.1" {
		t.Errorf("siteverify hostname %q, want the demo page's 127.0.0.1", verdict.Hostname)
	}
	for _, c := range res.Console {
		t.Errorf("console: %s", c)
	}
}

// (b) Bots answering at random never get a token: a few tries in the browser, and 50
// requests through the public HTTP API, which refuses the bot after
// challenge.FailuresToBlock failures.
func TestStackRandomBotsNeverGetAToken(t *testing.T) {
	d := startStack(t)
	t.Run("browser", func(t *testing.T) {
		requireBrowser(t)
		var res randomResult
		runScenario(t, "random", map[string]any{"pageURL": d.DemoURL, "attempts": 3}, &res)
		checkRandomBot(t, res, 3)
	})
	t.Run("http", func(t *testing.T) {
		randomBotOverHTTP(t, d, "127.77.0.1", 50)
	})
}

type apiChallenge struct {
	ID    string `json:"id"`
	Tasks []struct {
		ID    string `json:"id"`
		Kind  string `json:"kind"`
		Tiles []struct {
			ID string `json:"id"`
		} `json:"tiles"`
	} `json:"tasks"`
}

type apiResult struct {
	Pass      bool          `json:"pass"`
	Token     string        `json:"token"`
	Challenge *apiChallenge `json:"challenge"`
	Error     *struct {
		Code string `json:"code"`
	} `json:"error"`
}

func postJSON(t *testing.T, client *http.Client, u string, body any) (int, apiResult) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := client.Post(u, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var res apiResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("POST %s: status %d, not JSON: %q", u, resp.StatusCode, b)
	}
	return resp.StatusCode, res
}

// randomBotOverHTTP plays a client that speaks docs/API.md but answers every task with
// coin flips, sending n requests from its own loopback address source (so the stack's
// per-IP windows hold only the bot's traffic). It must never get a token, and it must be
// refused — 429 try_later — once its failures reach challenge.FailuresToBlock. A coin
// flipper passes the standard challenge 1 time in 6,144 or less and every extra grid it
// is given makes that 64 times rarer; the refusal ends the attempts long before luck can
// matter, so the bot's chance over the whole run is below one in a million.
func randomBotOverHTTP(t *testing.T, d *demoInfo, source string, n int) {
	u, err := url.Parse(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := loopbackClient(source)
	issue := func() (int, apiResult) {
		return postJSON(t, client, d.URL+"/1/challenges", map[string]any{"sitekey": d.Sitekey, "host": u.Hostname(), "hl": "en", "telemetry": map[string]any{}})
	}
	status, res := issue()
	if status != http.StatusOK || res.Challenge == nil {
		t.Fatalf("first challenge: status %d %+v", status, res)
	}
	graded, refusedAt, requests, reissued := 0, -1, 1, 0
	var tasks []int
	for requests < n {
		ch := res.Challenge
		if ch == nil {
			// Refused: keep asking. The answer that crossed the threshold was counted on
			// the spot, but the risk function counts it for the windows asynchronously:
			// until it has, one more challenge may be issued (and is graded like any other).
			requests++
			status, res = issue()
			if res.Pass || res.Token != "" {
				t.Fatalf("request %d: issuing gave a token to the bot", requests)
			}
			if status == http.StatusOK && res.Challenge != nil {
				if reissued++; reissued > 3 {
					t.Fatalf("request %d: %d challenges issued after the refusal; the counts should have caught up", requests, reissued)
				}
				continue
			}
			if status != http.StatusTooManyRequests || res.Error == nil || res.Error.Code != "try_later" {
				t.Fatalf("request %d after the refusal: status %d %+v, want 429 try_later", requests, status, res.Error)
			}
			res.Challenge = nil
			continue
		}
		tasks = append(tasks, len(ch.Tasks))
		var answers []map[string]any
		for _, task := range ch.Tasks {
			switch task.Kind {
			case "image_grid":
				sel := []string{}
				for _, tile := range task.Tiles {
					if rand.IntN(2) == 1 {
						sel = append(sel, tile.ID)
					}
				}
				answers = append(answers, map[string]any{"task": task.ID, "selected": sel})
			default:
				answers = append(answers, map[string]any{"task": task.ID, "choice": []string{"yes", "no"}[rand.IntN(2)]})
			}
		}
		requests++
		status, res = postJSON(t, client, d.URL+"/1/challenges/"+url.PathEscape(ch.ID)+"/answers",
			map[string]any{"sitekey": d.Sitekey, "answers": answers, "telemetry": map[string]any{}})
		if res.Pass || res.Token != "" {
			t.Fatalf("request %d: a random answer got a token (status %d, token %q)", requests, status, res.Token)
		}
		switch {
		case status == http.StatusOK && res.Challenge != nil:
			graded++
		case status == http.StatusTooManyRequests && res.Error != nil && res.Error.Code == "try_later":
			graded++ // the failing answer was graded, then the next challenge refused
			if refusedAt < 0 {
				refusedAt = graded
			}
			res.Challenge = nil
		default:
			t.Fatalf("request %d: status %d %+v: want pass:false with a fresh challenge, or 429 try_later", requests, status, res)
		}
	}
	t.Logf("random bot over HTTP: %d answers graded wrong (tasks per challenge %v), refused after failure %d, %d requests, %d challenges while the counts caught up; no token",
		graded, tasks, refusedAt, requests, reissued)
	if res.Challenge != nil || status != http.StatusTooManyRequests {
		t.Errorf("the bot's last request was answered %d with a challenge: it should still be refused", status)
	}
	// The risk function counts failures asynchronously: allow a few in flight.
	if refusedAt < challenge.FailuresToBlock || refusedAt > challenge.FailuresToBlock+4 {
		t.Errorf("refused after %d failures, want %d (a few more while the counts catch up)", refusedAt, challenge.FailuresToBlock)
	}
	if slices.Max(tasks) <= 3 {
		t.Errorf("tasks per challenge %v: the bot's challenges should have grown beyond the standard 3", tasks)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// siteverify calls the stack's /siteverify as an integrator backend would.
func siteverify(t *testing.T, base, secret, response string) map[string]any {
	t.Helper()
	resp, err := http.PostForm(base+"/siteverify", url.Values{"secret": {secret}, "response": {response}})
	if err != nil {
		t.Fatalf("siteverify: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("siteverify: status %d, not JSON: %v", resp.StatusCode, err)
	}
	return out
}

// (c) The test sitekey on a page with a strict CSP passes through execute({async:true}),
// and the token verifies with the test secret.
func TestStackTestSitekeyUnderStrictCSP(t *testing.T) {
	requireBrowser(t)
	d := startStack(t)
	pages := newPageServer(t, d.URL, nil)
	res := runCSP(t, pages)
	var r struct{ Response, Key string }
	if err := json.Unmarshal([]byte(res.Result), &r); err != nil || r.Response != testToken {
		t.Fatalf("execute({async:true}) under strict CSP: %q", res.Result)
	}
	if v := siteverify(t, d.URL, testSecret, r.Response); v["success"] != true {
		t.Fatalf("siteverify of the test token with the test secret: %v", v)
	}
}

// (d) A page using hCaptcha's official @hcaptcha/loader, pointed at the stack with apihost
// or scriptSource, renders the widget and gets the test token.
func TestStackOfficialHCaptchaLoader(t *testing.T) {
	requireBrowser(t)
	d := startStack(t)
	pages := newPageServer(t, d.URL, nil)
	checkLoader(t, pages, d.URL)
	if v := siteverify(t, d.URL, testSecret, testToken); v["success"] != true {
		t.Fatalf("siteverify of the loader's test token: %v", v)
	}
}

// (e) Dark theme in German on the demo sitekey: the label is German, the challenge dialog
// opens in the same theme, and screenshots are kept for a person to look at.
func TestStackDarkGermanWidget(t *testing.T) {
	requireBrowser(t)
	d := startStack(t)
	pages := newPageServer(t, d.URL, nil)
	var res themeResult
	runScenario(t, "theme", map[string]any{
		"pageURL":    pages.URL("/form", url.Values{"sitekey": {d.Sitekey}, "theme": {"dark"}, "hl": {"de"}}),
		"name":       "stack-dark-de",
		"openDialog": true,
	}, &res)
	if res.Widget.Label != "Ich bin ein Mensch" {
		t.Errorf("checkbox label %q, want Ich bin ein Mensch", res.Widget.Label)
	}
	if res.Widget.BoxBackground != "rgb(31, 33, 36)" || res.Dialog.Background != res.Widget.BoxBackground {
		t.Errorf("dark theme backgrounds: widget %q dialog %q", res.Widget.BoxBackground, res.Dialog.Background)
	}
	if res.Dialog.Title != "Bestätigen Sie, dass Sie ein Mensch sind" {
		t.Errorf("dialog title %q", res.Dialog.Title)
	}
	if !containsAll(res.Dialog.Buttons, "Neue Aufgabe", "Weiter", "Schließen") {
		t.Errorf("dialog buttons %v are not German", res.Dialog.Buttons)
	}
	for _, c := range res.Console {
		t.Errorf("console: %s", c)
	}
	t.Logf("screenshots: %s %s %s", res.WidgetShot, res.DialogShot, res.YesNoShot)
}

func containsAll(have []string, want ...string) bool {
	joined := "\x00" + strings.Join(have, "\x00") + "\x00"
	for _, w := range want {
		if !strings.Contains(joined, "\x00"+w+"\x00") {
			return false
		}
	}
	return true
}

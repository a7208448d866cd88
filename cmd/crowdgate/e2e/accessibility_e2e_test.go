package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/web"
)

// Accessibility users (issue 5 item 5): a visitor who cannot solve images signs up with an
// email address, confirms the mailed link and passes with a text question. First the
// widget against the fake API (fakea11y_test.go), then the whole local stack.

// runA11yScenario runs testdata/accessibility.mjs <name> like runScenario runs scenarios.mjs.
func runA11yScenario(t *testing.T, name string, cfg map[string]any, out any) {
	t.Helper()
	runScript(t, "accessibility.mjs", name, cfg, out)
}

// Observations of testdata/accessibility.mjs.
type a11yFocus struct {
	ID      string `json:"id"`
	Tag     string `json:"tag"`
	Type    string `json:"type"`
	InDlg   bool   `json:"inDialog"`
	Text    string `json:"text"`
	Outline bool   `json:"outline"`
	Label   string `json:"label"`
}

type a11yDialog struct {
	ID       string `json:"id"`
	Task     string `json:"task"`
	Error    string `json:"error"`
	Question string `json:"question"`
	Input    *struct {
		LabelledBy string `json:"labelledBy"`
		Type       string `json:"type"`
		MaxLength  int    `json:"maxLength"`
	} `json:"input"`
	Alt *struct {
		Text   string `json:"text"`
		Hidden bool   `json:"hidden"`
		Tag    string `json:"tag"`
	} `json:"alt"`
	Link *struct {
		Href        string `json:"href"`
		Target      string `json:"target"`
		Rel         string `json:"rel"`
		Text        string `json:"text"`
		DescribedBy string `json:"describedBy"`
	} `json:"link"`
	Info  string `json:"info"`
	Tiles int    `json:"tiles"`
}

type a11yWidget struct {
	Checked string `json:"checked"`
	Status  string `json:"status"`
	Fields  []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"fields"`
	Events   []string `json:"events"`
	Response string   `json:"response"`
	RespKey  string   `json:"respKey"`
	// PageStatus is the demo page's #captcha-status, which its data-callback fills.
	PageStatus string `json:"pageStatus"`
}

func (w a11yWidget) field(name string) string {
	for _, f := range w.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

type a11yCookieInfo struct {
	Name     string  `json:"name"`
	Value    string  `json:"value"`
	HTTPOnly bool    `json:"httpOnly"`
	SameSite string  `json:"sameSite"`
	Secure   bool    `json:"secure"`
	Expires  float64 `json:"expires"`
}

// a11yJourney is what the text, csp and enroll scenarios report about the text challenge.
type a11yJourney struct {
	Console         []string         `json:"console"`
	Cookies         []a11yCookieInfo `json:"cookies"`
	Dialog          a11yDialog       `json:"dialog"`
	AltFocus        a11yFocus        `json:"altFocus"`
	Text            a11yDialog       `json:"text"`
	FocusOnQuestion a11yFocus        `json:"focusOnQuestion"`
	AfterWrong      *a11yDialog      `json:"afterWrong"`
	FocusAfterWrong a11yFocus        `json:"focusAfterWrong"`
	Question        string           `json:"question"`
	Answer          string           `json:"answer"`
	Result          struct {
		Outcome string `json:"outcome"`
	} `json:"result"`
	After          a11yWidget `json:"after"`
	FocusAfterPass a11yFocus  `json:"focusAfterPass"`
	VerifyText     string     `json:"verifyText"`
}

func (j a11yJourney) cookie(name string) *a11yCookieInfo {
	for i := range j.Cookies {
		if j.Cookies[i].Name == name {
			return &j.Cookies[i]
		}
	}
	return nil
}

// checkTextJourney asserts what a keyboard and screen-reader user experiences from the
// image challenge to a pass with a text question (one wrong answer on the way when
// wrongFirst).
func checkTextJourney(t *testing.T, j a11yJourney, wrongFirst bool) {
	t.Helper()
	if j.Dialog.Tiles == 0 || j.Dialog.Alt == nil || j.Dialog.Alt.Tag != "button" || j.Dialog.Alt.Hidden {
		t.Errorf("the dialog opened with %d image tiles and accessibility control %+v; want images and a visible button", j.Dialog.Tiles, j.Dialog.Alt)
	}
	if j.AltFocus.ID != "accessibility" || !j.AltFocus.Outline || !j.AltFocus.InDlg {
		t.Errorf("Shift+Tab from the first tile reached %+v; want the accessibility button with a visible focus outline", j.AltFocus)
	}
	if j.Text.Input == nil || j.Text.Tiles != 0 {
		t.Fatalf("after choosing the accessibility challenge: %+v; want a text input in place of the images", j.Text)
	}
	// The input takes no more than the server grades (longer is 400 invalid_answer, which the
	// visitor would see only as "Something went wrong").
	if j.Text.Input.MaxLength != accessibility.MaxAnswerRunes {
		t.Errorf("the answer input takes %d characters, the server at most %d", j.Text.Input.MaxLength, accessibility.MaxAnswerRunes)
	}
	if !strings.HasPrefix(j.Text.ID, "a_") || j.Text.Question == "" || j.Text.Input.Type != "text" {
		t.Errorf("text challenge %q question %q input %+v", j.Text.ID, j.Text.Question, j.Text.Input)
	}
	// Screen readers read an input's label when it gets focus: the label is the question.
	if j.FocusOnQuestion.ID != "answer" || j.FocusOnQuestion.Label != j.Text.Question {
		t.Errorf("focus after the question arrived: %+v; want the input labelled %q", j.FocusOnQuestion, j.Text.Question)
	}
	if j.Text.Alt == nil || !j.Text.Alt.Hidden {
		t.Errorf("the accessibility button is still offered in the text challenge: %+v", j.Text.Alt)
	}
	if wrongFirst {
		if j.AfterWrong == nil || j.AfterWrong.Input == nil || j.AfterWrong.ID == j.Text.ID {
			t.Fatalf("after a wrong answer: %+v; want a new text question", j.AfterWrong)
		}
		if j.AfterWrong.Error == "" {
			t.Error("a wrong answer was not announced (the role=alert element is empty)")
		}
		if j.FocusAfterWrong.ID != "answer" || j.FocusAfterWrong.Label != j.AfterWrong.Question {
			t.Errorf("focus after a wrong answer: %+v; want the new question's input", j.FocusAfterWrong)
		}
	}
	if j.Result.Outcome != "passed" {
		t.Fatalf("answer %q to %q: %s", j.Answer, j.Question, j.Result.Outcome)
	}
}

// checkTextPass asserts the success path is the visual one: fields, data-callback (on the
// demo page, the status line its callback writes), getResponse.
func checkTextPass(t *testing.T, j a11yJourney, demo bool) string {
	t.Helper()
	tok := j.After.field("h-captcha-response")
	if tok == "" || j.After.field("g-recaptcha-response") != tok || j.After.Response != tok {
		t.Fatalf("after the text pass: fields %+v getResponse %q; want the token everywhere", j.After.Fields, j.After.Response)
	}
	if demo && !strings.HasPrefix(j.After.PageStatus, "Done") {
		t.Errorf("the demo page's status line says %q; its data-callback did not run", j.After.PageStatus)
	}
	if !demo && !slices.Contains(j.After.Events, "callback:"+tok) {
		t.Errorf("data-callback events %v, want callback:<token>", j.After.Events)
	}
	if j.FocusAfterPass.ID != "checkbox" {
		t.Errorf("focus after passing: %+v, want the checkbox", j.FocusAfterPass)
	}
	return tok
}

// newSolver answers text questions the way a person would, for the scenarios.
func newSolver(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("q")
		a, err := solveTextQuestion(q)
		if err != nil {
			t.Errorf("solver: %v", err)
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		web.WriteJSON(w, http.StatusOK, map[string]string{"answer": a})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

var (
	solverNumbers = func() map[string]int {
		m := map[string]int{}
		for i, w := range numberWords {
			m[w] = i
		}
		for i, w := range []string{"thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"} {
			m[w] = 30 + 10*i
		}
		return m
	}()
	solverOps = []struct {
		words []string
		apply func(a, b int) int
	}{
		{[]string{"plus", "added to", "and"}, func(a, b int) int { return a + b }},
		{[]string{"minus", "take away", "less"}, func(a, b int) int { return a - b }},
		{[]string{"times", "multiplied by"}, func(a, b int) int { return a * b }},
	}
	solverCategories = map[string][]string{
		"colour": {"red", "blue", "green", "yellow", "orange", "purple", "pink", "brown", "black", "white", "grey", "gray", "violet"},
		"color":  {"red", "blue", "green", "yellow", "orange", "purple", "pink", "brown", "black", "white", "grey", "gray", "violet"},
		"animal": {"cat", "dog", "horse", "cow", "sheep", "goat", "pig", "lion", "tiger", "bear", "mouse", "rabbit", "fox",
			"wolf", "duck", "fish", "bird", "elephant", "monkey", "zebra", "frog", "owl", "deer", "snake", "hen", "chicken", "giraffe"},
		"fruit": {"apple", "banana", "pear", "orange", "cherry", "grape", "lemon", "plum", "peach", "melon", "mango", "strawberry"},
	}
	solverListSep = regexp.MustCompile(`,|\bor\b|\band\b|[?.;!]`)
	firstLetter   = regexp.MustCompile(`first letter of (?:the word )?[“"'‘]?([\pL]+)`)
	lastLetter    = regexp.MustCompile(`last letter of (?:the word )?[“"'‘]?([\pL]+)`)
	arithmeticRE  = regexp.MustCompile(`what is ([a-z0-9 -]+?)\?`)
)

// solveTextQuestion solves the question templates of the contract: arithmetic in words,
// "which word in this list is a colour/animal", "type the first letter of …".
func solveTextQuestion(question string) (string, error) {
	q := strings.ToLower(strings.TrimSpace(question))
	if m := firstLetter.FindStringSubmatch(q); m != nil {
		return string([]rune(m[1])[:1]), nil
	}
	if m := lastLetter.FindStringSubmatch(q); m != nil {
		r := []rune(m[1])
		return string(r[len(r)-1:]), nil
	}
	for cat, members := range solverCategories {
		if !strings.Contains(q, cat) {
			continue
		}
		list := q
		if i := strings.LastIndex(q, ":"); i >= 0 {
			list = q[i+1:]
		}
		// Whole list items only: "orange-free" is no colour.
		for _, item := range solverListSep.Split(list, -1) {
			if w := strings.Trim(strings.TrimSpace(item), `"'“”‘’`); slices.Contains(members, w) {
				return w, nil
			}
		}
	}
	if m := arithmeticRE.FindStringSubmatch(q); m != nil {
		expr := strings.ReplaceAll(m[1], "-", " ")
		for _, op := range solverOps {
			for _, word := range op.words {
				left, right, ok := strings.Cut(expr, " "+word+" ")
				if !ok {
					continue
				}
				a, errA := parseNumber(left)
				b, errB := parseNumber(right)
				if errA == nil && errB == nil {
					return strconv.Itoa(op.apply(a, b)), nil
				}
			}
		}
	}
	return "", fmt.Errorf("no solver for the question %q: add its template to solveTextQuestion", question)
}

// parseNumber reads "7", "seven" or "twenty one".
func parseNumber(s string) (int, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		return n, nil
	}
	total, seen := 0, false
	for _, w := range strings.Fields(s) {
		n, ok := solverNumbers[w]
		if !ok {
			return 0, fmt.Errorf("not a number: %q", s)
		}
		total += n
		seen = true
	}
	if !seen {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return total, nil
}

func TestAccessibilitySolverReadsTheTemplates(t *testing.T) {
	for q, want := range map[string]string{
		"What is four plus seven? Answer with a number.":               "11",
		"What is twenty-one minus 3? Answer with a number.":            "18",
		"What is three times five?":                                    "15",
		"Which word in this list is a colour: table, green, river?":    "green",
		"Which word in this list is an animal: chair, horse, cloud?":   "horse",
		`Type the first letter of the word "Window".`:                  "w",
		"Type the first letter of “banana”.":                           "b",
		"Which word in this list is a colour: orange-free, lamp, red?": "red",
	} {
		got, err := solveTextQuestion(q)
		if err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", q, got, err, want)
		}
	}
	if _, err := solveTextQuestion("What is the airspeed of an unladen swallow?"); err == nil {
		t.Error("the solver answered a question it cannot know")
	}
	// The stack's own English templates (the demo page asks in English).
	rng := rand.New(rand.NewPCG(1, 2))
	for range 400 {
		q := accessibility.NewQuestion("en", rng)
		got, err := solveTextQuestion(q.Text)
		if err != nil || !slices.Contains(q.Answers, accessibility.Normalize(got)) {
			t.Errorf("%q: solved %q (%v), the stack accepts %q", q.Text, got, err, q.Answers)
		}
	}
}

// ---- the widget against the fake API ----

func TestAccessibilityWidgetTextChallengeWithKeyboard(t *testing.T) {
	requireBrowser(t)
	api := newFakeA11y(t)
	pages := newPageServer(t, api.URL(), api.verify)
	var res a11yJourney
	runA11yScenario(t, "text", map[string]any{
		"confirmURL": api.URL() + "/accessibility/confirm",
		"pageURL":    pages.URL("/form", url.Values{"sitekey": {fakeSitekey}}),
		"solverURL":  newSolver(t),
		"wrongFirst": true,
		"submit":     true,
	}, &res)
	if c := res.cookie(a11yCookie); c == nil || !c.HTTPOnly {
		t.Fatalf("cookies after confirming: %+v; want an HttpOnly %s", res.Cookies, a11yCookie)
	}
	if res.Dialog.Alt == nil || res.Dialog.Alt.Text != "Accessibility challenge" {
		t.Errorf("accessibility button %+v, want it labelled Accessibility challenge", res.Dialog.Alt)
	}
	checkTextJourney(t, res, true)
	if res.AfterWrong.Error != "That answer was wrong. Here is a new question." {
		t.Errorf("wrong-answer message %q", res.AfterWrong.Error)
	}
	tok := checkTextPass(t, res, false)
	// The key of the visual challenge set aside: an a_ id would name the accessibility path.
	if !strings.HasPrefix(res.After.RespKey, "c_") {
		t.Errorf("getRespKey %q after a text pass, want the visual challenge's id", res.After.RespKey)
	}
	var verdict map[string]any
	if err := json.Unmarshal([]byte(res.VerifyText), &verdict); err != nil || verdict["success"] != true {
		t.Fatalf("the integrator backend said %q (%v) for %s, want success", res.VerifyText, err, tok)
	}
	visual, visualCookie, a11y, a11yCookies := api.a11yCounts()
	if visual == 0 || visualCookie != 0 {
		t.Errorf("%d of %d image-challenge requests carried a cookie; only the accessibility routes may", visualCookie, visual)
	}
	// Issue, wrong answer, issue, right answer: all with the cookie.
	if a11y != 4 || a11yCookies != a11y {
		t.Errorf("%d accessibility requests, %d with the cookie; want 4, all with it", a11y, a11yCookies)
	}
	api.a11yMu.Lock()
	bodies := slices.Clone(api.a11yBodies)
	setAside := slices.Clone(api.setAside)
	api.a11yMu.Unlock()
	for _, b := range bodies {
		if b["sitekey"] != fakeSitekey || b["host"] != "127.0.0.1" || b["hl"] != "en" || len(b) != 3 {
			t.Errorf("text challenge request %v: want exactly sitekey, host and hl", b)
		}
	}
	// Both answers name the visual challenge set aside, which the pass ends (API.md).
	if len(setAside) != 2 || setAside[0] != res.After.RespKey || setAside[1] != res.After.RespKey {
		t.Errorf("text answers named set_aside %q, want the response key %q in both", setAside, res.After.RespKey)
	}
	for _, c := range res.Console {
		t.Errorf("console: %s", c)
	}
}

// The strict-CSP page (no inline script or style) with an invisible widget: execute({async:
// true}) opens the dialog and the text pass resolves it.
func TestAccessibilityWidgetUnderStrictCSPResolvesExecute(t *testing.T) {
	requireBrowser(t)
	api := newFakeA11y(t)
	pages := newPageServer(t, api.URL(), api.verify)
	var res struct {
		a11yJourney
		ExecResult string     `json:"execResult"`
		Violations []string   `json:"violations"`
		Widget     a11yWidget `json:"widget"`
	}
	runA11yScenario(t, "csp", map[string]any{
		"confirmURL": api.URL() + "/accessibility/confirm",
		"pageURL":    pages.URL("/csp", url.Values{"sitekey": {fakeSitekey}}),
		"solverURL":  newSolver(t),
	}, &res)
	checkTextJourney(t, res.a11yJourney, false)
	var r struct{ Response, Key string }
	if err := json.Unmarshal([]byte(res.ExecResult), &r); err != nil || !strings.HasPrefix(r.Response, "P1_") || !strings.HasPrefix(r.Key, "c_") {
		t.Fatalf("execute({async:true}) settled with %q (%v); want {response: P1_…, key: c_…} (the visual challenge set aside)", res.ExecResult, err)
	}
	if !api.verify(r.Response) {
		t.Error("the token execute() resolved with does not verify")
	}
	if len(res.Violations) > 0 {
		t.Errorf("CSP violations: %v", res.Violations)
	}
	for _, c := range res.Console {
		t.Errorf("console: %s", c)
	}
}

type a11ySignup struct {
	Console         []string    `json:"console"`
	Dialog          a11yDialog  `json:"dialog"`
	AltFocus        a11yFocus   `json:"altFocus"`
	First           a11yDialog  `json:"first"`
	FocusOnLink     a11yFocus   `json:"focusOnLink"`
	TabURL          string      `json:"tabURL"`
	OpenerVisible   bool        `json:"openerVisible"`
	Again           a11yDialog  `json:"again"`
	FocusOnQuestion a11yFocus   `json:"focusOnQuestion"`
	Limited         *a11yDialog `json:"limited"`
	Widget          a11yWidget  `json:"widget"`
}

// checkSignupLink asserts what a visitor without the cookie gets: an explanation and a
// link to the sign-up page that opens in a new tab, with the images still there.
func checkSignupLink(t *testing.T, res a11ySignup, signupURL string) {
	t.Helper()
	l := res.First.Link
	if l == nil {
		t.Fatalf("without the cookie the dialog shows %+v; want the sign-up link", res.First)
	}
	if l.Href != signupURL || l.Target != "_blank" || !slices.Contains(strings.Fields(l.Rel), "noopener") {
		t.Errorf("sign-up link %+v; want %s, target=_blank, rel=noopener", l, signupURL)
	}
	if res.First.Info == "" || l.DescribedBy != "signup-info" {
		t.Errorf("sign-up explanation %q, link described by %q", res.First.Info, l.DescribedBy)
	}
	if res.FocusOnLink.ID != "signup" {
		t.Errorf("focus after the sign-up link appeared: %+v, want the link", res.FocusOnLink)
	}
	if res.First.Tiles == 0 || res.First.Input != nil {
		t.Errorf("without the cookie the image challenge should stay: %d tiles, input %+v", res.First.Tiles, res.First.Input)
	}
}

// Without the cookie: the sign-up explanation and link (German page), the new tab confirms,
// the same dialog then gets a question, and asking for more than the token's allowance
// shows the rate-limited message.
func TestAccessibilityWidgetSignUpLinkThenRateLimit(t *testing.T) {
	requireBrowser(t)
	api := newFakeA11y(t)
	api.limit = 2
	pages := newPageServer(t, api.URL(), api.verify)
	var res a11ySignup
	runA11yScenario(t, "signup", map[string]any{
		"pageURL": pages.URL("/form", url.Values{"sitekey": {fakeSitekey}, "hl": {"de"}}),
		"signUp":  true,
		"fresh":   3,
	}, &res)
	checkSignupLink(t, res, api.URL()+"/accessibility?hl=de") // the widget's language
	if res.Dialog.Alt == nil || res.Dialog.Alt.Text != "Barrierefreie Aufgabe" {
		t.Errorf("hl=de accessibility button %+v", res.Dialog.Alt)
	}
	if l := res.First.Link; l != nil && l.Text != "Für Textfragen anmelden (öffnet einen neuen Tab)" {
		t.Errorf("hl=de sign-up link text %q", l.Text)
	}
	if res.TabURL != api.URL()+"/accessibility?hl=de" || res.OpenerVisible {
		t.Errorf("the link opened %q with window.opener visible=%v; want the sign-up page without an opener", res.TabURL, res.OpenerVisible)
	}
	if res.Again.Input == nil || res.FocusOnQuestion.ID != "answer" {
		t.Fatalf("after signing up in the other tab: %+v, focus %+v; want the text question", res.Again, res.FocusOnQuestion)
	}
	if res.Limited == nil || !strings.Contains(res.Limited.Error, "10 Min") {
		t.Fatalf("over the token's limit the dialog shows %+v; want the rate-limited message with 10 minutes", res.Limited)
	}
	if !slices.Contains(res.Widget.Events, "error:rate-limited") {
		t.Errorf("error-callback events %v, want rate-limited", res.Widget.Events)
	}
	if visual, withCookie, _, _ := api.a11yCounts(); visual == 0 || withCookie != 0 {
		t.Errorf("%d of %d image-challenge requests carried a cookie", withCookie, visual)
	}
}

// ---- the whole local stack ----

var confirmLinkRE = regexp.MustCompile(`https?://[^\s"<>]+/accessibility/confirm\?c=([A-Za-z0-9_-]+)`)

// mailbox hands out the confirm links mailed to an address, newest first, each once.
type mailbox struct {
	t      *testing.T
	d      *demoInfo
	to     string
	handed map[string]bool
	codes  []string // in the order handed out
}

func (m *mailbox) next() (link, code string, err error) {
	deadline := time.Now().Add(asyncWait)
	for {
		resp, err := http.Get(m.d.URL + "/_outbox?to=" + url.QueryEscape(m.to))
		if err != nil {
			return "", "", err
		}
		var box struct {
			Messages []struct {
				To   string `json:"to"`
				Text string `json:"text"`
			} `json:"messages"`
		}
		err = json.NewDecoder(resp.Body).Decode(&box)
		resp.Body.Close()
		if err != nil {
			return "", "", err
		}
		for _, msg := range box.Messages { // newest first
			if c := confirmLinkRE.FindStringSubmatch(msg.Text); c != nil && !m.handed[c[1]] {
				m.handed[c[1]] = true
				m.codes = append(m.codes, c[1])
				remember(true, c[1])
				return c[0], c[1], nil
			}
		}
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("no new confirm link mailed within %s (%d messages)", asyncWait, len(box.Messages))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// serve answers GET / with the next confirm link, for the enroll scenario.
func (m *mailbox) serve() string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		link, _, err := m.next()
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		web.WriteJSON(w, http.StatusOK, map[string]string{"link": link})
	}))
	m.t.Cleanup(srv.Close)
	return srv.URL
}

// a11yIssue asks the stack for a text question as the widget on the demo page would.
func a11yIssue(t *testing.T, d *demoInfo, token string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"sitekey": d.Sitekey, "host": "127.0.0.1", "hl": "en"})
	req, _ := http.NewRequest(http.MethodPost, d.URL+"/1/accessibility/challenges", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", d.URL)
	if token != "" {
		req.AddCookie(&http.Cookie{Name: a11yCookie, Value: token})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if resp.Header.Get("Access-Control-Allow-Origin") != d.URL || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("text challenge answer CORS: Allow-Origin %q, Allow-Credentials %q; want the request's origin with credentials",
			resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Allow-Credentials"))
	}
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, str(out, "id")
	}
	return resp.StatusCode, str(out, "error", "code")
}

// postForm posts a form with an optional accessibility cookie, without following redirects.
func postForm(t *testing.T, u string, form url.Values, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.AddCookie(&http.Cookie{Name: a11yCookie, Value: token})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func responseCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// tokenHolders lists the records that hold the token or a hash of it, except the
// token's rate-limit counters: like every counter they stay until their window ends.
func tokenHolders(stores map[string][]string, token string) []string {
	var found []string
	for store, texts := range stores {
		for _, text := range texts {
			if strings.Contains(text, `"kind":"`+privacy.KindAccessibilityRateLimit+`"`) {
				continue
			}
			for _, v := range tokenTraces(token) {
				if strings.Contains(text, strings.ToLower(v)) {
					found = append(found, fmt.Sprintf("%s holds %q: %.300s", store, v, text))
				}
			}
		}
	}
	return found
}

// tokenTraces are the token and the encodings a stored hash of it could take.
func tokenTraces(token string) []string {
	sum := sha256.Sum256([]byte(token))
	return []string{token, hex.EncodeToString(sum[:]), base64.RawURLEncoding.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(sum[:])}
}

func TestAccessibilityEndToEnd(t *testing.T) {
	requireBrowser(t)
	if !slices.Contains(routes.Functions(), "accessibility") {
		t.Skip("the route table has no accessibility function yet")
	}
	d := startStack(t)
	email := fmt.Sprintf("Reader.%d@A11y-Test.example", rand.IntN(1<<30))
	remember(false, email)
	box := &mailbox{t: t, d: d, to: email, handed: map[string]bool{}}
	solver := newSolver(t)

	token := enrollAndPass(t, d, box, email, solver)

	// The function logs into the stack's log, which TestZZLogsHoldNoPersonalDataOrSecrets
	// scans for the address, the codes and the tokens remembered here.
	for _, route := range []string{"POST /accessibility/confirm", "POST /1/accessibility/challenges/{id}/answers"} {
		if !strings.Contains(serve.log.String(), `"route":"`+route+`"`) {
			t.Errorf("the stack's log has no line for %s: the log scan would not cover the accessibility function", route)
		}
	}

	// A confirm code is single use.
	if resp := postForm(t, d.URL+"/accessibility/confirm", url.Values{"c": {box.codes[0]}}, ""); resp.StatusCode != http.StatusBadRequest || responseCookie(resp, a11yCookie) != nil {
		t.Errorf("confirming a used code again: %d, cookie %v; want 400 and none", resp.StatusCode, responseCookie(resp, a11yCookie))
	}

	// Without the cookie the accessibility button offers the sign-up page.
	t.Run("no cookie", func(t *testing.T) {
		var s a11ySignup
		runA11yScenario(t, "signup", map[string]any{"pageURL": d.DemoURL}, &s)
		checkSignupLink(t, s, d.URL+"/accessibility?hl=en") // the widget's (the browser's) language
	})

	// The email is in the outbox only: no table or bucket holds it, and no table holds the
	// token except its hash in the accounts table.
	stores := scanStores(t, d)
	for _, f := range tracesIn(stores, []string{email, strings.ToLower(email)}, nil) {
		t.Error(f)
	}
	for _, f := range tracesIn(stores, tokenTraces(token), func(store string) bool { return store == "table accounts" }) {
		t.Error(f)
	}

	// Revoked, the token no longer works and the cookie is cleared.
	if status, id := a11yIssue(t, d, token); status != http.StatusOK || !strings.HasPrefix(id, "a_") {
		t.Fatalf("text question with the token before revoking: %d %q", status, id)
	}
	resp := postForm(t, d.URL+"/accessibility/revoke", nil, token)
	if resp.StatusCode >= 400 {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
	if cleared := responseCookie(resp, a11yCookie); cleared == nil || (cleared.MaxAge >= 0 && cleared.Value != "") {
		t.Errorf("revoke did not clear the cookie: %+v", cleared)
	}
	if status, code := a11yIssue(t, d, token); status != http.StatusUnauthorized || code != "accessibility_token_required" {
		t.Errorf("text question with a revoked token: %d %q, want 401 accessibility_token_required", status, code)
	}
	for _, f := range tokenHolders(scanStores(t, d), token) {
		t.Errorf("after revoking: %s", f)
	}

	// A privacy delete request for the address ends its tokens too.
	t.Run("privacy delete", func(t *testing.T) {
		if resp := postForm(t, d.URL+"/accessibility/signup", url.Values{"email": {email}}, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("sign-up over HTTP: %d", resp.StatusCode)
		}
		_, code, err := box.next()
		if err != nil {
			t.Fatal(err)
		}
		resp := postForm(t, d.URL+"/accessibility/confirm", url.Values{"c": {code}}, "")
		set := responseCookie(resp, a11yCookie)
		if resp.StatusCode != http.StatusOK || set == nil || set.Value == "" {
			t.Fatalf("confirm over HTTP: %d, cookie %v", resp.StatusCode, set)
		}
		second := set.Value
		remember(true, second)
		if !set.HttpOnly || !set.Secure || set.SameSite != http.SameSiteNoneMode || set.MaxAge != 86400 || set.Path != "/" {
			t.Errorf("cookie attributes %+v; want Path=/, Max-Age=86400, HttpOnly, SameSite=None and Secure (browsers drop SameSite=None without it)", set)
		}
		if status, id := a11yIssue(t, d, second); status != http.StatusOK {
			t.Fatalf("text question with the new token: %d %q", status, id)
		}
		carriedOut(t, d, subject{email: email}, "delete", true, nil)
		if status, code := a11yIssue(t, d, second); status != http.StatusUnauthorized || code != "accessibility_token_required" {
			t.Errorf("text question after the privacy delete: %d %q, want 401 accessibility_token_required", status, code)
		}
		// The erasure takes the rate-limit counters too: nothing keyed by the token is left.
		for _, f := range tracesIn(scanStores(t, d), append(tokenTraces(second), email), nil) {
			t.Errorf("after the privacy delete: %s", f)
		}
	})
}

// enrollAndPass has a visitor sign up on /accessibility in the browser, confirm the mailed
// link, then pass the demo form with a text question (one wrong answer first); it returns
// the accessibility token the browser got.
func enrollAndPass(t *testing.T, d *demoInfo, box *mailbox, email, solver string) string {
	t.Helper()
	var res struct {
		a11yJourney
		SignupPage struct {
			Lang   string `json:"lang"`
			Inline int    `json:"inline"`
		} `json:"signupPage"`
		AfterSignup          string   `json:"afterSignup"`
		CookiesBeforeConfirm []string `json:"cookiesBeforeConfirm"`
		AfterConfirm         string   `json:"afterConfirm"`
	}
	runA11yScenario(t, "enroll", map[string]any{
		"signupURL":  d.URL + "/accessibility",
		"email":      email,
		"mailURL":    box.serve(),
		"pageURL":    d.DemoURL,
		"solverURL":  solver,
		"wrongFirst": true,
	}, &res)
	if res.SignupPage.Lang != "en" || res.SignupPage.Inline != 0 {
		t.Errorf("sign-up page lang %q with %d inline scripts/styles; want en and none", res.SignupPage.Lang, res.SignupPage.Inline)
	}
	if !strings.Contains(strings.ToLower(res.AfterSignup), "inbox") {
		t.Errorf("after signing up the page says %q; want check your inbox", res.AfterSignup)
	}
	if slices.Contains(res.CookiesBeforeConfirm, a11yCookie) {
		t.Error("opening the confirm link (GET) already set the cookie; mail scanners prefetch links")
	}
	if !strings.Contains(res.AfterConfirm, "24 hours") {
		t.Errorf("after confirming the page says %q", res.AfterConfirm)
	}
	c := res.cookie(a11yCookie)
	if c == nil {
		t.Fatalf("no %s cookie after confirming (cookies %+v, page %q)", a11yCookie, res.Cookies, res.AfterConfirm)
	}
	token := c.Value
	remember(true, token)
	if !strings.HasPrefix(token, "cga_") || !c.HTTPOnly {
		t.Errorf("cookie %s=%.8s… httpOnly=%v; want an HttpOnly cga_ token", c.Name, c.Value, c.HTTPOnly)
	}
	if left := time.Until(time.Unix(int64(c.Expires), 0)); left < 23*time.Hour || left > 24*time.Hour+time.Minute {
		t.Errorf("the cookie lives %v, want 24 hours", left)
	}
	checkTextJourney(t, res.a11yJourney, true)
	checkTextPass(t, res.a11yJourney, true)
	var verdict struct {
		Success    bool     `json:"success"`
		Hostname   string   `json:"hostname"`
		ErrorCodes []string `json:"error-codes"`
	}
	if err := json.Unmarshal([]byte(res.VerifyText), &verdict); err != nil || !verdict.Success || verdict.Hostname != "127.0.0.1" {
		t.Fatalf("the demo backend's siteverify answered %q (%v), want success on 127.0.0.1", res.VerifyText, err)
	}
	// The response key is the visual challenge set aside; a risk lookup of it finds it
	// passed with a clean visual pass's score, not issued and never answered (PRIVACY.md).
	lookup := eventually(t, d.URL, d.Secret, "/v1/risk/challenges/"+res.After.RespKey, func(c map[string]any) bool {
		return c["answer"] != nil && c["issue"] != nil
	})
	if answer, _ := lookup["answer"].(map[string]any); answer["outcome"] != "pass" || answer["score"] != float64(0) || len(answer["reasons"].([]any)) != 0 {
		t.Errorf("risk lookup of the response key after a text pass: %v; want a pass with score 0 and no reasons", lookup)
	}
	for _, line := range res.Console {
		t.Errorf("console: %s", line)
	}

	return token
}

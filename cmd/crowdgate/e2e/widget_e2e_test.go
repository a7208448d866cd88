package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/risk"
)

// Observations the scenarios report (testdata/scenarios.mjs).
type focusInfo struct {
	ID      string `json:"id"`
	Tag     string `json:"tag"`
	Role    string `json:"role"`
	Type    string `json:"type"`
	Tile    string `json:"tile"`
	Choice  string `json:"choice"`
	InDlg   bool   `json:"inDialog"`
	Text    string `json:"text"`
	Outline bool   `json:"outline"`
}

type dialogInfo struct {
	ID         string   `json:"id"`
	Modal      string   `json:"modal"`
	Title      string   `json:"title"`
	Task       string   `json:"task"`
	Error      string   `json:"error"`
	Buttons    []string `json:"buttons"`
	Background string   `json:"background"`
	Direction  string   `json:"direction"`
}

type widgetInfo struct {
	Checked       string `json:"checked"`
	Label         string `json:"label"`
	Status        string `json:"status"`
	BoxBackground string `json:"boxBackground"`
	BoxDirection  string `json:"boxDirection"`
	LabelColor    string `json:"labelColor"`
	CBWidth       string `json:"cbWidth"`
	CBBorder      string `json:"cbBorder"`
	Fields        []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"fields"`
	Events              []string `json:"events"`
	GrecaptchaIsHcaptch bool     `json:"grecaptchaIsHcaptcha"`
	Storage             struct {
		Cookie  string `json:"cookie"`
		Local   int    `json:"local"`
		Session int    `json:"session"`
	} `json:"storage"`
}

// field returns the value of the named response field, and whether it exists.
func (w widgetInfo) field(name string) (string, bool) {
	for _, f := range w.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

type attemptInfo struct {
	ID    string `json:"id"`
	Tasks []struct {
		ID       string   `json:"id"`
		Kind     string   `json:"kind"`
		Alts     []string `json:"alts"`
		Selected []string `json:"selected"`
		Choice   string   `json:"choice"`
	} `json:"tasks"`
	Outcome string `json:"outcome"`
	NextID  string `json:"nextId"`
	Error   string `json:"error"`
}

type solveResult struct {
	Console        []string      `json:"console"`
	CheckboxFocus  focusInfo     `json:"checkboxFocus"`
	Before         widgetInfo    `json:"before"`
	Dialog         dialogInfo    `json:"dialog"`
	FocusOnOpen    focusInfo     `json:"focusOnOpen"`
	Trap           []bool        `json:"trap"`
	Attempts       []attemptInfo `json:"attempts"`
	After          widgetInfo    `json:"after"`
	FocusAfterPass focusInfo     `json:"focusAfterPass"`
	VerifyText     string        `json:"verifyText"`
}

type randomResult struct {
	Console  []string      `json:"console"`
	Attempts []attemptInfo `json:"attempts"`
	Widget   widgetInfo    `json:"widget"`
}

// checkKeyboardSolve asserts what a keyboard-only visitor experiences in the solve
// scenario, whichever API served the challenge.
func checkKeyboardSolve(t *testing.T, res solveResult) {
	t.Helper()
	if res.CheckboxFocus.Role != "checkbox" || !res.CheckboxFocus.Outline {
		t.Errorf("Tab reached %+v: want the role=checkbox element with a visible focus outline", res.CheckboxFocus)
	}
	if res.Before.Checked != "false" {
		t.Errorf("checkbox aria-checked=%q before solving, want false", res.Before.Checked)
	}
	if res.Dialog.Modal != "true" || strings.TrimSpace(res.Dialog.Title) == "" || res.Dialog.ID == "" {
		t.Errorf("dialog %+v: want aria-modal=true, a title from aria-labelledby and data-challenge-id", res.Dialog)
	}
	if !res.FocusOnOpen.InDlg {
		t.Errorf("focus after the dialog opened is outside it: %+v", res.FocusOnOpen)
	}
	if len(res.Trap) == 0 || slices.Contains(res.Trap, false) {
		t.Errorf("Tab/Shift+Tab left the modal dialog: %v", res.Trap)
	}
	if len(res.Attempts) == 0 {
		t.Fatal("no challenge was answered")
	}
	for _, a := range res.Attempts {
		for _, task := range a.Tasks {
			if task.Kind != "image_grid" {
				continue
			}
			for i, alt := range task.Alts {
				if want := fmt.Sprintf("Image %d of %d", i+1, len(task.Alts)); alt != want {
					t.Errorf("tile %d alt %q, want %q", i, alt, want)
				}
			}
		}
	}
	if last := res.Attempts[len(res.Attempts)-1]; last.Outcome != "passed" {
		t.Fatalf("the oracle's answers did not pass: %+v", res.Attempts)
	}
	tok, ok := res.After.field("h-captcha-response")
	if !ok || tok == "" {
		t.Fatalf("h-captcha-response after passing: %q (present %v)", tok, ok)
	}
	if g, ok := res.After.field("g-recaptcha-response"); !ok || g != tok {
		t.Errorf("g-recaptcha-response %q (present %v), want the token too", g, ok)
	}
	if !res.After.GrecaptchaIsHcaptch {
		t.Error("window.grecaptcha is not the hcaptcha object (recaptchacompat is on by default)")
	}
	if res.FocusAfterPass.ID != "checkbox" {
		t.Errorf("focus after passing is on %+v, want back on the checkbox", res.FocusAfterPass)
	}
	if st := res.After.Storage; st.Cookie != "" || st.Local != 0 || st.Session != 0 {
		t.Errorf("the page's browser storage after solving: %+v; the widget keeps nothing there", st)
	}
}

func TestWidgetKeyboardVisitorSolvesAndBackendVerifies(t *testing.T) {
	requireBrowser(t)
	api := newFakeAPI(t)
	pages := newPageServer(t, api.URL(), api.verify)
	var res solveResult
	runScenario(t, "solve", map[string]any{
		"pageURL":   pages.URL("/form", url.Values{"sitekey": {fakeSitekey}}),
		"oracleURL": api.URL() + "/gold",
		"submit":    true,
	}, &res)
	checkKeyboardSolve(t, res)
	if len(res.Attempts) != 1 {
		t.Errorf("needed %d attempts with the right answers, want 1", len(res.Attempts))
	}
	tok, _ := res.After.field("h-captcha-response")
	if !slices.Contains(res.After.Events, "callback:"+tok) || !slices.Contains(res.After.Events, "open") {
		t.Errorf("callbacks fired: %v; want open and callback:<token>", res.After.Events)
	}
	if slices.Contains(res.After.Events, "close") {
		t.Errorf("close-callback fired on success: %v", res.After.Events)
	}
	var verdict map[string]any
	if err := json.Unmarshal([]byte(res.VerifyText), &verdict); err != nil || verdict["success"] != true || verdict["g-recaptcha-response-matches"] != true {
		t.Fatalf("integrator backend said %q (%v), want success", res.VerifyText, err)
	}
	issues := api.issueRequests()
	if len(issues) == 0 {
		t.Fatal("the fake API saw no challenge request")
	}
	for _, is := range issues {
		if is.Host != "127.0.0.1" || is.HL != "en" {
			t.Errorf("challenge request host=%q hl=%q; want the page's hostname and en", is.Host, is.HL)
		}
		// The widget's telemetry (docs/TELEMETRY.md; risk_e2e_test.go checks its content).
		if _, err := risk.ParseTelemetry(is.Telemetry); err != nil {
			t.Errorf("challenge request telemetry %s: %v", is.Telemetry, err)
		}
	}
	if len(res.Console) > 0 {
		t.Errorf("browser console errors: %v", res.Console)
	}
}

func TestWidgetRandomAnswersNeverPass(t *testing.T) {
	requireBrowser(t)
	api := newFakeAPI(t)
	pages := newPageServer(t, api.URL(), api.verify)
	var res randomResult
	runScenario(t, "random", map[string]any{
		"pageURL":  pages.URL("/form", url.Values{"sitekey": {fakeSitekey}}),
		"attempts": 3,
	}, &res)
	checkRandomBot(t, res, 3)
	if api.answeredCount() != 3 {
		t.Errorf("fake API received %d answer posts, want 3", api.answeredCount())
	}
}

func checkRandomBot(t *testing.T, res randomResult, attempts int) {
	t.Helper()
	if len(res.Attempts) != attempts {
		t.Fatalf("made %d attempts, want %d: %+v", len(res.Attempts), attempts, res.Attempts)
	}
	seen := map[string]bool{}
	for i, a := range res.Attempts {
		if a.Outcome != "failed" {
			t.Fatalf("random attempt %d: %s", i, a.Outcome)
		}
		if a.NextID == "" || seen[a.NextID] || a.NextID == a.ID {
			t.Errorf("attempt %d: the dialog did not move to a fresh challenge (%q after %q)", i, a.NextID, a.ID)
		}
		seen[a.ID] = true
		if strings.TrimSpace(a.Error) == "" {
			t.Errorf("attempt %d: no message told the visitor to try again", i)
		}
	}
	if res.Widget.Checked != "false" {
		t.Errorf("checkbox aria-checked=%q after random answers", res.Widget.Checked)
	}
	for _, f := range res.Widget.Fields {
		if f.Value != "" {
			t.Errorf("%s holds %q after random answers", f.Name, f.Value)
		}
	}
}

func TestWidgetEscapeCloseAndNewChallenge(t *testing.T) {
	requireBrowser(t)
	api := newFakeAPI(t)
	pages := newPageServer(t, api.URL(), api.verify)
	var res struct {
		FirstID          string     `json:"firstId"`
		Renewed          dialogInfo `json:"renewed"`
		FocusAfterEscape focusInfo  `json:"focusAfterEscape"`
		AfterEscape      widgetInfo `json:"afterEscape"`
		ExecResult       string     `json:"execResult"`
		Final            widgetInfo `json:"final"`
		FocusAfterReset  focusInfo  `json:"focusAfterReset"`
	}
	runScenario(t, "escape", map[string]any{"pageURL": pages.URL("/form", url.Values{"sitekey": {fakeSitekey}})}, &res)
	if res.Renewed.ID == "" || res.Renewed.ID == res.FirstID {
		t.Errorf("New challenge kept challenge %q", res.FirstID)
	}
	if res.FocusAfterEscape.ID != "checkbox" {
		t.Errorf("focus after Escape is on %+v, want the checkbox", res.FocusAfterEscape)
	}
	// Focus was trapped in the dialog; reset() removes it, and a keyboard or screen-reader
	// visitor must not be left on the page's body.
	if res.FocusAfterReset.ID != "checkbox" {
		t.Errorf("focus after reset() closed the open dialog is on %+v, want the checkbox", res.FocusAfterReset)
	}
	if !slices.Contains(res.AfterEscape.Events, "open") || !slices.Contains(res.AfterEscape.Events, "close") {
		t.Errorf("events after Escape: %v, want open and close", res.AfterEscape.Events)
	}
	if res.ExecResult != "rejected:challenge-closed" {
		t.Errorf("execute({async:true}) closed by the visitor settled as %q, want rejected:challenge-closed", res.ExecResult)
	}
	if res.Final.Checked != "false" {
		t.Errorf("checkbox checked after closing: %q", res.Final.Checked)
	}
	if n := countOf(res.Final.Events, "close"); n != 3 {
		t.Errorf("close-callback fired %d times for Escape, the close button and hcaptcha.close(); want 3 (%v)", n, res.Final.Events)
	}
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func TestWidgetTokenAndChallengeExpire(t *testing.T) {
	requireBrowser(t)
	api := newFakeAPI(t)
	pages := newPageServer(t, api.URL(), api.verify)
	var res struct {
		Before      widgetInfo `json:"before"`
		Almost      widgetInfo `json:"almost"`
		After       widgetInfo `json:"after"`
		Response    string     `json:"response"`
		ChalFirstID string     `json:"chalFirstId"`
		ChalExpired dialogInfo `json:"chalExpired"`
		ChalWidget  widgetInfo `json:"chalWidget"`
	}
	runScenario(t, "expiry", map[string]any{
		"pageURL":              pages.URL("/form", url.Values{"sitekey": {testSitekey}}),
		"expiresInMs":          api.tokenTTL * 1000,
		"challengePageURL":     pages.URL("/form", url.Values{"sitekey": {fakeSitekey}}),
		"challengeExpiresInMs": 300 * 1000,
	}, &res)
	if !slices.Contains(res.ChalWidget.Events, "chalexpired") || res.ChalExpired.Error == "" {
		t.Errorf("challenge %s expired with the dialog open: events %v, message %q; want chalexpired-callback and a message",
			res.ChalFirstID, res.ChalWidget.Events, res.ChalExpired.Error)
	}
	if tok, _ := res.Before.field("h-captcha-response"); tok != testToken {
		t.Fatalf("test sitekey gave %q, want the test token", tok)
	}
	if tok, _ := res.Almost.field("h-captcha-response"); tok != testToken || slices.Contains(res.Almost.Events, "expired") {
		t.Errorf("a second before expires_in the token is %q and events %v", tok, res.Almost.Events)
	}
	if tok, _ := res.After.field("h-captcha-response"); tok != "" || res.Response != "" {
		t.Errorf("after expires_in the field holds %q and getResponse %q", tok, res.Response)
	}
	if res.After.Checked != "false" || !slices.Contains(res.After.Events, "expired") || res.After.Status == "" {
		t.Errorf("after expiry: checked=%q events=%v status=%q; want unchecked, expired-callback and a message", res.After.Checked, res.After.Events, res.After.Status)
	}
}

func TestWidgetJavaScriptAPI(t *testing.T) {
	requireBrowser(t)
	api := newFakeAPI(t)
	pages := newPageServer(t, api.URL(), api.verify)
	var res struct {
		Console []string `json:"console"`
		Page    struct {
			Grecaptcha         string   `json:"grecaptcha"`
			AutoRendered       int      `json:"autoRendered"`
			IDType             string   `json:"idType"`
			Second             string   `json:"second"`
			NoSitekey          string   `json:"noSitekey"`
			Fields             []string `json:"fields"`
			Label              string   `json:"label"`
			ContrastBackground string   `json:"contrastBackground"`
			TabIndex           int      `json:"tabIndex"`
			Compact            struct {
				Width    string `json:"width"`
				TabIndex int    `json:"tabIndex"`
			} `json:"compact"`
			Res         map[string]string `json:"res"`
			Callback    string            `json:"callback"`
			GetResponse string            `json:"getResponse"`
			Checked     string            `json:"checked"`
			Field       string            `json:"field"`
			Again       map[string]string `json:"again"`
			AfterReset  struct {
				Response, Field, Checked string
			} `json:"afterReset"`
			ErrorCallback string `json:"errorCallback"`
			BadExecute    string `json:"badExecute"`
			BadStatus     string `json:"badStatus"`
			AfterRemove   struct {
				Children int  `json:"children"`
				Marked   bool `json:"marked"`
			} `json:"afterRemove"`
			RemovedExecute string `json:"removedExecute"`
		} `json:"page"`
		Button struct {
			Token, Field, URL string
		} `json:"button"`
	}
	runScenario(t, "api", map[string]any{
		"pageURL":        pages.URL("/form", url.Values{"sitekey": {fakeSitekey}, "render": {"explicit"}, "hl": {"fr"}, "recaptchacompat": {"off"}}),
		"buttonURL":      pages.URL("/form", url.Values{"sitekey": {testSitekey}, "button": {"1"}}),
		"testSitekey":    testSitekey,
		"unknownSitekey": unknownSitekey,
	}, &res)
	p := res.Page
	if p.Grecaptcha != "undefined" {
		t.Errorf("recaptchacompat=off still installed grecaptcha (%s)", p.Grecaptcha)
	}
	if p.AutoRendered != 0 {
		t.Errorf("render=explicit auto-rendered %d widgets", p.AutoRendered)
	}
	if p.TabIndex != 0 || p.Compact.TabIndex != 3 || p.Compact.Width != "158px" {
		t.Errorf("tabindex default %d, compact widget %+v; want 0, and 3 at 158px wide", p.TabIndex, p.Compact)
	}
	if p.IDType != "string" || !strings.Contains(p.Second, "one captcha") || !strings.Contains(p.NoSitekey, "sitekey") {
		t.Errorf("render: id %s, second render %q, render without sitekey %q", p.IDType, p.Second, p.NoSitekey)
	}
	if !slices.Equal(p.Fields, []string{"h-captcha-response"}) {
		t.Errorf("fields %v with recaptchacompat=off, want only h-captcha-response", p.Fields)
	}
	if p.Label != "Je suis humain" {
		t.Errorf("hl=fr label %q", p.Label)
	}
	if p.ContrastBackground != "rgb(0, 0, 0)" {
		t.Errorf("contrast theme background %q, want black", p.ContrastBackground)
	}
	if p.Res["response"] != testToken || p.Callback != testToken || p.GetResponse != testToken || p.Field != testToken || p.Checked != "true" {
		t.Errorf("execute on the test sitekey: %+v callback %q getResponse %q field %q checked %q", p.Res, p.Callback, p.GetResponse, p.Field, p.Checked)
	}
	if _, ok := p.Res["key"]; !ok {
		t.Errorf("execute resolved without a key: %+v", p.Res)
	}
	if p.Again["response"] != testToken {
		t.Errorf("execute on a solved widget resolved %+v, want the same token", p.Again)
	}
	if p.AfterReset.Response != "" || p.AfterReset.Field != "" || p.AfterReset.Checked != "false" {
		t.Errorf("after reset: %+v", p.AfterReset)
	}
	if p.ErrorCallback != "invalid-data" || p.BadExecute != "invalid-data" || p.BadStatus == "" {
		t.Errorf("unknown sitekey: error-callback %q, execute %q, status %q", p.ErrorCallback, p.BadExecute, p.BadStatus)
	}
	if p.AfterRemove.Children != 0 || p.AfterRemove.Marked || p.RemovedExecute != "invalid-captcha-id" {
		t.Errorf("after remove: %+v, execute %q", p.AfterRemove, p.RemovedExecute)
	}
	if res.Button.Token != testToken || res.Button.Field != testToken || res.Button.URL != "/form" {
		t.Errorf("bound button: %+v; want the callback with the token, the field in the form and no form submission", res.Button)
	}
	// The unknown sitekey's 404 is logged by Chromium as a failed resource; nothing else may be.
	for _, c := range res.Console {
		if !strings.Contains(c, "404") {
			t.Errorf("console: %s", c)
		}
	}
}

func TestWidgetStrictCSP(t *testing.T) {
	requireBrowser(t)
	api := newFakeAPI(t)
	pages := newPageServer(t, api.URL(), api.verify)
	res := runCSP(t, pages)
	if res.Result != fmt.Sprintf(`{"response":%q,"key":""}`, testToken) {
		t.Errorf("execute({async:true}) under strict CSP gave %s", res.Result)
	}
}

type cspResult struct {
	Console    []string   `json:"console"`
	Result     string     `json:"result"`
	Widget     widgetInfo `json:"widget"`
	AfterClick widgetInfo `json:"afterClick"`
	Violations []string   `json:"violations"`
	Screenshot string     `json:"screenshot"`
}

// runCSP loads the strict-CSP page with the test sitekey and checks what must hold for
// any crowdgate host: no violation, styled widget, working checkbox.
func runCSP(t *testing.T, pages *pageServer) cspResult {
	t.Helper()
	var res cspResult
	runScenario(t, "csp", map[string]any{"pageURL": pages.URL("/csp", url.Values{"sitekey": {testSitekey}})}, &res)
	if len(res.Violations) > 0 {
		t.Errorf("CSP violations: %v", res.Violations)
	}
	for _, c := range res.Console {
		t.Errorf("console: %s", c)
	}
	// Styles came through the constructable stylesheet: an unstyled div would be as wide
	// as its container and have no border.
	if res.Widget.CBWidth != "28px" || res.Widget.CBBorder != "solid" {
		t.Errorf("checkbox computed width %q border %q: the widget's styles were not applied", res.Widget.CBWidth, res.Widget.CBBorder)
	}
	if tok, _ := res.AfterClick.field("h-captcha-response"); tok != testToken {
		t.Errorf("clicking the visible checkbox gave %q", tok)
	}
	return res
}

func TestWidgetWithOfficialLoader(t *testing.T) {
	requireBrowser(t)
	api := newFakeAPI(t)
	pages := newPageServer(t, api.URL(), api.verify)
	checkLoader(t, pages, api.URL())
}

type loaderResult struct {
	Console []string `json:"console"`
	Pages   []struct {
		Result       string `json:"result"`
		ScriptSrc    string `json:"scriptSrc"`
		ResolvedWith string `json:"resolvedWith"`
	} `json:"pages"`
}

func checkLoader(t *testing.T, pages *pageServer, api string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(moduleRoot(t), "node_modules", "@hcaptcha", "loader", "dist", "browser.js")); err != nil {
		missingTool(t, "needs node_modules/@hcaptcha/loader: run `make tools` (npm ci)")
	}
	var res loaderResult
	runScenario(t, "loader", map[string]any{"pageURLs": []string{
		pages.URL("/loader", url.Values{"sitekey": {testSitekey}, "mode": {"apihost"}}),
		pages.URL("/loader", url.Values{"sitekey": {testSitekey}, "mode": {"source"}}),
	}}, &res)
	if len(res.Pages) != 2 {
		t.Fatalf("got %d page results", len(res.Pages))
	}
	for i, p := range res.Pages {
		var r map[string]string
		if err := json.Unmarshal([]byte(p.Result), &r); err != nil || r["response"] != testToken {
			t.Errorf("page %d: loader flow ended with %q", i, p.Result)
		}
		if !strings.HasPrefix(p.ScriptSrc, api+"/1/api.js?onload=hCaptchaOnLoad") {
			t.Errorf("page %d: loader loaded %q, want the crowdgate host's /1/api.js", i, p.ScriptSrc)
		}
		if p.ResolvedWith != "window.hcaptcha" {
			t.Errorf("page %d: hCaptchaLoader resolved with %q", i, p.ResolvedWith)
		}
	}
	for _, c := range res.Console {
		t.Errorf("console: %s", c)
	}
}

type themeResult struct {
	Console    []string   `json:"console"`
	Widget     widgetInfo `json:"widget"`
	WidgetShot string     `json:"widgetShot"`
	Dialog     dialogInfo `json:"dialog"`
	DialogShot string     `json:"dialogShot"`
	YesNoShot  string     `json:"yesNoShot"`
	// Choices is the background of the chosen Yes (pressed) and of the other answer: a
	// border shade alone does not tell them apart.
	Choices struct {
		Pressed   string `json:"pressed"`
		Unpressed string `json:"unpressed"`
	} `json:"choices"`
}

func TestWidgetThemesAndLanguages(t *testing.T) {
	requireBrowser(t)
	api := newFakeAPI(t)
	pages := newPageServer(t, api.URL(), api.verify)
	cases := []struct {
		name, theme, hl, locale, label, title, background string
		dir                                               string // the page's
		dialog, forcedColors                              bool
	}{
		{name: "dark-de", theme: "dark", hl: "de", label: "Ich bin ein Mensch", title: "Bestätigen Sie, dass Sie ein Mensch sind", background: "rgb(31, 33, 36)", dialog: true},
		{name: "light-en", theme: "light", hl: "en", label: "I am human", title: "Verify you are human", background: "rgb(250, 250, 250)", dialog: true},
		{name: "contrast-fr", theme: "contrast", hl: "fr", label: "Je suis humain", background: "rgb(0, 0, 0)"},
		// No hl: the browser's languages (navigator.languages, in order) decide.
		{name: "browser-es", locale: "es-ES", label: "Soy humano", background: "rgb(250, 250, 250)"},
		// A right-to-left page in a language the widget does not speak: English, laid out
		// left to right as on any page.
		{name: "rtl-page-ar", hl: "ar", dir: "rtl", label: "I am human", title: "Verify you are human", background: "rgb(250, 250, 250)", dialog: true},
		// Forced colors (Windows High Contrast): the system's colours, whatever the theme.
		{name: "forced-colors", hl: "en", label: "I am human", title: "Verify you are human", dialog: true, forcedColors: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := url.Values{"sitekey": {fakeSitekey}}
			if c.theme != "" {
				q.Set("theme", c.theme)
			}
			if c.hl != "" {
				q.Set("hl", c.hl)
			}
			if c.dir != "" {
				q.Set("dir", c.dir)
				q.Set("lang", c.hl)
			}
			var res themeResult
			runScenario(t, "theme", map[string]any{"pageURL": pages.URL("/form", q), "name": c.name, "locale": c.locale, "openDialog": c.dialog,
				"forcedColors": c.forcedColors}, &res)
			if res.Widget.Label != c.label {
				t.Errorf("checkbox label %q, want %q", res.Widget.Label, c.label)
			}
			if c.background != "" && res.Widget.BoxBackground != c.background {
				t.Errorf("widget background %q, want %q", res.Widget.BoxBackground, c.background)
			}
			if c.dialog && res.Dialog.Title != c.title {
				t.Errorf("dialog title %q, want %q", res.Dialog.Title, c.title)
			}
			if c.dialog && c.background != "" && res.Dialog.Background != c.background {
				t.Errorf("dialog background %q, want the theme's %q", res.Dialog.Background, c.background)
			}
			// Every language the widget speaks is written left to right, whatever the page's direction.
			if res.Widget.BoxDirection != "ltr" || (c.dialog && res.Dialog.Direction != "ltr") {
				t.Errorf("text direction: widget %q, dialog %q; want ltr", res.Widget.BoxDirection, res.Dialog.Direction)
			}
			if c.dialog && res.Choices.Pressed == res.Choices.Unpressed {
				t.Errorf("the chosen answer looks like the other one (%s)", res.Choices.Pressed)
			}
			for _, shot := range []string{res.WidgetShot, res.DialogShot, res.YesNoShot} {
				if shot == "" {
					continue
				}
				if st, err := os.Stat(shot); err != nil || st.Size() < 1000 {
					t.Errorf("screenshot %s missing or empty (%v)", shot, err)
				}
			}
			for _, msg := range res.Console {
				t.Errorf("console: %s", msg)
			}
		})
	}
}

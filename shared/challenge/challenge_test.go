package challenge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/token"
)

var ctx = context.Background()

var visitor = challenge.Client{
	IP:        net.ParseIP("203.0.113.77"),
	UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
	Headers:   http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}},
}

func issue(t *testing.T, svc *challenge.Service, e *challengetest.Env, hl string) (*challenge.Challenge, challenge.Record) {
	t.Helper()
	return issueIn(t, svc, e, hl, "")
}

// issueIn issues a challenge to a browser that sends acceptLanguage.
func issueIn(t *testing.T, svc *challenge.Service, e *challengetest.Env, hl, acceptLanguage string) (*challenge.Challenge, challenge.Record) {
	t.Helper()
	res, err := svc.Issue(ctx, challenge.IssueRequest{Sitekey: e.Sitekey, Host: e.Hostname, Locale: hl, AcceptLanguage: acceptLanguage, Client: visitor})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if res.Pass || res.Challenge == nil {
		t.Fatalf("Issue: want a challenge, got %+v", res)
	}
	rec, ok := e.Store.Record(res.Challenge.ID)
	if !ok {
		t.Fatalf("challenge %s not stored", res.Challenge.ID)
	}
	return res.Challenge, rec
}

func answer(svc *challenge.Service, e *challengetest.Env, id string, answers []challenge.TaskAnswer) (challenge.Result, error) {
	return svc.Answer(ctx, challenge.AnswerRequest{ID: id, Sitekey: e.Sitekey, Answers: answers, Client: visitor, Telemetry: json.RawMessage(`{"v":1,"act":2}`)})
}

// Each of hCaptcha's test sitekeys (publisher, and the enterprise "safe end user" and "bot
// detected" sets the official WordPress plugin offers as test modes) passes at once with
// its own test token.
func TestTestSitekeyPassesAtOnceWithTheTestToken(t *testing.T) {
	for sitekey, want := range map[string]string{
		token.TestSitekey:                      token.TestResponse,
		"20000000-ffff-ffff-ffff-000000000002": "20000000-aaaa-bbbb-cccc-000000000002",
		"30000000-ffff-ffff-ffff-000000000003": "30000000-aaaa-bbbb-cccc-000000000003",
	} {
		e := challengetest.NewEnv()
		svc := challenge.New(e.Deps)
		res, err := svc.Issue(ctx, challenge.IssueRequest{Sitekey: sitekey, Host: "anything.example"})
		if err != nil {
			t.Fatalf("%s: %v", sitekey, err)
		}
		if !res.Pass || res.Token != want || res.TokenTTL != 120*time.Second || res.Challenge != nil {
			t.Fatalf("%s: result %+v", sitekey, res)
		}
		if e.Store.Len() != 0 || len(e.Tokens.All()) != 0 {
			t.Fatalf("the test sitekey %s stored something", sitekey)
		}
	}
}

func TestIssueChecksSiteAndHost(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	cases := []struct {
		name, sitekey, host string
		want                error
	}{
		{"exact host", e.Sitekey, e.Hostname, nil},
		{"case and trailing dot ignored", e.Sitekey, "SHOP.Example.COM.", nil},
		{"other listed host", e.Sitekey, "localhost", nil},
		{"unlisted host", e.Sitekey, "evil.example.net", challenge.ErrHostNotAllowed},
		{"parent domain", e.Sitekey, "example.com", challenge.ErrHostNotAllowed},
		{"subdomain of a listed host", e.Sitekey, "a.shop.example.com", nil},
		{"suffix that is not a subdomain", e.Sitekey, "evilshop.example.com", challenge.ErrHostNotAllowed},
		{"unknown sitekey", "11111111-2222-4333-8444-555555555555", e.Hostname, challenge.ErrUnknownSite},
		{"missing sitekey", "", e.Hostname, challenge.ErrBadRequest},
		{"missing host", e.Sitekey, "  ", challenge.ErrBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.Store.Len()
			res, err := svc.Issue(ctx, challenge.IssueRequest{Sitekey: c.sitekey, Host: c.host})
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.want == nil && (res.Challenge == nil || e.Store.Len() != before+1) {
				t.Fatal("no challenge issued and stored")
			}
			if c.want != nil && e.Store.Len() != before {
				t.Fatal("a refused request stored a challenge")
			}
		})
	}
}

func TestIssuedChallengeHasTwoGridsAndAYesNoWithEnoughGold(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	hexID := regexp.MustCompile(`^[0-9a-f]{16}$`)
	sawOpenYesNo, sawGoldYesNo := false, false
	for range 200 {
		pub, rec := issue(t, svc, e, "en")
		if !strings.HasPrefix(pub.ID, "c_") || pub.ExpiresIn != 5*time.Minute || pub.Prompt != "Please answer 3 questions" {
			t.Fatalf("header %q %v %q", pub.ID, pub.ExpiresIn, pub.Prompt)
		}
		if len(pub.Tasks) != 3 || pub.Tasks[0].Kind != challenge.TaskImageGrid || pub.Tasks[1].Kind != challenge.TaskImageGrid || pub.Tasks[2].Kind != challenge.TaskYesNo {
			t.Fatalf("tasks %+v", pub.Tasks)
		}
		tiles, items := map[string]bool{}, map[string]bool{}
		for i, task := range rec.Tasks[:2] {
			if len(task.Items) != 9 || len(pub.Tasks[i].Tiles) != 9 {
				t.Fatalf("grid with %d tiles", len(task.Items))
			}
			gold, yes := 0, 0
			for j, it := range task.Items {
				if it.Gold {
					gold++
					if it.Truth {
						yes++
					}
				}
				if pub.Tasks[i].Tiles[j].ID != it.Tile || !hexID.MatchString(it.Tile) || tiles[it.Tile] {
					t.Fatalf("tile id %q: not a fresh random id", it.Tile)
				}
				if strings.Contains(it.Tile, it.ItemID) {
					t.Fatal("tile id reveals the item id")
				}
				if items[task.JobID+it.ItemID] {
					t.Fatalf("item %s shown twice in one challenge", it.ItemID)
				}
				tiles[it.Tile], items[task.JobID+it.ItemID] = true, true
				if !strings.Contains(pub.Tasks[i].Tiles[j].ImageURL, "X-Amz-Expires=300") {
					t.Fatalf("media link %q", pub.Tasks[i].Tiles[j].ImageURL)
				}
			}
			if gold < challenge.GridGold {
				t.Fatalf("grid with %d gold tiles, want >= %d", gold, challenge.GridGold)
			}
			if yes < 2 || gold-yes < 2 {
				t.Fatalf("grid with %d of %d gold tiles to select: select-all or select-none could pass", yes, gold)
			}
			if !strings.Contains(pub.Tasks[i].Question, task.Class) {
				t.Fatalf("question %q does not name class %q", pub.Tasks[i].Question, task.Class)
			}
		}
		yn := rec.Tasks[2]
		if len(yn.Items) != 1 || yn.Items[0].Tile != "" {
			t.Fatalf("yes/no task %+v", yn)
		}
		if yn.Items[0].Gold {
			sawGoldYesNo = true
		} else {
			sawOpenYesNo = true
		}
		if pub.Tasks[2].Text == "" && pub.Tasks[2].ImageURL == "" {
			t.Fatal("yes/no task shows nothing")
		}
	}
	if !sawGoldYesNo || !sawOpenYesNo {
		t.Fatalf("yes/no tasks over 200 challenges: gold seen %v, open seen %v", sawGoldYesNo, sawOpenYesNo)
	}
}

func TestQuestionsAndPromptFollowTheLocale(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)

	pub, rec := issue(t, svc, e, "de-AT")
	if pub.Prompt != "Bitte beantworten Sie 3 Fragen" {
		t.Errorf("prompt %q", pub.Prompt)
	}
	german := map[string]string{"circle": "Kreis", "square": "Quadrat", "triangle": "Dreieck", "star": "Stern"}
	if want := "Wählen Sie alle Bilder mit: " + german[rec.Tasks[0].Class]; pub.Tasks[0].Question != want {
		t.Errorf("grid question %q, want %q", pub.Tasks[0].Question, want)
	}

	// The shapes job has no French text: its question falls back to English, the prompt
	// and the sentiment job's own French question do not.
	pub, rec = issue(t, svc, e, "fr")
	if pub.Prompt != "Veuillez répondre à 3 questions" {
		t.Errorf("prompt %q", pub.Prompt)
	}
	if want := "Select every image that shows a " + rec.Tasks[0].Class; pub.Tasks[0].Question != want {
		t.Errorf("grid question %q, want %q", pub.Tasks[0].Question, want)
	}
	if rec.Tasks[2].JobID == "sentiment" && pub.Tasks[2].Question != "Cette phrase est-elle positive ?" {
		t.Errorf("yes/no question %q", pub.Tasks[2].Question)
	}

	pub, _ = issue(t, svc, e, "xx")
	if pub.Prompt != "Please answer 3 questions" {
		t.Errorf("unknown hl: prompt %q", pub.Prompt)
	}
	for hl, want := range map[string]string{"es": "Por favor, responda 3 preguntas", "ES_mx": "Por favor, responda 3 preguntas",
		"de": "Bitte beantworten Sie 3 Fragen", "": "Please answer 3 questions", "pt-BR": "Please answer 3 questions"} {
		if pub, _ := issue(t, svc, e, hl); pub.Prompt != want {
			t.Errorf("hl %q: prompt %q, want %q", hl, pub.Prompt, want)
		}
	}
}

// An integrator calling the API with a language crowdgate has no texts in (or none) gets
// the browser's best supported language, as the pages and the widget choose theirs, not
// English; a supported hl still wins over the browser.
func TestUnsupportedHLLeavesTheLanguageToAcceptLanguage(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	for _, hl := range []string{"it", "", "*"} {
		pub, rec := issueIn(t, svc, e, hl, "it-IT, de-DE;q=0.9, de;q=0.8, en;q=0.5")
		if pub.Prompt != "Bitte beantworten Sie 3 Fragen" {
			t.Errorf("hl %q, German browser: prompt %q", hl, pub.Prompt)
		}
		if rec.Locale != "de" {
			t.Errorf("hl %q, German browser: stored locale %q", hl, rec.Locale)
		}
	}
	if pub, _ := issueIn(t, svc, e, "es", "de"); pub.Prompt != "Por favor, responda 3 preguntas" {
		t.Errorf("hl es, German browser: prompt %q", pub.Prompt)
	}
}

// A job without a question in the challenge's language is shown in the one of its own
// languages the browser prefers (English when it prefers none), by the same rule; the
// fresh challenge after a failed answer chooses the same way.
func TestAJobsLanguageFollowsTheBrowserWhenItLacksTheChallenges(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	german := map[string]string{"circle": "Kreis", "square": "Quadrat", "triangle": "Dreieck", "star": "Stern"}
	// The shapes job has English and German, the sentiment job English and French.
	const browser = "fr-FR, fr;q=0.9, de;q=0.8, en;q=0.5"
	pub, rec := issueIn(t, svc, e, "fr", browser)
	if pub.Prompt != "Veuillez répondre à 3 questions" {
		t.Errorf("prompt %q", pub.Prompt)
	}
	if want := "Wählen Sie alle Bilder mit: " + german[rec.Tasks[0].Class]; pub.Tasks[0].Question != want {
		t.Errorf("grid question %q, want %q (the shapes job in German, which the browser reads)", pub.Tasks[0].Question, want)
	}
	if rec.Tasks[2].JobID == "sentiment" && pub.Tasks[2].Question != "Cette phrase est-elle positive ?" {
		t.Errorf("yes/no question %q", pub.Tasks[2].Question)
	}
	// Each question says its language, which the widget marks it with for screen readers.
	if pub.Tasks[0].Lang != "de" {
		t.Errorf("German grid question in a French challenge: lang %q, want de", pub.Tasks[0].Lang)
	}
	if rec.Tasks[2].JobID == "sentiment" && pub.Tasks[2].Lang != "fr" {
		t.Errorf("French yes/no question: lang %q, want fr", pub.Tasks[2].Lang)
	}
	res, err := svc.Answer(ctx, challenge.AnswerRequest{ID: pub.ID, Sitekey: e.Sitekey, Answers: challengetest.Solve(rec, false),
		Client: visitor, AcceptLanguage: browser, Telemetry: json.RawMessage(`{"v":1,"act":2}`)})
	if err != nil || res.Pass || res.Challenge == nil {
		t.Fatalf("wrong answers: %+v %v, want a fresh challenge", res, err)
	}
	fresh := res.Challenge
	frec, _ := e.Store.Record(fresh.ID)
	if fresh.Prompt != "Veuillez répondre à 3 questions" {
		t.Errorf("fresh prompt %q", fresh.Prompt)
	}
	if want := "Wählen Sie alle Bilder mit: " + german[frec.Tasks[0].Class]; fresh.Tasks[0].Question != want {
		t.Errorf("fresh grid question %q, want %q", fresh.Tasks[0].Question, want)
	}
	// A browser that reads no German sees the shapes job in English.
	pub, rec = issueIn(t, svc, e, "fr", "fr")
	if want := "Select every image that shows a " + rec.Tasks[0].Class; pub.Tasks[0].Question != want || pub.Tasks[0].Lang != "en" {
		t.Errorf("French-only browser: grid question %q (lang %q), want %q (en)", pub.Tasks[0].Question, pub.Tasks[0].Lang, want)
	}
}

// A text item's language is its job's item language, whatever the language of the
// challenge and of the question: the task carries it beside the text, for the widget to
// mark the text with. An image, and a text of a job without one, carry none.
func TestYesNoTextCarriesItsJobsItemLanguage(t *testing.T) {
	stocks := challengetest.DemoStocks(20, 30)
	stocks[1].Job.ItemLang = "pt-BR" // the sentiment job, whose items are texts
	e := challengetest.NewEnv()
	e.Deps.Pool = job.NewCatalog(stocks)
	svc := challenge.New(e.Deps)
	for _, hl := range []string{"en", "fr"} {
		pub, rec := issue(t, svc, e, hl)
		yn := len(pub.Tasks) - 1
		if rec.Tasks[yn].JobID != "sentiment" || pub.Tasks[yn].Text == "" || pub.Tasks[yn].TextLang != "pt-BR" {
			t.Errorf("hl %q: yes/no task %+v of job %q, want a text with TextLang pt-BR", hl, pub.Tasks[yn], rec.Tasks[yn].JobID)
		}
		for _, grid := range pub.Tasks[:yn] {
			if grid.TextLang != "" {
				t.Errorf("hl %q: grid task with TextLang %q", hl, grid.TextLang)
			}
		}
	}
	e.Deps.Pool = job.NewCatalog(challengetest.DemoStocks(20, 30)) // no item language
	svc = challenge.New(e.Deps)
	if pub, _ := issue(t, svc, e, "en"); pub.Tasks[len(pub.Tasks)-1].TextLang != "" {
		t.Errorf("a job without an item language: TextLang %q", pub.Tasks[len(pub.Tasks)-1].TextLang)
	}
	e.Deps.Pool = job.NewCatalog(challengetest.DemoStocks(20, 30)[:1]) // shapes only: an image
	svc = challenge.New(e.Deps)
	if pub, _ := issue(t, svc, e, "en"); pub.Tasks[len(pub.Tasks)-1].TextLang != "" {
		t.Errorf("an image yes/no task: TextLang %q", pub.Tasks[len(pub.Tasks)-1].TextLang)
	}
}

func TestYesNoFallsBackToAnImageOfAGridJob(t *testing.T) {
	e := challengetest.NewEnv()
	e.Deps.Pool = job.NewCatalog(challengetest.DemoStocks(20, 30)[:1]) // shapes only
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "en")
	yn := pub.Tasks[2]
	if yn.ImageURL == "" || yn.Question != "Does this image show a "+rec.Tasks[2].Class+"?" {
		t.Fatalf("yes/no task %+v", yn)
	}
}

// A yes/no task about an image of a grid job shows crowdgate's own sentence, which exists in
// every supported language, so it speaks the challenge's language, not the one of the job's
// questions (those are grid instructions it does not show); the class name is the job's in
// that language when it has one. The fresh challenge after a wrong answer does the same.
func TestYesNoFromAGridJobSpeaksTheChallengesLanguage(t *testing.T) {
	stocks := challengetest.DemoStocks(20, 30)[:1] // shapes only: questions in en and de
	e := challengetest.NewEnv()
	e.Deps.Pool = job.NewCatalog(stocks)
	svc := challenge.New(e.Deps)
	sentence := map[string]string{"fr": "Cette image montre-t-elle : %s ?", "es": "¿Esta imagen muestra: %s?"}
	for _, hl := range []string{"fr", "es"} {
		// The browser also reads German, which the job's grid questions are shown in.
		browser := hl + ", de;q=0.8, en;q=0.5"
		for _, accept := range []string{"", browser} {
			pub, rec := issueIn(t, svc, e, hl, accept)
			yn := len(pub.Tasks) - 1
			if want := fmt.Sprintf(sentence[hl], rec.Tasks[yn].Class); pub.Tasks[yn].Question != want || pub.Tasks[yn].Lang != hl {
				t.Errorf("hl %q, Accept-Language %q: yes/no question %q (lang %q), want %q", hl, accept, pub.Tasks[yn].Question, pub.Tasks[yn].Lang, want)
			}
		}
		pub, rec := issueIn(t, svc, e, hl, browser)
		if !strings.HasPrefix(pub.Tasks[0].Question, "Wählen Sie alle Bilder mit: ") {
			t.Errorf("hl %q: grid question %q, want the job's German one", hl, pub.Tasks[0].Question)
		}
		res, err := svc.Answer(ctx, challenge.AnswerRequest{ID: pub.ID, Sitekey: e.Sitekey, Answers: challengetest.Solve(rec, false),
			Client: visitor, AcceptLanguage: browser, Telemetry: json.RawMessage(`{"v":1,"act":2}`)})
		if err != nil || res.Pass || res.Challenge == nil {
			t.Fatalf("wrong answers: %+v %v, want a fresh challenge", res, err)
		}
		frec, _ := e.Store.Record(res.Challenge.ID)
		yn := len(res.Challenge.Tasks) - 1
		if want := fmt.Sprintf(sentence[hl], frec.Tasks[yn].Class); res.Challenge.Tasks[yn].Question != want {
			t.Errorf("hl %q: fresh yes/no question %q, want %q", hl, res.Challenge.Tasks[yn].Question, want)
		}
	}
	// With French class names the French sentence uses them.
	stocks[0].Job.ClassNames = map[string][]string{
		"de": {"Kreis", "Quadrat", "Dreieck", "Stern"},
		"fr": {"cercle", "carré", "triangle", "étoile"},
	}
	e.Deps.Pool = job.NewCatalog(stocks)
	svc = challenge.New(e.Deps)
	french := map[string]string{"circle": "cercle", "square": "carré", "triangle": "triangle", "star": "étoile"}
	pub, rec := issueIn(t, svc, e, "fr", "fr, de;q=0.8")
	yn := len(pub.Tasks) - 1
	if want := "Cette image montre-t-elle : " + french[rec.Tasks[yn].Class] + " ?"; pub.Tasks[yn].Question != want {
		t.Errorf("French class names: yes/no question %q, want %q", pub.Tasks[yn].Question, want)
	}
}

func TestNoActiveJobMeansNoChallenge(t *testing.T) {
	e := challengetest.NewEnv()
	paused := challengetest.DemoStocks(20, 30)
	for i := range paused {
		paused[i].Job.Status = job.StatusPaused
	}
	e.Deps.Pool = job.NewCatalog(paused)
	svc := challenge.New(e.Deps)
	_, err := svc.Issue(ctx, challenge.IssueRequest{Sitekey: e.Sitekey, Host: e.Hostname})
	if !errors.Is(err, challenge.ErrNoMaterial) {
		t.Fatalf("err = %v, want ErrNoMaterial", err)
	}
	if e.Store.Len() != 0 {
		t.Fatal("stored a challenge without tasks")
	}
}

func TestCorrectAnswersPassWithAVerifiableToken(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "en")
	e.Clock.Advance(5400 * time.Millisecond)
	res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pass || res.Challenge != nil || res.TokenTTL != 120*time.Second {
		t.Fatalf("result %+v", res)
	}
	now := e.Clock.Now()
	claims, err := e.Signer.Parse(res.Token, now)
	if err != nil || claims.Sitekey != e.Sitekey {
		t.Fatalf("token does not verify for the site: %v %+v", err, claims)
	}
	recs := e.Tokens.All()
	if len(recs) != 1 {
		t.Fatalf("%d token records", len(recs))
	}
	r := recs[0]
	if r.ID != claims.ID || r.Sitekey != e.Sitekey || r.Hostname != e.Hostname || !r.ChallengeTS.Equal(now) ||
		!r.ExpiresAt.Equal(claims.ExpiresAt) || r.Score != 0.25 || len(r.ScoreReasons) != 1 || r.ScoreReasons[0] != "test" {
		t.Fatalf("token record %+v", r)
	}
	calls := e.AnswerRiskCalls()
	if len(calls) != 1 || calls[0].SolveTime != 5400*time.Millisecond || !calls[0].IP.Equal(visitor.IP) ||
		calls[0].Telemetry == nil || calls[0].Telemetry.Activations != 2 || calls[0].Sitekey != e.Sitekey ||
		!calls[0].Passed || calls[0].ChallengeID != pub.ID || calls[0].Tasks != 3 {
		t.Fatalf("risk input %+v", calls)
	}
}

func TestWrongAnswersFailWithAFreshChallengeAndNoToken(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "de")
	res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, false))
	if err != nil {
		t.Fatal(err)
	}
	if res.Pass || res.Token != "" || res.Challenge == nil || res.Challenge.ID == pub.ID {
		t.Fatalf("result %+v", res)
	}
	fresh, ok := e.Store.Record(res.Challenge.ID)
	if !ok || fresh.Used || fresh.Locale != "de" || fresh.Host != e.Hostname {
		t.Fatalf("fresh challenge %+v", fresh)
	}
	if len(e.Tokens.All()) != 0 || len(e.Outbox.All()) != 0 {
		t.Fatal("a failed challenge minted a token or published answers")
	}
	// The failure is scored and reported, so the risk function can count it.
	if calls := e.AnswerRiskCalls(); len(calls) != 1 || calls[0].Passed {
		t.Fatalf("risk calls for the failed answer: %+v", calls)
	}
	// The fresh challenge is solvable.
	res, err = answer(svc, e, fresh.ID, challengetest.Solve(fresh, true))
	if err != nil || !res.Pass {
		t.Fatalf("fresh challenge: %+v %v", res, err)
	}
}

func TestOneWrongGoldTileFails(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	for task := range 2 {
		pub, rec := issue(t, svc, e, "en")
		answers := challengetest.Solve(rec, true)
		// Flip the first gold tile of one grid.
		for _, it := range rec.Tasks[task].Items {
			if !it.Gold {
				continue
			}
			sel := answers[task].Selected
			if it.Truth {
				sel = slicesDelete(sel, it.Tile)
			} else {
				sel = append(sel, it.Tile)
			}
			answers[task].Selected = sel
			break
		}
		res, err := answer(svc, e, pub.ID, answers)
		if err != nil || res.Pass {
			t.Fatalf("grid %d with one wrong tile: pass=%v err=%v", task, res.Pass, err)
		}
	}
	// A wrong gold yes/no alone fails too.
	for {
		pub, rec := issue(t, svc, e, "en")
		if !rec.Tasks[2].Items[0].Gold {
			continue
		}
		answers := challengetest.Solve(rec, true)
		answers[2].Choice = map[string]string{"yes": "no", "no": "yes"}[answers[2].Choice]
		res, err := answer(svc, e, pub.ID, answers)
		if err != nil || res.Pass {
			t.Fatalf("wrong gold yes/no: pass=%v err=%v", res.Pass, err)
		}
		break
	}
}

func slicesDelete(s []string, v string) []string {
	out := []string{}
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func TestOpenItemsDoNotAffectTheGrade(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "en")
	answers := challengetest.Solve(rec, true)
	// Deselect every open tile (Solve selected them).
	for ti := range 2 {
		for _, it := range rec.Tasks[ti].Items {
			if !it.Gold {
				answers[ti].Selected = slicesDelete(answers[ti].Selected, it.Tile)
			}
		}
	}
	res, err := answer(svc, e, pub.ID, answers)
	if err != nil || !res.Pass {
		t.Fatalf("pass=%v err=%v", res.Pass, err)
	}
}

func TestReplayIsRefused(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	for _, right := range []bool{true, false} {
		pub, rec := issue(t, svc, e, "en")
		if _, err := answer(svc, e, pub.ID, challengetest.Solve(rec, right)); err != nil {
			t.Fatal(err)
		}
		_, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true))
		if !errors.Is(err, challenge.ErrUsed) {
			t.Fatalf("replay after pass=%v: err = %v, want ErrUsed", right, err)
		}
	}
	if n := len(e.Tokens.All()); n != 1 {
		t.Fatalf("%d tokens minted, want 1", n)
	}
}

func TestConcurrentAnswersOnlyOnePasses(t *testing.T) {
	e := challengetest.NewEnv()
	const n = 8
	var arrived sync.WaitGroup
	arrived.Add(n)
	// Every request has passed the "already used?" read before any consumes: only the
	// atomic consume can stop the others.
	e.Store.BeforeConsume = func(string) error { arrived.Done(); arrived.Wait(); return nil }
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "en")
	var wg sync.WaitGroup
	results := make(chan error, n)
	passes := make(chan bool, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true))
			results <- err
			passes <- res.Pass
		}()
	}
	wg.Wait()
	close(results)
	close(passes)
	used, pass := 0, 0
	for err := range results {
		if errors.Is(err, challenge.ErrUsed) {
			used++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	for p := range passes {
		if p {
			pass++
		}
	}
	if pass != 1 || used != n-1 || len(e.Tokens.All()) != 1 {
		t.Fatalf("%d passes, %d refused as used, %d tokens; want 1, %d, 1", pass, used, len(e.Tokens.All()), n-1)
	}
}

func TestExpiredChallengeIsRefused(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "en")
	e.Clock.Advance(5 * time.Minute)
	if _, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true)); !errors.Is(err, challenge.ErrExpired) {
		t.Fatalf("err = %v, want ErrExpired", err)
	}
	pub, rec = issue(t, svc, e, "en")
	e.Clock.Advance(5*time.Minute - time.Second)
	if res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true)); err != nil || !res.Pass {
		t.Fatalf("answer 1 s before expiry: %v", err)
	}
}

func TestForeignSiteIsRefusedAndDoesNotUseTheChallenge(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "en")
	_, err := svc.Answer(ctx, challenge.AnswerRequest{ID: pub.ID, Sitekey: "other-site", Answers: challengetest.Solve(rec, true)})
	if !errors.Is(err, challenge.ErrSitekeyMismatch) {
		t.Fatalf("err = %v, want ErrSitekeyMismatch", err)
	}
	if res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true)); err != nil || !res.Pass {
		t.Fatalf("the owner's answer afterwards: %v", err)
	}
}

func TestUnknownChallengeIsNotFound(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	for _, id := range []string{"c_00000000000000000000000000000000", "c_xyz", "", "CHALLENGE#x", strings.Repeat("a", 500)} {
		if _, err := answer(svc, e, id, nil); !errors.Is(err, challenge.ErrNotFound) {
			t.Errorf("id %q: err = %v, want ErrNotFound", id, err)
		}
	}
}

func TestMalformedAnswersAreRefusedWithoutUsingTheChallenge(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "en")
	good := func() []challenge.TaskAnswer { return challengetest.Solve(rec, true) }
	tile := rec.Tasks[0].Items[0].Tile
	cases := map[string]func() []challenge.TaskAnswer{
		"no answers":     func() []challenge.TaskAnswer { return nil },
		"missing task":   func() []challenge.TaskAnswer { return good()[:2] },
		"duplicate task": func() []challenge.TaskAnswer { a := good(); return append(a[:2], a[0]) },
		"extra answer":   func() []challenge.TaskAnswer { return append(good(), good()[0]) },
		"unknown task":   func() []challenge.TaskAnswer { a := good(); a[2].Task = "t9"; return a },
		"unknown tile":   func() []challenge.TaskAnswer { a := good(); a[0].Selected = []string{"deadbeefdeadbeef"}; return a },
		"tile of other grid": func() []challenge.TaskAnswer {
			a := good()
			a[1].Selected = append(a[1].Selected, tile)
			return a
		},
		"duplicate tile":        func() []challenge.TaskAnswer { a := good(); a[0].Selected = []string{tile, tile}; return a },
		"grid without selected": func() []challenge.TaskAnswer { a := good(); a[0].Selected = nil; return a },
		"choice on grid":        func() []challenge.TaskAnswer { a := good(); a[0].Choice = "yes"; return a },
		"bad choice":            func() []challenge.TaskAnswer { a := good(); a[2].Choice = "maybe"; return a },
		"selected on yes/no": func() []challenge.TaskAnswer {
			a := good()
			a[2].Selected = []string{}
			return a
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := answer(svc, e, pub.ID, mk()); !errors.Is(err, challenge.ErrInvalidAnswers) {
				t.Fatalf("err = %v, want ErrInvalidAnswers", err)
			}
		})
	}
	if res, err := answer(svc, e, pub.ID, good()); err != nil || !res.Pass {
		t.Fatalf("challenge unusable after malformed answers: %v", err)
	}
}

func TestTelemetryIsSizeCapped(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	big := json.RawMessage(`"` + strings.Repeat("x", challenge.MaxTelemetry) + `"`)
	if _, err := svc.Issue(ctx, challenge.IssueRequest{Sitekey: e.Sitekey, Host: e.Hostname, Telemetry: big}); !errors.Is(err, challenge.ErrTelemetryTooLarge) {
		t.Fatalf("issue: %v", err)
	}
	pub, rec := issue(t, svc, e, "en")
	_, err := svc.Answer(ctx, challenge.AnswerRequest{ID: pub.ID, Sitekey: e.Sitekey, Answers: challengetest.Solve(rec, true), Telemetry: big})
	if !errors.Is(err, challenge.ErrTelemetryTooLarge) {
		t.Fatalf("answer: %v", err)
	}
}

// wireMessage is the documented answers-queue format (docs/API.md); decoding with
// DisallowUnknownFields catches any extra field, e.g. an address.
type wireMessage struct {
	V          int    `json:"v"`
	ID         string `json:"id"`
	JobID      string `json:"job_id"`
	Class      string `json:"class"`
	Answerer   string `json:"answerer"`
	Day        string `json:"day"`
	AnsweredAt string `json:"answered_at"`
	SolveMS    int64  `json:"solve_ms"`
	Answers    []struct {
		ItemID string `json:"item_id"`
		Label  string `json:"label"`
	} `json:"answers"`
	Gold []struct {
		ItemID string `json:"item_id"`
		Truth  string `json:"truth"`
		Label  string `json:"label"`
	} `json:"gold"`
}

func TestPassPublishesOneMessagePerTaskWithOpenItems(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "en")
	e.Clock.Advance(5400 * time.Millisecond)
	if res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true)); err != nil || !res.Pass {
		t.Fatal(err)
	}
	want := map[string]challenge.TaskRecord{}
	for _, task := range rec.Tasks {
		for _, it := range task.Items {
			if !it.Gold {
				want[pub.ID+":"+task.ID] = task
			}
		}
	}
	msgs := e.Outbox.All()
	if len(msgs) != len(want) || len(want) < 2 {
		t.Fatalf("%d messages for %d tasks with open items", len(msgs), len(want))
	}
	answerer := ""
	for _, raw := range msgs {
		for _, leak := range []string{"203.0.113", "Mozilla", "Firefox", e.Sitekey, e.Hostname} {
			if bytes.Contains(raw, []byte(leak)) {
				t.Fatalf("message carries %q: %s", leak, raw)
			}
		}
		var m wireMessage
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("message %s: %v", raw, err)
		}
		task, ok := want[m.ID]
		if !ok {
			t.Fatalf("message for unexpected task %q", m.ID)
		}
		delete(want, m.ID)
		if m.V != 1 || m.JobID != task.JobID || m.Class != task.Class || m.Day != "2026-11-30" ||
			m.AnsweredAt != "2026-11-30T19:30:05Z" || m.SolveMS != 5400 || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(m.Answerer) {
			t.Fatalf("message %s", raw)
		}
		if answerer != "" && m.Answerer != answerer {
			t.Fatal("one visitor got two pseudonyms in one challenge")
		}
		answerer = m.Answerer
		open, gold := 0, 0
		for _, it := range task.Items {
			if it.Gold {
				gold++
			} else {
				open++
			}
		}
		if len(m.Answers) != open || len(m.Gold) != gold {
			t.Fatalf("message with %d answers and %d gold, want %d and %d", len(m.Answers), len(m.Gold), open, gold)
		}
		for _, a := range m.Answers {
			if a.Label != "yes" { // Solve selects open tiles
				t.Fatalf("label %q", a.Label)
			}
		}
		for _, g := range m.Gold {
			if g.Label != g.Truth || (g.Truth != "yes" && g.Truth != "no") {
				t.Fatalf("gold %+v", g)
			}
		}
	}
}

func TestFailedOrRefusedAnswersPublishNothing(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "en")
	_, _ = answer(svc, e, pub.ID, challengetest.Solve(rec, false))
	_, _ = answer(svc, e, pub.ID, challengetest.Solve(rec, true)) // replay
	if n := len(e.Outbox.All()); n != 0 {
		t.Fatalf("%d messages published", n)
	}
}

func TestPassSurvivesPublishAndRiskFailures(t *testing.T) {
	e := challengetest.NewEnv()
	e.Deps.Publisher = &challengetest.Publisher{SendJSONFunc: func(context.Context, ...any) error { return errors.New("queue down") }}
	e.Deps.Risk = &challengetest.Risk{AssessFunc: func(context.Context, challenge.RiskInput) (challenge.Assessment, error) {
		return challenge.Assessment{}, errors.New("scorer down")
	}}
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "en")
	res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true))
	if err != nil || !res.Pass {
		t.Fatalf("pass=%v err=%v", res.Pass, err)
	}
	recs := e.Tokens.All()
	if len(recs) != 1 || len(recs[0].ScoreReasons) != 1 || recs[0].ScoreReasons[0] != challenge.ReasonRiskUnavailable {
		t.Fatalf("token records %+v", recs)
	}
}

func TestTokenStoreFailureGivesNoToken(t *testing.T) {
	e := challengetest.NewEnv()
	e.Deps.Tokens = &challengetest.Tokens{PutFunc: func(context.Context, token.Record) error { return errors.New("table down") }}
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "en")
	res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true))
	if err == nil || res.Token != "" {
		t.Fatalf("got token %q with err %v", res.Token, err)
	}
}

func TestRandomClickersFail(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	clicker := rand.New(rand.NewPCG(1, 2))
	strategies := map[string]func(challenge.TaskRecord) challenge.TaskAnswer{
		"select all": func(t challenge.TaskRecord) challenge.TaskAnswer {
			if t.Kind == challenge.TaskYesNo {
				return challenge.TaskAnswer{Task: t.ID, Choice: "yes"}
			}
			sel := []string{}
			for _, it := range t.Items {
				sel = append(sel, it.Tile)
			}
			return challenge.TaskAnswer{Task: t.ID, Selected: sel}
		},
		"select none": func(t challenge.TaskRecord) challenge.TaskAnswer {
			if t.Kind == challenge.TaskYesNo {
				return challenge.TaskAnswer{Task: t.ID, Choice: "no"}
			}
			return challenge.TaskAnswer{Task: t.ID, Selected: []string{}}
		},
		"coin per tile": func(t challenge.TaskRecord) challenge.TaskAnswer {
			if t.Kind == challenge.TaskYesNo {
				return challenge.TaskAnswer{Task: t.ID, Choice: []string{"yes", "no"}[clicker.IntN(2)]}
			}
			sel := []string{}
			for _, it := range t.Items {
				if clicker.IntN(2) == 0 {
					sel = append(sel, it.Tile)
				}
			}
			return challenge.TaskAnswer{Task: t.ID, Selected: sel}
		},
	}
	for name, play := range strategies {
		tries := 100 // select-all and select-none can never pass
		if name == "coin per tile" {
			tries = 1000
		}
		passes := 0
		for range tries {
			pub, rec := issue(t, svc, e, "en")
			var answers []challenge.TaskAnswer
			for _, task := range rec.Tasks {
				answers = append(answers, play(task))
			}
			res, err := answer(svc, e, pub.ID, answers)
			if err != nil {
				t.Fatal(err)
			}
			if res.Pass {
				passes++
			}
		}
		// Expected passes for coin flips: 1000/6144 ≈ 0.16; four or more has probability
		// below 1e-4. Select-all and select-none can never pass.
		if passes > 3 || (name != "coin per tile" && passes > 0) {
			t.Errorf("%s passed %d of %d challenges", name, passes, tries)
		}
	}
}

func TestPseudonymHidesTheAddressAndRotatesWithTheSalt(t *testing.T) {
	day1, day2 := []byte("salt-of-day-1-32-bytes-long-....."), []byte("salt-of-day-2-32-bytes-long-.....")
	ua := "Mozilla/5.0"
	p := challenge.Pseudonym(day1, net.ParseIP("198.51.100.23"), ua)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(p) || strings.Contains(p, "198") {
		t.Fatalf("pseudonym %q", p)
	}
	if challenge.Pseudonym(day1, net.ParseIP("198.51.100.200"), ua) != p {
		t.Error("same /24 and browser: pseudonym differs (it should not single out the host)")
	}
	if challenge.Pseudonym(day1, net.ParseIP("198.51.101.23"), ua) == p {
		t.Error("another /24 got the same pseudonym")
	}
	if challenge.Pseudonym(day1, net.ParseIP("198.51.100.23"), "curl/8") == p {
		t.Error("another user agent got the same pseudonym")
	}
	if challenge.Pseudonym(day2, net.ParseIP("198.51.100.23"), ua) == p {
		t.Error("the pseudonym survives the daily salt rotation")
	}
	v6 := challenge.Pseudonym(day1, net.ParseIP("2001:db8:1234:5678::1"), ua)
	if challenge.Pseudonym(day1, net.ParseIP("2001:db8:1234:ffff::9"), ua) != v6 ||
		challenge.Pseudonym(day1, net.ParseIP("2001:db8:1235::1"), ua) == v6 {
		t.Error("IPv6 is not truncated to its /48")
	}
	for in, want := range map[string]string{"203.0.113.77": "203.0.113.0", "::ffff:203.0.113.77": "203.0.113.0", "2001:db8:aa:bb::1": "2001:db8:aa::"} {
		if got := challenge.TruncateIP(net.ParseIP(in)).String(); got != want {
			t.Errorf("TruncateIP(%s) = %s, want %s", in, got, want)
		}
	}
	if challenge.TruncateIP(nil) != nil {
		t.Error("nil address truncated to something")
	}
}

func TestPseudonymDiffersBetweenVisitorsInMessages(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	for _, ip := range []string{"203.0.113.77", "192.0.2.5"} {
		for {
			pub, rec := issue(t, svc, e, "en")
			req := challenge.AnswerRequest{ID: pub.ID, Sitekey: e.Sitekey, Answers: challengetest.Solve(rec, true),
				Client: challenge.Client{IP: net.ParseIP(ip), UserAgent: visitor.UserAgent}}
			if _, err := svc.Answer(ctx, req); err != nil {
				t.Fatal(err)
			}
			if len(e.Outbox.All()) > 0 {
				break
			}
		}
	}
	seen := map[string]bool{}
	for _, raw := range e.Outbox.All() {
		var m wireMessage
		_ = json.Unmarshal(raw, &m)
		seen[m.Answerer] = true
	}
	if len(seen) != 2 {
		t.Fatalf("two visitors from different networks got %d distinct pseudonyms", len(seen))
	}
}

func TestAWeakGridFromThePoolIsRefused(t *testing.T) {
	e := challengetest.NewEnv()
	real := e.Catalog
	e.Deps.Pool = &challengetest.Pool{DrawFunc: func(ctx context.Context, req job.Request) (job.Draw, error) {
		d, err := real.Draw(ctx, req)
		if err == nil && req.Size == challenge.GridTiles {
			// Every gold tile shows the class: "select all" would pass.
			for i := range d.Gold {
				d.Gold[i].GoldLabel = d.Class
			}
		}
		return d, err
	}}
	svc := challenge.New(e.Deps)
	if _, err := svc.Issue(ctx, challenge.IssueRequest{Sitekey: e.Sitekey, Host: e.Hostname}); err == nil {
		t.Fatal("issued a challenge that select-all passes")
	}
	if e.Store.Len() != 0 {
		t.Fatal("stored it")
	}
}

// A page on an IPv6 address reports its host in brackets (location.hostname), a URL's
// Hostname without: both name the same host, as the site's stored hostname does.
func TestNormalizeHostAgreesOnIPv6Forms(t *testing.T) {
	for _, h := range []string{"[2001:db8::1]", "2001:db8::1", "[2001:DB8:0:0::1]", " 2001:db8::1 "} {
		if got := challenge.NormalizeHost(h); got != "2001:db8::1" {
			t.Errorf("NormalizeHost(%q) = %q", h, got)
		}
	}
	if got := challenge.NormalizeHost("Shop.Example.COM."); got != "shop.example.com" {
		t.Errorf("NormalizeHost of a DNS name = %q", got)
	}
}

// The instance that issued a challenge may run a little ahead of the one grading it: the
// solve time is then 0, never negative (the risk events refuse a negative one).
func TestSolveTimeIsNeverNegative(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "en")
	e.Clock.Advance(-2 * time.Second)
	if _, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true)); err != nil {
		t.Fatal(err)
	}
	if calls := e.AnswerRiskCalls(); len(calls) != 1 || calls[0].SolveTime != 0 {
		t.Fatalf("risk input %+v, want a solve time of 0", calls)
	}
}

// A challenge may not outlive its image links: the configuration caps its lifetime there.
func TestChallengesLiveNoLongerThanTheirImageLinks(t *testing.T) {
	if challenge.MaxMediaTTL != time.Duration(config.MaxChallengeTTLSeconds)*time.Second || challenge.DefaultTTL > challenge.MaxMediaTTL {
		t.Fatalf("media links %v, challenge cap %d s, default %v", challenge.MaxMediaTTL, config.MaxChallengeTTLSeconds, challenge.DefaultTTL)
	}
}

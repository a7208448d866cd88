package e2e

import (
	"fmt"
	"html/template"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/crowdgate/crowdgate/functions/challenge/widget"
	"github.com/crowdgate/crowdgate/shared/web"
)

// fakeA11y is the fake challenge API (fakeAPI) plus the accessibility routes of docs/API.md
// on the same origin: a confirm page that sets the cg_a11y cookie, and the two credentialed
// widget routes that issue and grade text questions. It lets the widget's text challenge be
// tested in a browser without the accessibility function.
type fakeA11y struct {
	*fakeAPI
	// limit is how many text questions one token gets before 429 try_later (0: no limit).
	limit int

	a11yMu    sync.Mutex
	a11yToks  map[string]int // token → text questions issued
	questions map[string]*fakeQuestion
	// Cookie presence per kind of route, to show that only the accessibility routes get it.
	visualWithCookie int
	visualRequests   int
	a11yWithCookie   int
	a11yRequests     int
	a11yBodies       []map[string]any
	// setAside is the set_aside of each text answer, in order.
	setAside []string
}

type fakeQuestion struct {
	sitekey, answer string
	used            bool
}

const a11yCookie = "cg_a11y"

func newFakeA11y(t *testing.T) *fakeA11y {
	t.Helper()
	f := &fakeA11y{
		fakeAPI:   &fakeAPI{tokenTTL: 120, challenges: map[string]*fakeChallenge{}, tokens: map[string]bool{}},
		a11yToks:  map[string]int{},
		questions: map[string]*fakeQuestion{},
	}
	// The fake challenge API's routes, as newFakeAPI mounts them (anonymous CORS), counting
	// the requests that came with a cookie.
	visual := http.NewServeMux()
	visual.Handle("GET /1/api.js", widget.Handler())
	visual.HandleFunc("POST /1/challenges", f.issue)
	visual.HandleFunc("POST /1/challenges/{id}/answers", f.answer)
	visual.HandleFunc("GET /img/{shape}", f.image)
	visual.HandleFunc("GET /gold", f.goldHandler)
	counted := web.CORS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			f.a11yMu.Lock()
			f.visualRequests++
			if r.Header.Get("Cookie") != "" {
				f.visualWithCookie++
			}
			f.a11yMu.Unlock()
		}
		visual.ServeHTTP(w, r)
	}))
	mux := http.NewServeMux()
	mux.Handle("/", counted)
	mux.HandleFunc("GET /accessibility", f.signupPage)
	mux.HandleFunc("GET /accessibility/confirm", f.confirmPage)
	mux.HandleFunc("POST /accessibility/confirm", f.confirm)
	mux.Handle("/1/accessibility/", credentialedCORS(http.HandlerFunc(f.countA11y)))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// credentialedCORS answers as the contract asks for the accessibility routes: the
// request's Origin (never *), with credentials allowed.
func credentialedCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		if o := r.Header.Get("Origin"); o != "" {
			h.Set("Access-Control-Allow-Origin", o)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (f *fakeA11y) countA11y(w http.ResponseWriter, r *http.Request) {
	f.a11yMu.Lock()
	f.a11yRequests++
	if r.Header.Get("Cookie") != "" {
		f.a11yWithCookie++
	}
	f.a11yMu.Unlock()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /1/accessibility/challenges", f.issueText)
	mux.HandleFunc("POST /1/accessibility/challenges/{id}/answers", f.answerText)
	mux.ServeHTTP(w, r)
}

var fakeA11yPage = template.Must(template.New("a11y").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Accessibility</title></head><body>
<h1>{{.Title}}</h1>
<form method="post" action="/accessibility/confirm"><input type="hidden" name="c" value="fake"><button type="submit">Confirm</button></form>
</body></html>
`))

// signupPage stands in for the sign-up, the mail and the confirm link: its one button confirms.
func (f *fakeA11y) signupPage(w http.ResponseWriter, _ *http.Request) {
	page(w, fakeA11yPage, map[string]string{"Title": "Sign up (fake: confirm at once)"}, "")
}

func (f *fakeA11y) confirmPage(w http.ResponseWriter, _ *http.Request) {
	page(w, fakeA11yPage, map[string]string{"Title": "Confirm"}, "")
}

// confirm sets the accessibility cookie as the accessibility function does. Chromium drops
// a SameSite=None cookie without Secure, and keeps Secure cookies that loopback hosts set
// over plain http, so it is Secure even here.
func (f *fakeA11y) confirm(w http.ResponseWriter, _ *http.Request) {
	tok := "cga_" + randomHex(16)
	f.a11yMu.Lock()
	f.a11yToks[tok] = 0
	f.a11yMu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: a11yCookie, Value: tok, Path: "/", MaxAge: 86400, HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode})
	page(w, fakeA11yPage, map[string]string{"Title": "You can now pass crowdgate challenges with a text question for 24 hours"}, "")
}

// token returns the request's known accessibility token, or writes the 401.
func (f *fakeA11y) token(w http.ResponseWriter, r *http.Request) (string, bool) {
	c, err := r.Cookie(a11yCookie)
	f.a11yMu.Lock()
	known := false
	if err == nil {
		_, known = f.a11yToks[c.Value]
	}
	f.a11yMu.Unlock()
	if !known {
		web.WriteJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
			"code": "accessibility_token_required", "message": "sign up for text challenges first",
			"signup_url": "http://" + r.Host + "/accessibility",
		}})
		return "", false
	}
	return c.Value, true
}

func (f *fakeA11y) issueText(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := web.DecodeJSON(r, 64<<10, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	f.a11yMu.Lock()
	f.a11yBodies = append(f.a11yBodies, body)
	f.a11yMu.Unlock()
	tok, ok := f.token(w, r)
	if !ok {
		return
	}
	sitekey, _ := body["sitekey"].(string)
	if sitekey != fakeSitekey {
		web.WriteError(w, r, web.Errorf(http.StatusNotFound, "unknown_sitekey", "no such site"))
		return
	}
	f.a11yMu.Lock()
	limited := f.limit > 0 && f.a11yToks[tok] >= f.limit
	if !limited {
		f.a11yToks[tok]++
	}
	f.a11yMu.Unlock()
	if limited {
		w.Header().Set("Retry-After", "600")
		web.WriteJSON(w, http.StatusTooManyRequests, map[string]any{"error": map[string]any{"code": "try_later", "message": "too many text questions", "retry_after": 600}})
		return
	}
	q, answer := fakeTextQuestion()
	id := "a_" + randomHex(16)
	f.a11yMu.Lock()
	f.questions[id] = &fakeQuestion{sitekey: sitekey, answer: answer}
	f.a11yMu.Unlock()
	web.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "question": q, "expires_in": 300})
}

func (f *fakeA11y) answerText(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Answer   string `json:"answer"`
		SetAside string `json:"set_aside"`
	}
	if err := web.DecodeJSON(r, 64<<10, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	f.a11yMu.Lock()
	f.setAside = append(f.setAside, body.SetAside)
	f.a11yMu.Unlock()
	if _, ok := f.token(w, r); !ok {
		return
	}
	f.a11yMu.Lock()
	q := f.questions[r.PathValue("id")]
	used := q != nil && q.used
	if q != nil {
		q.used = true
	}
	f.a11yMu.Unlock()
	switch {
	case q == nil:
		web.WriteError(w, r, web.Errorf(http.StatusNotFound, "challenge_not_found", "no such challenge"))
	case used:
		web.WriteError(w, r, web.Errorf(http.StatusConflict, "challenge_used", "already answered"))
	case squash(body.Answer) == squash(q.answer):
		web.WriteJSON(w, http.StatusOK, f.pass(q.sitekey))
	default:
		web.WriteJSON(w, http.StatusOK, map[string]any{"pass": false})
	}
}

// squash compares answers case- and space-insensitively, as the contract says.
func squash(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), ""))
}

var numberWords = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
	"eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"}

// fakeTextQuestion draws a question from templates like the contract's.
func fakeTextQuestion() (question, answer string) {
	switch rand.IntN(3) {
	case 0:
		a, b := rand.IntN(10), rand.IntN(10)
		return fmt.Sprintf("What is %s plus %s? Answer with a number.", numberWords[a], numberWords[b]), strconv.Itoa(a + b)
	case 1:
		colour := []string{"green", "blue", "red", "yellow"}[rand.IntN(4)]
		words := []string{"table", "river", colour}
		rand.Shuffle(len(words), func(i, j int) { words[i], words[j] = words[j], words[i] })
		return "Which word in this list is a colour: " + strings.Join(words, ", ") + "?", colour
	default:
		word := []string{"banana", "window", "garden", "pencil"}[rand.IntN(4)]
		return fmt.Sprintf("Type the first letter of the word %q.", word), word[:1]
	}
}

// a11yCounts reports how many POSTs each kind of route got, and how many carried a cookie.
func (f *fakeA11y) a11yCounts() (visual, visualWithCookie, a11y, a11yWithCookie int) {
	f.a11yMu.Lock()
	defer f.a11yMu.Unlock()
	return f.visualRequests, f.visualWithCookie, f.a11yRequests, f.a11yWithCookie
}

package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/crowdgate/crowdgate/functions/challenge/widget"
	"github.com/crowdgate/crowdgate/shared/web"
)

// hCaptcha's published test keys (docs/API.md, DESIGN §6).
const (
	testSitekey = "10000000-ffff-ffff-ffff-000000000001"
	testSecret  = "0x0000000000000000000000000000000000000000"
	testToken   = "10000000-aaaa-bbbb-cccc-000000000001"
)

// Sitekeys the fake challenge API knows.
const (
	fakeSitekey    = "fake0000-0000-4000-8000-000000000001"
	unknownSitekey = "fake0000-0000-4000-8000-00000000dead"
)

// fakeAPI is a small stand-in for the challenge function that speaks docs/API.md: it
// serves the real widget script, issues a 3-task challenge whose answers it knows, grades
// answers and redeems pass tokens once. It lets the widget's browser behaviour be tested
// without the whole stack.
type fakeAPI struct {
	srv *httptest.Server
	// tokenTTL is the expires_in of pass tokens (seconds).
	tokenTTL int

	mu         sync.Mutex
	challenges map[string]*fakeChallenge
	tokens     map[string]bool // token → redeemed
	issues     []issueBody
	answered   int
}

type fakeChallenge struct {
	sitekey string
	used    bool
	public  map[string]any
	gold    map[string]goldAnswer
}

// goldAnswer is the right answer to one task, in the shape the oracles return.
type goldAnswer struct {
	Selected []string `json:"selected,omitempty"`
	Choice   string   `json:"choice,omitempty"`
}

type issueBody struct {
	Sitekey   string          `json:"sitekey"`
	Host      string          `json:"host"`
	HL        string          `json:"hl"`
	Telemetry json.RawMessage `json:"telemetry"`
}

type answersBody struct {
	Sitekey string `json:"sitekey"`
	Answers []struct {
		Task     string   `json:"task"`
		Selected []string `json:"selected"`
		Choice   *string  `json:"choice"`
	} `json:"answers"`
	Telemetry json.RawMessage `json:"telemetry"`
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{tokenTTL: 120, challenges: map[string]*fakeChallenge{}, tokens: map[string]bool{}}
	mux := http.NewServeMux()
	mux.Handle("GET /1/api.js", widget.Handler())
	mux.HandleFunc("POST /1/challenges", f.issue)
	mux.HandleFunc("POST /1/challenges/{id}/answers", f.answer)
	mux.HandleFunc("GET /img/{shape}", f.image)
	mux.HandleFunc("GET /gold", f.goldHandler)
	f.srv = httptest.NewServer(web.CORS(mux))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) URL() string { return f.srv.URL }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func coin() bool {
	var b [1]byte
	_, _ = rand.Read(b[:])
	return b[0]&1 == 1
}

var fakeShapes = []string{"circle", "square", "triangle"}

// newChallenge builds a challenge like the real one: two 3×3 grids of shapes ("select
// every circle", "select every triangle", each with at least two matching and two other
// tiles), so a random clicker passes about once in a million, then a yes/no question about
// an image and one about a sentence.
func (f *fakeAPI) newChallenge(sitekey string) map[string]any {
	id := "c_" + randomHex(16)
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	grid := func(want string) ([]map[string]any, []string) {
		others := slices.DeleteFunc(slices.Clone(fakeShapes), func(s string) bool { return s == want })
		var tiles []map[string]any
		var matching []string
		for i := 0; i < 9; i++ {
			shape := others[i%2]
			if i < 2 || (i >= 4 && coin()) {
				shape = want
			}
			tile := randomHex(6)
			if shape == want {
				matching = append(matching, tile)
			}
			tiles = append(tiles, map[string]any{"id": tile, "image_url": fmt.Sprintf("%s/img/%s?v=%s", f.srv.URL, shape, tile)})
		}
		// Shuffle so the matching tiles are not always first.
		perm := make([]byte, len(tiles))
		_, _ = rand.Read(perm)
		for i := len(tiles) - 1; i > 0; i-- {
			j := int(perm[i]) % (i + 1)
			tiles[i], tiles[j] = tiles[j], tiles[i]
		}
		return tiles, matching
	}
	circles, circleGold := grid("circle")
	triangles, triangleGold := grid("triangle")
	square := coin()
	shown := "triangle"
	if square {
		shown = "square"
	}
	positive := coin()
	sentence := "The parcel arrived broken and nobody answered my calls."
	if positive {
		sentence = "What a lovely, sunny morning for a walk!"
	}
	public := map[string]any{
		"id": id, "expires_in": 300, "prompt": "Please answer 4 questions",
		"tasks": []map[string]any{
			{"id": "t0", "kind": "image_grid", "question": "Select every image that shows a circle", "tiles": circles},
			{"id": "t1", "kind": "image_grid", "question": "Select every image that shows a triangle", "tiles": triangles},
			{"id": "t2", "kind": "yes_no", "question": "Does this image show a square?", "image_url": fmt.Sprintf("%s/img/%s?v=%s", f.srv.URL, shown, id)},
			{"id": "t3", "kind": "yes_no", "question": "Is this sentence positive?", "text": sentence},
		},
	}
	f.mu.Lock()
	f.challenges[id] = &fakeChallenge{sitekey: sitekey, public: public, gold: map[string]goldAnswer{
		"t0": {Selected: circleGold}, "t1": {Selected: triangleGold}, "t2": {Choice: yesNo(square)}, "t3": {Choice: yesNo(positive)},
	}}
	f.mu.Unlock()
	return public
}

func (f *fakeAPI) pass(sitekey string) map[string]any {
	if sitekey == testSitekey {
		return map[string]any{"pass": true, "token": testToken, "expires_in": f.tokenTTL}
	}
	tok := "P1_fake_" + randomHex(16)
	f.mu.Lock()
	f.tokens[tok] = false
	f.mu.Unlock()
	return map[string]any{"pass": true, "token": tok, "expires_in": f.tokenTTL}
}

func (f *fakeAPI) issue(w http.ResponseWriter, r *http.Request) {
	var body issueBody
	if err := web.DecodeJSON(r, 64<<10, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	f.mu.Lock()
	f.issues = append(f.issues, body)
	f.mu.Unlock()
	switch body.Sitekey {
	case testSitekey:
		web.WriteJSON(w, http.StatusOK, f.pass(body.Sitekey))
	case fakeSitekey:
		web.WriteJSON(w, http.StatusOK, map[string]any{"pass": false, "challenge": f.newChallenge(body.Sitekey)})
	default:
		web.WriteError(w, r, web.Errorf(http.StatusNotFound, "unknown_sitekey", "no such site"))
	}
}

func (f *fakeAPI) answer(w http.ResponseWriter, r *http.Request) {
	var body answersBody
	if err := web.DecodeJSON(r, 64<<10, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	f.mu.Lock()
	f.answered++
	c := f.challenges[r.PathValue("id")]
	var problem *web.Error
	switch {
	case c == nil:
		problem = web.Errorf(http.StatusNotFound, "challenge_not_found", "no such challenge")
	case c.sitekey != body.Sitekey:
		problem = web.Errorf(http.StatusForbidden, "sitekey_mismatch", "issued for another site")
	case c.used:
		problem = web.Errorf(http.StatusConflict, "challenge_used", "already answered")
	}
	if problem == nil {
		c.used = true
	}
	f.mu.Unlock()
	if problem != nil {
		web.WriteError(w, r, problem)
		return
	}
	seen := map[string]bool{}
	right := true
	for _, a := range body.Answers {
		want, ok := c.gold[a.Task]
		if !ok || seen[a.Task] {
			web.WriteError(w, r, web.Errorf(http.StatusBadRequest, "invalid_answers", "unknown or duplicate task"))
			return
		}
		seen[a.Task] = true
		if want.Choice != "" {
			right = right && a.Choice != nil && *a.Choice == want.Choice
			continue
		}
		if a.Selected == nil {
			web.WriteError(w, r, web.Errorf(http.StatusBadRequest, "invalid_answers", "grid answer without selected"))
			return
		}
		got := slices.Clone(a.Selected)
		exp := slices.Clone(want.Selected)
		slices.Sort(got)
		slices.Sort(exp)
		right = right && slices.Equal(got, exp)
	}
	if len(seen) != len(c.gold) {
		web.WriteError(w, r, web.Errorf(http.StatusBadRequest, "invalid_answers", "every task must be answered"))
		return
	}
	if right {
		web.WriteJSON(w, http.StatusOK, f.pass(c.sitekey))
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"pass": false, "challenge": f.newChallenge(c.sitekey)})
}

// goldHandler is the fake's oracle: the right answers of a challenge by id.
func (f *fakeAPI) goldHandler(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	c := f.challenges[r.URL.Query().Get("id")]
	f.mu.Unlock()
	if c == nil {
		http.Error(w, "unknown challenge", http.StatusNotFound)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"answers": c.gold})
}

// verify redeems a pass token once, like /siteverify.
func (f *fakeAPI) verify(token string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	redeemed, ok := f.tokens[token]
	if !ok || redeemed {
		return false
	}
	f.tokens[token] = true
	return true
}

func (f *fakeAPI) issueRequests() []issueBody {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.issues)
}

func (f *fakeAPI) image(w http.ResponseWriter, r *http.Request) {
	var shape string
	switch r.PathValue("shape") {
	case "circle":
		shape = `<circle cx="50" cy="50" r="30" fill="#c0392b"/>`
	case "square":
		shape = `<rect x="22" y="22" width="56" height="56" fill="#2c7be5"/>`
	case "triangle":
		shape = `<polygon points="50,18 84,80 16,80" fill="#27ae60"/>`
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><rect width="100" height="100" fill="#f3efe6"/>%s</svg>`, shape)
}

// answeredCount is how many answer posts the fake received.
func (f *fakeAPI) answeredCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.answered
}

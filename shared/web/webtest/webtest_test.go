package webtest

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/web"
)

// answer records what h writes.
func answer(h http.HandlerFunc) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/v1/x", nil))
	return rec
}

func envelope(status int, code string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		web.WriteError(w, r, web.Errorf(status, code, "refused"))
	}
}

func TestCheck(t *testing.T) {
	Quiet(t) // WriteError logs the 500
	codes := Codes{"job_not_found": 404, "invalid_json": 0}
	for _, c := range []struct {
		name     string
		h        http.HandlerFunc
		wantCode string
		wantErr  string
	}{
		{"success", func(w http.ResponseWriter, _ *http.Request) { web.WriteJSON(w, 200, map[string]int{"n": 1}) }, "", ""},
		{"documented code at its status", envelope(404, "job_not_found"), "job_not_found", ""},
		{"code with any 4xx", envelope(422, "invalid_json"), "invalid_json", ""},
		{"500", envelope(500, "internal_error"), "", "status 500"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/v1/y", http.StatusMovedPermanently)
		}, "", "status 301"},
		{"plain-text 404", http.NotFound, "", "Content-Type"},
		{"success that is not JSON", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("{"))
		}, "", "not JSON"},
		{"JSON without the envelope", func(w http.ResponseWriter, _ *http.Request) { web.WriteJSON(w, 400, map[string]string{"code": "x"}) }, "", "envelope"},
		{"envelope without a message", func(w http.ResponseWriter, _ *http.Request) {
			web.WriteJSON(w, 404, map[string]any{"error": map[string]string{"code": "job_not_found"}})
		}, "", "envelope"},
		{"undocumented code", envelope(404, "not_found"), "", `"not_found", not documented`},
		{"documented code at another status", envelope(410, "job_not_found"), "", `"job_not_found", not documented`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, err := check(answer(c.h), codes)
			if code != c.wantCode || (err == nil) != (c.wantErr == "") || err != nil && !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("check = %q, %v; want %q and an error with %q", code, err, c.wantCode, c.wantErr)
			}
		})
	}
}

func TestDocumented(t *testing.T) {
	if got := Documented(t, Codes{"not_found": 404, "body_too_large": 413}); len(got) != 2 {
		t.Errorf("Documented returned %v", got)
	}
	doc := []byte("| 404 | `job_not_found` | unknown job |\nA job being deleted is `409 job_deleting`; not_found in prose does not count.")
	if err := listed(doc, Codes{"job_not_found": 0, "job_deleting": 0}); err != nil {
		t.Errorf("codes in a table and after their status: %v", err)
	}
	if err := listed(doc, Codes{"job_not_found": 0, "not_found": 0, "deleted": 0}); err == nil || !strings.Contains(err.Error(), `["deleted" "not_found"]`) {
		t.Errorf("listed = %v, want deleted and not_found missing", err)
	}
}

func TestHeaderSafe(t *testing.T) {
	if !HeaderSafe("Bearer x", "a\tb", "ünï", "") {
		t.Error("a printable value (tab included) is not header-safe")
	}
	for _, v := range []string{"a\nb", "\x00", "a\rb", "\x7f"} {
		if HeaderSafe("ok", v) {
			t.Errorf("%q is header-safe", v)
		}
	}
}

func TestQuietRestoresTheLogger(t *testing.T) {
	prev := slog.Default()
	t.Run("quiet", func(t *testing.T) {
		Quiet(t)
		if slog.Default() == prev || slog.Default().Enabled(t.Context(), slog.LevelError) {
			t.Error("the default logger still logs")
		}
	})
	if slog.Default() != prev {
		t.Error("the default logger was not restored")
	}
}

// CheckAnswer fails the test it is given with what check found.
func TestCheckAnswerFailsTheTest(t *testing.T) {
	tb := &recordingTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		CheckAnswer(tb, answer(http.NotFound), Codes{})
	}()
	if !strings.Contains(tb.fatal, "Content-Type") {
		t.Errorf("CheckAnswer on a plain-text 404 reported %q", tb.fatal)
	}
}

// recordingTB records a Fatal instead of failing the test, and panics to stop the caller
// as Fatal's runtime.Goexit would.
type recordingTB struct {
	testing.TB
	fatal string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	panic(r)
}

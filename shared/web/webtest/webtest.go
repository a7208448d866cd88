// Package webtest holds the checks the functions' HTTP fuzz targets share: that an answer
// is one docs/API.md promises (below 500, JSON, errors in the envelope with a documented
// code at its status), and the small pieces every target needs around it.
package webtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/web"
)

// Codes are a route's documented error codes with the HTTP status each is answered with;
// 0 accepts any 4xx, for a code whose status the caller does not pin.
type Codes map[string]int

// Documented returns codes, failing unless docs/API.md lists every one of them:
// a code the fuzz target accepts must be one an integrator can look up.
func Documented(tb testing.TB, codes Codes) Codes {
	tb.Helper()
	doc, err := readAPIDoc()
	if err == nil {
		err = listed(doc, codes)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return codes
}

// CheckAnswer fails unless rec is a documented answer: below 500 and not a redirect, JSON,
// and for a 4xx the error envelope with a message and one of codes at its status. It
// returns the error code, "" for a success.
func CheckAnswer(tb testing.TB, rec *httptest.ResponseRecorder, codes Codes) string {
	tb.Helper()
	code, err := check(rec, codes)
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

// HeaderSafe reports whether every value could arrive in an HTTP header: no control
// characters but tab (API Gateway and net/http refuse them before any handler runs).
func HeaderSafe(values ...string) bool {
	for _, v := range values {
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
				return false
			}
		}
	}
	return true
}

// Quiet drops the handlers' logs for the rest of the test: a fuzz run would print millions
// of request lines that help nobody.
func Quiet(tb testing.TB) {
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	tb.Cleanup(func() { slog.SetDefault(prev) })
}

func check(rec *httptest.ResponseRecorder, codes Codes) (string, error) {
	status, body := rec.Code, rec.Body.Bytes()
	if status >= 500 || status < 200 || status >= 300 && status < 400 {
		return "", fmt.Errorf("status %d: %.300s", status, body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return "", fmt.Errorf("status %d with Content-Type %q: %.300s", status, ct, body)
	}
	if status < 300 {
		if !json.Valid(body) {
			return "", fmt.Errorf("status %d with a body that is not JSON: %.300q", status, body)
		}
		return "", nil
	}
	var e web.ErrorBody
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" {
		return "", fmt.Errorf("status %d without the error envelope: %.300q", status, body)
	}
	want, ok := codes[e.Error.Code]
	if !ok || want != 0 && want != status {
		return "", fmt.Errorf("status %d with code %q, not documented for this route: %.300s", status, e.Error.Code, body)
	}
	return e.Error.Code, nil
}

// listed fails unless doc names every code in backticks, alone as in docs/API.md's tables
// or after its status as in its prose (`404 not_found`).
func listed(doc []byte, codes Codes) error {
	var missing []string
	for c := range codes {
		if !regexp.MustCompile("`([1-5][0-9][0-9] )?" + regexp.QuoteMeta(c) + "`").Match(doc) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("error codes not in docs/API.md: %q", missing)
	}
	return nil
}

// readAPIDoc reads docs/API.md from the module root, found above the working directory, so
// a test reads it from any package depth.
func readAPIDoc() ([]byte, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return os.ReadFile(filepath.Join(dir, "docs", "API.md"))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

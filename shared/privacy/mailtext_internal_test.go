package privacy

import (
	"strings"
	"testing"
	"time"
)

// The person who asked for a copy of their data learns from the completion mail where to
// get it and until when; other completions say nothing of a package.
func TestCompletionMailOfAnAccessRequestSaysHowToDownload(t *testing.T) {
	closed := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	access := Request{ID: "pr_0123456789abcdef0123456789abcdef", Type: TypeAccess, Regulation: GDPR, ClosedAt: closed}
	_, text := completionMail(access)
	for _, want := range []string{"/v1/privacy/requests/pr_0123456789abcdef0123456789abcdef/package", "status secret", "31 December 2026"} {
		if !strings.Contains(text, want) {
			t.Errorf("access completion mail lacks %q:\n%s", want, text)
		}
	}
	erase := access
	erase.Type = TypeDelete
	if _, text := completionMail(erase); strings.Contains(text, "/package") {
		t.Errorf("a deletion's completion mail speaks of a package:\n%s", text)
	}
}

package privacy_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
)

// Compliance teams read a request's report (and the audit log's progress notes) by kind
// name: docs/API.md lists, per request type and store, every kind the worker counts. This
// runs every type through the paths that produce each kind — a correction the account
// rules now refuse, one of a profile being erased, an erasure while another request of
// the subject is open — and checks the table both ways.
func TestAPIDocListsEveryReportKind(t *testing.T) {
	doc := reportKindsDoc(t)
	seen := map[string]bool{}
	check := func(typ privacy.Type, done privacy.Request) {
		t.Helper()
		if done.Status != privacy.StatusCompleted {
			t.Fatalf("%s: %s", typ, done.Status)
		}
		for store, counts := range privacy.ReportOf(done) {
			for kind := range counts {
				seen[kind] = true
				if !slices.ContainsFunc(doc, func(r kindRow) bool {
					return slices.Contains(r.types, string(typ)) && r.store == store && slices.Contains(r.kinds, kind)
				}) {
					t.Errorf("a %s request counts %q under %q; docs/API.md's report table does not list it there", typ, kind, store)
				}
			}
		}
	}

	for _, typ := range []privacy.Type{privacy.TypeAccess, privacy.TypeDelete, privacy.TypeChildDelete, privacy.TypeWithdrawConsent} {
		w := newReportWorld(t)
		// An opt-out still open while an erasure runs (request_account_ids under accounts).
		w.file(t, janeMail, privacy.TypeOptOut)
		r, _ := w.verified(t, janeMail, typ)
		check(typ, w.approveAndRun(t, r.ID))
	}
	for _, typ := range []privacy.Type{privacy.TypeOptOut, privacy.TypeLimit, privacy.TypeWithdrawConsent} {
		w := newReportWorld(t)
		check(typ, w.approveAndRun(t, w.file(t, janeMail, typ).ID))
	}

	all := []privacy.Correction{{Field: "name", Value: "Jane Q. Doe"}, {Field: "email", Value: "jq@example.com"}, {Field: "country", Value: "FR"}}
	w := newReportWorld(t)
	check(privacy.TypeCorrect, w.approveAndRun(t, w.correction(t, all)))
	// Values the account rules refuse (filing checks them, so only rules changed since
	// filing could): stored as such here.
	w = newReportWorld(t)
	id := w.correction(t, all)
	r, err := w.fixture.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	r.Corrections = []privacy.Correction{{Field: "name", Value: strings.Repeat("x", 150)}, {Field: "email", Value: "not an address"}, {Field: "country", Value: "Germany"}}
	r.Version++
	if err := w.fixture.store.Save(ctx, privacy.Change{Request: r}); err != nil {
		t.Fatal(err)
	}
	check(privacy.TypeCorrect, w.approveAndRun(t, id))
	// Profiles an erasure has fenced: it stopped after the fence.
	w = newReportWorld(t)
	erasure, _ := w.verified(t, janeMail, privacy.TypeDelete)
	if _, err := w.svc.Approve(ctx, erasure.ID, operator); err != nil {
		t.Fatal(err)
	}
	w.h.Fail = func(op string) error {
		if op == "revoke_api_key" {
			return errors.New("throttled")
		}
		return nil
	}
	if _, err := w.run(erasure.ID); err == nil {
		t.Fatal("the erasure did not stop")
	}
	w.h.Fail = nil
	check(privacy.TypeCorrect, w.approveAndRun(t, w.correction(t, all)))

	for _, r := range doc {
		for _, kind := range r.kinds {
			if !seen[kind] {
				t.Errorf("docs/API.md's report table lists %q (%s, %v), which no request counted", kind, r.store, r.types)
			}
		}
	}
}

// newReportWorld is Jane's world with accessibility records and a suppressed address, so
// every store has something of hers.
func newReportWorld(t *testing.T) *a11yWorld {
	t.Helper()
	w := newA11yWorld(t)
	w.enrol(t, janeMail)
	list := &privacytest.Suppressions{}
	list.List(janeMail, privacy.Suppression{Reason: "BOUNCE", Since: t0})
	w.deps.Suppression = list
	return w
}

// correction files Jane's verified correction and returns its id.
func (w *a11yWorld) correction(t *testing.T, cs []privacy.Correction) string {
	t.Helper()
	filed, err := w.svc.File(ctx, privacy.FileInput{Email: janeMail, Type: privacy.TypeCorrect, Regulation: privacy.GDPR, Corrections: cs})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.svc.Verify(ctx, filed.ID, w.mail.LastCode(janeMail)); err != nil {
		t.Fatal(err)
	}
	return filed.ID
}

// kindRow is a row of docs/API.md's report table: request types, a store, its kinds.
type kindRow struct {
	types []string
	store string
	kinds []string
}

func reportKindsDoc(t *testing.T) []kindRow {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(raw), "<!-- report-kinds:begin -->")
	table, _, ok := strings.Cut(rest, "<!-- report-kinds:end -->")
	if !ok {
		t.Fatal("docs/API.md has no report-kinds:begin/end markers")
	}
	code := regexp.MustCompile("`([^`]+)`")
	names := func(cell string) []string {
		var out []string
		for _, m := range code.FindAllStringSubmatch(cell, -1) {
			out = append(out, m[1])
		}
		return out
	}
	var rows []kindRow
	for _, line := range strings.Split(strings.TrimSpace(table), "\n")[2:] {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 3 {
			t.Fatalf("report table row %q", line)
		}
		store := names(cells[1])
		if len(store) != 1 {
			t.Fatalf("report table row %q names %d stores", line, len(store))
		}
		rows = append(rows, kindRow{types: names(cells[0]), store: store[0], kinds: names(cells[2])})
	}
	return rows
}

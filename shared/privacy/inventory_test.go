package privacy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	consensushandler "github.com/crowdgate/crowdgate/functions/consensus/handler"
	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/analytics"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/mail"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/token"
)

// inventoryRow is one row of docs/PRIVACY.md's retention table.
type inventoryRow struct {
	data, where, kept, code string
}

func readInventory(t *testing.T) []inventoryRow {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "PRIVACY.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "<!-- retention:begin -->")
	table, _, ok2 := strings.Cut(rest, "<!-- retention:end -->")
	if !ok || !ok2 {
		t.Fatal("docs/PRIVACY.md has no retention:begin/end markers")
	}
	var rows []inventoryRow
	for i, line := range strings.Split(strings.TrimSpace(table), "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 6 {
			t.Fatalf("retention table line %d has %d columns, want 6: %q", i+1, len(cells), line)
		}
		if i < 2 { // header and separator
			continue
		}
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		rows = append(rows, inventoryRow{data: cells[0], where: cells[1], kept: cells[2], code: strings.Trim(cells[3], "`")})
	}
	return rows
}

var keptRE = regexp.MustCompile(`^(\d+) (seconds|minutes|hours|days|months)$`)

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func bucketDays(name string) int {
	for _, b := range schema.Buckets {
		if b.Name == name {
			return b.ExpireDays
		}
	}
	return -1
}

// Every retention the data inventory states is the code's: each row names the constant
// that enforces it, and the stated figure must equal the constant's value.
func TestInventoryRetentionMatchesTheCode(t *testing.T) {
	durations := map[string]time.Duration{
		"challenge.DefaultTTL":           challenge.DefaultTTL,
		"token.TTL":                      token.TTL,
		"challenge.RiskEventRetention":   challenge.RiskEventRetention,
		"dynamo.SaltRetention":           dynamo.SaltRetention,
		"job.PendingTTL":                 job.PendingTTL,
		"job.CreateKeyTTL":               job.CreateKeyTTL,
		"consensus.AnswererRetention":    consensushandler.AnswererRetention,
		"consensus.ClassCountsRetention": consensushandler.ClassCountsRetention,
		"export.Retention":               export.Retention,
		"export.LinkTTL":                 export.LinkTTL,
		"schema.exports.ExpireDays":      days(bucketDays(schema.BucketExports)),
		"privacy.CodeLifetime":           privacy.CodeLifetime,
		"privacy.FilingWindow":           privacy.FilingWindow,
		"privacy.UnverifiedWindow":       privacy.UnverifiedWindow,
		"privacy.PackageKeepDays":        days(privacy.PackageKeepDays),
		"schema.privacy.ExpireDays":      days(bucketDays(schema.BucketPrivacy)),
		"privacy.PackageLinkTTL":         privacy.PackageLinkTTL,
		"accessibility.CodeTTL":          accessibility.CodeTTL,
		"accessibility.TokenTTL":         accessibility.TokenTTL,
		"accessibility.FenceTTL":         accessibility.FenceTTL,
		"accessibility.MailWindow":       accessibility.MailWindow,
		"accessibility.NetworkWindow":    accessibility.NetworkWindow,
		"accessibility.TokenWindow":      accessibility.TokenWindow,
		"accessibility.ChallengeTTL":     accessibility.ChallengeTTL,
		"mail.OutboxRetention":           mail.OutboxRetention,
	}
	months := map[string]int{
		"privacy.RetentionMonths":           privacy.RetentionMonths,
		"privacy.DisclosureRetentionMonths": privacy.DisclosureRetentionMonths,
		"analytics.RetentionMonths":         analytics.RetentionMonths,
	}
	units := map[string]time.Duration{"seconds": time.Second, "minutes": time.Minute, "hours": time.Hour, "days": 24 * time.Hour}
	untimed := []string{"until erased", "until deleted", "until closed", "not stored"}
	seen := map[string]bool{}
	for _, r := range readInventory(t) {
		seen[r.code] = true
		switch {
		case r.code == "-":
			if !slices.Contains(untimed, r.kept) {
				t.Errorf("%q: kept %q without a constant; want one of %v or a code column", r.data, r.kept, untimed)
			}
			continue
		case strings.HasPrefix(r.code, "infra."), strings.HasPrefix(r.code, "aws."):
			continue // infra/privacy_doc_test.go; AWS's own
		}
		m := keptRE.FindStringSubmatch(r.kept)
		if m == nil {
			t.Errorf("%q: kept %q is not <n> seconds|minutes|hours|days|months", r.data, r.kept)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if m[2] == "months" {
			want, ok := months[r.code]
			if !ok {
				t.Errorf("%q: %s is not a known month constant", r.data, r.code)
			} else if n != want {
				t.Errorf("%q: the doc says %d months, %s is %d", r.data, n, r.code, want)
			}
			continue
		}
		want, ok := durations[r.code]
		if !ok {
			t.Errorf("%q: %s is not a known retention constant", r.data, r.code)
		} else if got := time.Duration(n) * units[m[2]]; got != want {
			t.Errorf("%q: the doc says %s (%v), %s is %v", r.data, r.kept, got, r.code, want)
		}
	}
	for code := range durations {
		if !seen[code] {
			t.Errorf("%s is not in the inventory", code)
		}
	}
	for code := range months {
		if !seen[code] {
			t.Errorf("%s is not in the inventory", code)
		}
	}
}

// Every table and bucket of the schema is in the inventory, and the retentions that must
// agree do (the access package outlives neither its link rule nor its bucket rule).
func TestInventoryCoversEveryStore(t *testing.T) {
	rows := readInventory(t)
	has := func(s string) bool {
		return slices.ContainsFunc(rows, func(r inventoryRow) bool { return strings.Contains(r.where, "`"+s+"`") })
	}
	for _, tb := range schema.Tables {
		if !has(tb.Name) {
			t.Errorf("table %s is not in the inventory", tb.Name)
		}
	}
	for _, b := range schema.Buckets {
		if !has(b.Name) {
			t.Errorf("bucket %s is not in the inventory", b.Name)
		}
	}
	if bucketDays(schema.BucketPrivacy) != privacy.PackageKeepDays {
		t.Errorf("the privacy bucket expires objects after %d days, packages are offered %d days", bucketDays(schema.BucketPrivacy), privacy.PackageKeepDays)
	}
	if days(bucketDays(schema.BucketExports)) != export.Retention {
		t.Errorf("the exports bucket expires files after %d days, export records after %v", bucketDays(schema.BucketExports), export.Retention)
	}
}

package e2e

// This file's name sorts last, so `go test` runs its tests after every other test of the
// package: they look at what the whole end-to-end run left in the stores and the logs.

import (
	"context"
	"encoding/json"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Every record that is not account data carries a ttl (docs/PRIVACY.md, Lifecycle):
// account data is the accounts table and a customer's jobs, items and their challenge-
// pool entries, which live until the customer or an erasure deletes them. The request log
// is purged 27 months after receipt and disclosure records 24 months after disclosure.
func TestZZEveryRecordThatIsNotAccountDataExpires(t *testing.T) {
	d := startStack(t)
	db, _ := localClients(d)
	ctx := context.Background()
	counted := map[string]int{}
	for _, tb := range schema.Tables {
		if tb.Name == schema.TableAccounts {
			continue
		}
		in := &dynamodb.ScanInput{TableName: aws.String(d.Tables[tb.Name])}
		for {
			page, err := db.Scan(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				counted[tb.Name]++
				kind := attrS(it, "kind")
				ttl, ok := it[schema.TTLAttribute].(*types.AttributeValueMemberN)
				if !ok {
					if tb.Name == schema.TableLabels && (kind == "job" || kind == "item") {
						continue // customer data: kept until deleted
					}
					t.Errorf("table %s: a %q record (pk %.40s…) has no ttl", tb.Name, kind, attrS(it, "pk"))
					continue
				}
				exp, err := strconv.ParseInt(ttl.Value, 10, 64)
				if err != nil || exp <= 0 {
					t.Errorf("table %s: %q record with ttl %q", tb.Name, kind, ttl.Value)
					continue
				}
				checkPrivacyRetention(t, kind, it, time.Unix(exp, 0).UTC())
			}
			if len(page.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = page.LastEvaluatedKey
		}
	}
	if counted[schema.TableChallenges] == 0 || counted[schema.TablePrivacy] == 0 || counted[schema.TableRisk] == 0 {
		t.Fatalf("records scanned per table %v: the run left too little to check", counted)
	}
}

func attrS(it map[string]types.AttributeValue, name string) string {
	if s, ok := it[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// checkPrivacyRetention holds the request log and the disclosure records to their stated
// retention.
func checkPrivacyRetention(t *testing.T, kind string, it map[string]types.AttributeValue, ttl time.Time) {
	t.Helper()
	var from time.Time
	var months int
	switch kind {
	case "privacy-request":
		from, months = parseTime(attrS(it, "received_at")), privacy.RetentionMonths
	case "disclosure":
		from, months = parseTime(attrS(it, "at")), privacy.DisclosureRetentionMonths
	default:
		return
	}
	if want := from.AddDate(0, months, 0); from.IsZero() || !ttl.Equal(want.Truncate(time.Second)) {
		t.Errorf("%s record expires %v, want %d months after %v", kind, ttl, months, from)
	}
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t.UTC()
}

var (
	emailRE    = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)
	ipv4RE     = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)
	ipv6RE     = regexp.MustCompile(`[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}`)
	siteSecret = regexp.MustCompile(`0x[0-9a-fA-F]{40}`)
	apiKeyRE   = regexp.MustCompile(`cg[ki]_[0-9a-f]{16}_[0-9a-f]{8,}|cg_admin_[0-9a-f]{16,}`) // customer, integrator and admin keys
	statusRE   = regexp.MustCompile(`pss_[A-Za-z0-9_-]{16,}`)
)

// No log line of the whole run holds personal data or a secret (docs/PRIVACY.md, Logs).
// A log line is a JSON object the stack wrote through slog; the start-up banner, which
// prints the demo keys for the developer, is not one.
func TestZZLogsHoldNoPersonalDataOrSecrets(t *testing.T) {
	startStack(t)
	seen.mu.Lock()
	secrets, names := slices.Clone(seen.secrets), slices.Clone(seen.names)
	seen.mu.Unlock()
	lines := 0
	for _, line := range strings.Split(serve.log.String(), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "{") || !json.Valid([]byte(line)) {
			continue
		}
		lines++
		bad := func(what string) { t.Errorf("log line holds %s: %.400s", what, line) }
		if emailRE.MatchString(line) {
			bad("an e-mail address")
		}
		for _, m := range ipv4RE.FindAllString(line, -1) {
			if ip := net.ParseIP(m); ip != nil && m != "127.0.0.1" && m != "0.0.0.0" {
				bad("the IPv4 address " + m)
			}
		}
		for _, m := range ipv6RE.FindAllString(line, -1) {
			if ip := net.ParseIP(m); ip != nil && ip.To4() == nil && !ip.IsLoopback() && !ip.IsUnspecified() {
				bad("the IPv6 address " + m)
			}
		}
		for _, m := range siteSecret.FindAllString(line, -1) {
			if m != "0x"+strings.Repeat("0", 40) { // hCaptcha's published test secret
				bad("a site secret")
			}
		}
		if apiKeyRE.MatchString(line) {
			bad("an API key or the admin token")
		}
		if statusRE.MatchString(line) {
			bad("a status secret")
		}
		for _, s := range secrets {
			if s != "" && leaks(line, s) {
				bad("a secret or code the suite used")
			}
		}
		for _, n := range names {
			if n != "" && strings.Contains(strings.ToLower(line), strings.ToLower(n)) {
				bad("a seeded name or address")
			}
		}
	}
	if lines < 10 {
		t.Fatalf("only %d JSON log lines: nothing to check", lines)
	}
	t.Logf("%d log lines checked against %d seeded secrets and %d seeded names", lines, len(secrets), len(names))
}

// leaks reports whether line holds secret. A short secret (a 6-digit verification code)
// counts only as a whole word: inside a random hex request id it turns up by chance about
// once in a hundred runs, and is no leak.
func leaks(line, secret string) bool {
	if len(secret) >= 16 {
		return strings.Contains(line, secret)
	}
	alnum := func(b byte) bool { return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
	for i := 0; ; {
		j := strings.Index(line[i:], secret)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(secret)
		if (start == 0 || !alnum(line[start-1])) && (end == len(line) || !alnum(line[end])) {
			return true
		}
		i = start + 1
	}
}

func TestLeaksFindsShortCodesOnlyAsWords(t *testing.T) {
	for _, c := range []struct {
		line, secret string
		want         bool
	}{
		{`{"request_id":"478d937c1698b0715484ac3cdcbc0743"}`, "715484", false}, // chance, inside an id
		{`{"msg":"code 715484 sent"}`, "715484", true},
		{`{"code":"715484"}`, "715484", true},
		{`715484`, "715484", true},
		{`{"x":"a715484","y":"715484"}`, "715484", true},                                 // the second one is whole
		{`{"token":"xxcga_0123456789abcdefghijkl"}`, "cga_0123456789abcdefghijkl", true}, // long: anywhere
	} {
		if got := leaks(c.line, c.secret); got != c.want {
			t.Errorf("leaks(%s, %s) = %v, want %v", c.line, c.secret, got, c.want)
		}
	}
}

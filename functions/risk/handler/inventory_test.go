package handler_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/analytics"
	"github.com/crowdgate/crowdgate/shared/challenge"
)

// inventoryRows returns the data column of docs/PRIVACY.md's retention table, with each
// row's kept column, keyed by the row's code column.
func inventoryRows(t *testing.T) map[string][2]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "PRIVACY.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(raw), "<!-- retention:begin -->")
	table, _, _ := strings.Cut(rest, "<!-- retention:end -->")
	rows := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 6 {
			continue
		}
		code := strings.Trim(strings.TrimSpace(cells[3]), "`")
		rows[code] = [2]string{strings.TrimSpace(cells[0]), strings.TrimSpace(cells[2])}
	}
	return rows
}

// inventoryField says which words of an inventory row name a stored attribute.
type inventoryField struct {
	attr   *regexp.Regexp
	phrase string
}

// Every attribute the risk function stores, and every field of a risk event, is named in
// docs/PRIVACY.md's inventory, and every record's ttl is within the row's retention. The
// inventory test in shared/privacy checks only the retention figures against constants:
// a field added to a record or an event would go unlisted. Add a new attribute here only
// together with its words in the inventory.
func TestEveryRiskRecordAndEventFieldIsInTheInventory(t *testing.T) {
	rows := inventoryRows(t)
	riskRow, ok := rows["challenge.RiskEventRetention"]
	aggRow, ok2 := rows["analytics.RetentionMonths"]
	queueRow, ok3 := rows["infra.queueRetentionDays"]
	if !ok || !ok2 || !ok3 || riskRow[1] != "24 hours" || aggRow[1] != "13 months" {
		t.Fatalf("inventory rows of the risk table and the queues: %q %q %q", riskRow, aggRow, queueRow)
	}
	structural := regexp.MustCompile(`^(pk|sk|ttl|kind)$`)
	risk := []inventoryField{
		{regexp.MustCompile(`^[irpf]\d\d$`), "per-minute counts of challenges issued and refused and of answers passed and failed"},
		{regexp.MustCompile(`^s\d\d$`), "up to 64 solve times"},
		{regexp.MustCompile(`^(ss|sn)$`), "the sum and number of its answers' scores"},
		{regexp.MustCompile(`^sitekey$`), "sitekey"},
		{regexp.MustCompile(`^(issued|answered)_at$`), "issue and answer times"},
		{regexp.MustCompile(`^tasks$`), "number of tasks"},
		{regexp.MustCompile(`^outcome$`), "outcome"},
		{regexp.MustCompile(`^solve_ms$`), "solve time"},
		{regexp.MustCompile(`^[ia]score$`), "issue and answer scores"},
		{regexp.MustCompile(`^[ia]r$`), "reason codes"},
	}
	aggregate := []inventoryField{
		{regexp.MustCompile(`^c$`), "challenges"},
		{regexp.MustCompile(`^p$`), "passes"},
		{regexp.MustCompile(`^f$`), "fails"},
		{regexp.MustCompile(`^b$`), "blocked"},
	}
	keys := map[string]string{"RW#IP#": "IP pseudonym", "RW#NET#": "subnet pseudonym", "RW#SITE#": "IP pseudonym on a sitekey",
		"RC#": "per challenge id", "EVT#": "Event markers", "AD#": "per sitekey and UTC day"}

	p, _, _, _ := visitAcrossMidnight(t)
	now := p.env.Clock.Now()
	for _, it := range p.riskItems() {
		pk, _ := it["pk"].(string)
		row, fields := riskRow[0], risk
		if strings.HasPrefix(pk, "AD#") {
			row, fields = aggRow[0], aggregate
		}
		prefix := ""
		for k := range keys {
			if strings.HasPrefix(pk, k) && len(k) > len(prefix) {
				prefix = k
			}
		}
		if prefix == "" || !strings.Contains(row, keys[prefix]) {
			t.Errorf("record %s: its key is in no inventory row", pk)
		}
		for name := range it {
			if structural.MatchString(name) {
				continue
			}
			found := false
			for _, f := range fields {
				if f.attr.MatchString(name) {
					found = true
					if !strings.Contains(row, f.phrase) {
						t.Errorf("record %s: attribute %s: the inventory row does not say %q: %s", pk, name, f.phrase, row)
					}
				}
			}
			if !found {
				t.Errorf("record %s: attribute %s is not in the inventory (docs/PRIVACY.md, and this test's list)", pk, name)
			}
		}
		ttl, _ := it["ttl"].(float64)
		expires := time.Unix(int64(ttl), 0).UTC()
		switch prefix {
		case "AD#":
			day, _ := time.Parse(time.DateOnly, strings.TrimPrefix(it["sk"].(string), "D#"))
			if !expires.Equal(analytics.Expires(day)) {
				t.Errorf("record %s %s expires %s, want 13 months after its day", pk, it["sk"], expires)
			}
		case "RW#IP#", "RW#NET#", "RW#SITE#":
			hour, _ := time.Parse("2006-01-02T15", strings.TrimPrefix(it["sk"].(string), "H#"))
			if expires.After(hour.Add(challenge.RiskEventRetention)) {
				t.Errorf("counters %s %s expire %s, more than 24 hours after their hour began", pk, it["sk"], expires)
			}
		default:
			if ttl == 0 || expires.After(now.Add(challenge.RiskEventRetention)) {
				t.Errorf("record %s expires %s, more than 24 hours after its last event", pk, expires)
			}
		}
	}

	// Every field of a risk event, each set.
	ev := challenge.RiskEvent{V: 1, ID: "c_x:answer", Kind: "answer", Outcome: challenge.OutcomeFailed, Challenge: "c_x", Sitekey: "s",
		Day: now.Format(time.DateOnly), IP: "ip", Subnet: "net", Tasks: 3, SolveMS: 1, Score: 0.5, Reasons: []string{"r"}, At: now}
	raw, _ := json.Marshal(ev)
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	words := map[string]string{"v": "format version", "id": "event id", "kind": "kind and outcome", "outcome": "kind and outcome",
		"challenge": "challenge id", "sitekey": "sitekey", "day": "UTC day", "ip": "IP and subnet pseudonyms", "subnet": "IP and subnet pseudonyms",
		"tasks": "number of tasks", "solve_ms": "solve time", "score": "score", "reasons": "reason codes", "at": "time"}
	_, events, _ := strings.Cut(queueRow[0], "risk events (")
	events, _, _ = strings.Cut(events, ")")
	for name := range fields {
		w, ok := words[name]
		if !ok {
			t.Errorf("risk event field %q is not in the inventory (docs/PRIVACY.md's queue row, and this test's list)", name)
		} else if !strings.Contains(events, w) {
			t.Errorf("risk event field %q: the inventory's risk events (%s) do not say %q", name, events, w)
		}
	}
}

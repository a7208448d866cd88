package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"

	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schedules"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// The infra.* rows of docs/PRIVACY.md's retention table state the CDK app's retentions
// (shared/privacy/inventory_test.go checks the other rows).
func TestPrivacyInventoryStatesTheStacksRetentions(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "PRIVACY.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(raw), "<!-- retention:begin -->")
	table, _, ok := strings.Cut(rest, "<!-- retention:end -->")
	if !ok {
		t.Fatal("docs/PRIVACY.md has no retention table")
	}
	logDays := map[awslogs.RetentionDays]int{awslogs.RetentionDays_ONE_WEEK: 7, awslogs.RetentionDays_TWO_WEEKS: 14, awslogs.RetentionDays_ONE_MONTH: 30, awslogs.RetentionDays_THREE_MONTHS: 90}
	want := map[string]int{
		"infra.deadLetterRetentionDays": deadLetterRetentionDays,
		"infra.accessLogRetentionDays":  accessLogRetentionDays,
		"infra.noncurrentVersionDays":   noncurrentVersionDays,
		"infra.logRetention":            logDays[logRetention],
		"infra.queueRetentionDays":      queueRetentionDays,
	}
	kept := regexp.MustCompile(`^(\d+) days$`)
	seen := map[string]bool{}
	// Stores of the stack a row must name, with the code of their retention.
	stores := map[string]string{"`ApiAccessLogs`": "infra.logRetention", "SQS queues": "infra.queueRetentionDays"}
	for _, line := range strings.Split(strings.TrimSpace(table), "\n")[2:] {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 6 {
			t.Fatalf("row %q", line)
		}
		code := strings.Trim(strings.TrimSpace(cells[3]), "`")
		if !strings.HasPrefix(code, "infra.") {
			continue
		}
		seen[code] = true
		for store, c := range stores {
			if strings.Contains(cells[1], store) && c == code {
				delete(stores, store)
			}
		}
		days := -1
		if m := kept.FindStringSubmatch(strings.TrimSpace(cells[2])); m != nil {
			days, _ = strconv.Atoi(m[1])
		}
		if days != want[code] || want[code] == 0 {
			t.Errorf("%s: the inventory says %q, the stack keeps %d days", code, strings.TrimSpace(cells[2]), want[code])
		}
	}
	for code := range want {
		if !seen[code] {
			t.Errorf("%s is not in docs/PRIVACY.md's retention table", code)
		}
	}
	for store, code := range stores {
		t.Errorf("no row of docs/PRIVACY.md's retention table names %s with %s", store, code)
	}
}

// The daily sweeps send the messages the privacy worker understands to its queue.
func TestSweepsSendThePrivacyWorkersMessages(t *testing.T) {
	for name, kind := range map[string]string{"CloseUnverifiedPrivacyRequests": privacy.KindCloseUnverified, "SweepExpiredJobs": privacy.KindExpireJobs} {
		i := slices.IndexFunc(schedules.Table, func(sc schedules.Job) bool { return sc.Name == name })
		if i < 0 {
			t.Errorf("no %s schedule", name)
			continue
		}
		sc := schedules.Table[i]
		m, err := privacy.ParseMessage(sc.Payload)
		if err != nil || m.Kind != kind || sc.Queue != schema.QueuePrivacy {
			t.Errorf("%s sends %s to %q: %+v, %v", name, sc.Payload, sc.Queue, m, err)
		}
	}
}

package main

import (
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/schedules"
)

// The headers of infra/README.md's hand-kept tables; a changed header is a changed format,
// which this file must learn too.
const (
	grantsHeader    = "| function | DynamoDB | queues send | buckets | more (`access` fields) |"
	sizingHeader    = "| function | timeout | memory | why |"
	schedulesHeader = "| schedule | when (UTC) | target | payload |"
)

// Operators audit the roles from infra/README.md's grants table: every row states exactly
// the grants entry of its function in access.go, and every function has a row.
func TestReadmeGrantsTableStatesAccessGo(t *testing.T) {
	rows := readmeTable(t, grantsHeader)
	for _, name := range slices.Sorted(maps.Keys(grants)) {
		if _, ok := rows[name]; !ok {
			t.Errorf("infra/README.md grants table: no row for %s (access.go grants it)", name)
		}
	}
	for name, cells := range rows {
		a, ok := grants[name]
		if !ok {
			t.Errorf("infra/README.md grants table: row %s names no function of access.go", name)
			continue
		}
		want := accessTokens(t, a)
		for col, parse := range []func(string) ([]string, error){parseDynamoCell, parseListCell, parseBucketsCell, parseListCell} {
			got, err := parse(cells[col])
			if err != nil {
				t.Errorf("infra/README.md grants table, row %s, column %d: %v", name, col+2, err)
				continue
			}
			missing, extra := diff(want[col], got)
			if len(missing) > 0 {
				t.Errorf("infra/README.md grants table, row %s, column %d (%q): access.go also grants %q", name, col+2, cells[col], missing)
			}
			if len(extra) > 0 {
				t.Errorf("infra/README.md grants table, row %s, column %d (%q): access.go does not grant %q", name, col+2, cells[col], extra)
			}
		}
	}
}

// The sizing table states every function's timeout and memory as functions.go sets them.
func TestReadmeSizingTableStatesFunctionsGo(t *testing.T) {
	rows := readmeTable(t, sizingHeader)
	for _, name := range slices.Sorted(maps.Keys(sizes)) {
		if _, ok := rows[name]; !ok {
			t.Errorf("infra/README.md sizing table: no row for %s (functions.go sizes it)", name)
		}
	}
	timeout := regexp.MustCompile(`^(\d+) (s|min)$`)
	memory := regexp.MustCompile(`^(\d+) MB$`)
	for name, cells := range rows {
		size, ok := sizes[name]
		if !ok {
			t.Errorf("infra/README.md sizing table: row %s names no function of functions.go", name)
			continue
		}
		m := timeout.FindStringSubmatch(cells[0])
		if m == nil {
			t.Errorf("infra/README.md sizing table, row %s: timeout %q is not `<n> s` or `<n> min`", name, cells[0])
		} else if n, _ := strconv.Atoi(m[1]); time.Duration(n)*map[string]time.Duration{"s": time.Second, "min": time.Minute}[m[2]] != size.Timeout {
			t.Errorf("infra/README.md sizing table, row %s: timeout %s, functions.go sets %s", name, cells[0], size.Timeout)
		}
		m = memory.FindStringSubmatch(cells[1])
		if m == nil {
			t.Errorf("infra/README.md sizing table, row %s: memory %q is not `<n> MB`", name, cells[1])
		} else if n, _ := strconv.Atoi(m[1]); n != size.Memory {
			t.Errorf("infra/README.md sizing table, row %s: memory %s, functions.go sets %d MB", name, cells[1], size.Memory)
		}
	}
}

// The scheduled-jobs table states each schedules.Table job's time, target and payload.
func TestReadmeSchedulesTableStatesTheSchedules(t *testing.T) {
	rows := readmeTable(t, schedulesHeader)
	cron := regexp.MustCompile(`^cron\((\d+) (\d+|\*) \* \* \? \*\)$`)
	for _, job := range schedules.Table {
		cells, ok := rows["`"+job.Name+"`"]
		if !ok {
			t.Errorf("infra/README.md schedules table: no row for %s", job.Name)
			continue
		}
		delete(rows, "`"+job.Name+"`")
		var when string
		if m := cron.FindStringSubmatch(job.Cron); m == nil {
			t.Errorf("%s: %s is not a daily or hourly cron this test can state; teach it", job.Name, job.Cron)
		} else if minute, _ := strconv.Atoi(m[1]); m[2] == "*" {
			when = fmt.Sprintf("hourly at :%02d", minute)
		} else {
			hour, _ := strconv.Atoi(m[2])
			when = fmt.Sprintf("daily %02d:%02d", hour, minute)
		}
		target := "`" + job.Function + "`"
		if job.Queue != "" {
			target = "`" + job.Queue + "` queue"
		}
		if cells[0] != when || cells[1] != target || !strings.HasPrefix(cells[2], "`"+job.Payload+"`") {
			t.Errorf("infra/README.md schedules table, row %s: %q, %q, %q; schedules.Table runs it %s (%s) on %s with %s",
				job.Name, cells[0], cells[1], cells[2], when, job.Cron, target, job.Payload)
		}
	}
	for name := range rows {
		t.Errorf("infra/README.md schedules table: row %s is no job of schedules.Table", name)
	}
}

// readmeTable returns the rows of the infra/README.md table under header, by their first
// cell, each with the trimmed cells after it. It fails on a row with another number of
// cells or a function named twice.
func readmeTable(t *testing.T, header string) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "\n"+header+"\n")
	if !ok {
		t.Fatalf("infra/README.md has no table with the header %s", header)
	}
	lines := strings.Split(rest, "\n")
	columns := strings.Count(header, "|") - 1
	if lines[0] != "|"+strings.Repeat("---|", columns) {
		t.Fatalf("infra/README.md: the table %s has no separator row after its header", header)
	}
	rows := map[string][]string{}
	for _, line := range lines[1:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|"), "|")
		if len(cells) != columns {
			t.Fatalf("infra/README.md: row %q has %d cells, the table %s has %d", line, len(cells), header, columns)
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if _, dup := rows[cells[0]]; dup {
			t.Fatalf("infra/README.md: the table %s has two rows for %s", header, cells[0])
		}
		rows[cells[0]] = cells[1:]
	}
	if len(rows) == 0 {
		t.Fatalf("infra/README.md: the table %s has no rows", header)
	}
	return rows
}

// bucketVerbs names, in the README's buckets column, the access fields that list buckets.
var bucketVerbs = map[string]string{
	"ReadBuckets": "read", "WriteBuckets": "write", "DeleteBuckets": "delete",
	"ListBuckets": "list", "AbortUploads": "abort",
}

// accessTokens renders a as the README's columns would (DynamoDB, queues, buckets, more),
// one token per grant. It fails on an access field it does not know, so a new kind of
// grant needs a place in the table before it can be used.
func accessTokens(t *testing.T, a access) [4][]string {
	t.Helper()
	var out [4][]string
	v := reflect.ValueOf(a)
	for i := range v.NumField() {
		f, val := v.Type().Field(i), v.Field(i)
		switch {
		case f.Name == "Tables":
			for table, ta := range a.Tables {
				for _, action := range ta.Actions {
					out[0] = append(out[0], table+" "+shortAction(action))
				}
				for _, ix := range ta.Indexes {
					out[0] = append(out[0], table+" + "+ix)
				}
			}
		case f.Name == "WritePrefixTables":
			for table, p := range a.WritePrefixTables {
				for _, action := range p.Actions {
					out[0] = append(out[0], table+" `"+p.Prefix+"` "+shortAction(action))
				}
			}
		case f.Name == "SendQueues":
			out[1] = append(out[1], a.SendQueues...)
		case bucketVerbs[f.Name] != "":
			for _, b := range val.Interface().([]string) {
				out[2] = append(out[2], b+" "+bucketVerbs[f.Name])
			}
		case f.Type.Kind() == reflect.Bool:
			if val.Bool() {
				out[3] = append(out[3], "`"+f.Name+"`")
			}
		default:
			t.Fatalf("access.%s has no column in infra/README.md's grants table (readme_tables_test.go)", f.Name)
		}
	}
	return out
}

// shortAction is a DynamoDB action as the README names it: dynamodb:BatchGetItem → BatchGet.
func shortAction(action string) string {
	return strings.TrimSuffix(strings.TrimPrefix(action, "dynamodb:"), "Item")
}

// notes are the README's parenthesised remarks, which state no grant.
var notes = regexp.MustCompile(`\([^()]*\)`)

// parseDynamoCell reads `<table> <Action>, <Action>… [+ <index>…]` and, for a prefix write
// grant, `<table> `<prefix>` <Action>, …`, the parts separated by ";".
func parseDynamoCell(cell string) ([]string, error) {
	var out []string
	cell = notes.ReplaceAllString(cell, "")
	if strings.TrimSpace(cell) == "" {
		return nil, nil
	}
	for _, part := range strings.Split(cell, ";") {
		part, indexes, _ := strings.Cut(part, "+")
		table, rest, _ := strings.Cut(strings.TrimSpace(part), " ")
		rest = strings.TrimSpace(rest)
		if table == "" || strings.ContainsAny(table, ",`") {
			return nil, fmt.Errorf("part %q does not start with a table name", part)
		}
		prefix := table
		if strings.HasPrefix(rest, "`") {
			p, after, ok := strings.Cut(rest[1:], "`")
			if !ok || indexes != "" {
				return nil, fmt.Errorf("part %q: a prefix grant is `<table> `<prefix>` <actions>`", part)
			}
			prefix, rest = table+" `"+p+"`", after
		}
		if strings.TrimSpace(rest) == "" && indexes == "" {
			return nil, fmt.Errorf("part %q names no action or index", part)
		}
		if strings.TrimSpace(rest) != "" {
			for _, action := range strings.Split(rest, ",") {
				action = strings.TrimSpace(action)
				if !slices.ContainsFunc(tableActions, func(a string) bool { return shortAction(a) == action }) {
					return nil, fmt.Errorf("part %q: %q is not a DynamoDB item action (Get, BatchGet, Query, Scan, ConditionCheck, Put, Update, Delete, BatchWrite)", part, action)
				}
				out = append(out, prefix+" "+action)
			}
		}
		if indexes != "" {
			for _, ix := range strings.Split(indexes, ",") {
				out = append(out, table+" + "+strings.TrimSpace(ix))
			}
		}
	}
	return out, nil
}

// parseListCell reads a comma-separated list (queues, access fields).
func parseListCell(cell string) ([]string, error) {
	var out []string
	cell = notes.ReplaceAllString(cell, "")
	if strings.TrimSpace(cell) == "" {
		return nil, nil
	}
	for _, item := range strings.Split(cell, ",") {
		item = strings.TrimSpace(item)
		if item == "" || strings.Contains(item, " ") {
			return nil, fmt.Errorf("%q is not a comma-separated list of names", cell)
		}
		out = append(out, item)
	}
	return out, nil
}

// parseBucketsCell reads `<bucket> <verb>, <verb>…` parts separated by ";", the verbs
// those of bucketVerbs.
func parseBucketsCell(cell string) ([]string, error) {
	var out []string
	cell = notes.ReplaceAllString(cell, "")
	if strings.TrimSpace(cell) == "" {
		return nil, nil
	}
	for _, part := range strings.Split(cell, ";") {
		bucket, verbs, _ := strings.Cut(strings.TrimSpace(part), " ")
		if bucket == "" || strings.TrimSpace(verbs) == "" {
			return nil, fmt.Errorf("part %q is not `<bucket> <verb>, …`", part)
		}
		for _, verb := range strings.Split(verbs, ",") {
			verb = strings.TrimSpace(verb)
			if !slices.Contains(slices.Collect(maps.Values(bucketVerbs)), verb) {
				return nil, fmt.Errorf("part %q: %q is not one of read, write, delete, list, abort", part, verb)
			}
			out = append(out, bucket+" "+verb)
		}
	}
	return out, nil
}

// diff returns the tokens of want missing from got and those of got not in want; a token
// named twice in got counts as extra.
func diff(want, got []string) (missing, extra []string) {
	left := map[string]int{}
	for _, w := range want {
		left[w]++
	}
	for _, g := range got {
		if left[g] > 0 {
			left[g]--
		} else {
			extra = append(extra, g)
		}
	}
	for w, n := range left {
		for range n {
			missing = append(missing, w)
		}
	}
	slices.Sort(missing)
	return missing, extra
}

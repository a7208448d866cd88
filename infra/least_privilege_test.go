package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Only the privacy functions Scan, and only the tables their code scans: the privacy
// function finds accounts by e-mail (dynamo.Accounts.IntegratorsByEmail, CustomersByEmail);
// the worker does too, and finds a customer's exports (labels) and a subject's requests
// (privacy) without an index (dynamo.Holdings). A Scan reads a whole table, and the
// accounts table holds the personal data.
func TestOnlyThePrivacyFunctionsScan(t *testing.T) {
	want := map[string][]string{
		routes.FunctionPrivacy: {schema.TableAccounts},
		functionPrivacyWorker:  {schema.TableAccounts, schema.TableLabels, schema.TablePrivacy},
	}
	tables := map[string]string{} // logical id → table
	for _, st := range schema.Tables {
		tables[logicalID(t, pascal(st.Name)+"Table")] = st.Name
	}
	for _, name := range deployed() {
		var got []string
		for _, s := range statementsOf(t, name) {
			if dig(s, "Effect") != "Allow" || !slices.Contains(list(dig(s, "Action")), any("dynamodb:Scan")) {
				continue
			}
			for _, res := range list(dig(s, "Resource")) {
				ids := refs(res)
				if len(ids) != 1 || tables[ids[0]] == "" {
					t.Errorf("%s may Scan %v", name, res)
					continue
				}
				if dig(res, "Fn::GetAtt") == nil { // <table>/index/*: no code scans an index
					t.Errorf("%s may Scan the indexes of %s", name, tables[ids[0]])
					continue
				}
				got = append(got, tables[ids[0]])
			}
		}
		slices.Sort(got)
		if fmt.Sprint(got) != fmt.Sprint(want[name]) {
			t.Errorf("%s may Scan %v, want %v", name, got, want[name])
		}
	}
}

// The risk function only records disclosures in the privacy table (dynamo.Disclosures:
// conditional puts in one transaction per 100, a BatchWriteItem of deletes to undo the
// earlier ones when a later transaction fails): exactly those two actions, only on
// DISCLOSURE# items. It can neither read nor change the privacy requests.
func TestRiskWritesOnlyDisclosuresToThePrivacyTable(t *testing.T) {
	privacyTable := logicalID(t, pascal(schema.TablePrivacy)+"Table")
	var actions []string
	for _, s := range statementsOf(t, routes.FunctionRisk) {
		if !slices.ContainsFunc(list(dig(s, "Resource")), func(r any) bool { return slices.Contains(refs(r), privacyTable) }) {
			continue
		}
		cond, _ := dig(s, "Condition").(map[string]any)
		if len(cond) != 1 || fmt.Sprint(dig(cond, "ForAllValues:StringLike", "dynamodb:LeadingKeys")) != "[DISCLOSURE#*]" {
			t.Errorf("risk: %v on the privacy table without the DISCLOSURE# condition: %v", dig(s, "Action"), cond)
		}
		for _, res := range list(dig(s, "Resource")) {
			if dig(res, "Fn::GetAtt") == nil {
				t.Errorf("risk: grant on %v, want the privacy table itself", res)
			}
		}
		for _, a := range list(dig(s, "Action")) {
			actions = append(actions, a.(string))
		}
	}
	slices.Sort(actions)
	if fmt.Sprint(actions) != "[dynamodb:BatchWriteItem dynamodb:PutItem]" {
		t.Errorf("risk may %v on the privacy table, want PutItem and BatchWriteItem", actions)
	}
}

// A prefix grant refuses actions that name no partition key: dynamodb:LeadingKeys under
// ForAllValues holds for a request without keys, so a Scan would get the whole table.
func TestPrefixWritesRefuseActionsWithoutKeys(t *testing.T) {
	for _, p := range []prefixWrite{
		{Prefix: "X#", Actions: []string{"dynamodb:Scan"}},
		{Prefix: "X#", Actions: []string{"dynamodb:PutItem", "dynamodb:Query"}},
		{Prefix: "X#"},
		{Prefix: "", Actions: []string{"dynamodb:PutItem"}},
	} {
		if err := p.check(); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	for name, a := range grants {
		for tb, p := range a.WritePrefixTables {
			if err := p.check(); err != nil {
				t.Errorf("%s on %s: %v", name, tb, err)
			}
		}
	}
}

// `make deploy` installs nothing outside the repository (docs/DEPLOY.md): no Debian
// packages (the tests' browser and Java runtime), no Go tools in GOPATH/bin.
func TestMakeDeployInstallsNothingGlobally(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	for _, target := range []string{"deploy", "synth"} {
		cmd := exec.Command("make", "-n", "--always-make", target)
		cmd.Dir = filepath.Join("..")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %s: %v\n%s", target, err, out)
		}
		var runs []string
		for _, global := range []string{"apt-get", "go install", "aws-lambda-rie"} {
			if strings.Contains(string(out), global) {
				runs = append(runs, global)
			}
		}
		if len(runs) > 0 {
			t.Errorf("make %s runs %q:\n%s", target, runs, out)
		}
		if !strings.Contains(string(out), "npm ci") {
			t.Errorf("make %s does not install the pinned CDK CLI:\n%s", target, out)
		}
	}
}

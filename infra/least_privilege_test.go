package main

import (
	"fmt"
	"maps"
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

// Each role may make exactly the DynamoDB, SQS and Secrets Manager calls its function's
// code can make, per table and per index. The table below is kept by hand: it was derived
// from a call graph of each Lambda main (RTA, a throw-away analysis, not part of the
// build) and checked by reading the stores; this test only holds the template to it, so a
// store method that starts making a new call must add its line here and in access.go. A TransactWriteItems is authorised per part (PutItem, UpdateItem,
// DeleteItem, ConditionCheckItem), SendMessageBatch as sqs:SendMessage. Resources are
// "<table>", "<table>/index/<name>", "<table>[<pk prefix>*]" (a LeadingKeys condition),
// "queue:<name>" and "secret:<construct>". Queue consumers' receive permissions come
// from their event source and are not listed.
func TestRolesMakeOnlyTheDataCallsTheirCodeMakes(t *testing.T) {
	const (
		get, batchGet, query, scan = "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan"
		check, put, update, del    = "dynamodb:ConditionCheckItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
		batchWrite                 = "dynamodb:BatchWriteItem"
		send, readSecret           = "sqs:SendMessage", "secretsmanager:GetSecretValue"
	)
	gsi := func(table string) string { return table + "/index/" + schema.GSI1.Name }
	want := map[string]map[string][]string{
		routes.FunctionChallenge: {
			schema.TableAccounts:           {get},                                             // Accounts.get: the sitekey's site
			schema.TableChallenges:         {get, put, update},                                // Challenges.Put/Consume, Tokens.Put (putNewOrOwn reads a lost race's item)
			schema.TableLabels:             {query},                                           // Jobs.Stocks: the pool partition
			gsi(schema.TableLabels):        {query},                                           // Jobs.sample: items of a pool
			schema.TableRisk:               {get, batchGet, put},                              // Salts.get/load, Risk.batchGet (IP windows)
			"queue:" + schema.QueueAnswers: {send}, "queue:" + schema.QueueRiskEvents: {send}, // platform.sqsSender
			"secret:SigningKeys": {readSecret}, // token.Keyring
		},
		routes.FunctionVerify: {
			schema.TableAccounts:   {get},         // Accounts.get: site secret lookup
			schema.TableChallenges: {get, update}, // Tokens.Redeem (conditionFailedItem reads a refused token)
			"secret:SigningKeys":   {readSecret},
		},
		routes.FunctionAdmin: {
			// Accounts: get (profileRefusal too), createProfile (put), UpdateSite and revokeKey
			// (update), CreateSite, putKey and RotateSecret transactions (put, update, delete,
			// condition checks: the erasure fence), listKeys (query: an owner's key references).
			schema.TableAccounts:      {get, query, check, put, update, del},
			gsi(schema.TableAccounts): {query}, // queryGSI1: keys and sites of an owner
		},
		routes.FunctionRisk: {
			schema.TableAccounts:      {get, check}, // Accounts.get (keys, secrets), profileRefusal; Disclosures' fence check
			gsi(schema.TableAccounts): {query},      // queryGSI1: an integrator's sites (IntegratorSites)
			// Risk.ChallengeRisk/SiteActivity/eventOps/challengeUpdate, Salts, Analytics.Count/Daily.
			schema.TableRisk:                       {get, query, put, update},
			schema.TablePrivacy + "[DISCLOSURE#*]": {batchWrite, put}, // Disclosures.RecordDisclosures/forget
		},
		routes.FunctionPrivacy: {
			schema.TableAccounts:      {scan},  // Accounts.profilesByEmail
			gsi(schema.TableAccounts): {query}, // Accessibility.AccessibilityOf (Holds)
			// Privacy.get/Audit and the Create/Save/FailAttempt/AppendAudit transactions.
			schema.TablePrivacy:            {get, query, put, update, del},
			gsi(schema.TablePrivacy):       {query}, // Privacy.List
			"queue:" + schema.QueuePrivacy: {send},
			"secret:PrivacyKey":            {readSecret},
		},
		functionPrivacyWorker: {
			// Accounts.get, profilesByEmail, revokeKey/updateExisting (MarkErasing), DeleteProfile,
			// DeleteAccessibility, Holdings.deleteKeys, IntegratorSites/DeleteSites (site references),
			// listKeys/DeleteAPIKeys (key references).
			schema.TableAccounts:      {get, query, scan, update, del, batchWrite},
			gsi(schema.TableAccounts): {query}, // queryGSI1, gsi1PrefixQuery, AccessibilityOf
			// Jobs (DropPending, DeleteExpiry, DueExpiries, itemsQuery, deleteQueried, DeleteJob,
			// markerPut), Holdings.ExportsOf/DeleteExport/DeleteConsensus.
			schema.TableLabels:      {get, query, scan, put, del, batchWrite},
			gsi(schema.TableLabels): {query}, // Jobs.listJobs, DueUploads
			// Privacy.get/Save/AppendAudit, Holdings.RequestsOf/ScrubAccountIDs/DisclosuresTo/DeleteDisclosures.
			schema.TablePrivacy:            {get, query, scan, put, del, batchWrite},
			gsi(schema.TablePrivacy):       {query}, // Privacy.List
			"queue:" + schema.QueuePrivacy: {send},
			"secret:PrivacyKey":            {readSecret},
		},
		routes.FunctionAccessibility: {
			schema.TableAccounts:              {get},                     // Accounts.get (sites), Accessibility reads
			schema.TableAccounts + "[A11Y#*]": {check, put, update, del}, // Accessibility.Take/GiveBack/TakeSignup/DeleteToken, PutToken (fence check)
			schema.TableChallenges:            {get, put, update},        // TextChallenges, Tokens.Put, Challenges.Get/Consume (set aside)
			schema.TableRisk:                  {get, put},                // Salts.get/load
			"queue:" + schema.QueueRiskEvents: {send},                    // the set-aside challenge's pass
			"secret:SigningKeys":              {readSecret},
			"secret:PrivacyKey":               {readSecret},
		},
		functionRotateKeys: {
			schema.TableRisk: {del}, // SaltSweeper.Destroy
			// The rotation protocol (handler.Deps): rotate, value, createSecret, finishSecret, dropPending.
			"secret:SigningKeys": {"secretsmanager:DescribeSecret", readSecret, "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"},
			// Not its code: Lambda sends a scheduled run that failed every try to the
			// function's on-failure destination with the function's role.
			"failed-runs:" + functionRotateKeys: {send},
		},
		routes.FunctionJobs: {
			schema.TableAccounts: {get}, // Accounts.get: customer API keys
			// Jobs (entries, markers, pools, DeleteJob, deleteQueried) and Exports.Create/Get.
			schema.TableLabels:             {get, query, put, update, del, batchWrite},
			gsi(schema.TableLabels):        {query}, // Jobs.listJobs
			"queue:" + schema.QueueExports: {send},
		},
		"consensus": {
			// Consensus.batchGet/LoadJob/ActiveJobs/Commit/PutJobState/AddJobCounts, Jobs.GetJob.
			schema.TableLabels:             {get, batchGet, query, put, update},
			"queue:" + schema.QueueAnswers: {send},
		},
		"export": {
			schema.TableLabels: {get, query, update}, // Jobs.GetJob, Exports.EachRow/Start/end
		},
	}
	eventSourceActions := []string{"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
	names := map[string]string{} // logical id → resource key
	for _, st := range schema.Tables {
		names[logicalID(t, pascal(st.Name)+"Table")] = st.Name
	}
	for _, q := range schema.Queues {
		names[logicalID(t, pascal(q.Name)+"Queue")] = "queue:" + q.Name
	}
	for _, fn := range scheduledFunctions() {
		names[logicalID(t, pascal(fn)+"FailedRunsQueue")] = "failed-runs:" + fn
	}
	for _, s := range []string{"SigningKeys", "PrivacyKey"} {
		names[logicalID(t, s)] = "secret:" + s
	}
	for _, name := range deployed() {
		consumed := map[string]bool{}
		for _, q := range consumerQueues() {
			if q.Consumer == name {
				consumed["queue:"+q.Name] = true
			}
		}
		got := map[string][]string{}
		for _, s := range statementsOf(t, name) {
			if dig(s, "Effect") != "Allow" {
				continue
			}
			var actions []string
			for _, a := range list(dig(s, "Action")) {
				if a := a.(string); strings.HasPrefix(a, "dynamodb:") || strings.HasPrefix(a, "sqs:") || strings.HasPrefix(a, "secretsmanager:") {
					actions = append(actions, a)
				}
			}
			if len(actions) == 0 {
				continue
			}
			for _, res := range list(dig(s, "Resource")) {
				ids := refs(res)
				if len(ids) != 1 || names[ids[0]] == "" {
					t.Errorf("%s: %v on %v", name, actions, res)
					continue
				}
				key := names[ids[0]]
				if parts := list(dig(res, "Fn::Join")); len(parts) == 2 {
					for _, p := range list(parts[1]) {
						if lit, ok := p.(string); ok {
							key += lit
						}
					}
				}
				if prefix := dig(s, "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys"); prefix != nil {
					key += fmt.Sprint(prefix)
				}
				for _, a := range actions {
					// The event source's grant, for Lambda's poller (CDK may merge it with
					// the send grant into one statement).
					if consumed[key] && slices.Contains(eventSourceActions, a) {
						continue
					}
					got[key] = append(got[key], a)
				}
			}
		}
		for key, acts := range got {
			slices.Sort(acts)
			got[key] = slices.Compact(acts)
		}
		w := map[string][]string{}
		for key, acts := range want[name] {
			w[key] = slices.Sorted(slices.Values(acts))
		}
		for _, key := range slices.Sorted(maps.Keys(w)) {
			if fmt.Sprint(got[key]) != fmt.Sprint(w[key]) {
				t.Errorf("%s on %s: may %v, its code calls %v", name, key, got[key], w[key])
			}
		}
		for _, key := range slices.Sorted(maps.Keys(got)) {
			if _, ok := w[key]; !ok {
				t.Errorf("%s on %s: may %v, its code calls nothing there", name, key, got[key])
			}
		}
	}
}

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/stack"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// `accounts repair` against the running local stack (its demo.json): a dry run reports a
// site without its reference, a run writes it, and its last line is the counts as JSON.
func TestAccountsRepairOnTheLocalStack(t *testing.T) {
	ctx := context.Background()
	c := dynamotest.Client(t)
	tables := dynamotest.Tables(t, c)
	table := tables[schema.TableAccounts]
	svc := account.NewService(dynamo.NewAccounts(c, table), nil)
	in, err := svc.CreateIntegrator(ctx, account.NewIntegrator{Name: "Old Ltd", Email: "ops@old.example", Country: "DE"})
	if err != nil {
		t.Fatal(err)
	}
	site, _, err := svc.CreateSite(ctx, in.ID, account.NewSite{Name: "shop", Hostnames: []string{"shop.example"}})
	if err != nil {
		t.Fatal(err)
	}
	ref := dynamo.Key("INTEGRATOR#"+in.ID, "SITE#"+site.Sitekey)
	if _, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: ref}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	demo, _ := json.Marshal(stack.Demo{DynamoDBEndpoint: dynamotest.Endpoint(t), Tables: tables})
	if err := os.WriteFile(filepath.Join(dir, stack.DemoFile), demo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want dynamo.RepairReport
	}{
		{[]string{"--dry-run"}, dynamo.RepairReport{DryRun: true, Sites: 1, Secrets: 1, SiteRefsMissing: 1}},
		{nil, dynamo.RepairReport{Sites: 1, Secrets: 1, SiteRefsMissing: 1, RefsWritten: 1}},
		{nil, dynamo.RepairReport{Sites: 1, Refs: 1, Secrets: 1}},
	} {
		code, out, errOut := runCLI(t, nil, append([]string{"accounts", "repair", "--data-dir", dir}, tc.args...)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var got dynamo.RepairReport
		if code != exitOK || json.Unmarshal([]byte(lines[len(lines)-1]), &got) != nil || got != tc.want {
			t.Errorf("accounts repair %v: exit %d, stdout %q, stderr %q; want %+v", tc.args, code, out, errOut, tc.want)
		}
	}
	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: ref})
	if err != nil || len(got.Item) == 0 {
		t.Errorf("the site's reference after the repair: %v, %v", got, err)
	}
}

// A run that cannot start (no AWS credentials; a table it cannot reach) fails with a message
// that says what to do, and prints no counts: all-zero counts read as "nothing to repair".
func TestAccountsRepairThatCannotStartPrintsNoCounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string // on top of isolateAWS
		msg  string
	}{
		{"no credentials", map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "no AWS credentials"},
		{"unreachable table", map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:1", "AWS_MAX_ATTEMPTS": "1"}, "scan"},
		{"no region", map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}, "no AWS region: give --region"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateAWS(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := []string{"accounts", "repair", "--table", "Crowdgate-Accounts"}
			if tc.name != "no region" {
				args = append(args, "--region", "eu-west-1")
			}
			code, out, errOut := runCLI(t, nil, args...)
			if code != exitError || out != "" || !strings.HasPrefix(errOut, "crowdgate accounts repair: ") || !strings.Contains(errOut, tc.msg) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, no stdout, a message with %q", code, out, errOut, exitError, tc.msg)
			}
		})
	}
}

// A demo.json left by a local stack that was killed names an endpoint nothing listens on:
// the message says to start the stack, and no counts are printed.
func TestAccountsRepairOnAStoppedLocalStackSaysToStartIt(t *testing.T) {
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	dir := t.TempDir()
	demo, _ := json.Marshal(stack.Demo{DynamoDBEndpoint: "http://127.0.0.1:1", Tables: map[string]string{schema.TableAccounts: "crowdgate-local-accounts"}})
	if err := os.WriteFile(filepath.Join(dir, stack.DemoFile), demo, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, nil, "accounts", "repair", "--dry-run", "--data-dir", dir)
	if code != exitError || out != "" || !strings.Contains(errOut, "still running? Start it with `make run`") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, no counts, and to start the stack", code, out, errOut, exitError)
	}
}

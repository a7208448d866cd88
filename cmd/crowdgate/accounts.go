package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/stack"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// runAccounts is `crowdgate accounts repair`: maintenance on the accounts table itself,
// which no admin API route offers (it scans the whole table), so it talks to DynamoDB
// directly, with the operator's AWS credentials or the running local stack's endpoint.
func runAccounts(ctx context.Context, c *cli, args []string) int {
	if len(args) == 0 {
		return usageErr(c, "accounts", "missing subcommand (repair)")
	}
	sub, args := args[0], args[1:]
	if sub != "repair" {
		return usageErr(c, "accounts", "unknown subcommand %q (want repair)", sub)
	}
	name := "accounts repair"
	fs := newFlagSet(c, name)
	var dryRun bool
	var table, region, dataDir string
	fs.BoolVar(&dryRun, "dry-run", false, "only count what a run would change")
	fs.StringVar(&table, "table", "", "the deployed accounts table (stack output TableAccounts)")
	fs.StringVar(&region, "region", "", "AWS region of the table")
	fs.StringVar(&dataDir, "data-dir", stack.DefaultDataDir, "local stack data directory")
	pos, err := parse(fs, args)
	if err != nil {
		return parseFailed(err)
	}
	if len(pos) > 0 {
		return usageErr(c, name, "unexpected argument %q", pos[0])
	}
	local := table == ""
	api, table, err := accountsTable(ctx, table, region, dataDir)
	if err != nil {
		fmt.Fprintf(c.stderr, "crowdgate %s: %v\n", name, err)
		return exitError
	}
	rep, err := dynamo.NewAccounts(api, table).Repair(ctx, dryRun)
	// An interrupted run prints its counts (it has done that much), but one that examined
	// nothing prints none: all-zero counts would read as "nothing to repair".
	started := rep != (dynamo.RepairReport{DryRun: dryRun})
	if err == nil || started {
		line, _ := json.Marshal(rep)
		fmt.Fprintln(c.stdout, string(line))
	}
	if err != nil && local && !started {
		// demo.json outlives a stack that was killed rather than stopped.
		err = fmt.Errorf("%w\n  is the local stack of %s still running? Start it with `make run` (or give --data-dir of the running one)", err, dataDir)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "crowdgate %s: %v\n", name, err)
		return exitError
	}
	return exitOK
}

// accountsTable is a client and the accounts table's name: the deployed table named by
// --table (default AWS credential chain), else the running local stack's, from
// <data-dir>/demo.json.
func accountsTable(ctx context.Context, table, region, dataDir string) (*dynamodb.Client, string, error) {
	if table != "" {
		var opts []func(*awsconfig.LoadOptions) error
		if region != "" {
			opts = append(opts, awsconfig.WithRegion(region))
		}
		cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, "", fmt.Errorf("load AWS configuration: %w", err)
		}
		if cfg.Region == "" {
			return nil, "", fmt.Errorf("no AWS region: give --region or set AWS_REGION")
		}
		// Checked before the scan, so a missing login fails with what to do rather than
		// deep inside the first request.
		if cfg.Credentials == nil {
			return nil, "", fmt.Errorf("no AWS credentials for --table: log in (aws sso login, or AWS_PROFILE / AWS_ACCESS_KEY_ID), or leave out --table to repair the running local stack")
		}
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			return nil, "", fmt.Errorf("no AWS credentials for --table (%w): log in (aws sso login, or AWS_PROFILE / AWS_ACCESS_KEY_ID), or leave out --table to repair the running local stack", err)
		}
		return dynamodb.NewFromConfig(cfg), table, nil
	}
	path := filepath.Join(dataDir, stack.DemoFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("no local stack (%w): start one with `make run`, give --data-dir of the running stack, or --table for a deployed one", err)
	}
	var demo stack.Demo
	if err := json.Unmarshal(b, &demo); err != nil {
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	}
	if demo.DynamoDBEndpoint == "" || demo.Tables[schema.TableAccounts] == "" {
		return nil, "", fmt.Errorf("%s names no DynamoDB endpoint or accounts table", path)
	}
	return dynamodb.NewFromConfig(stack.LocalAWS(demo.DynamoDBEndpoint, "")), demo.Tables[schema.TableAccounts], nil
}

const accountsHelp = `Usage:
  crowdgate accounts repair [--dry-run] [--table NAME [--region REGION]] [--data-dir DIR]

Maintenance of the accounts table, run by an operator (it reads and writes the table
directly, not through the admin API). It scans every site and API key record, every
reference item and every secret lookup, and:
  - gives the records of a live integrator or customer that have no reference item in
    their owner's partition (stored before references existed) one, so the listings an
    opt-out or erasure relies on find them while gsi1 lags;
  - deletes the records whose owner's profile is gone (left by an erasure that raced
    their creation: such a key still authenticates, such a site's secret still verifies):
    the key or site, its reference and the site's secret lookup;
  - deletes the references whose site or key is gone (left by a deletion or erasure that
    stopped between its batches: listings and erasures read them in vain);
  - deletes the secret lookups whose site is gone or holds another secret now (left by a
    rotation that raced a deletion): they verify nothing, and a lookup is live only while
    its site holds its hash (a rotation retires the old secret at once).
Every write is conditional (the owner, record or site read strongly consistently, and
checked again as it commits), so it is safe while the service runs and a second run finds
nothing to do. --dry-run only counts. The last line of output is the counts as JSON (none
when the run fails before examining anything: no AWS credentials or region, no table):
  {"dry_run","sites","keys","refs","secrets","site_refs_missing","key_refs_missing",
   "orphan_sites","orphan_keys","dangling_site_refs","dangling_key_refs","orphan_secrets",
   "refs_written","sites_deleted","keys_deleted","refs_deleted","secrets_deleted","skipped"}
"sites", "keys", "refs" and "secrets" count the items examined; "skipped" counts items
that changed during the run (or name no owner or record); run it again.

Where:
  --table NAME        the deployed accounts table (the stack output TableAccounts), with
                      the default AWS credential chain; it needs dynamodb:Scan, GetItem,
                      PutItem, DeleteItem and ConditionCheckItem on the table, and the
                      table's KMS key (kms:Decrypt, kms:Encrypt, kms:GenerateDataKey)
  --region REGION     AWS region of the table (default from the AWS configuration)
  --data-dir DIR      without --table: the running local stack's data directory (default
                      .crowdgate), whose demo.json names its DynamoDB endpoint
`

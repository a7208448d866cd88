// Command crowdgate is the operator CLI: `crowdgate serve` runs the whole service locally,
// and the account commands manage integrators, their sites and customers through the admin
// API (locally with the stack's admin token, on AWS with SigV4-signed requests).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // the command line was wrong
)

// cli carries the process's streams and environment so tests can run commands in-process.
type cli struct {
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
}

func (c *cli) env(k string) string { v, _ := c.lookup(k); return v }

type command struct {
	name, summary string
	run           func(ctx context.Context, c *cli, args []string) int
}

// commands is the dispatch table.
var commands []command

func init() {
	commands = []command{
		{"serve", "run the whole service locally (API, DynamoDB, S3, queues, demo site)", runServe},
		{"integrator", "create or show integrator accounts, create or revoke their API keys (admin API)", integratorCommand.run},
		{"customer", "create or show customer accounts, create or revoke their API keys (admin API)", customerCommand.run},
		{"site", "create, show, update sites and rotate their secrets (admin API)", runSite},
		{"accounts", "repair the accounts table: missing and dangling references, records of erased owners, stale secret lookups (accounts repair)", runAccounts},
		{"eval", "evaluate consensus or risk scoring on recorded data (eval consensus|risk)", runSubcommands("eval", evalCommands)},
		{"train", "train the risk pointer model from human recordings (train risk)", runSubcommands("train", trainCommands)},
		{"help", "show help for a command", runHelp},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	c := &cli{stdout: stdout, stderr: stderr, lookup: lookup}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	if isHelpFlag(args[0]) {
		usage(stdout)
		return exitOK
	}
	for _, cmd := range commands {
		if cmd.name == args[0] {
			// `crowdgate site -h` asks for help, as `crowdgate help site` does.
			if len(args) > 1 && isHelpFlag(args[1]) && helpTexts[cmd.name] != "" {
				fmt.Fprint(stdout, helpTexts[cmd.name])
				return exitOK
			}
			return cmd.run(ctx, c, args[1:])
		}
	}
	fmt.Fprintf(stderr, "crowdgate: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func isHelpFlag(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: crowdgate <command> [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "crowdgate help <command>" for a command's flags.`)
}

func runHelp(_ context.Context, c *cli, args []string) int {
	if len(args) == 0 {
		usage(c.stdout)
		return exitOK
	}
	if len(args) > 1 {
		return usageErr(c, "help", "unexpected argument %q", args[1])
	}
	if text, ok := helpTexts[args[0]]; ok {
		fmt.Fprint(c.stdout, text)
		return exitOK
	}
	fmt.Fprintf(c.stderr, "crowdgate help: unknown command %q\n", args[0])
	return exitUsage
}

var helpTexts = map[string]string{
	"serve": `Usage: crowdgate serve [--addr 127.0.0.1:8080] [--data-dir .crowdgate] [--public-url URL] [--log-level info]

Runs one process standing in for API Gateway, Lambda, SQS, DynamoDB and S3 on loopback,
seeds a demo integrator, site and labeling job, serves the demo form at /demo, prints the
demo sitekey, secret and admin token, and writes them to <data-dir>/demo.json once ready.
Data persists in --data-dir across restarts. Ctrl-C stops it cleanly.
`,
	"integrator": `Usage:
  crowdgate integrator create --name NAME --email EMAIL --country CC [target flags]
  crowdgate integrator get ID [target flags]
  crowdgate integrator key create ID [--name NAME] [target flags]
  crowdgate integrator key revoke ID KEY_ID [target flags]

An integrator API key (cgi_…) authenticates the integrator APIs (risk lookup, analytics)
for all of the integrator's sites. It is printed once, by key create: only its hash is
stored. A revoked key stops working at once.
` + targetHelp,
	"customer": `Usage:
  crowdgate customer create --name NAME --email EMAIL --country CC [target flags]
  crowdgate customer get ID [target flags]
  crowdgate customer key create ID [--name NAME] [target flags]
  crowdgate customer key revoke ID KEY_ID [target flags]

A customer buys labels: with a customer API key (cgk_…) it creates labeling jobs, adds
items and exports the labels (docs/API.md "Customer API"). The key is printed once, by key
create: only its hash is stored. A revoked key stops working at once.
` + targetHelp,
	"site": `Usage:
  crowdgate site create --integrator ID --name NAME --hostname H [--hostname H2 ...]
                        [--require-remoteip] [target flags]
  crowdgate site get SITEKEY [target flags]
  crowdgate site update SITEKEY [--name NAME] [--hostname H ...] [--require-remoteip=true|false] [target flags]
  crowdgate site rotate-secret SITEKEY [target flags]

A site's secret is printed once, by create and rotate-secret: only its hash is stored.
` + targetHelp,
	"accounts": accountsHelp,
	"eval":     evalHelp,
	"train":    trainHelp,
	"help":     "Usage: crowdgate help [command]\n",
}

const targetHelp = `
Target flags:
  --endpoint URL      API base URL (default $CROWDGATE_ENDPOINT, else the running local
                      stack's URL from <data-dir>/demo.json, else http://127.0.0.1:8080)
  --admin-token TOK   local admin token (default $CROWDGATE_ADMIN_TOKEN, else the one in
                      <data-dir>/demo.json when the endpoint is that local stack); sent
                      only to a loopback endpoint
  --data-dir DIR      the local stack's data directory (default .crowdgate)
  --aws               sign requests with SigV4 (execute-api) using the default AWS
                      credential chain; also used when no admin token is available
  --region REGION     AWS region for signing (default from the AWS configuration)
`

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/adminclient"
	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/stack"
)

const defaultEndpoint = "http://127.0.0.1:8080"

// target holds the flags every admin command shares: where to send requests and how to
// authenticate them.
type target struct {
	endpoint, adminToken, dataDir, region string
	aws                                   bool
}

func (t *target) register(fs *flag.FlagSet) {
	fs.StringVar(&t.endpoint, "endpoint", "", "API base URL")
	fs.StringVar(&t.adminToken, "admin-token", "", "local admin token")
	fs.StringVar(&t.dataDir, "data-dir", ".crowdgate", "local stack data directory")
	fs.BoolVar(&t.aws, "aws", false, "sign requests with SigV4 (AWS credentials)")
	fs.StringVar(&t.region, "region", "", "AWS region for SigV4")
}

// localDemo is the part of <data-dir>/demo.json the CLI reads.
type localDemo struct {
	URL        string `json:"url"`
	AdminToken string `json:"admin_token"`
}

// client resolves the endpoint and credentials: explicit flags, then environment, then the
// local stack's demo.json. The local admin token is only sent to the local stack's own URL,
// so a stale demo.json never leaks it to another host.
func (t *target) client(ctx context.Context, c *cli) (*adminclient.Client, error) {
	var demo localDemo
	if b, err := os.ReadFile(filepath.Join(t.dataDir, "demo.json")); err == nil {
		_ = json.Unmarshal(b, &demo)
	}
	endpoint := firstNonEmpty(t.endpoint, c.env("CROWDGATE_ENDPOINT"), demo.URL, defaultEndpoint)
	token := firstNonEmpty(t.adminToken, c.env("CROWDGATE_ADMIN_TOKEN"))
	if token != "" && !t.aws && !isLoopbackURL(endpoint) {
		// Only the local stack knows an admin token (a deployed one is IAM-authorised): never
		// hand it to another host. One left in the environment from local work is ignored.
		if t.adminToken != "" {
			return nil, fmt.Errorf("--admin-token is only sent to a local stack (a loopback endpoint); a deployed stack takes --aws")
		}
		token = ""
	}
	if token == "" && demo.AdminToken != "" && sameURL(endpoint, demo.URL) {
		token = demo.AdminToken
	}
	if token == "" && !t.aws && firstNonEmpty(t.endpoint, c.env("CROWDGATE_ENDPOINT"), demo.URL) == "" {
		// Nothing named an endpoint, so the default local stack is meant, and it takes only
		// its admin token: signing for AWS would fail with a message about credentials that
		// does not say what is missing.
		return nil, fmt.Errorf("no admin token for the local stack at %s: %s not found (start one with `make run`, or give --data-dir of the running stack, or --admin-token)",
			endpoint, filepath.Join(t.dataDir, "demo.json"))
	}
	cl := &adminclient.Client{Endpoint: endpoint}
	if t.aws || token == "" {
		var opts []func(*awsconfig.LoadOptions) error
		if t.region != "" {
			opts = append(opts, awsconfig.WithRegion(t.region))
		}
		cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		cl.Auth = adminclient.SigV4{Credentials: cfg.Credentials, Region: cfg.Region}
		return cl, nil
	}
	cl.Auth = adminclient.Bearer(token)
	return cl, nil
}

// isLoopbackURL reports whether u names this machine (stack.LoopbackHost).
func isLoopbackURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && stack.LoopbackHost(p.Hostname())
}

func sameURL(a, b string) bool {
	return b != "" && strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// stringList is a repeatable string flag (--hostname a --hostname b; commas also split).
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// parse parses flags that may come before or after positional arguments
// (`site get SITEKEY --endpoint URL` as well as `site get --endpoint URL SITEKEY`).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func newFlagSet(c *cli, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		root := strings.Fields(name)[0]
		fmt.Fprint(c.stderr, helpTexts[root])
	}
	return fs
}

// parseFailed is the exit code after the flag package refused a command line (and printed
// why): -h or --help asked for the help text, which is no error.
func parseFailed(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

// usageErr reports a wrong command line.
func usageErr(c *cli, name, format string, args ...any) int {
	fmt.Fprintf(c.stderr, "crowdgate %s: %s\n", name, fmt.Sprintf(format, args...))
	fmt.Fprintf(c.stderr, "Run \"crowdgate help %s\" for usage.\n", strings.Fields(name)[0])
	return exitUsage
}

// accountCommand is `crowdgate integrator` or `crowdgate customer`: the two kinds of account
// have the same profile and API keys on the admin API, under their own paths.
type accountCommand struct {
	noun     string // "integrator" or "customer"
	accounts func(*adminclient.Client) adminclient.Accounts
}

var (
	integratorCommand = accountCommand{"integrator", (*adminclient.Client).Integrators}
	customerCommand   = accountCommand{"customer", (*adminclient.Client).Customers}
)

func (ac accountCommand) run(ctx context.Context, c *cli, args []string) int {
	if len(args) == 0 {
		return usageErr(c, ac.noun, "missing subcommand (create, get or key)")
	}
	sub, args := args[0], args[1:]
	if sub == "key" {
		return ac.runKey(ctx, c, args)
	}
	name := ac.noun + " " + sub
	fs := newFlagSet(c, name)
	var t target
	t.register(fs)
	switch sub {
	case "create":
		var in adminclient.AccountInput
		fs.StringVar(&in.Name, "name", "", ac.noun+" name")
		fs.StringVar(&in.Email, "email", "", "contact email")
		fs.StringVar(&in.Country, "country", "", "ISO 3166-1 alpha-2 country code")
		pos, err := parse(fs, args)
		if err != nil {
			return parseFailed(err)
		}
		if len(pos) > 0 {
			return usageErr(c, name, "unexpected argument %q", pos[0])
		}
		if in.Name == "" || in.Email == "" || in.Country == "" {
			return usageErr(c, name, "--name, --email and --country are required")
		}
		return call(ctx, c, &t, name, func(cl *adminclient.Client) (json.RawMessage, error) { return ac.accounts(cl).Create(ctx, in) })
	case "get":
		pos, err := parse(fs, args)
		if err != nil {
			return parseFailed(err)
		}
		if len(pos) != 1 {
			return usageErr(c, name, "want exactly one %s ID", ac.noun)
		}
		return call(ctx, c, &t, name, func(cl *adminclient.Client) (json.RawMessage, error) { return ac.accounts(cl).Get(ctx, pos[0]) })
	}
	return usageErr(c, ac.noun, "unknown subcommand %q (want create, get or key)", sub)
}

// runKey creates and revokes the account's API keys (cgi_… for integrators, cgk_… for
// customers).
func (ac accountCommand) runKey(ctx context.Context, c *cli, args []string) int {
	if len(args) == 0 {
		return usageErr(c, ac.noun+" key", "missing subcommand (create or revoke)")
	}
	sub, args := args[0], args[1:]
	if isHelpFlag(sub) {
		// `crowdgate integrator key -h` asks for help, as `crowdgate integrator -h` does.
		fmt.Fprint(c.stdout, helpTexts[ac.noun])
		return exitOK
	}
	name := ac.noun + " key " + sub
	fs := newFlagSet(c, name)
	var t target
	t.register(fs)
	switch sub {
	case "create":
		var in adminclient.KeyInput
		fs.StringVar(&in.Name, "name", "", "a name for the key (optional)")
		pos, err := parse(fs, args)
		if err != nil {
			return parseFailed(err)
		}
		if len(pos) != 1 {
			return usageErr(c, name, "want exactly one %s ID", ac.noun)
		}
		return call(ctx, c, &t, name, func(cl *adminclient.Client) (json.RawMessage, error) {
			return ac.accounts(cl).CreateKey(ctx, pos[0], in)
		})
	case "revoke":
		pos, err := parse(fs, args)
		if err != nil {
			return parseFailed(err)
		}
		if len(pos) != 2 {
			return usageErr(c, name, "want %s %s ID and a key ID", article(ac.noun), ac.noun)
		}
		return call(ctx, c, &t, name, func(cl *adminclient.Client) (json.RawMessage, error) {
			return ac.accounts(cl).RevokeKey(ctx, pos[0], pos[1])
		})
	}
	return usageErr(c, ac.noun+" key", "unknown subcommand %q (want create or revoke)", sub)
}

func article(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an"
	}
	return "a"
}

func runSite(ctx context.Context, c *cli, args []string) int {
	if len(args) == 0 {
		return usageErr(c, "site", "missing subcommand (create, get, update or rotate-secret)")
	}
	sub, args := args[0], args[1:]
	name := "site " + sub
	fs := newFlagSet(c, name)
	var t target
	t.register(fs)
	switch sub {
	case "create":
		var integrator, siteName string
		var hosts stringList
		var requireIP bool
		fs.StringVar(&integrator, "integrator", "", "integrator ID")
		fs.StringVar(&siteName, "name", "", "site name")
		fs.Var(&hosts, "hostname", "allowed hostname (repeat for more)")
		fs.BoolVar(&requireIP, "require-remoteip", false, "make siteverify require remoteip")
		pos, err := parse(fs, args)
		if err != nil {
			return parseFailed(err)
		}
		if len(pos) > 0 {
			return usageErr(c, name, "unexpected argument %q", pos[0])
		}
		if integrator == "" || siteName == "" || len(hosts) == 0 {
			return usageErr(c, name, "--integrator, --name and at least one --hostname are required")
		}
		in := adminclient.SiteInput{Name: siteName, Hostnames: hosts, RequireRemoteIP: requireIP}
		return call(ctx, c, &t, name, func(cl *adminclient.Client) (json.RawMessage, error) { return cl.CreateSite(ctx, integrator, in) })
	case "get", "rotate-secret":
		pos, err := parse(fs, args)
		if err != nil {
			return parseFailed(err)
		}
		if len(pos) != 1 {
			return usageErr(c, name, "want exactly one SITEKEY")
		}
		if sub == "get" {
			return call(ctx, c, &t, name, func(cl *adminclient.Client) (json.RawMessage, error) { return cl.GetSite(ctx, pos[0]) })
		}
		return call(ctx, c, &t, name, func(cl *adminclient.Client) (json.RawMessage, error) { return cl.RotateSecret(ctx, pos[0]) })
	case "update":
		var siteName string
		var hosts stringList
		var requireIP bool
		fs.StringVar(&siteName, "name", "", "new site name")
		fs.Var(&hosts, "hostname", "replace the allowed hostnames (repeat for more)")
		fs.BoolVar(&requireIP, "require-remoteip", false, "make siteverify require remoteip")
		pos, err := parse(fs, args)
		if err != nil {
			return parseFailed(err)
		}
		if len(pos) != 1 {
			return usageErr(c, name, "want exactly one SITEKEY")
		}
		var u adminclient.SiteUpdate
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "name":
				u.Name = &siteName
			case "hostname":
				u.Hostnames = hosts
			case "require-remoteip":
				u.RequireRemoteIP = &requireIP
			}
		})
		if u.Name == nil && u.Hostnames == nil && u.RequireRemoteIP == nil {
			return usageErr(c, name, "nothing to change: give --name, --hostname or --require-remoteip")
		}
		return call(ctx, c, &t, name, func(cl *adminclient.Client) (json.RawMessage, error) { return cl.UpdateSite(ctx, pos[0], u) })
	}
	return usageErr(c, "site", "unknown subcommand %q (want create, get, update or rotate-secret)", sub)
}

// call runs one admin API call and prints its JSON answer. A secret in the answer comes
// with a warning: the server keeps only its hash, so this is the one chance to copy it.
func call(ctx context.Context, c *cli, t *target, name string, fn func(*adminclient.Client) (json.RawMessage, error)) int {
	cl, err := t.client(ctx, c)
	if err != nil {
		fmt.Fprintf(c.stderr, "crowdgate %s: %v\n", name, err)
		return exitError
	}
	out, err := fn(cl)
	if err != nil {
		fmt.Fprintf(c.stderr, "crowdgate %s: %v\n", name, err)
		var ae *adminclient.APIError
		if errors.As(err, &ae) && ae.Status == 401 {
			fmt.Fprintln(c.stderr, "hint: pass --admin-token (local stack) or --aws (deployed stack)")
		}
		return exitError
	}
	var buf bytes.Buffer
	if json.Indent(&buf, out, "", "  ") != nil {
		buf.Reset()
		buf.Write(out)
	}
	buf.WriteByte('\n')
	_, _ = io.Copy(c.stdout, &buf)
	if hasSecret(out) {
		fmt.Fprintln(c.stderr, "WARNING: the site secret above is shown only now. crowdgate stores only its hash; copy it to your secret store.")
	}
	if hasAPIKey(out) {
		fmt.Fprintln(c.stderr, "WARNING: the API key above is shown only now. crowdgate stores only its hash; copy it to your secret store.")
	}
	return exitOK
}

func hasSecret(raw json.RawMessage) bool {
	var v map[string]any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	if s, ok := v["secret"].(string); ok && s != "" {
		return true
	}
	// Some answers nest the site: {"site": {...}, "secret": "..."} is covered above;
	// {"site": {"secret": ...}} here.
	if site, ok := v["site"].(map[string]any); ok {
		s, ok := site["secret"].(string)
		return ok && s != ""
	}
	return false
}

// hasAPIKey reports whether an answer carries a new API key ({"key": "cgi_…"} or "cgk_…").
func hasAPIKey(raw json.RawMessage) bool {
	var v map[string]any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	k, ok := v["key"].(string)
	return ok && k != ""
}

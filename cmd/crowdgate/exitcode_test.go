package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every command follows one convention: a wrong command line (unknown flag, missing or bad
// flag value, extra or missing argument) exits 2, a run that fails exits 1, and either way
// stderr says what went wrong once, naming the command.
func TestExitCodesAndMessagesOfEveryCommand(t *testing.T) {
	srv, reqs := adminServer(t, 500, `{"error":{"code":"internal","message":"boom"}}`)
	dir := t.TempDir()
	answers := filepath.Join(dir, "answers.csv")
	truth := filepath.Join(dir, "truth.csv")
	badCSV := filepath.Join(dir, "bad.csv")
	for p, s := range map[string]string{
		answers: "item,worker,label\ni1,w1,a\n",
		truth:   "item,label\ni1,a\n",
		badCSV:  "these,are,not\nthe,right,columns\n",
	} {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing")
	env := map[string]string{"CROWDGATE_ENDPOINT": srv.URL, "CROWDGATE_ADMIN_TOKEN": "tok"}
	const unknownFlag = "flag provided but not defined: -bogus" // the flag package's own words, then the usage

	cases := []struct {
		args []string
		code int
		msg  string // a line of stderr starts with it, and it appears once
	}{
		{[]string{"frobnicate"}, exitUsage, `crowdgate: unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, exitUsage, `crowdgate help: unknown command "frobnicate"`},
		{[]string{"help", "site", "extra"}, exitUsage, `crowdgate help: unexpected argument "extra"`},

		{[]string{"serve", "--bogus"}, exitUsage, unknownFlag},
		{[]string{"serve", "extra"}, exitUsage, `crowdgate serve: unexpected argument "extra"`},
		{[]string{"serve", "--addr", ":8080"}, exitUsage, "crowdgate serve: --addr: "},

		{[]string{"integrator"}, exitUsage, "crowdgate integrator: missing subcommand"},
		{[]string{"integrator", "delete"}, exitUsage, `crowdgate integrator: unknown subcommand "delete"`},
		{[]string{"integrator", "create", "--bogus"}, exitUsage, unknownFlag},
		{[]string{"integrator", "create", "--name", "A"}, exitUsage, "crowdgate integrator create: --name, --email and --country are required"},
		{[]string{"integrator", "create", "--name", "A", "--email", "a@b.test", "--country", "DE", "extra"}, exitUsage, `crowdgate integrator create: unexpected argument "extra"`},
		{[]string{"integrator", "get", "a", "b"}, exitUsage, "crowdgate integrator get: want exactly one integrator ID"},
		{[]string{"integrator", "get", "a"}, exitError, "crowdgate integrator get: "},
		{[]string{"integrator", "key"}, exitUsage, "crowdgate integrator key: missing subcommand"},
		{[]string{"integrator", "key", "create", "--bogus", "a"}, exitUsage, unknownFlag},
		{[]string{"integrator", "key", "revoke", "a"}, exitUsage, "crowdgate integrator key revoke: want an integrator ID and a key ID"},
		{[]string{"customer", "create", "--email", "a@b.test"}, exitUsage, "crowdgate customer create: --name, --email and --country are required"},
		{[]string{"customer", "key", "create"}, exitUsage, "crowdgate customer key create: want exactly one customer ID"},
		{[]string{"customer", "key", "revoke", "a", "k"}, exitError, "crowdgate customer key revoke: "},

		{[]string{"site"}, exitUsage, "crowdgate site: missing subcommand"},
		{[]string{"site", "create", "--bogus"}, exitUsage, unknownFlag},
		{[]string{"site", "create", "--require-remoteip=maybe"}, exitUsage, `invalid boolean value "maybe" for -require-remoteip`},
		{[]string{"site", "create", "--integrator", "i", "--name", "S"}, exitUsage, "crowdgate site create: --integrator, --name and at least one --hostname are required"},
		{[]string{"site", "update", "sk"}, exitUsage, "crowdgate site update: nothing to change"},
		{[]string{"site", "rotate-secret", "a", "b"}, exitUsage, "crowdgate site rotate-secret: want exactly one SITEKEY"},
		{[]string{"site", "get", "sk"}, exitError, "crowdgate site get: "},

		{[]string{"accounts"}, exitUsage, "crowdgate accounts: missing subcommand (repair)"},
		{[]string{"accounts", "fix"}, exitUsage, `crowdgate accounts: unknown subcommand "fix"`},
		{[]string{"accounts", "repair", "--bogus"}, exitUsage, unknownFlag},
		{[]string{"accounts", "repair", "extra"}, exitUsage, `crowdgate accounts repair: unexpected argument "extra"`},
		{[]string{"accounts", "repair", "--data-dir", missing}, exitError, "crowdgate accounts repair: no local stack"},

		{[]string{"eval"}, exitUsage, "crowdgate eval: missing subcommand"},
		{[]string{"eval", "astrology"}, exitUsage, `crowdgate eval: unknown subcommand "astrology"`},
		{[]string{"eval", "consensus", "--bogus"}, exitUsage, unknownFlag},
		{[]string{"eval", "consensus", "--answers", answers}, exitUsage, "crowdgate eval consensus: --answers and --truth are required"},
		{[]string{"eval", "consensus", "--answers", answers, "--truth", truth, "extra"}, exitUsage, `crowdgate eval consensus: unexpected argument "extra"`},
		{[]string{"eval", "consensus", "--answers", answers, "--truth", truth, "--min", "x"}, exitUsage, `invalid value "x" for flag -min`},
		{[]string{"eval", "consensus", "--answers", answers, "--truth", truth, "--min", "0"}, exitUsage, "crowdgate eval consensus: need 1 <= --min (0)"},
		{[]string{"eval", "consensus", "--answers", missing, "--truth", truth}, exitError, "crowdgate eval consensus: open " + missing},
		{[]string{"eval", "consensus", "--answers", badCSV, "--truth", truth}, exitError, "crowdgate eval consensus: "},
		{[]string{"eval", "risk", "--bogus"}, exitUsage, unknownFlag},
		{[]string{"eval", "risk"}, exitUsage, "crowdgate eval risk: give --in, --bots or --lofo"},
		{[]string{"eval", "risk", "--in", answers, "extra"}, exitUsage, `crowdgate eval risk: unexpected argument "extra"`},
		{[]string{"eval", "risk", "--movements", "many", "--in", answers}, exitUsage, `invalid value "many" for flag -movements`},
		{[]string{"eval", "risk", "--in", missing}, exitError, "crowdgate eval risk: open " + missing},
		{[]string{"eval", "risk", "--model", missing, "--in", answers}, exitError, "crowdgate eval risk: open " + missing},

		{[]string{"train"}, exitUsage, "crowdgate train: missing subcommand"},
		{[]string{"train", "model"}, exitUsage, `crowdgate train: unknown subcommand "model"`},
		{[]string{"train", "risk", "--bogus"}, exitUsage, unknownFlag},
		{[]string{"train", "risk", "--humans", missing}, exitUsage, "crowdgate train risk: --out is required"},
		{[]string{"train", "risk", "--out", filepath.Join(dir, "m.json"), "extra"}, exitUsage, `crowdgate train risk: unexpected argument "extra"`},
		{[]string{"train", "risk", "--out", filepath.Join(dir, "m.json"), "--families", "nope"}, exitUsage, `crowdgate train risk: unknown bot family "nope"`},
		{[]string{"train", "risk", "--out", filepath.Join(dir, "m.json"), "--exclude", "nope"}, exitUsage, `crowdgate train risk: unknown feature "nope"`},
		{[]string{"train", "risk", "--out", filepath.Join(dir, "m.json"), "--seed", "-1"}, exitUsage, `invalid value "-1" for flag -seed`},
		{[]string{"train", "risk", "--out", filepath.Join(dir, "m.json"), "--humans", missing}, exitError, "crowdgate train risk: "},
	}
	for _, tc := range cases {
		code, _, errOut := runCLI(t, env, tc.args...)
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d; stderr:\n%s", tc.args, code, tc.code, errOut)
			continue
		}
		startsALine := strings.HasPrefix(errOut, tc.msg) || strings.Contains(errOut, "\n"+tc.msg)
		if !startsALine {
			t.Errorf("%q: stderr has no line starting %q:\n%s", tc.args, tc.msg, errOut)
		}
		// Said once: not repeated by the CLI after the flag package or the tool said it.
		if n := strings.Count(errOut, tc.msg); n > 1 {
			t.Errorf("%q: message said %d times:\n%s", tc.args, n, errOut)
		}
		if len(tc.args) >= 2 {
			if twice := tc.args[0] + " " + tc.args[1] + ": " + tc.args[0] + " " + tc.args[1] + ":"; strings.Contains(errOut, twice) {
				t.Errorf("%q: command named twice: %q", tc.args, errOut)
			}
		}
	}
	// Without a local stack's demo.json the CLI says what it looked for, not that AWS
	// credentials are missing.
	empty := t.TempDir()
	code, _, errOut := runCLI(t, map[string]string{}, "site", "get", "sk", "--data-dir", empty)
	if want := "no admin token for the local stack at http://127.0.0.1:8080: " + filepath.Join(empty, "demo.json") + " not found"; code != exitError || !strings.Contains(errOut, want) {
		t.Errorf("site get without a local stack: exit %d, stderr %q; want %d and %q", code, errOut, exitError, want)
	}
	// Only the runs that got past their command line reached the admin API.
	if n := len(reqs()); n != 3 {
		t.Errorf("%d admin requests, want 3 (the runs that fail on the 500)", n)
	}
}

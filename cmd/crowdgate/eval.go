package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/risk/training"
)

// subcommand runs `crowdgate <verb> <what> …` for offline tools that live in their domain
// packages (the same code the functions run).
type subcommand func(args []string, stdout, stderr io.Writer) error

// tool is one offline tool. A tool's error that is its package's ErrUsage is about the
// command line (exit 2); any other is a failed run (exit 1).
type tool struct {
	run      subcommand
	errUsage error
}

func runSubcommands(verb string, table map[string]tool) func(context.Context, *cli, []string) int {
	return func(_ context.Context, c *cli, args []string) int {
		if len(args) == 0 {
			return subcommandErr(c, verb, "missing subcommand (want %s)", toolNames(table))
		}
		tl, ok := table[args[0]]
		if !ok {
			return subcommandErr(c, verb, "unknown subcommand %q (want %s)", args[0], toolNames(table))
		}
		name := verb + " " + args[0]
		err := tl.run(args[1:], c.stdout, c.stderr)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return exitOK
		case flagParseError(err):
			// The flag package has printed the error and the tool's usage already.
			return exitUsage
		}
		// The tools name themselves in their errors; the CLI names the command once.
		msg := strings.TrimPrefix(err.Error(), name+": ")
		if errors.Is(err, tl.errUsage) {
			return usageErr(c, name, "%s", msg)
		}
		fmt.Fprintf(c.stderr, "crowdgate %s: %s\n", name, msg)
		return exitError
	}
}

// subcommandErr reports a missing or unknown tool, followed by the verb's help text.
func subcommandErr(c *cli, verb, format string, args ...any) int {
	fmt.Fprintf(c.stderr, "crowdgate %s: %s\n\n", verb, fmt.Sprintf(format, args...))
	fmt.Fprint(c.stderr, helpTexts[verb])
	return exitUsage
}

func toolNames(table map[string]tool) string {
	names := slices.Sorted(maps.Keys(table))
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// flagParseError reports whether err is one of the flag package's errors for a command
// line it could not parse (FlagSet.Parse with ContinueOnError), which it prints itself.
func flagParseError(err error) bool {
	msg := err.Error()
	for _, p := range []string{
		"flag provided but not defined: ", "bad flag syntax: ", "flag needs an argument: ",
		"invalid value ", "invalid boolean value ", "invalid boolean flag ",
	} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

var (
	evalCommands = map[string]tool{
		"consensus": {consensus.RunEvalCLI, consensus.ErrUsage},
		"risk":      {training.RunEvalCLI, training.ErrUsage},
	}
	trainCommands = map[string]tool{
		"risk": {training.RunTrainCLI, training.ErrUsage},
	}
)

const evalHelp = `Usage:
  crowdgate eval consensus --answers answers.csv --truth truth.csv [--adaptive] [--min N] [--max N] [--target P]
      Replays answers (item,worker,label) one at a time through the consensus code the
      consensus function runs; prints a JSON report as the last line:
      {"accuracy", "items", "answers_used_fraction", "majority_vote_accuracy", …}.
  crowdgate eval risk --in sessions.jsonl
      Scores one session per line ({"id","pointer":[{"t","x","y","type"}],"ua","headers"})
      and prints {"id","score","reasons"} per line.
  crowdgate eval risk --humans DIR --bots generated|FILE [--detail]
      AUC and detection at 1% human false positives per bot family, on held-out people.
  crowdgate eval risk --humans DIR --lofo
      Leave one family out: trains without each bot family, AUC on the one left out.
"crowdgate eval consensus -h" and "crowdgate eval risk -h" list every flag (eval risk
also takes --model, --movements, --seed and --json).
See shared/consensus/README.md and shared/risk/README.md.
`

const trainHelp = `Usage:
  crowdgate train risk --humans DIR --out shared/risk/model.json [--seed N]
      Trains the pointer model on human recordings (SapiMouse layout) against the generated
      bot families and writes the weights; --seed 1 reproduces the committed model.
      "crowdgate train risk -h" lists every flag (--families, --exclude, --rounds, --no-eval).
`

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/risk/training"
)

// subcommand runs `crowdgate <verb> <what> …` for offline tools that live in their domain
// packages (the same code the functions run).
type subcommand func(args []string, stdout, stderr io.Writer) error

func runSubcommands(verb string, table map[string]subcommand) func(context.Context, *cli, []string) int {
	return func(_ context.Context, c *cli, args []string) int {
		if len(args) == 0 || table[args[0]] == nil {
			fmt.Fprint(c.stderr, helpTexts[verb])
			return exitUsage
		}
		err := table[args[0]](args[1:], c.stdout, c.stderr)
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		default:
			fmt.Fprintf(c.stderr, "crowdgate %s %s: %v\n", verb, args[0], err)
			return exitError
		}
	}
}

var (
	evalCommands  = map[string]subcommand{"consensus": consensus.RunEvalCLI, "risk": training.RunEvalCLI}
	trainCommands = map[string]subcommand{"risk": training.RunTrainCLI}
)

const evalHelp = `Usage:
  crowdgate eval consensus --answers answers.csv --truth truth.csv [--adaptive] [--min N] [--max N] [--target P]
      Replays answers (item,worker,label) one at a time through the consensus code the
      consensus function runs; prints a JSON report as the last line:
      {"accuracy", "items", "answers_used_fraction", "majority_vote_accuracy", …}.
  crowdgate eval risk --in sessions.jsonl
      Scores one session per line ({"id","pointer":[{"t","x","y","type"}],"ua","headers"})
      and prints {"id","score","reasons"} per line.
  crowdgate eval risk --humans DIR --bots generated|FILE [--detail] [--lofo]
      AUC and detection at 1% human false positives per bot family, on held-out people.
See shared/consensus/README.md and shared/risk/README.md.
`

const trainHelp = `Usage:
  crowdgate train risk --humans DIR --out shared/risk/model.json [--seed N]
      Trains the pointer model on human recordings (SapiMouse layout) against the generated
      bot families and writes the weights; --seed 1 reproduces the committed model.
`

package consensus

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// RunEvalCLI implements
//
//	crowdgate eval consensus --answers answers.csv --truth truth.csv [--min N] [--max N] [--target P] [--adaptive]
//
// args are the arguments after "eval consensus" (leading "eval" and "consensus" words are
// skipped, so the whole command line works too).
// Without --min, --max, --target or --adaptive every answer is used; with any of them the
// adaptive-stopping rule is replayed, unset ones taking their defaults. It prints a summary
// and then the Report as one JSON object on the last line of stdout. Usage and flag errors go
// to stderr; -h returns flag.ErrHelp, a wrong command line an error that is ErrUsage.
func RunEvalCLI(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "eval" {
		args = args[1:]
	}
	if len(args) > 0 && args[0] == "consensus" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("crowdgate eval consensus", flag.ContinueOnError)
	fs.SetOutput(stderr)
	answersPath := fs.String("answers", "", "answers CSV with header item,worker,label, in arrival order (required)")
	truthPath := fs.String("truth", "", "truth CSV with header item,label (required)")
	minN := fs.Int("min", DefaultMin, "answers an item needs before it can complete on target")
	maxN := fs.Int("max", 0, "answers after which an item completes anyway (default: the most answers any item has in the file)")
	target := fs.Float64("target", DefaultTarget, "top posterior that completes an item")
	adaptive := fs.Bool("adaptive", false, "replay adaptive stopping with the defaults of the flags not given")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: crowdgate eval consensus --answers answers.csv --truth truth.csv [--min N] [--max N] [--target P] [--adaptive]")
		fmt.Fprintln(stderr, "Replays the answers one at a time through the online consensus, runs the final re-estimation")
		fmt.Fprintln(stderr, "pass and scores the labels against truth. Without stopping flags every answer is used.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageErrorf("eval consensus: unexpected argument %q", fs.Arg(0))
	}
	if *answersPath == "" || *truthPath == "" {
		fs.Usage()
		return usageErrorf("eval consensus: --answers and --truth are required")
	}
	opts := EvalOptions{UseAll: true}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "min", "max", "target":
			opts.UseAll = false
		case "adaptive":
			opts.UseAll = opts.UseAll && !*adaptive
		}
	})
	if !opts.UseAll {
		opts.Min, opts.Max, opts.Target = *minN, *maxN, *target
		if *minN < 1 || *maxN < 0 || (*maxN > 0 && *maxN < *minN) || !(*target > 0) {
			return usageErrorf("eval consensus: need 1 <= --min (%d) <= --max (%d) and --target (%v) > 0", *minN, *maxN, *target)
		}
	}

	af, err := os.Open(*answersPath)
	if err != nil {
		return fmt.Errorf("eval consensus: %w", err)
	}
	defer af.Close()
	tf, err := os.Open(*truthPath)
	if err != nil {
		return fmt.Errorf("eval consensus: %w", err)
	}
	defer tf.Close()
	rep, err := Evaluate(af, tf, opts)
	if err != nil {
		return fmt.Errorf("eval consensus: %w", err)
	}

	rule := "every answer"
	if !opts.UseAll {
		rule = fmt.Sprintf("min %d, max %d, target %v", opts.Min, rep.Max, opts.Target)
	}
	fmt.Fprintf(stdout, "consensus: %d answers (%d used), %d scored items, %d classes; stopping: %s\n",
		rep.Answers, rep.AnswersUsed, rep.Items, rep.Classes, rule)
	line, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("eval consensus: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", line)
	return err
}

// ErrUsage is what errors about the command line itself are (errors.Is), as opposed to a
// run that failed: a CLI exits 2 on them, not 1. The flag package's own parse errors, which
// it prints with the usage, are not marked.
var ErrUsage = errors.New("command-line usage")

type usageError string

func usageErrorf(format string, a ...any) error { return usageError(fmt.Sprintf(format, a...)) }
func (e usageError) Error() string              { return string(e) }
func (e usageError) Is(target error) bool       { return target == ErrUsage }

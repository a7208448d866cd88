package training

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crowdgate/crowdgate/shared/risk"
	"github.com/crowdgate/crowdgate/shared/risk/botgen"
)

// RunTrainCLI implements `crowdgate train risk --humans DIR --out FILE [--seed N]`. args
// are the words after "train risk". It trains, writes the model and prints the training
// report followed by the held-out evaluation.
func RunTrainCLI(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("crowdgate train risk", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: crowdgate train risk --humans DIR --out FILE [--seed N] [--rounds N] [--families LIST] [--exclude LIST] [--no-eval]
Trains the pointer model on human recordings (SapiMouse layout) against the generated bot
families, writes the weights to --out and prints the held-out evaluation; --seed 1
reproduces the committed model.
`)
		fs.PrintDefaults()
	}
	humans := fs.String("humans", "", "SapiMouse directory with user*/session_*.csv (default: ../shared/datasets/mouse/sapimouse, found by walking up, or $CROWDGATE_SHARED)")
	out := fs.String("out", "", "write the model JSON here (required), e.g. shared/risk/model.json")
	seed := fs.Uint64("seed", 1, "seed for the user split and the generated bots")
	rounds := fs.Int("rounds", 0, "boosting rounds (default 300)")
	families := fs.String("families", "", "comma-separated bot families to train on (default: "+joinFamilies(botgen.Trained())+")")
	noEval := fs.Bool("no-eval", false, "skip the held-out evaluation after training")
	exclude := fs.String("exclude", "", "comma-separated features the model may not use (ablation)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageErrorf("train risk: unexpected argument %q", fs.Arg(0))
	}
	if *out == "" {
		fs.Usage()
		return usageErrorf("train risk: --out is required")
	}
	fams, err := parseFamilies(*families)
	if err != nil {
		return usageErrorf("train risk: %v", err)
	}
	opts := Options{Humans: *humans, Seed: *seed, Rounds: *rounds, Families: fams}
	if *exclude != "" {
		opts.Exclude = strings.Split(*exclude, ",")
		for _, x := range opts.Exclude {
			if !slices.Contains(risk.FeatureNames[:], x) {
				return usageErrorf("train risk: unknown feature %q", x)
			}
		}
	}
	if err := opts.defaults(); err != nil {
		return err
	}
	recs, err := recordings(&opts)
	if err != nil {
		return err
	}
	opts.Recordings = recs
	start := time.Now()
	m, rep, err := Train(opts)
	if err != nil {
		return fmt.Errorf("train risk: %w", err)
	}
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return fmt.Errorf("train risk: encode model: %w", err)
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("train risk: %w", err)
	}
	fmt.Fprintf(stdout, "trained in %s: %d human and %d bot movements from %d users (%d held out), %d stumps, train log-loss %.4f, accuracy %.4f\n",
		time.Since(start).Round(time.Millisecond), rep.HumanMovements, rep.BotMovements, len(rep.TrainUsers), len(rep.TestUsers),
		len(m.Stumps), rep.TrainLogLoss, rep.TrainAccuracy)
	c := rep.Calibration
	fmt.Fprintf(stdout, "session calibration: clip %.1f k0 %.1f prior %.1f a %.4f b %.4f\n", c.Clip, c.K0, c.Prior, c.A, c.B)
	printGain(stdout, rep.FeatureGain)
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	if *noEval {
		return nil
	}
	ev, err := Evaluate(EvalOptions{Model: m, Recordings: recs, TestUsers: rep.TestUsers, Seed: *seed})
	if err != nil {
		return fmt.Errorf("train risk: evaluate: %w", err)
	}
	printEval(stdout, ev, false)
	return nil
}

// RunEvalCLI implements `crowdgate eval risk`. args are the words after "eval risk":
//
//	--in FILE|-            score sessions (JSON Lines, see docs/TELEMETRY.md), one result line each
//	--humans DIR --bots generated|FILE [--movements N] [--seed N] [--json]
//	                       per-family AUC and detection at 1% FPR on held-out users
//	--humans DIR --lofo    leave-one-family-out: train without each family, AUC on it
//
// --model FILE uses a model file instead of the embedded one.
func RunEvalCLI(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("crowdgate eval risk", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: crowdgate eval risk --in FILE|- [--model FILE]
       crowdgate eval risk --humans DIR --bots generated|FILE [--detail] [--json]
       crowdgate eval risk --humans DIR --lofo [--json]
--in scores one session per line and prints {"id","score","reasons"} per line; --bots
reports AUC and detection at 1% human false positives per bot family on held-out people;
--lofo trains without each bot family and reports AUC on the one left out.
`)
		fs.PrintDefaults()
	}
	in := fs.String("in", "", "sessions JSON Lines to score ('-' = stdin)")
	humans := fs.String("humans", "", "SapiMouse directory (for --bots and --lofo; default: found like train)")
	bots := fs.String("bots", "", "'generated' (botgen families) or a sessions JSON Lines file of bot sessions")
	lofo := fs.Bool("lofo", false, "leave-one-family-out evaluation (trains one model per family)")
	modelPath := fs.String("model", "", "model JSON (default: the embedded model)")
	movements := fs.Int("movements", 5, "scorable click movements per human session")
	seed := fs.Uint64("seed", 1, "seed for generated bots (and the user split of models without one)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	detail := fs.Bool("detail", false, "also print each bot style (timing/noise) separately")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageErrorf("eval risk: unexpected argument %q", fs.Arg(0))
	}
	m := risk.DefaultModel()
	if *modelPath != "" {
		b, err := os.ReadFile(*modelPath)
		if err != nil {
			return fmt.Errorf("eval risk: %w", err)
		}
		if m, err = risk.ParseModel(b); err != nil {
			return fmt.Errorf("eval risk: %s: %w", *modelPath, err)
		}
	}
	switch {
	case *in != "":
		r := io.Reader(os.Stdin)
		if *in != "-" {
			f, err := os.Open(*in)
			if err != nil {
				return fmt.Errorf("eval risk: %w", err)
			}
			defer f.Close()
			r = f
		}
		return scoreLines(r, stdout, m)
	case *lofo:
		res, err := LeaveOneFamilyOut(Options{Humans: *humans, Seed: *seed, SessionMovements: *movements},
			func(s string) { fmt.Fprintln(stderr, s) })
		if err != nil {
			return fmt.Errorf("eval risk: %w", err)
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(res)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "left-out family\tAUC\tdetected@1%%FPR\n")
		for _, r := range res {
			fmt.Fprintf(tw, "%s\t%.4f\t%.3f\n", r.Family, r.AUC, r.Detected)
		}
		return tw.Flush()
	case *bots != "":
		o := EvalOptions{Model: m, Humans: *humans, Seed: *seed, SessionMovements: *movements}
		if *bots != "generated" {
			f, err := os.Open(*bots)
			if err != nil {
				return fmt.Errorf("eval risk: %w", err)
			}
			defer f.Close()
			if o.Bots, err = readSessions(f); err != nil {
				return fmt.Errorf("eval risk: %s: %w", *bots, err)
			}
		}
		rep, err := Evaluate(o)
		if err != nil {
			return fmt.Errorf("eval risk: %w", err)
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(rep)
		}
		printEval(stdout, rep, *detail)
		return nil
	}
	fs.Usage()
	return usageErrorf("eval risk: give --in, --bots or --lofo")
}

// SessionLine is one line of the eval input.
type SessionLine struct {
	ID      string          `json:"id"`
	Family  string          `json:"family,omitempty"` // optional label, groups --bots FILE results
	Pointer []PointLine     `json:"pointer"`
	UA      string          `json:"ua,omitempty"`
	Headers json.RawMessage `json:"headers,omitempty"` // {"Name": "value"} or {"Name": ["v1", …]}
	// Telemetry, when present, is a full widget telemetry document (docs/TELEMETRY.md)
	// used instead of Pointer.
	Telemetry json.RawMessage `json:"telemetry,omitempty"`
	// SolveMs, when present, scores the line as an answer with that solve time.
	SolveMs float64 `json:"solve_ms,omitempty"`
}

// PointLine is one pointer event of the eval input: absolute time in ms.
type PointLine struct {
	T           float64 `json:"t"`
	X           float64 `json:"x"`
	Y           float64 `json:"y"`
	Type        string  `json:"type"`                   // move | down | up
	PointerType string  `json:"pointer_type,omitempty"` // mouse (default) | touch | pen
}

// ResultLine is one line of `eval risk --in` output.
type ResultLine struct {
	ID      string   `json:"id"`
	Score   float64  `json:"score"`
	Reasons []string `json:"reasons"`
	Error   string   `json:"error,omitempty"`
}

// maxLine bounds one input line (a long session with many events).
const maxLine = 64 << 20

func scoreLines(r io.Reader, w io.Writer, m *risk.Model) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var s SessionLine
		res := ResultLine{Reasons: []string{}}
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			res.ID = "line " + strconv.Itoa(n)
			res.Error = "invalid JSON: " + err.Error()
			if err := enc.Encode(res); err != nil {
				return err
			}
			continue
		}
		res.ID = s.ID
		in, err := s.input()
		if err != nil {
			res.Error = err.Error()
		} else {
			in.Model = m
			a := risk.Score(in)
			res.Score = round4(a.Score)
			if a.Reasons != nil {
				res.Reasons = a.Reasons
			}
		}
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("eval risk: read input: %w", err)
	}
	return bw.Flush()
}

func round4(v float64) float64 {
	return float64(int64(v*1e4+0.5)) / 1e4
}

// input converts an eval line to a risk.Input.
func (s SessionLine) input() (risk.Input, error) {
	var in risk.Input
	in.Request.UserAgent = s.UA
	if len(s.Headers) > 0 && string(s.Headers) != "null" {
		h, err := parseHeaders(s.Headers)
		if err != nil {
			return in, err
		}
		in.Request.Header = h
		if s.UA == "" {
			in.Request.UserAgent = h.Get("User-Agent")
		}
	}
	if len(s.Telemetry) > 0 && string(s.Telemetry) != "null" {
		t, err := risk.ParseTelemetry(s.Telemetry)
		if err != nil {
			return in, err
		}
		in.Telemetry = &t
	} else {
		ev, err := s.events()
		if err != nil {
			return in, err
		}
		in.Telemetry = &risk.Telemetry{Version: risk.TelemetryVersion, Pointer: ev}
	}
	if s.SolveMs > 0 {
		in.Stage = risk.StageAnswer
		in.SolveTime = time.Duration(s.SolveMs * float64(time.Millisecond))
	}
	return in, nil
}

func (s SessionLine) events() ([]risk.PointerEvent, error) {
	out := make([]risk.PointerEvent, 0, len(s.Pointer))
	for i, p := range s.Pointer {
		e := risk.PointerEvent{T: p.T, X: p.X, Y: p.Y}
		switch p.Type {
		case "move", "m", "":
			e.Kind = risk.Move
		case "down", "d":
			e.Kind = risk.Down
		case "up", "u":
			e.Kind = risk.Up
		default:
			return nil, fmt.Errorf("pointer[%d].type %q: want move, down or up", i, p.Type)
		}
		switch p.PointerType {
		case "", "mouse":
		case "touch":
			e.Dev = risk.Touch
		case "pen":
			e.Dev = risk.Pen
		default:
			return nil, fmt.Errorf("pointer[%d].pointer_type %q: want mouse, touch or pen", i, p.PointerType)
		}
		out = append(out, e)
	}
	// Events may arrive unordered in hand-made files; scoring needs time order.
	sort.SliceStable(out, func(i, j int) bool { return out[i].T < out[j].T })
	return out, nil
}

func parseHeaders(raw json.RawMessage) (http.Header, error) {
	var single map[string]string
	h := http.Header{}
	if err := json.Unmarshal(raw, &single); err == nil {
		for k, v := range single {
			h.Set(k, v)
		}
		return h, nil
	}
	var multi map[string][]string
	if err := json.Unmarshal(raw, &multi); err != nil {
		return nil, errors.New(`headers: want {"Name": "value"} or {"Name": ["value", …]}`)
	}
	for k, vs := range multi {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	return h, nil
}

// readSessions reads bot sessions for `--bots FILE`.
func readSessions(r io.Reader) ([]Session, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	var out []Session
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var s SessionLine
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		ev, err := s.events()
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		fam := s.Family
		if fam == "" {
			fam = "file"
		}
		out = append(out, Session{ID: s.ID, Family: fam, Events: ev})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no sessions")
	}
	return out, nil
}

func parseFamilies(s string) ([]botgen.Family, error) {
	if s == "" {
		return nil, nil
	}
	var out []botgen.Family
	for _, p := range strings.Split(s, ",") {
		f := botgen.Family(strings.TrimSpace(p))
		if !botgen.Known(f) {
			return nil, fmt.Errorf("unknown bot family %q", f)
		}
		out = append(out, f)
	}
	return out, nil
}

func joinFamilies(fs []botgen.Family) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ",")
}

func printGain(w io.Writer, gain map[string]float64) {
	type kv struct {
		k string
		v float64
	}
	var all []kv
	total := 0.0
	for k, v := range gain {
		all = append(all, kv{k, v})
		total += v
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v })
	fmt.Fprint(w, "feature gain:")
	for _, e := range all {
		fmt.Fprintf(w, " %s %.1f%%", e.k, 100*e.v/total)
	}
	fmt.Fprintln(w)
}

func printEval(w io.Writer, r EvalReport, detail bool) {
	fmt.Fprintf(w, "held-out users: %d (%s)\n", len(r.TestUsers), strings.Join(r.TestUsers, " "))
	fmt.Fprintf(w, "human sessions: %d of %d click movements; mean score %.3f; threshold at 1%% FPR %.4f (human FPR %.4f); humans >= 0.5: %.4f\n",
		r.HumanSessions, r.Movements, r.HumanMean, r.Threshold, r.HumanFPR, r.HumanAtHalf)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "family\tbots\ttrained\tsessions\tAUC\tdetected@1%%FPR\tscore>=0.5\tmean score\n")
	for _, f := range r.Families {
		tm := f.Style
		if tm == "" {
			tm = "all"
		}
		if strings.Contains(tm, "/") && !detail {
			continue
		}
		tr := "yes"
		if f.HeldOut {
			tr = "HELD OUT"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.4f\t%.3f\t%.3f\t%.3f\n", f.Family, tm, tr, f.Sessions, f.AUC, f.Detected, f.DetectedAtHalf, f.MeanScore)
	}
	tw.Flush()
}

// ErrUsage is what errors about the command line itself are (errors.Is), as opposed to a
// run that failed: a CLI exits 2 on them, not 1. The flag package's own parse errors, which
// it prints with the usage, are not marked.
var ErrUsage = errors.New("command-line usage")

type usageError string

func usageErrorf(format string, a ...any) error { return usageError(fmt.Sprintf(format, a...)) }
func (e usageError) Error() string              { return string(e) }
func (e usageError) Is(target error) bool       { return target == ErrUsage }

// Package rie runs the Lambda bootstrap binaries under aws-lambda-rie, the Runtime Interface
// Emulator, outside Docker: what `sam local invoke` does, without Docker and without SAM.
// It builds the bootstraps exactly as `make build` does, starts the emulator bound to
// loopback, posts events to it and reads the answers and the timing reports it prints.
//
// The replay test (parity_test.go) uses it to show that every events/<function>/ file
// (subfolders included) gives the same answer from the built binary as from the in-process
// handler; BenchmarkColdStart reports binary sizes and cold-start times; Invoke answers one
// event file, the Docker-free counterpart of `make invoke` (sam local invoke), for tests.
package rie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Command is the emulator's executable name; `make rie-tool` installs it into $GOPATH/bin.
const Command = "aws-lambda-rie"

// invokePath is the emulator's invoke endpoint (the Lambda Invoke API path).
const invokePath = "/2015-03-31/functions/function/invocations"

// ErrNotInstalled is returned by Path when aws-lambda-rie is neither on PATH nor in
// $GOPATH/bin.
var ErrNotInstalled = errors.New("aws-lambda-rie is not installed (run `make rie-tool`)")

// Path returns the aws-lambda-rie executable: from PATH, else from $GOPATH/bin where
// `go install` (and `make rie-tool`) put it.
func Path() (string, error) {
	if p, err := exec.LookPath(Command); err == nil {
		return p, nil
	}
	for _, dir := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(dir, "bin", Command)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", ErrNotInstalled
}

// Options configure one emulator.
type Options struct {
	// Env is the function's whole environment (see Resources.Env). Nothing of the calling
	// process's environment is passed on, so a developer's AWS settings cannot leak in; the
	// emulator adds only what Lambda itself sets (AWS_LAMBDA_FUNCTION_NAME, …).
	Env map[string]string
	// Name is the function name the emulator reports (AWS_LAMBDA_FUNCTION_NAME); default
	// the bootstrap's directory name.
	Name string
	// Timeout is the function timeout (default 30 s, as the CDK stack's default).
	Timeout time.Duration
	// Output, when set, also receives everything the emulator and the function print.
	Output io.Writer
	// RIE is the emulator executable (default: Path()).
	RIE string
}

// Emulator is one running aws-lambda-rie process serving one bootstrap. Like a Lambda
// execution environment it starts the function on the first invoke and then reuses it.
type Emulator struct {
	url string
	cmd *exec.Cmd
	// reported counts the invokes the emulator answered with 200, each of which it follows
	// with a REPORT line.
	reported atomic.Int64
	out      *syncBuffer
	done     chan struct{} // closed when the process has exited
	err      error         // the process's exit status, valid after done

	closeOnce sync.Once
}

// Start starts aws-lambda-rie for bootstrap, its invoke API and runtime API both on
// loopback ports of their own (the emulator's defaults, 0.0.0.0:8080 and 127.0.0.1:9001,
// are never used), and waits until it accepts invokes. The caller must Close it.
func Start(ctx context.Context, bootstrap string, opts Options) (*Emulator, error) {
	var err error
	for range 3 {
		var e *Emulator
		if e, err = start(ctx, bootstrap, opts); !errors.Is(err, errExitedEarly) {
			return e, err
		}
		// Most likely another process took a port between choosing and binding it.
	}
	return nil, err
}

var errExitedEarly = errors.New("rie: emulator exited before listening")

func start(ctx context.Context, bootstrap string, opts Options) (*Emulator, error) {
	bin := opts.RIE
	if bin == "" {
		p, err := Path()
		if err != nil {
			return nil, err
		}
		bin = p
	}
	abs, err := filepath.Abs(bootstrap)
	if err != nil {
		return nil, fmt.Errorf("rie: %w", err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("rie: bootstrap: %w", err)
	}
	invokeAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	runtimeAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = filepath.Base(filepath.Dir(abs))
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	env := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(int((timeout + time.Second - 1) / time.Second)),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"LAMBDA_TASK_ROOT":                filepath.Dir(abs),
	}
	for k, v := range opts.Env {
		env[k] = v
	}

	cmd := exec.Command(bin,
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", runtimeAddr,
		"--log-level", "info",
		abs)
	cmd.Dir = filepath.Dir(abs)
	cmd.Env = environ(env)
	out := &syncBuffer{}
	var w io.Writer = out
	if opts.Output != nil {
		w = io.MultiWriter(out, opts.Output)
	}
	cmd.Stdout, cmd.Stderr = w, w
	// A process group of its own, so Close also ends the bootstrap the emulator started;
	// the emulator dies with the process that started it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("rie: start %s: %w", bin, err)
	}
	e := &Emulator{url: "http://" + invokeAddr + invokePath, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { e.err = cmd.Wait(); close(e.done) }()

	if err := e.waitReady(ctx, invokeAddr, 10*time.Second); err != nil {
		_ = e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Emulator) waitReady(ctx context.Context, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-e.done:
			return fmt.Errorf("%w (%v): %s", errExitedEarly, e.err, tail(e.out.String(), 2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rie: emulator not listening on %s after %v: %s", addr, limit, tail(e.out.String(), 2000))
		}
	}
}

// URL is the emulator's invoke URL.
func (e *Emulator) URL() string { return e.url }

// FunctionError is a function error: the handler returned an error (or panicked), so Lambda
// answered with an error document instead of the handler's response.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.Type, e.Message)
}

// Invoke posts one event and returns the function's response payload. A function error is
// returned as *FunctionError together with the error document; init failures, timeouts and
// emulator failures as other errors carrying the end of the emulator's output.
func (e *Emulator) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(event))
	if err != nil {
		return nil, fmt.Errorf("rie: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rie: invoke: %w: %s", err, tail(e.settledOutput(), 2000))
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("rie: read response: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		e.reported.Add(1)
	}
	if resp.StatusCode != http.StatusOK {
		// 502: the function failed to initialise or crashed; 504: timed out.
		return payload, fmt.Errorf("rie: invoke answered %d %q: %s", resp.StatusCode, payload, tail(e.settledOutput(), 2000))
	}
	if fe := functionError(payload); fe != nil {
		return payload, fe
	}
	if bytes.HasPrefix(payload, []byte("Task timed out")) {
		return payload, fmt.Errorf("rie: %s", payload)
	}
	return payload, nil
}

// functionError recognises Lambda's error document, {"errorMessage": …, "errorType": …}.
// No handler response of this service has those keys at the top level.
func functionError(payload []byte) *FunctionError {
	var doc map[string]json.RawMessage
	if json.Unmarshal(payload, &doc) != nil {
		return nil
	}
	_, hasType := doc["errorType"]
	_, hasMsg := doc["errorMessage"]
	if !hasType && !hasMsg {
		return nil
	}
	fe := &FunctionError{}
	_ = json.Unmarshal(payload, fe)
	return fe
}

// settledOutput returns the output once it has stopped growing for a moment (at most a
// second): a crashed function's last words reach the pipe after the emulator's answer.
func (e *Emulator) settledOutput() string {
	out := e.out.String()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		select {
		case <-e.done:
			return e.out.String()
		case <-time.After(50 * time.Millisecond):
		}
		next := e.out.String()
		if len(next) == len(out) {
			return next
		}
		out = next
	}
	return out
}

// Output returns everything the emulator and the function printed so far.
func (e *Emulator) Output() string { return e.out.String() }

// Timings parses the emulator's reports. The emulator prints an invoke's REPORT line as
// it answers, so this waits briefly for the lines of the invokes answered so far to arrive.
func (e *Emulator) Timings() Timings {
	want := int(e.reported.Load())
	deadline := time.Now().Add(2 * time.Second)
	for {
		t := ParseTimings(e.out.String())
		if len(t.Invokes) >= want || time.Now().After(deadline) {
			return t
		}
		select {
		case <-e.done:
			return ParseTimings(e.out.String())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Close stops the emulator and the function (SIGTERM, then SIGKILL to the process group).
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		pgid := e.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-e.done:
		case <-time.After(3 * time.Second):
		}
		// The emulator kills its runtime on SIGTERM; this catches anything left over.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-e.done
	})
	return nil
}

// FunctionCPU returns the CPU time the function's process (the bootstrap the emulator
// started) has used so far: the sum over its threads of Linux's
// /proc/<pid>/task/<tid>/schedstat. Unlike wall-clock durations it hardly changes with
// machine load: after the first invoke it is the CPU cost of a cold start (Go runtime,
// package init, Wire and the first request).
func (e *Emulator) FunctionCPU() (time.Duration, error) {
	pid, err := childOf(e.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(stats) == 0 {
		return 0, fmt.Errorf("rie: function CPU time: no /proc/%d/task/*/schedstat", pid)
	}
	var total time.Duration
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread exited meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("rie: function CPU time: %s: %w", p, err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}

// childOf finds the (one) child process of ppid by scanning /proc.
func childOf(ppid int) (int, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("rie: %w", err)
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid …"; comm may contain spaces and parentheses.
		rest := string(b)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:]
		}
		if f := strings.Fields(rest); len(f) >= 2 && f[1] == strconv.Itoa(ppid) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("rie: the emulator has not started the function yet")
}

// Timings are the durations the emulator reports.
type Timings struct {
	// Init is the function's init duration: from starting the bootstrap until the runtime
	// asked for its first event (the emulator's "INIT REPORT(durationMs: …)"; Lambda bills
	// this as Init Duration). Zero until the first invoke.
	Init time.Duration
	// Invokes are the "REPORT … Duration:" of each invoke in order; the first includes
	// waiting for init, as a cold start does.
	Invokes []time.Duration
}

var (
	initReportRE = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	reportRE     = regexp.MustCompile(`(?m)^REPORT RequestId: \S+\t(?:Init Duration: [0-9.]+ ms\t)?Duration: ([0-9.]+) ms`)
)

// ParseTimings reads the INIT REPORT and REPORT lines of aws-lambda-rie's output.
func ParseTimings(output string) Timings {
	var t Timings
	if m := initReportRE.FindStringSubmatch(output); m != nil {
		t.Init = millis(m[1])
	}
	for _, m := range reportRE.FindAllStringSubmatch(output, -1) {
		t.Invokes = append(t.Invokes, millis(m[1]))
	}
	return t
}

func millis(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return time.Duration(f * float64(time.Millisecond))
}

// Invoke builds the function in fnDir (functions/<name> of this module) for this machine
// with `make build`'s flags, runs it under aws-lambda-rie with env, replays eventFile and
// returns the response payload: what `sam local invoke -e` (`make invoke`) prints, without
// Docker. A function error comes back as *FunctionError with the error document as payload.
func Invoke(ctx context.Context, fnDir, eventFile string, env map[string]string) ([]byte, error) {
	event, err := os.ReadFile(eventFile)
	if err != nil {
		return nil, fmt.Errorf("rie: read event: %w", err)
	}
	if _, err := KindOf(event); err != nil {
		return nil, fmt.Errorf("rie: %s: %w", eventFile, err)
	}
	absFn, err := filepath.Abs(fnDir)
	if err != nil {
		return nil, fmt.Errorf("rie: %w", err)
	}
	root, err := Root(absFn)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(filepath.Join(root, "functions"), absFn)
	if err != nil || strings.Contains(rel, string(filepath.Separator)) || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("rie: %s is not a folder under %s", fnDir, filepath.Join(root, "functions"))
	}
	dir, err := os.MkdirTemp("", "crowdgate-invoke-")
	if err != nil {
		return nil, fmt.Errorf("rie: %w", err)
	}
	defer os.RemoveAll(dir)
	bins, err := Build(ctx, root, HostArch(), dir, rel)
	if err != nil {
		return nil, err
	}
	em, err := Start(ctx, bins[rel], Options{Env: env, Name: rel})
	if err != nil {
		return nil, err
	}
	defer em.Close()
	return em.Invoke(ctx, event)
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("rie: find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// environ turns env into KEY=value pairs in a stable order.
func environ(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// syncBuffer is a bytes.Buffer the emulator's stdout and stderr may write concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

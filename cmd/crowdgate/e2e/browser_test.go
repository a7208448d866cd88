package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const chromiumPath = "/usr/bin/chromium"

// scenarioTimeout bounds one node run (browser start, page loads and every wait inside).
// The longest, the telemetry scenario's 2,100-step pointer burst (one frame per step),
// takes a minute on an idle machine; under `make test` other test binaries share the cores.
const scenarioTimeout = 5 * time.Minute

// moduleRoot is the directory holding go.mod (tests run in their package directory).
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// requireBrowser skips the test when the browser tooling is not installed.
func requireBrowser(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser end-to-end tests do not run with -short")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		missingTool(t, "browser tests need Debian's chromium at %s (`make tools` installs it): %v", chromiumPath, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missingTool(t, "browser tests need node on PATH")
	}
	if _, err := os.Stat(filepath.Join(moduleRoot(t), "node_modules", "playwright-core", "package.json")); err != nil {
		missingTool(t, "browser tests need node_modules/playwright-core: run `make tools` (npm ci)")
	}
}

// missingTool skips the test for a tool that is not installed, except under `make test`
// (which sets CROWDGATE_ISOLATED_NET=1 after `make tools` installed everything): there a
// missing tool is a failure, or the suite would pass without having run.
func missingTool(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CROWDGATE_ISOLATED_NET") == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// artifactDir is where screenshots go: CROWDGATE_E2E_ARTIFACTS/<test> when set (to look
// at them), else the test's temp dir.
func artifactDir(t testing.TB) string {
	t.Helper()
	base := os.Getenv("CROWDGATE_E2E_ARTIFACTS")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runScenario runs testdata/scenarios.mjs <name> (runScript).
func runScenario(t *testing.T, name string, cfg map[string]any, out any) {
	t.Helper()
	runScript(t, "scenarios.mjs", name, cfg, out)
}

// runScript runs testdata/<script> <name> in a fresh Chromium profile with cfg as its
// configuration and decodes the JSON result it prints as its last stdout line.
func runScript(t *testing.T, script, name string, cfg map[string]any, out any) {
	t.Helper()
	requireBrowser(t)
	full := map[string]any{
		"chromium":    chromiumPath,
		"userDataDir": t.TempDir(),
		"artifacts":   artifactDir(t),
	}
	for k, v := range cfg {
		full[k] = v
	}
	raw, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", script), name)
	cmd.Env = append(os.Environ(), "CG_E2E="+string(raw))
	// Node and the browser it starts form a process group that a timeout kills whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("scenario %s log:\n%s", name, s)
	}
	if runErr != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("scenario %s did not finish within %s", name, scenarioTimeout)
		}
		t.Fatalf("scenario %s failed: %v", name, runErr)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	if err := json.Unmarshal([]byte(last), out); err != nil {
		t.Fatalf("scenario %s printed no JSON result (%v): %q", name, err, stdout.String())
	}
}

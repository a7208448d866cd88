package rie_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/rie"
)

// buildEcho builds testdata/echo like a function bootstrap.
func buildEcho(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "echo", "bootstrap")
	args := append([]string{"build"}, rie.BuildFlags...)
	cmd := exec.Command("go", append(args, "-o", out, "./testdata/echo")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build testdata/echo: %v\n%s", err, b)
	}
	return out
}

// The emulator runs a bootstrap on loopback with exactly the environment it is given,
// reports function errors as such, and reports init and invoke timings.
func TestEmulatorRunsABootstrap(t *testing.T) {
	needRIE(t)
	bin := buildEcho(t)
	t.Setenv("CROWDGATE_RIE_LEAK", "from-the-test-process")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	em, err := rie.Start(ctx, bin, rie.Options{Env: map[string]string{"CROWDGATE_RIE_GIVEN": "yes"}})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	if !strings.HasPrefix(em.URL(), "http://127.0.0.1:") {
		t.Fatalf("emulator listens on %s, not loopback", em.URL())
	}

	payload, err := em.Invoke(ctx, []byte(`{"env":["CROWDGATE_RIE_GIVEN","CROWDGATE_RIE_LEAK","AWS_LAMBDA_FUNCTION_NAME","AWS_LAMBDA_RUNTIME_API"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Env map[string]string `json:"env"`
	}
	if err := json.Unmarshal(payload, &got); err != nil {
		t.Fatalf("%s: %v", payload, err)
	}
	if got.Env["CROWDGATE_RIE_GIVEN"] != "yes" {
		t.Errorf("the function did not get its environment: %v", got.Env)
	}
	if got.Env["CROWDGATE_RIE_LEAK"] != "" {
		t.Error("the test process's environment leaked into the function")
	}
	if got.Env["AWS_LAMBDA_FUNCTION_NAME"] != "echo" {
		t.Errorf("function name = %q, want the bootstrap's folder", got.Env["AWS_LAMBDA_FUNCTION_NAME"])
	}
	if api := got.Env["AWS_LAMBDA_RUNTIME_API"]; !strings.HasPrefix(api, "127.0.0.1:") || api == "127.0.0.1:9001" {
		t.Errorf("runtime API on %q; want a loopback port of its own", api)
	}

	payload, err = em.Invoke(ctx, []byte(`{"fail":"boom"}`))
	var fe *rie.FunctionError
	if !errors.As(err, &fe) || fe.Message != "boom" || !strings.Contains(string(payload), "boom") {
		t.Errorf("failing handler: payload %s, error %v; want a FunctionError saying boom", payload, err)
	}

	if cpu, err := em.FunctionCPU(); err != nil || cpu <= 0 || cpu > time.Minute {
		t.Errorf("function CPU time %v, %v", cpu, err)
	}

	tm := em.Timings()
	if tm.Init <= 0 || len(tm.Invokes) != 2 {
		t.Errorf("timings %+v: want an init duration and two invokes\n%s", tm, em.Output())
	}

	if err := em.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := em.Invoke(ctx, []byte(`{}`)); err == nil {
		t.Error("emulator still answers after Close")
	}
}

func TestStartFailsClearlyWithoutABootstrap(t *testing.T) {
	needRIE(t)
	if _, err := rie.Start(context.Background(), filepath.Join(t.TempDir(), "missing", "bootstrap"), rie.Options{}); err == nil || !strings.Contains(err.Error(), "bootstrap") {
		t.Errorf("Start without a bootstrap: %v", err)
	}
}

// Invoke builds a real function and answers one events/ file, as `make invoke` (sam local
// invoke) does with Docker.
func TestInvokeAnswersAnEventFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a function; skipped with -short")
	}
	needRIE(t)
	root := moduleRoot(t)
	event := filepath.Join(root, "events", "verify", "verify-test-keys.json")
	if _, err := os.Stat(event); err != nil {
		t.Skipf("no %s: %v", event, err)
	}
	// hCaptcha's test keys verify without a store, so no database is needed.
	env := rie.Resources{
		Tables:      map[string]string{"accounts": "none-accounts", "challenges": "none-challenges"},
		SigningKeys: newSecrets(t).signing,
		Endpoints:   map[string]string{"DynamoDB": "http://127.0.0.1:9"},
	}.Env()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	payload, err := rie.Invoke(ctx, filepath.Join(root, "functions", "verify"), event, env)
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	var body struct {
		Success bool `json:"success"`
	}
	if err := json.Unmarshal(payload, &resp); err != nil || resp.StatusCode != 200 ||
		json.Unmarshal([]byte(resp.Body), &body) != nil || !body.Success {
		t.Errorf("verify-test-keys.json answered %s (%v); want statusCode 200 and success", payload, err)
	}

	if _, err := rie.Invoke(ctx, filepath.Join(root, "shared", "web"), event, env); err == nil {
		t.Error("Invoke ran a folder outside functions/")
	}
	if _, err := rie.Invoke(ctx, filepath.Join(root, "functions", "verify"), filepath.Join(root, "go.mod"), env); err == nil {
		t.Error("Invoke replayed a file that is not an event")
	}
}

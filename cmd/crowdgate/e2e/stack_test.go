package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// demoInfo is <data-dir>/demo.json as `crowdgate serve` writes it once it is ready.
type demoInfo struct {
	URL              string            `json:"url"`
	DemoURL          string            `json:"demo_url"`
	Sitekey          string            `json:"sitekey"`
	Secret           string            `json:"secret"`
	AdminToken       string            `json:"admin_token"`
	DynamoDBEndpoint string            `json:"dynamodb_endpoint"`
	S3Endpoint       string            `json:"s3_endpoint"`
	Tables           map[string]string `json:"tables"`
	Buckets          map[string]string `json:"buckets"`
}

const (
	buildTimeout = 5 * time.Minute
	readyTimeout = 2 * time.Minute
)

// One `crowdgate serve` per test binary: building and seeding it is the slow part.
var serve struct {
	once sync.Once
	dir  string
	cmd  *exec.Cmd
	log  syncBuffer
	demo *demoInfo
	skip string
	err  error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// From returns what was written after the first n bytes.
func (b *syncBuffer) From(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf.Bytes()[n:])
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopStack()
	os.Exit(code)
}

// startStack builds ./cmd/crowdgate, runs `crowdgate serve` on a free loopback port with a
// fresh data dir and returns its demo.json.
func startStack(t *testing.T) *demoInfo {
	t.Helper()
	if testing.Short() {
		t.Skip("the local stack does not start with -short")
	}
	serve.once.Do(func() { serve.demo, serve.skip, serve.err = launchStack(moduleRoot(t)) })
	if serve.skip != "" {
		t.Skip(serve.skip)
	}
	if serve.err != nil {
		t.Fatalf("crowdgate serve: %v\n--- serve output ---\n%s", serve.err, serve.log.String())
	}
	// A failing test shows what the stack logged while it ran.
	mark := serve.log.Len()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- crowdgate serve output during the test ---\n%s", serve.log.From(mark))
		}
	})
	return serve.demo
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

func launchStack(root string) (*demoInfo, string, error) {
	if _, err := os.Stat(filepath.Join(root, "cmd", "crowdgate", "main.go")); err != nil {
		return nil, "cmd/crowdgate (crowdgate serve) is not in this tree", nil
	}
	dir, err := os.MkdirTemp("", "crowdgate-e2e-")
	if err != nil {
		return nil, "", err
	}
	serve.dir = dir
	bin := filepath.Join(dir, "crowdgate")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	build := exec.CommandContext(ctx, goTool(), "build", "-o", bin, "./cmd/crowdgate")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("go build ./cmd/crowdgate: %v\n%s", err, out)
	}
	// Port 0: the stack listens on a port the kernel picks and writes its URL into
	// demo.json. A port picked free here could be taken by another test binary before the
	// stack binds it.
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", data)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &serve.log, &serve.log
	// The stack and anything it starts die with the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start crowdgate serve: %w", err)
	}
	serve.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(readyTimeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			serve.cmd = nil
			return nil, "", fmt.Errorf("exited before writing demo.json: %v", err)
		case <-deadline:
			return nil, "", fmt.Errorf("no %s within %s", filepath.Join(data, "demo.json"), readyTimeout)
		case <-tick.C:
		}
		raw, err := os.ReadFile(filepath.Join(data, "demo.json"))
		if err != nil {
			continue
		}
		var d demoInfo
		if err := json.Unmarshal(raw, &d); err != nil {
			continue // written but not complete yet
		}
		if d.URL == "" || d.Sitekey == "" {
			return nil, "", fmt.Errorf("demo.json lacks url or sitekey: %s", raw)
		}
		return &d, "", nil
	}
}

func stopStack() {
	if serve.cmd != nil && serve.cmd.Process != nil {
		pgid := serve.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			for i := 0; i < 100; i++ {
				if syscall.Kill(-pgid, 0) != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			close(done)
		}()
		<-done
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	if serve.dir != "" {
		_ = os.RemoveAll(serve.dir)
	}
}

// newOracle serves the right answers of a challenge the stack issued: it reads the stored
// challenge from the stack's DynamoDB with the challenge store the challenge function
// uses. It is how the tests play a human who can see the images.
func newOracle(t *testing.T, d *demoInfo) string {
	t.Helper()
	table := d.Tables[schema.TableChallenges]
	if table == "" || d.DynamoDBEndpoint == "" {
		t.Fatalf("demo.json names no challenges table or DynamoDB endpoint: %+v", d)
	}
	client := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(d.DynamoDBEndpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		// Local stand-ins may not send the CRC32 header.
		DisableValidateResponseChecksum: true,
	})
	store := dynamo.NewChallenges(client, table)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, err := store.Get(r.Context(), r.URL.Query().Get("id"))
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, challenge.ErrNotFound) {
				status = http.StatusNotFound
			}
			http.Error(w, err.Error(), status)
			return
		}
		web.WriteJSON(w, http.StatusOK, map[string]any{"answers": goldFor(rec)})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// goldFor answers every gold decision right; open (unlabeled) items may be answered
// either way, so the oracle leaves open tiles unselected and says yes to open questions.
func goldFor(rec challenge.Record) map[string]goldAnswer {
	out := map[string]goldAnswer{}
	for _, task := range rec.Tasks {
		switch task.Kind {
		case challenge.TaskImageGrid:
			sel := []string{}
			for _, it := range task.Items {
				if it.Gold && it.Truth {
					sel = append(sel, it.Tile)
				}
			}
			out[task.ID] = goldAnswer{Selected: sel}
		case challenge.TaskYesNo:
			choice := "yes"
			for _, it := range task.Items {
				if it.Gold && !it.Truth {
					choice = "no"
				}
			}
			out[task.ID] = goldAnswer{Choice: choice}
		}
	}
	return out
}

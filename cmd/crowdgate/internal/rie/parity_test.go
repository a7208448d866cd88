package rie_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/rie"
)

// Every function under functions/ can be compared with its in-process handler.
func TestEveryFunctionHasAnInProcessWire(t *testing.T) {
	fns, err := rie.Functions(moduleRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) == 0 {
		t.Fatal("no functions found under functions/")
	}
	for _, fn := range fns {
		if len(inProcess[fn].kinds()) == 0 {
			t.Errorf("functions/%s has a main.go but no handler.Wire in harness_test.go's inProcess map: add one line so its events/ are compared", fn)
		}
	}
}

// SAM parity: every events/<function>/ file (subfolders included), replayed into the built
// bootstrap under aws-lambda-rie (what `sam local invoke -e` does, without Docker), is
// answered without a function error, in the shape its event calls for, never with a 5xx,
// and the same way the in-process handler answers it over a second fresh set of tables.
func TestEventsUnderRIEMatchInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function; skipped with -short")
	}
	needRIE(t)
	root := moduleRoot(t)
	be := newBackends(t) // skips where DynamoDB Local cannot run
	fns, err := rie.Functions(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// One go build for all is quickest; when it fails, each function is built on its own
	// so the others are still checked and the broken one says why.
	dir := t.TempDir()
	bins, err := rie.Build(ctx, root, rie.HostArch(), dir, fns...)
	if err != nil {
		bins = map[string]string{}
	}
	for _, fn := range fns {
		t.Run(fn, func(t *testing.T) {
			if bins[fn] == "" {
				b, err := rie.Build(ctx, root, rie.HostArch(), filepath.Join(dir, "one"), fn)
				if err != nil {
					t.Fatal(err)
				}
				bins[fn] = b[fn]
			}
			files, err := rie.Events(root, fn)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) == 0 {
				t.Fatalf("functions/%s has no sample events: add events/%s/*.json (sam local invoke -e, and this test, replay them)", fn, fn)
			}
			takes := inProcess[fn].kinds()
			var evs []sample
			for _, file := range files {
				body, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				// Named by its path under events/<fn>, subfolders included.
				name, err := filepath.Rel(filepath.Join(root, "events", fn), file)
				if err != nil {
					t.Fatal(err)
				}
				ev := sample{name: filepath.ToSlash(name), body: body}
				if err := json.Unmarshal(body, &ev.rotation); err != nil {
					ev.rotation = rotationStep{}
				}
				evs = append(evs, ev)
			}
			keys := newSecrets(t)
			keys.signingARN = signingSecretOf(evs)
			underRIE, inProc := be.resources(t, keys), be.resources(t, keys)

			em, err := rie.Start(ctx, bins[fn], rie.Options{Env: underRIE.Env(), Name: fn})
			if err != nil {
				t.Fatal(err)
			}
			defer em.Close()
			local := newInProcess(t, fn, platformEnv(t, inProc.Resources))

			// Events run in file order on both sides, so state each leaves behind (a
			// created integrator, a used token) is the same for the next.
			invoked := 0
			for _, ev := range evs {
				name, event := ev.name, ev.body
				if kind, err := rie.KindOf(event); err != nil || !takes[kind] {
					t.Errorf("%s: %q event (%v) for a function that takes %v", name, kind, err, takes)
					continue
				}
				// Secrets Manager stages the new version before it calls createSecret.
				if r := ev.rotation; r.Step == "createSecret" && r.SecretID != "" && r.ClientRequestToken != "" {
					underRIE.secrets.stagePending(r.SecretID, r.ClientRequestToken)
					inProc.secrets.stagePending(r.SecretID, r.ClientRequestToken)
				}
				invoked++
				got, err := em.Invoke(ctx, event)
				if err != nil {
					t.Errorf("%s under aws-lambda-rie: %v", name, err)
					continue
				}
				want, err := local(ctx, event)
				if err != nil {
					t.Fatalf("%s in process: %v", name, err)
				}
				gotN, err := rie.Normalize(event, got)
				if err != nil {
					t.Errorf("%s under aws-lambda-rie: %v\nresponse: %.600s", name, err, got)
					continue
				}
				wantN, err := rie.Normalize(event, want)
				if err != nil {
					t.Errorf("%s in process: %v\nresponse: %.600s", name, err, want)
					continue
				}
				if !bytes.Equal(gotN, wantN) {
					t.Errorf("%s: the bootstrap under aws-lambda-rie and the in-process handler disagree\nrie:        %s\nin process: %s", name, gotN, wantN)
				}
			}
			if got := em.Timings().Invokes; !t.Failed() && len(got) != invoked {
				t.Errorf("aws-lambda-rie reported %d invokes for %d events", len(got), invoked)
			}

			// Both sides sent the same number of messages to each queue.
			for _, logical := range sortedKeys(underRIE.Queues) {
				a, b := len(be.sqs.Sent(underRIE.Queues[logical])), len(be.sqs.Sent(inProc.Queues[logical]))
				if a != b {
					t.Errorf("queue %s: %d messages from the bootstrap, %d in process", logical, a, b)
				}
			}
			// … and the same number of mails.
			if a, b := countFiles(t, underRIE.Extra["MAIL_OUTBOX_DIR"]), countFiles(t, inProc.Extra["MAIL_OUTBOX_DIR"]); a != b {
				t.Errorf("mail outbox: %d mails from the bootstrap, %d in process", a, b)
			}
			if t.Failed() {
				t.Logf("aws-lambda-rie output:\n%s", em.Output())
			}
		})
	}
}

// sample is one events/ file.
type sample struct {
	name     string
	body     []byte
	rotation rotationStep
}

// rotationStep is what Secrets Manager sends a rotation function.
type rotationStep struct {
	Step               string `json:"Step"`
	SecretID           string `json:"SecretId"`
	ClientRequestToken string `json:"ClientRequestToken"`
}

// signingSecretOf returns the secret the rotation events name, which must be the
// function's SIGNING_SECRET_ARN, or "" when none does.
func signingSecretOf(evs []sample) string {
	for _, ev := range evs {
		if ev.rotation.Step != "" && ev.rotation.SecretID != "" {
			return ev.rotation.SecretID
		}
	}
	return ""
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

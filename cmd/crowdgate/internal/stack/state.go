package stack

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/localaws"
	"github.com/crowdgate/crowdgate/shared/queue"
	"github.com/crowdgate/crowdgate/shared/token"
)

// File names inside the data directory.
const (
	// StateFile holds what must survive restarts and exists only locally: the admin token,
	// the token-signing and privacy-hash keys and the demo accounts' ids and secret (the server keeps only a
	// hash of the secret).
	StateFile = "local-state.json"
	// DemoFile is written once the stack is ready and removed when it starts and when it
	// stops, so tools can wait for it (see Demo).
	DemoFile = "demo.json"
	// OutboxDir receives the e-mails functions send (SES on AWS); GET /_outbox lists them.
	OutboxDir = "outbox"
	// LockFile is locked by the stack that runs on the data directory (lockDataDir).
	LockFile = "serve.lock"
	// QueuesFile keeps the queues' messages from a clean stop to the next start.
	QueuesFile = "queues.json"
)

// state is the content of StateFile.
type state struct {
	AdminToken     string `json:"admin_token"`
	SigningKeys    string `json:"signing_keys"`
	PrivacyKey     string `json:"privacy_key"`
	IntegratorID   string `json:"integrator_id,omitempty"`
	Sitekey        string `json:"sitekey,omitempty"`
	Secret         string `json:"secret,omitempty"`
	CustomerID     string `json:"customer_id,omitempty"`
	CustomerAPIKey string `json:"customer_api_key,omitempty"`
	JobID          string `json:"job_id,omitempty"`
	// DemoMediaKey keys the names of the demo job's images (demoMediaKey).
	DemoMediaKey string `json:"demo_media_key"`
}

// Demo is the content of DemoFile: how to reach and use the running local stack.
type Demo struct {
	URL              string            `json:"url"`
	DemoURL          string            `json:"demo_url"`
	Sitekey          string            `json:"sitekey"`
	Secret           string            `json:"secret"`
	AdminToken       string            `json:"admin_token"`
	DynamoDBEndpoint string            `json:"dynamodb_endpoint"`
	S3Endpoint       string            `json:"s3_endpoint"`
	Tables           map[string]string `json:"tables"`
	Buckets          map[string]string `json:"buckets"`
	IntegratorID     string            `json:"integrator_id"`
	CustomerID       string            `json:"customer_id"`
	CustomerAPIKey   string            `json:"customer_api_key"`
	JobID            string            `json:"job_id"`
}

// loadState reads StateFile, generating the admin token and signing key the first time.
func loadState(dir string) (state, error) {
	var st state
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return st, fmt.Errorf("read %s: %w", StateFile, err)
	default:
		if err := json.Unmarshal(b, &st); err != nil {
			return st, fmt.Errorf("read %s: %w (delete it to start afresh)", StateFile, err)
		}
	}
	if st.AdminToken == "" {
		var r [24]byte
		if _, err := rand.Read(r[:]); err != nil {
			return st, fmt.Errorf("generate admin token: %w", err)
		}
		st.AdminToken = "cg_admin_" + hex.EncodeToString(r[:])
	}
	if st.PrivacyKey == "" {
		var k [32]byte
		if _, err := rand.Read(k[:]); err != nil {
			return st, fmt.Errorf("generate privacy key: %w", err)
		}
		st.PrivacyKey = base64.StdEncoding.EncodeToString(k[:])
	}
	if st.DemoMediaKey == "" {
		var k [32]byte
		if _, err := rand.Read(k[:]); err != nil {
			return st, fmt.Errorf("generate demo media key: %w", err)
		}
		st.DemoMediaKey = base64.StdEncoding.EncodeToString(k[:])
	}
	if st.SigningKeys == "" {
		k, err := token.NewKey("local1")
		if err != nil {
			return st, err
		}
		st.SigningKeys = k
	}
	return st, saveState(dir, st)
}

func saveState(dir string, st state) error {
	return writeSecretJSON(filepath.Join(dir, StateFile), st)
}

// ReadDemo reads DemoFile from a data directory.
func ReadDemo(dir string) (Demo, error) {
	var d Demo
	b, err := os.ReadFile(filepath.Join(dir, DemoFile))
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("read %s: %w", DemoFile, err)
	}
	return d, nil
}

// writeSecretJSON writes v readable by the owner only, atomically (write, then rename), so
// a reader never sees half a file.
func writeSecretJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return localaws.WriteFileAtomic(path, append(b, '\n'))
}

// restoreQueues puts the messages the last clean stop saved back into b's queues and
// removes the file: from then on they are the broker's, and Close saves them again.
func restoreQueues(b *queue.Broker, dir string, log *slog.Logger) error {
	path := filepath.Join(dir, QueuesFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", QueuesFile, err)
	}
	restored, dropped, err := b.Restore(data)
	if err != nil {
		return fmt.Errorf("%w (move %s away to start with empty queues)", err, path)
	}
	if restored+dropped > 0 {
		log.Info("queue messages kept from the last stop", "restored", restored, "dropped_unknown_queue", dropped)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove %s: %w", QueuesFile, err)
	}
	return nil
}

// saveQueues writes what the closed broker b still holds for the next start.
func saveQueues(b *queue.Broker, dir string) error {
	data, err := b.Save()
	if err != nil {
		return err
	}
	return localaws.WriteFileAtomic(filepath.Join(dir, QueuesFile), data)
}

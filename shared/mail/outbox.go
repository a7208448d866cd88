package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/shared/web"
)

// Message is one e-mail in an Outbox.
type Message struct {
	ID      string    `json:"id"`
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	SentAt  time.Time `json:"sent_at"`
}

// Outbox keeps sent e-mails instead of delivering them: the local stack's stand-in for
// SES, never used on AWS. In memory (NewOutbox) or one JSON file per message in a
// directory (NewFileOutbox), so separate processes — or a restarted stack — share it.
type Outbox struct {
	dir string // "" keeps messages in memory
	now func() time.Time

	mu  sync.Mutex
	mem []Message
}

// NewOutbox returns an in-memory outbox.
func NewOutbox() *Outbox { return &Outbox{now: time.Now} }

// NewFileOutbox returns an outbox that writes into dir (created, mode 0700).
func NewFileOutbox(dir string) (*Outbox, error) {
	if dir == "" {
		return nil, errors.New("mail: outbox directory is empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: outbox directory: %w", err)
	}
	return &Outbox{dir: dir, now: time.Now}, nil
}

// Send stores the message.
func (o *Outbox) Send(_ context.Context, to, subject, text string) error {
	if err := check(to, subject); err != nil {
		return err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	at := o.now().UTC()
	// The id sorts by time, so listing a directory in name order is sending order.
	m := Message{ID: fmt.Sprintf("%020d-%s", at.UnixNano(), hex.EncodeToString(b[:])), To: to, Subject: subject, Text: text, SentAt: at}
	if o.dir == "" {
		o.mu.Lock()
		o.mem = append(o.mem, m)
		o.mu.Unlock()
		return nil
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("mail: encode message: %w", err)
	}
	// Write and rename, so a reader never sees half a message.
	tmp, err := os.CreateTemp(o.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("mail: outbox: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(o.dir, m.ID+".json")); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("mail: outbox: %w", err)
	}
	return nil
}

// Messages returns every stored message, oldest first.
func (o *Outbox) Messages() ([]Message, error) {
	if o.dir == "" {
		o.mu.Lock()
		defer o.mu.Unlock()
		return slices.Clone(o.mem), nil
	}
	files, err := filepath.Glob(filepath.Join(o.dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("mail: outbox: %w", err)
	}
	slices.Sort(files)
	out := make([]Message, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("mail: outbox: %w", err)
		}
		var m Message
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("mail: outbox %s: %w", filepath.Base(f), err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Handler serves the outbox as JSON for GET: {"messages": [...]}, newest first;
// ?to=<address> keeps the messages to one address (case-insensitive). Mount it at /_outbox
// in the local stack only: it shows verification codes.
func (o *Outbox) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			web.WriteError(w, r, web.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "the outbox is read with GET"))
			return
		}
		msgs, err := o.Messages()
		if err != nil {
			web.WriteError(w, r, err)
			return
		}
		to := strings.TrimSpace(r.URL.Query().Get("to"))
		out := make([]Message, 0, len(msgs))
		for i := len(msgs) - 1; i >= 0; i-- {
			if to == "" || strings.EqualFold(msgs[i].To, to) {
				out = append(out, msgs[i])
			}
		}
		web.WriteJSON(w, http.StatusOK, map[string]any{"messages": out})
	})
}

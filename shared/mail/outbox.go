package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

// OutboxRetention is how long a file outbox (the local stack's, under --data-dir) keeps a
// message, since messages hold addresses and verification codes: older ones are deleted
// when the outbox is opened or written and are not listed, as the local stack applies
// the other stores' expiries too.
const OutboxRetention = 7 * 24 * time.Hour

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
	o := &Outbox{dir: dir, now: time.Now}
	if err := o.prune(); err != nil {
		return nil, err
	}
	return o, nil
}

// prune deletes the messages older than OutboxRetention, by the time in their file name
// (the id), and what a crashed write left behind (.tmp-*) by its modification time.
func (o *Outbox) prune() error {
	ents, err := os.ReadDir(o.dir)
	if err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	var errs []error
	for _, e := range ents {
		at, ok := messageTime(e.Name())
		if strings.HasPrefix(e.Name(), ".tmp-") {
			if info, err := e.Info(); err == nil { // else removed meanwhile
				at, ok = info.ModTime(), true
			}
		}
		if !ok || e.IsDir() || o.kept(at) {
			continue
		}
		if err := os.Remove(filepath.Join(o.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mail: outbox: remove old messages: %w", err)
	}
	return nil
}

// messageTime reads when a message was sent from its file name ("<unix nanoseconds>-<random>.json").
func messageTime(name string) (time.Time, bool) {
	ns, _, ok := strings.Cut(strings.TrimSuffix(name, ".json"), "-")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || !strings.HasSuffix(name, ".json") {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
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
	// The message is stored either way; what cannot be removed now is tried again at the
	// next send, and fails the next start.
	_ = o.prune()
	return nil
}

// kept reports whether a message sent at t is within OutboxRetention.
func (o *Outbox) kept(t time.Time) bool { return !t.Before(o.now().Add(-OutboxRetention)) }

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
		if at, ok := messageTime(filepath.Base(f)); ok && !o.kept(at) {
			continue // pruned at the next send
		}
		data, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue // pruned by another process meanwhile
		}
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

package mail_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/mail"
)

// The local stack's outbox keeps addresses and verification codes under --data-dir: a
// message older than mail.OutboxRetention is deleted when the outbox is opened or written,
// and never listed.
func TestFileOutboxForgetsOldMessages(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-mail.OutboxRetention - time.Hour)
	recent := time.Now().Add(-mail.OutboxRetention + time.Hour)
	write := func(at time.Time, to string) string {
		t.Helper()
		id := fmt.Sprintf("%020d-%s", at.UnixNano(), "0123456789ab")
		body := fmt.Sprintf(`{"id":%q,"to":%q,"subject":"code","text":"123456","sent_at":%q}`, id, to, at.UTC().Format(time.RFC3339Nano))
		if err := os.WriteFile(filepath.Join(dir, id+".json"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return id + ".json"
	}
	files := func() []string {
		t.Helper()
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	// A message the stack wrote long ago, and half a message a crash left behind.
	stale := write(old, "old@example.com")
	tmp := filepath.Join(dir, ".tmp-123")
	if err := os.WriteFile(tmp, []byte(`{"to":"crash@example.com"`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, old, old); err != nil {
		t.Fatal(err)
	}
	kept := write(recent, "recent@example.com")

	box, err := mail.NewFileOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := files(); !slices.Equal(got, []string{kept}) {
		t.Fatalf("after opening: files %v, want only %s", got, kept)
	}

	// A message that ages past the retention while the stack runs goes at the next send,
	// and is not listed meanwhile.
	again := write(old, "old-again@example.com")
	if msgs, err := box.Messages(); err != nil || len(msgs) != 1 || msgs[0].To != "recent@example.com" {
		t.Fatalf("listed %+v, %v", msgs, err)
	}
	if err := box.Send(context.Background(), "new@example.com", "code", "654321"); err != nil {
		t.Fatal(err)
	}
	got := files()
	if slices.Contains(got, again) || slices.Contains(got, stale) || !slices.Contains(got, kept) || len(got) != 2 {
		t.Fatalf("after a send: files %v", got)
	}
}

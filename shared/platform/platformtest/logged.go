package platformtest

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/crowdgate/crowdgate/shared/web"
)

// Logged captures what a handler logs through web.Logger(ctx), as JSON lines.
type Logged struct {
	buf bytes.Buffer
}

// Context returns ctx with a logger that writes to l.
func (l *Logged) Context(ctx context.Context) context.Context {
	return web.WithLogger(ctx, slog.New(slog.NewJSONHandler(&l.buf, nil)))
}

// Errors returns the message of every ERROR line logged so far, in order.
func (l *Logged) Errors(t testing.TB) []string {
	t.Helper()
	var out []string
	for line := range bytes.Lines(l.buf.Bytes()) {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Level == slog.LevelError.String() {
			out = append(out, rec.Msg)
		}
	}
	return out
}

package dynamo

import (
	"context"
	"strings"
	"testing"
)

// A panic in one key's work comes back as forEach's error instead of ending the process
// (and with it the consumer's whole batch); the other keys still run.
func TestForEachReturnsAPanicAsAnError(t *testing.T) {
	ran := make(chan string, 3)
	err := forEach(context.Background(), []string{"a", "b", "c"}, 2, func(_ context.Context, k string) error {
		ran <- k
		if k == "b" {
			panic("boom")
		}
		return nil
	})
	close(ran)
	if err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Fatalf("forEach = %v, want the panic as an error", err)
	}
	if len(ran) != 3 {
		t.Errorf("%d of 3 keys ran", len(ran))
	}
}

package main

import (
	"slices"
	"testing"

	"github.com/crowdgate/crowdgate/shared/schema"
)

// The export function runs a batch's exports one after the other, each streaming a whole
// job against one deadline. Sized for one export per invocation (sizes["export"]), it must
// get one message at a time: otherwise a customer's export queued behind a large one starts
// with what the first left of the invocation, fails, and uses up its 3 receives until it is
// marked failed without ever having had the function's timeout.
func TestEveryExportGetsAWholeInvocation(t *testing.T) {
	queue := logicalID(t, pascal(schema.QueueExports)+"Queue")
	found := false
	for _, m := range resources("AWS::Lambda::EventSourceMapping") {
		p := m["Properties"]
		if !slices.Contains(refs(dig(p, "EventSourceArn")), queue) {
			continue
		}
		found = true
		if got := dig(p, "BatchSize"); got != float64(1) {
			t.Errorf("exports queue delivers batches of %v messages to the export function, want 1", got)
		}
	}
	if !found {
		t.Fatal("no event source mapping for the exports queue")
	}
}

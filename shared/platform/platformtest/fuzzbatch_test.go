package platformtest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// fatalTB records a Fatalf and stops the goroutine as testing.T does, so that the helpers'
// failures can be checked without failing this test.
type fatalTB struct {
	testing.TB
	fatal string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatal runs fn as a test would and returns its Fatalf message, "" if there was none.
func fatal(fn func(tb testing.TB)) string {
	tb := &fatalTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(tb)
	}()
	<-done
	return tb.fatal
}

func ids(ev events.SQSEvent) []string {
	var out []string
	for _, r := range ev.Records {
		out = append(out, r.MessageId)
	}
	return out
}

func TestFuzzBatch(t *testing.T) {
	valid := []events.SQSMessage{{MessageId: "a"}, {MessageId: "b"}}
	for _, tc := range []struct {
		first, dup bool
		want       []string
	}{
		{false, false, []string{"a", "b", FuzzedID}},
		{true, false, []string{FuzzedID, "a", "b"}},
		{false, true, []string{"a", "b", "a", FuzzedID}},
		{true, true, []string{FuzzedID, "a", "b", "a"}},
	} {
		ev := FuzzBatch(valid, "body", "7", tc.first, tc.dup)
		if !slices.Equal(ids(ev), tc.want) {
			t.Errorf("first %v dup %v: %v, want %v", tc.first, tc.dup, ids(ev), tc.want)
		}
		fz := ev.Records[slices.IndexFunc(ev.Records, func(r events.SQSMessage) bool { return r.MessageId == FuzzedID })]
		if fz.Body != "body" || fz.Attributes["ApproximateReceiveCount"] != "7" || fz.EventSource != "aws:sqs" {
			t.Errorf("fuzzed message %+v", fz)
		}
	}
	if got := ids(FuzzBatch(nil, "", "1", false, true)); !slices.Equal(got, []string{FuzzedID}) {
		t.Errorf("no valid messages, dup: %v", got)
	}
	if !slices.Equal(ids(events.SQSEvent{Records: valid}), []string{"a", "b"}) {
		t.Error("FuzzBatch modified the valid messages")
	}
}

func TestDeliverBatch(t *testing.T) {
	ev := FuzzBatch([]events.SQSMessage{{MessageId: "a"}, {MessageId: "b"}}, "", "1", true, false)
	answer := func(resp events.SQSEventResponse, err error) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) { return resp, err }
	}
	failures := func(ids ...string) events.SQSEventResponse {
		var resp events.SQSEventResponse
		for _, id := range ids {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		}
		return resp
	}

	var got []string
	if msg := fatal(func(tb testing.TB) { got = DeliverBatch(tb, answer(failures(FuzzedID, "a"), nil), ev) }); msg != "" {
		t.Fatal(msg)
	}
	if !slices.Equal(got, []string{"a", FuzzedID}) {
		t.Errorf("failures %v, want them sorted", got)
	}
	if msg := fatal(func(tb testing.TB) { DeliverBatch(tb, answer(failures("a", "c"), nil), ev) }); !strings.Contains(msg, `"c" is no message of the batch`) {
		t.Errorf("a failure outside the batch: %q", msg)
	}
	if msg := fatal(func(tb testing.TB) { DeliverBatch(tb, answer(failures(), errors.New("boom")), ev) }); !strings.Contains(msg, "failed as a whole: boom") {
		t.Errorf("a batch failed as a whole: %q", msg)
	}
}

func TestRedeliveryChangesNothing(t *testing.T) {
	state := 0
	snap := func() string { return fmt.Sprint(state) }
	same := func() []string { return []string{"x"} }
	if msg := fatal(func(tb testing.TB) { RedeliveryChangesNothing(tb, same, []string{"x"}, snap) }); msg != "" {
		t.Errorf("an idempotent redelivery: %q", msg)
	}
	if msg := fatal(func(tb testing.TB) { RedeliveryChangesNothing(tb, same, nil, snap) }); !strings.Contains(msg, "second delivery failed [x], first []") {
		t.Errorf("other failures: %q", msg)
	}
	changes := func() []string { state++; return []string{"x"} }
	if msg := fatal(func(tb testing.TB) { RedeliveryChangesNothing(tb, changes, []string{"x"}, snap) }); !strings.Contains(msg, "changed the state") {
		t.Errorf("a redelivery that changes the state: %q", msg)
	}
	var again []string
	if msg := fatal(func(tb testing.TB) { again = Redeliver(tb, same, snap) }); msg != "" || !slices.Equal(again, []string{"x"}) {
		t.Errorf("Redeliver: %v, %q", again, msg)
	}
}

func TestSnapshot(t *testing.T) {
	if got := Snapshot(t, map[string]int{"b": 2, "a": 1}, 3); got != `[{"a":1,"b":2},3]` {
		t.Errorf("snapshot %s", got)
	}
	if msg := fatal(func(tb testing.TB) { Snapshot(tb, make(chan int)) }); !strings.Contains(msg, "cannot be encoded") {
		t.Errorf("an unencodable state: %q", msg)
	}
}

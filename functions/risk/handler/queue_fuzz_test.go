package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/functions/risk/handler"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
)

// validRiskRecords are an issue and a pass of the events files.
func validRiskRecords(t testing.TB) []events.SQSMessage {
	var ev events.SQSEvent
	readEvent(t, "risk-events.json", &ev)
	return []events.SQSMessage{ev.Records[0], ev.Records[3]}
}

// FuzzRiskEventsBatch sends a risk-events batch holding one fuzzed message beside two
// valid ones to the risk function as Lambda does (the JSON event through
// platform.MixedHandler), twice. Whatever the fuzzed message: no panic; the event is taken
// for SQS; only batch message ids are reported; a body that is not one JSON value fails;
// the valid events are applied and counted; a failed message applies nothing; the second
// delivery changes neither the risk counters nor the daily aggregates.
func FuzzRiskEventsBatch(f *testing.F) {
	// Every batch logs; thousands of them a second would drown the fuzzer's output.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.DiscardHandler))
	valid := validRiskRecords(f)
	long := strings.Repeat("r", 1<<16)
	refused := `{"v":1,"id":"r_5f0e1d2c3b4a59687766554433221100","kind":"issue","outcome":"refused","sitekey":"6f1c7d4e-2a3b-4c5d-8e9f-0a1b2c3d4e5f","day":"2026-11-30","ip":"d75132462888822ac319ac893e751b10","subnet":"4447c943e60d5d6e4407ad0ce585cc06","score":0.93,"reasons":["ip_failures"],"at":"2026-11-30T19:31:20Z"}`
	seeds := []string{
		valid[0].Body, valid[1].Body, refused,
		// Another event under a valid event's id.
		strings.Replace(refused, "r_5f0e1d2c3b4a59687766554433221100", "c_0000000000000000000000000000aa01:issue", 1),
		`{"v":1,"id":"r_0123456789abcdef0123456789abcdef","kind":"issue","outcome":"refused","sitekey":"6f1c7d4e-2a3b-4c5d-8e9f-0a1b2c3d4e5f","day":"2026-11-30","ip":"203.0.113.77","subnet":"4447c943e60d5d6e4407ad0ce585cc06","score":0.9,"at":"2026-11-30T19:31:05Z"}`,
		strings.Replace(refused, `"score":0.93`, `"score":1e400`, 1), strings.Replace(refused, `"score":0.93`, `"score":-0`, 1),
		strings.Replace(refused, `"score":0.93`, `"score":"0.93"`, 1), strings.Replace(refused, `"day":"2026-11-30"`, `"day":"2026-13-01"`, 1),
		strings.Replace(refused, `"at":"2026-11-30T19:31:20Z"`, `"at":"0001-01-01T00:00:00Z"`, 1),
		strings.Replace(refused, `"at":"2026-11-30T19:31:20Z"`, `"at":"9999-12-31T23:59:59+23:59"`, 1),
		strings.Replace(refused, `"reasons":["ip_failures"]`, `"reasons":`+strings.Repeat(`"x",`, 40)+`"x"]`, 1),
		strings.Replace(refused, `"id":"r_5f0e1d2c3b4a59687766554433221100"`, `"id":"`+long+`"`, 1),
		strings.Replace(refused, `"sitekey":"6f1c7d4e-2a3b-4c5d-8e9f-0a1b2c3d4e5f"`, `"sitekey":"`+long+`"`, 1),
		strings.Replace(refused, `"v":1`, `"v":1,"unknown":{"a":[1,null]}`, 1),
		strings.Replace(refused, `"v":1`, `"v":18446744073709551617`, 1),
		`{"v":1}`, "{not json", "", " ", "null", "[]", "[" + refused + "]", "{}", `"x"`, "0", "true",
		refused + "garbage", refused + valid[0].Body, refused + "}", "\x00\xff",
	}
	for i, body := range seeds {
		f.Add(body, "1", i%2 == 0, i%3 == 0)
	}
	for _, rc := range []string{"", "0", "5", "-1", "99999999999999999999", "x"} {
		f.Add(refused, rc, true, false)
	}

	f.Fuzz(func(t *testing.T, body, receiveCount string, first, dup bool) {
		ev := platformtest.FuzzBatch(validRiskRecords(t), body, receiveCount, first, dup)
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		// What the consumer is given: JSON holds no invalid UTF-8.
		var sent events.SQSEvent
		if err := json.Unmarshal(raw, &sent); err != nil {
			t.Fatal(err)
		}
		delivered := sent.Records[slices.IndexFunc(sent.Records, func(r events.SQSMessage) bool { return r.MessageId == platformtest.FuzzedID })].Body

		store := &memEvents{applied: map[string]challenge.RiskEvent{}}
		days := newMemDays()
		lambda := platform.MixedHandler(newLookup(&lookupFakes{}, days), handler.NewConsumer(handler.ConsumerDeps{Store: store, Analytics: days}))
		// As Lambda delivers it: the event as JSON, which MixedHandler must take for SQS.
		viaLambda := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			raw, err := json.Marshal(ev)
			if err != nil {
				return events.SQSEventResponse{}, err
			}
			out, err := lambda(ctx, raw)
			resp, ok := out.(events.SQSEventResponse)
			if err == nil && !ok {
				err = fmt.Errorf("answer %T, not an SQS batch response", out)
			}
			return resp, err
		}
		deliver := func() []string { return platformtest.DeliverBatch(t, viaLambda, ev) }
		failed := deliver()
		fuzzFailed := slices.Equal(failed, []string{platformtest.FuzzedID})
		if len(failed) > 0 && !fuzzFailed {
			t.Fatalf("failed %v: only the fuzzed message may fail", failed)
		}
		if !json.Valid([]byte(delivered)) && !fuzzFailed {
			t.Fatalf("a body that is not one JSON value was acknowledged: %q", delivered)
		}

		var fe challenge.RiskEvent
		fuzzOK := !fuzzFailed && json.Unmarshal([]byte(delivered), &fe) == nil
		allowed := map[string]bool{}
		for _, r := range validRiskRecords(t) {
			var v challenge.RiskEvent
			if err := json.Unmarshal([]byte(r.Body), &v); err != nil {
				t.Fatal(err)
			}
			allowed[v.ID] = true
			got, ok := store.applied[v.ID]
			if !ok || !days.counted[v.ID] {
				t.Fatalf("valid event %s: applied %v, counted %v", v.ID, ok, days.counted[v.ID])
			}
			if !(fuzzOK && fe.ID == v.ID) && !got.At.Equal(v.At) {
				t.Fatalf("valid event %s stored as %+v", v.ID, got)
			}
		}
		if fuzzOK {
			allowed[fe.ID] = true
		}
		for id := range store.applied {
			if !allowed[id] {
				t.Fatalf("event %q of a failed message was applied", id)
			}
		}
		for id := range days.counted {
			if !allowed[id] {
				t.Fatalf("event %q of a failed message was counted", id)
			}
		}

		state := func() string { return platformtest.Snapshot(t, store.applied, days.counted, days.days) }
		platformtest.RedeliveryChangesNothing(t, deliver, failed, state)
	})
}

// A body holding more than one JSON value is no event the challenge function sends: it
// fails (to the dead-letter queue) and counts nowhere, rather than counting its first
// value and dropping the rest.
func TestConsumerFailsABodyWithTrailingData(t *testing.T) {
	for _, tail := range []string{"garbage", validRiskRecords(t)[1].Body, "}", "]", " null"} {
		store := &memEvents{applied: map[string]challenge.RiskEvent{}}
		days := newMemDays()
		h := handler.NewConsumer(handler.ConsumerDeps{Store: store, Analytics: days})
		rec := validRiskRecords(t)[0]
		rec.Body += tail
		resp, err := h(context.Background(), events.SQSEvent{Records: []events.SQSMessage{rec}})
		if err != nil || !slices.Equal(platformtest.FailedIDs(resp), []string{rec.MessageId}) {
			t.Errorf("tail %q: failures %v, %v; want the message failed", tail, platformtest.FailedIDs(resp), err)
		}
		if len(store.applied) != 0 || len(days.counted) != 0 {
			t.Errorf("tail %q: %d events applied, %d counted", tail, len(store.applied), len(days.counted))
		}
	}
}

package handler_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/functions/privacyworker/handler"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

// reqPlaceholder in a fuzzed body stands for the approved request's id, which is random.
const reqPlaceholder = "$REQ"

// FuzzPrivacyBatch delivers a batch of the privacy queue holding one fuzzed message beside
// an approved erasure of Jane's account and the scheduled sweep, through the real workflow,
// twice. Whatever the fuzzed message: no panic; only batch message ids are reported; a body
// that is not one JSON value fails; the valid messages succeed and the erasure is complete;
// the second delivery changes neither the request, its audit, the world nor the mail sent.
func FuzzPrivacyBatch(f *testing.F) {
	// Every batch logs; thousands of them a second would drown the fuzzer's output.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.DiscardHandler))
	sweep := `{"v":1,"kind":"close_unverified"}`
	expire := `{"v":1,"kind":"expire_jobs"}`
	job := `{"v":1,"request_id":"$REQ","type":"delete","regulation":"gdpr","approved_at":"2026-11-30T19:40:00Z"}`
	long := strings.Repeat("p", 1<<16)
	seeds := []string{
		job, sweep, expire, `{"v":1,"kind":"expire_jobs","type":"delete"}`,
		`{"v":1,"request_id":"$REQ","type":"access","regulation":"gdpr"}`,
		`{"v":1,"request_id":"$REQ","type":"correct"}`,
		`{"v":1,"kind":"run","request_id":"$REQ","type":"delete"}`,
		`{"v":1,"request_id":"pr_0123456789abcdef0123456789abcdef","type":"access","regulation":"gdpr","approved_at":"2026-11-30T19:40:00Z"}`,
		`{"v":1,"request_id":"pr_../../accounts","type":"delete"}`, `{"v":1,"kind":"drop_tables"}`,
		`{"v":1,"request_id":"$REQ","type":"delete","email":"jane@example.com"}`,
		`{"v":1,"kind":"close_unverified","request_id":"$REQ"}`, `{"v":9}`, "not json",
		"", " ", "null", "[]", `[` + job + `]`, "{}", `"x"`, "0", "true",
		`{"v":"1","request_id":"$REQ","type":"delete"}`, `{"v":1e400}`, `{"v":18446744073709551617}`,
		`{"v":1,"request_id":"$REQ","type":"delete","approved_at":"yesterday"}`, `{"v":1,"request_id":1,"type":"delete"}`,
		`{"V":1,"REQUEST_ID":"$REQ","Type":"delete"}`, `{"v":1,"request_id":"$REQ","request_id":"pr_x","type":"delete"}`,
		`{"v":1,"request_id":"` + long + `","type":"delete"}`, `{"v":1,"request_id":"$REQ","type":"` + long + `"}`,
		job + "garbage", job + sweep, sweep + " {", "\x00\xff",
	}
	for i, body := range seeds {
		f.Add(body, "1", i%2 == 0, i%3 == 0)
	}
	for _, rc := range []string{"", "0", "5", "6", "-1", "99999999999999999999", "x"} {
		f.Add(job, rc, true, false)
	}

	f.Fuzz(func(t *testing.T, body, receiveCount string, first, dup bool) {
		w := newWorker(t)
		valid := w.approved(t).Records[0]
		var j privacy.Job
		if err := json.Unmarshal([]byte(valid.Body), &j); err != nil {
			t.Fatal(err)
		}
		valid.MessageId = "valid-delete"
		records := []events.SQSMessage{valid, {MessageId: "valid-sweep", Body: sweep, Attributes: map[string]string{"ApproximateReceiveCount": "1"}}}
		body = strings.ReplaceAll(body, reqPlaceholder, j.RequestID)
		ev := platformtest.FuzzBatch(records, body, receiveCount, first, dup)

		h := handler.New(w.handlerDeps())
		deliver := func() []string { return platformtest.DeliverBatch(t, h, ev) }
		failed := deliver()
		if len(failed) > 0 && !slices.Equal(failed, []string{platformtest.FuzzedID}) {
			t.Fatalf("failed %v: only the fuzzed message may fail", failed)
		}
		if !json.Valid([]byte(body)) && len(failed) == 0 {
			t.Fatalf("a body that is not one JSON value was acknowledged: %q", body)
		}
		r, err := w.store.Get(context.Background(), j.RequestID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != privacy.StatusCompleted || len(w.world.Sites) != 0 || len(w.world.Integrators) != 0 {
			t.Fatalf("after the batch: request %s, %d sites and %d integrators left", r.Status, len(w.world.Sites), len(w.world.Integrators))
		}

		state := func() string {
			r, err := w.store.Get(context.Background(), j.RequestID)
			if err != nil {
				t.Fatal(err)
			}
			audit, err := w.store.Audit(context.Background(), j.RequestID)
			if err != nil {
				t.Fatal(err)
			}
			return platformtest.Snapshot(t, r, audit, w.world.Sites, w.world.Integrators, w.mail.Sent(), len(w.queue.Jobs()))
		}
		platformtest.RedeliveryChangesNothing(t, deliver, failed, state)
	})
}

// A body holding more than one JSON value is no message the service sends: it fails (to
// the dead-letter queue) and nothing of it is carried out, rather than running its first
// value and dropping the rest.
func TestABodyWithTrailingDataIsPoison(t *testing.T) {
	for _, tail := range []string{"garbage", `{"v":1,"kind":"close_unverified"}`, "}", "]", " null"} {
		w := newWorker(t)
		msg := w.approved(t)
		msg.Records[0].Body += tail
		h := handler.New(w.handlerDeps())
		resp, err := h(context.Background(), msg)
		if err != nil || !slices.Equal(platformtest.FailedIDs(resp), []string{"m1"}) {
			t.Errorf("tail %q: failures %v, %v; want the message failed", tail, platformtest.FailedIDs(resp), err)
		}
		if len(w.world.Sites) != 3 || len(w.world.Integrators) != 1 {
			t.Errorf("tail %q: the erasure ran (%d sites, %d integrators left)", tail, len(w.world.Sites), len(w.world.Integrators))
		}
	}
}

package handler_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/functions/export/handler"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
)

// The exports the fuzzed batches name: the two of the events files, one of a deleted job
// and one finished before.
const (
	manifestID = "exp_0123456789abcdef01234567"
	csvID      = "exp_89abcdef0123456789abcdef"
	goneID     = "exp_00000000000000000000dead"
	doneID     = "exp_00000000000000000000d0e0"
)

// startExports is a Start over those exports that counts attempts and refuses an export
// Finish or Fail ended, as the table's condition does.
func startExports(ex *fakeExports) func(context.Context, string, time.Time) (export.Export, error) {
	var mu sync.Mutex
	attempts := map[string]int{}
	defs := map[string]export.Export{
		manifestID: {JobID: "shapes", Format: export.FormatManifest},
		csvID:      {JobID: "shapes", Format: export.FormatCSV},
		goneID:     {JobID: "deleted", Format: export.FormatCSV},
		doneID:     {JobID: "shapes", Format: export.FormatCSV},
	}
	return func(_ context.Context, id string, _ time.Time) (export.Export, error) {
		e, ok := defs[id]
		if !ok {
			return export.Export{}, export.ErrNotFound
		}
		if id == doneID || ended(ex, id) {
			return export.Export{}, export.ErrConflict
		}
		mu.Lock()
		defer mu.Unlock()
		attempts[id]++
		e.ID, e.CustomerID, e.Status, e.MediaBucket, e.Attempt = id, "cust-1", export.StatusRunning, "media", attempts[id]
		e.Key = export.ObjectKey(e.JobID, id, e.Format)
		return e, nil
	}
}

// ended reports whether the export was finished or failed.
func ended(ex *fakeExports, id string) bool {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	has := func(s string) bool { return strings.HasPrefix(s, id+"/") }
	return slices.ContainsFunc(ex.finished, has) || slices.ContainsFunc(ex.fails, has)
}

func validExportRecords(t testing.TB) []events.SQSMessage {
	a := loadEvent(t, "export-manifest.json").Records[0]
	b := loadEvent(t, "export-csv-last-attempt.json").Records[0] // its last receive
	a.MessageId, b.MessageId = "valid-manifest", "valid-csv"
	return []events.SQSMessage{a, b}
}

// FuzzExportBatch delivers a batch of the exports queue holding one fuzzed message (body
// and ApproximateReceiveCount) beside the two valid ones of the events files, with or
// without a failing bucket, twice. Whatever the fuzzed message: no panic; only batch
// message ids are reported; a body that is not JSON fails and starts nothing; an
// acknowledged message leaves its export finished or failed, never running; a message
// failed on its last receive has marked its export failed; with a working bucket the
// valid messages succeed and their objects are written; the second delivery changes no
// object and no export.
func FuzzExportBatch(f *testing.F) {
	valid := validExportRecords(f)
	long := strings.Repeat("x", 1<<16)
	seeds := []string{
		valid[0].Body, valid[1].Body,
		`{"v":1,"export_id":"` + goneID + `"}`, `{"v":1,"export_id":"` + doneID + `"}`, `{"v":1,"export_id":"exp_unknown"}`,
		`{"v":1}`, "not json", `{"v":2,"export_id":"` + manifestID + `"}`, `{"v":1,"export_id":""}`,
		"", " ", "null", "[]", `[{"v":1,"export_id":"` + manifestID + `"}]`, "{}", `"x"`, "0", "true",
		`{"v":"1","export_id":"` + manifestID + `"}`, `{"v":1,"export_id":1}`, `{"v":1e400,"export_id":"x"}`,
		`{"v":18446744073709551617,"export_id":"x"}`, `{"v":1,"export_id":null}`,
		`{"v":1,"export_id":"` + manifestID + `","unknown":[1,{"a":null}]}`, `{"V":1,"EXPORT_ID":"` + csvID + `"}`,
		`{"v":1,"export_id":"` + long + `"}`, `{"v":1,"export_id":"exp_` + strings.Repeat("0", 61) + `"}`,
		valid[0].Body + "garbage", valid[0].Body + valid[1].Body, "\x00\xff",
	}
	for i, body := range seeds {
		f.Add(body, "1", i%2 == 0, i%3 == 0)
	}
	for _, rc := range []string{"", "0", "2", "3", "4", "-1", "99999999999999999999", " 3", "3.0", "x"} {
		f.Add(valid[0].Body, rc, true, false)
		f.Add(valid[1].Body, rc, true, true)
	}

	f.Fuzz(func(t *testing.T, body, receiveCount string, first, bucketFails bool) {
		ev := platformtest.FuzzBatch(validExportRecords(t), body, receiveCount, first, false)
		records := ev.Records

		ex := &fakeExports{}
		ex.StartFn = startExports(ex)
		starts := 0
		start := ex.StartFn
		ex.StartFn = func(ctx context.Context, id string, at time.Time) (export.Export, error) {
			starts++
			return start(ctx, id, at)
		}
		up := &memUploads{}
		if bucketFails {
			up.failAt = 1
		}
		h := handler.New(handler.Deps{Exports: ex, Jobs: fakeJobs{"shapes": shapes}, Rows: labeled, Bucket: up, Now: func() time.Time { return when }})
		deliver := func() []string { return platformtest.DeliverBatch(t, h, ev) }

		if !json.Valid([]byte(body)) {
			// Alone, so that the valid messages' starts do not count.
			resp, _ := h(context.Background(), platformtest.FuzzBatch(nil, body, receiveCount, first, false))
			if len(resp.BatchItemFailures) != 1 || starts != 0 {
				t.Fatalf("a body that is not JSON: failures %v, %d exports started", platformtest.FailedIDs(resp), starts)
			}
		}
		failed := deliver()
		for _, r := range records {
			var m export.Message
			if json.Unmarshal([]byte(r.Body), &m) != nil {
				continue
			}
			known := m.ExportID == manifestID || m.ExportID == csvID || m.ExportID == goneID
			if !known {
				continue
			}
			if !slices.Contains(failed, r.MessageId) && !ended(ex, m.ExportID) {
				t.Fatalf("message %s acknowledged with export %s still running", r.MessageId, m.ExportID)
			}
			n, _ := strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
			if slices.Contains(failed, r.MessageId) && n >= 3 && m.V == export.MessageVersion && !ended(ex, m.ExportID) {
				t.Fatalf("message %s failed on its last receive without marking export %s failed", r.MessageId, m.ExportID)
			}
		}
		if !bucketFails {
			if slices.Contains(failed, "valid-manifest") || slices.Contains(failed, "valid-csv") {
				t.Fatalf("failed %v: a valid message failed", failed)
			}
			for _, id := range []string{manifestID, csvID} {
				if !slices.ContainsFunc(ex.finished, func(s string) bool { return strings.HasPrefix(s, id+"/") && strings.HasSuffix(s, "/2") }) {
					t.Fatalf("export %s not finished with its 2 rows: finished %v fails %v", id, ex.finished, ex.fails)
				}
			}
			if len(up.objects) != 2 {
				t.Fatalf("objects %v, want the two valid exports'", slices.Collect(maps.Keys(up.objects)))
			}
		}

		state := func() string { return platformtest.Snapshot(t, up.objects, ex.finished, ex.fails) }
		if bucketFails {
			// A failing bucket may fail other messages the second time: only the state must hold.
			platformtest.Redeliver(t, deliver, state)
		} else {
			platformtest.RedeliveryChangesNothing(t, deliver, failed, state)
		}
	})
}

package handler_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/functions/export/handler"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
)

var errThrottled = errors.New("ProvisionedThroughputExceededException")

// When the export table fails Start or Finish on the queue's last receive, nothing will run
// the export again: it is still marked failed (best effort), as when writing fails, instead
// of staying queued or running until it expires. Earlier receives just retry.
func TestAStoreFailureOnTheLastReceiveMarksTheExportFailed(t *testing.T) {
	const reason = "the export could not be written; ask for a new one"
	for _, tc := range []struct {
		name, event, id string
		startFails      bool // the first Start fails (the second starts attempt 2)
		finishFails     bool
		wantFails       []string
	}{
		{"start", "export-manifest.json", "exp_0123456789abcdef01234567", true, false, nil},
		{"start, last receive", "export-csv-last-attempt.json", "exp_89abcdef0123456789abcdef", true, false, []string{"exp_89abcdef0123456789abcdef/2/" + reason}},
		{"finish", "export-manifest.json", "exp_0123456789abcdef01234567", false, true, nil},
		{"finish, last receive", "export-csv-last-attempt.json", "exp_89abcdef0123456789abcdef", false, true, []string{"exp_89abcdef0123456789abcdef/1/" + reason}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			starts := 0
			ex := &fakeExports{StartFn: func(ctx context.Context, id string, at time.Time) (export.Export, error) {
				starts++
				if tc.startFails && starts == 1 {
					return export.Export{}, errThrottled
				}
				e, err := running(tc.id, export.FormatCSV)(ctx, id, at)
				e.Attempt = starts
				return e, err
			}}
			if tc.finishFails {
				ex.FinishFn = func(context.Context, string, int) error { return errThrottled }
			}
			h := handler.New(handler.Deps{Exports: ex, Jobs: fakeJobs{"shapes": shapes}, Rows: labeled, Bucket: &memUploads{}})
			ev := loadEvent(t, tc.event)
			resp, _ := h(context.Background(), ev)
			if !slices.Equal(platformtest.FailedIDs(resp), []string{ev.Records[0].MessageId}) {
				t.Errorf("failures %v, want the message retried (or sent to the dead-letter queue)", platformtest.FailedIDs(resp))
			}
			if !slices.Equal(ex.fails, tc.wantFails) || len(ex.finished) != 0 {
				t.Errorf("fails %v finished %v, want fails %v", ex.fails, ex.finished, tc.wantFails)
			}
		})
	}
}

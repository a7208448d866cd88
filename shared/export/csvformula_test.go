package export_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"testing"

	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
)

// A customer opens the CSV in a spreadsheet: an item id, text or class name that starts
// like a formula must show as text, not run.
func TestCSVCellsThatLookLikeFormulasAreWrittenAsText(t *testing.T) {
	j := job.Job{ID: "job-f", Kind: job.KindMultipleChoice, Classes: []string{"=HYPERLINK(\"http://x\")", "@SUM(A1)"}}
	src := rows{
		{ItemID: "-2+3", Text: "=1+1", Label: "=HYPERLINK(\"http://x\")", Confidence: 0.9, Answers: 3, CompletedAt: done},
		{ItemID: "item-1", Text: "+cmd|' /C calc'!A0", Label: "@SUM(A1)", Confidence: 0.9, Answers: 3, CompletedAt: done},
		{ItemID: "item-2", Text: "\tx", Label: "@SUM(A1)", Confidence: 0.9, Answers: 3, CompletedAt: done},
		{ItemID: "item-3", Text: "\rx", Label: "@SUM(A1)", Confidence: 0.9, Answers: 3, CompletedAt: done},
		{ItemID: "item-4", Text: "fine = ok", Label: "@SUM(A1)", Confidence: 0.9, Answers: 3, CompletedAt: done},
	}
	var buf bytes.Buffer
	if _, err := export.Write(context.Background(), export.FormatCSV, &buf, j, "media", src); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][3]string{ // item_id, source, class_name
		{"'-2+3", "'=1+1", "'=HYPERLINK(\"http://x\")"},
		{"item-1", "'+cmd|' /C calc'!A0", "'@SUM(A1)"},
		{"item-2", "'\tx", "'@SUM(A1)"},
		{"item-3", "'\rx", "'@SUM(A1)"},
		{"item-4", "fine = ok", "'@SUM(A1)"},
	}
	for i, w := range want {
		r := recs[i+1]
		if got := [3]string{r[0], r[2], r[4]}; got != w {
			t.Errorf("record %d: %q, want %q", i+1, got, w)
		}
		if r[3] != "0" && r[3] != "1" {
			t.Errorf("record %d: label %q", i+1, r[3])
		}
	}
}

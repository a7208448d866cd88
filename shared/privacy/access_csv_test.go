package privacy_test

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

// The subject opens package.csv in a spreadsheet, and some of its values were typed by
// someone else (a job's name and question, an item's id and text): one that starts like a
// formula must show as text, not run. The JSON file keeps the values as they are.
func TestAccessPackageCSVWritesFormulaLookingValuesAsText(t *testing.T) {
	w := newWorld(t, 2)
	jobID := w.janeJobs[0]
	j := w.h.Jobs[jobID]
	j.Name = `=HYPERLINK("http://evil.example","open")`
	j.Question = map[string]string{"en": "@SUM(A1:A9)"}
	w.h.Jobs[jobID] = j
	w.h.AddItems(jobID, job.Entry{Item: job.Item{ID: "-2+3", Text: "+cmd|' /C calc'!A0", Status: job.ItemOpen}, CreatedAt: t0})

	r, _ := w.verified(t, janeMail, privacy.TypeAccess)
	w.approveAndRun(t, r.ID)
	raw, ok := w.files.Object(privacy.PackageKey(r.ID, privacy.PackageCSV))
	if !ok {
		t.Fatal("no CSV package")
	}
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatalf("CSV package: %v", err)
	}
	got := map[[3]string]string{} // kind, id, field → value
	for _, row := range rows[1:] {
		got[[3]string{row[1], row[2], row[3]}] = row[4]
		for _, cell := range row {
			if cell != "" && bytes.IndexByte([]byte("=+-@\t\r"), cell[0]) >= 0 {
				t.Errorf("row %q: cell %q would run as a formula", row, cell)
			}
		}
	}
	for k, want := range map[[3]string]string{
		{privacy.KindJob, jobID, "name"}:        `'=HYPERLINK("http://evil.example","open")`,
		{privacy.KindJob, jobID, "question_en"}: "'@SUM(A1:A9)",
		{privacy.KindItem, "'-2+3", "text"}:     "'+cmd|' /C calc'!A0",
		{privacy.KindItem, "'-2+3", "job_id"}:   jobID,
	} {
		if got[k] != want {
			t.Errorf("%v = %q, want %q", k, got[k], want)
		}
	}

	// The JSON file is not for spreadsheets: it keeps the values as typed.
	rawJSON, _ := w.files.Object(privacy.PackageKey(r.ID, privacy.PackageJSON))
	if !bytes.Contains(rawJSON, []byte(`"name":"=HYPERLINK(\"http://evil.example\",\"open\")"`)) {
		t.Errorf("package.json does not keep the job name as typed")
	}
}

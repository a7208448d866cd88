package export_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
)

var (
	shapes = job.Job{ID: "job-shapes", Kind: job.KindImageGrid, Classes: []string{"circle", "square", "triangle"}}
	done   = time.Date(2026, 11, 30, 19, 30, 5, 250_000_000, time.UTC)
)

// rows is an in-memory export.Source.
type rows []export.Row

func (r rows) EachRow(_ context.Context, _ string, fn func(export.Row) error) error {
	for _, x := range r {
		if err := fn(x); err != nil {
			return err
		}
	}
	return nil
}

func TestManifestLinesHaveGroundTruthsShape(t *testing.T) {
	src := rows{
		{ItemID: "img-1", MediaKey: "jobs/job-shapes/img-1.png", Label: "square", Confidence: 0.98765, Answers: 4, CompletedAt: done},
		{ItemID: "txt-1", Text: "a \"quoted\" <b>text</b>", Label: "circle", Confidence: 0, Answers: 1, CompletedAt: done},
	}
	var buf bytes.Buffer
	n, err := export.Write(context.Background(), export.FormatManifest, &buf, shapes, "media-bucket", src)
	if err != nil || n != 2 {
		t.Fatalf("write: %d rows, %v", n, err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	type meta struct {
		ClassName      string  `json:"class-name"`
		Confidence     float64 `json:"confidence"`
		Type           string  `json:"type"`
		JobName        string  `json:"job-name"`
		HumanAnnotated string  `json:"human-annotated"`
		CreationDate   string  `json:"creation-date"`
	}
	var img map[string]json.RawMessage
	if err := json.Unmarshal([]byte(lines[0]), &img); err != nil {
		t.Fatal(err)
	}
	var ref string
	var label int
	var m meta
	_ = json.Unmarshal(img["source-ref"], &ref)
	_ = json.Unmarshal(img["label"], &label)
	if err := json.Unmarshal(img["label-metadata"], &m); err != nil {
		t.Fatal(err)
	}
	if ref != "s3://media-bucket/jobs/job-shapes/img-1.png" || label != 1 {
		t.Errorf("source-ref %q label %d", ref, label)
	}
	want := meta{ClassName: "square", Confidence: 0.9876, Type: "groundtruth/image-classification", JobName: "labeling-job/job-shapes",
		HumanAnnotated: "yes", CreationDate: "2026-11-30T19:30:05.250000"}
	if m != want {
		t.Errorf("metadata %+v\nwant     %+v", m, want)
	}
	if _, ok := img["source"]; ok {
		t.Error("an image line also has source")
	}

	var txt struct {
		Source  string `json:"source"`
		ItemID  string `json:"item-id"`
		Answers int    `json:"answer-count"`
		Label   int    `json:"label"`
		Meta    meta   `json:"label-metadata"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &txt); err != nil {
		t.Fatal(err)
	}
	if txt.Source != src[1].Text || txt.ItemID != "txt-1" || txt.Answers != 1 || txt.Label != 0 ||
		txt.Meta.Type != "groundtruth/text-classification" || txt.Meta.Confidence != 0 {
		t.Errorf("text line %+v", txt)
	}
	if strings.Contains(lines[1], `\u003c`) {
		t.Error("text is HTML-escaped; manifests carry it as is")
	}
}

func TestConfidenceIsNeverRoundedUpToCertainty(t *testing.T) {
	var buf bytes.Buffer
	src := rows{{ItemID: "a", MediaKey: "a.png", Label: "circle", Confidence: 0.99999, Answers: 9, CompletedAt: done}}
	if _, err := export.Write(context.Background(), export.FormatCSV, &buf, shapes, "b", src); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[1][5]; got != "0.9999" {
		t.Errorf("confidence %s, want 0.9999", got)
	}
}

func TestCSVHasAHeaderAndOneRecordPerItem(t *testing.T) {
	src := rows{
		{ItemID: "img-1", MediaKey: "k/img-1.png", Label: "triangle", Confidence: 0.95, Answers: 3, CompletedAt: done},
		{ItemID: "txt-1", Text: "comma, \"quote\"\nnewline", Label: "circle", Confidence: 0.5, Answers: 10, CompletedAt: done},
	}
	var buf bytes.Buffer
	n, err := export.Write(context.Background(), export.FormatCSV, &buf, shapes, "media", src)
	if err != nil || n != 2 {
		t.Fatalf("write: %d rows, %v", n, err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"item_id", "source_ref", "source", "label", "class_name", "confidence", "answer_count", "completed_at"},
		{"img-1", "s3://media/k/img-1.png", "", "2", "triangle", "0.95", "3", "2026-11-30T19:30:05Z"},
		{"txt-1", "", "comma, \"quote\"\nnewline", "0", "circle", "0.5", "10", "2026-11-30T19:30:05Z"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i := range want {
		if strings.Join(recs[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("record %d = %q\nwant %q", i, recs[i], want[i])
		}
	}
}

func TestEmptyJobGivesEmptyManifestAndHeaderOnlyCSV(t *testing.T) {
	var m, c bytes.Buffer
	if n, err := export.Write(context.Background(), export.FormatManifest, &m, shapes, "b", rows{}); err != nil || n != 0 || m.Len() != 0 {
		t.Errorf("manifest: %d rows, %d bytes, %v", n, m.Len(), err)
	}
	if _, err := export.Write(context.Background(), export.FormatCSV, &c, shapes, "b", rows{}); err != nil {
		t.Fatal(err)
	}
	if lines := bufio.NewScanner(&c); !lines.Scan() || lines.Scan() {
		t.Error("csv of an empty job is not exactly a header line")
	}
}

func TestALabelOutsideTheJobsClassesFailsTheExport(t *testing.T) {
	src := rows{{ItemID: "a", MediaKey: "a.png", Label: "hexagon", CompletedAt: done}}
	for _, f := range []export.Format{export.FormatManifest, export.FormatCSV} {
		_, err := export.Write(context.Background(), f, &bytes.Buffer{}, shapes, "b", src)
		if !errors.Is(err, export.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", f, err)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, ok := range []string{"manifest", "csv"} {
		if _, err := export.ParseFormat(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "CSV", "coco", "json"} {
		if _, err := export.ParseFormat(bad); !errors.Is(err, export.ErrInvalid) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNewExportIsQueuedWithAKeyUnderItsJobAndExpiresWithTheObject(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	e, err := export.New("cust", "job-1", export.FormatCSV, "media", now)
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != export.StatusQueued || !strings.HasPrefix(e.ID, "exp_") ||
		e.Key != "jobs/job-1/"+e.ID+".csv" || !e.ExpiresAt.Equal(now.Add(7*24*time.Hour)) {
		t.Errorf("export %+v", e)
	}
	other, _ := export.New("cust", "job-1", export.FormatCSV, "media", now)
	if other.ID == e.ID {
		t.Error("two exports got the same id")
	}
}

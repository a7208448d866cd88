package export

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/shared/job"
)

// Row is one labeled item as an export writes it.
type Row struct {
	ItemID string
	// MediaKey is the item's image in the media bucket; Text is its text instead.
	MediaKey string
	Text     string
	// Label is the class consensus chose (one of the job's classes).
	Label      string
	Confidence float64
	Answers    int
	// CompletedAt is when consensus completed the item.
	CompletedAt time.Time
}

// Source streams a job's labeled items. Implementations page through storage and call fn
// once per row; they stop at the first error fn returns.
type Source interface {
	EachRow(ctx context.Context, jobID string, fn func(Row) error) error
}

// LabelAttribute is the manifest's label attribute name: each line has "label" (the class
// index) and "label-metadata".
const LabelAttribute = "label"

// Encoder writes rows in one format. Close flushes; the underlying writer is not closed.
type Encoder interface {
	Write(r Row) error
	Close() error
}

// NewEncoder returns an encoder of format f for the rows of job j. Image items are
// referred to as s3://<mediaBucket>/<media key>.
func NewEncoder(f Format, w io.Writer, j job.Job, mediaBucket string) (Encoder, error) {
	classes := make(map[string]int, len(j.Classes))
	for i, c := range j.Classes {
		classes[c] = i
	}
	base := encoderBase{job: j, bucket: mediaBucket, classes: classes}
	switch f {
	case FormatManifest:
		bw := bufio.NewWriterSize(w, 64<<10)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		return &manifestEncoder{encoderBase: base, bw: bw, enc: enc}, nil
	case FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(csvHeader); err != nil {
			return nil, fmt.Errorf("write csv header: %w", err)
		}
		return &csvEncoder{encoderBase: base, cw: cw, rec: make([]string, len(csvHeader))}, nil
	}
	return nil, fmt.Errorf("%w: format %q", ErrInvalid, f)
}

// Write streams every row of src for job j into w in format f and returns the number of
// rows written.
func Write(ctx context.Context, f Format, w io.Writer, j job.Job, mediaBucket string, src Source) (int64, error) {
	enc, err := NewEncoder(f, w, j, mediaBucket)
	if err != nil {
		return 0, err
	}
	var n int64
	err = src.EachRow(ctx, j.ID, func(r Row) error {
		if err := enc.Write(r); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("export rows: %w", err)
	}
	if err := enc.Close(); err != nil {
		return n, err
	}
	return n, nil
}

type encoderBase struct {
	job     job.Job
	bucket  string
	classes map[string]int
}

// index returns the class index of a row's label.
func (e *encoderBase) index(r Row) (int, error) {
	i, ok := e.classes[r.Label]
	if !ok {
		return 0, fmt.Errorf("%w: item %q has label %q, not a class of job %q", ErrInvalid, r.ItemID, r.Label, e.job.ID)
	}
	return i, nil
}

func (e *encoderBase) sourceRef(r Row) string {
	if r.MediaKey == "" {
		return ""
	}
	return "s3://" + e.bucket + "/" + r.MediaKey
}

// creationDate is Ground Truth's timestamp format (UTC, microseconds, no zone).
const creationDate = "2006-01-02T15:04:05.000000"

// manifestLine is one augmented-manifest line. Field order is the JSON order: the input
// attributes (source-ref or source, and the item id), the label, its metadata.
type manifestLine struct {
	SourceRef string           `json:"source-ref,omitempty"`
	Source    *string          `json:"source,omitempty"`
	ItemID    string           `json:"item-id"`
	Answers   int              `json:"answer-count"`
	Label     int              `json:"label"`
	Metadata  manifestMetadata `json:"label-metadata"`
}

type manifestMetadata struct {
	ClassName      string  `json:"class-name"`
	Confidence     float64 `json:"confidence"`
	Type           string  `json:"type"`
	JobName        string  `json:"job-name"`
	HumanAnnotated string  `json:"human-annotated"`
	CreationDate   string  `json:"creation-date"`
}

type manifestEncoder struct {
	encoderBase
	bw   *bufio.Writer
	enc  *json.Encoder
	line manifestLine
}

func (e *manifestEncoder) Write(r Row) error {
	idx, err := e.index(r)
	if err != nil {
		return err
	}
	l := &e.line
	*l = manifestLine{ItemID: r.ItemID, Answers: r.Answers, Label: idx}
	typ := "groundtruth/image-classification"
	if r.MediaKey != "" {
		l.SourceRef = e.sourceRef(r)
	} else {
		text := r.Text
		l.Source = &text
		typ = "groundtruth/text-classification"
	}
	l.Metadata = manifestMetadata{
		ClassName: r.Label, Confidence: roundConfidence(r.Confidence), Type: typ,
		JobName: "labeling-job/" + e.job.ID, HumanAnnotated: "yes",
		CreationDate: r.CompletedAt.UTC().Format(creationDate),
	}
	if err := e.enc.Encode(l); err != nil {
		return fmt.Errorf("write manifest line: %w", err)
	}
	return nil
}

func (e *manifestEncoder) Close() error {
	if err := e.bw.Flush(); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// roundConfidence keeps four decimals, rounding down so that a confidence short of
// certainty is never shown as 1 (the epsilon absorbs binary representation error).
func roundConfidence(c float64) float64 {
	return math.Floor(c*1e4+1e-9) / 1e4
}

// csvHeader names the CSV columns. source_ref is the s3:// URI of an image item, source
// the text of a text item (one of them is empty). Customer strings that a spreadsheet
// would run as formulas are written as text (AsText).
var csvHeader = []string{"item_id", "source_ref", "source", "label", "class_name", "confidence", "answer_count", "completed_at"}

type csvEncoder struct {
	encoderBase
	cw  *csv.Writer
	rec []string
}

func (e *csvEncoder) Write(r Row) error {
	idx, err := e.index(r)
	if err != nil {
		return err
	}
	e.rec[0] = AsText(r.ItemID)
	e.rec[1] = e.sourceRef(r)
	e.rec[2] = AsText(r.Text)
	e.rec[3] = strconv.Itoa(idx)
	e.rec[4] = AsText(r.Label)
	e.rec[5] = strconv.FormatFloat(roundConfidence(r.Confidence), 'f', -1, 64)
	e.rec[6] = strconv.Itoa(r.Answers)
	e.rec[7] = r.CompletedAt.UTC().Format(time.RFC3339)
	if err := e.cw.Write(e.rec); err != nil {
		return fmt.Errorf("write csv row: %w", err)
	}
	return nil
}

// AsText keeps a spreadsheet from running someone else's string as a formula (CSV
// injection): one that starts with = + - @, a tab or a carriage return gets a leading ',
// which spreadsheets read as "this cell is text" (OWASP's advice). The privacy access
// package's CSV uses it too.
func AsText(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

func (e *csvEncoder) Close() error {
	e.cw.Flush()
	if err := e.cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

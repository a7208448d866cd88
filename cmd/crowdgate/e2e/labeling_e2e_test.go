package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Labeled data for customers, end to end through the public HTTP API: a customer creates
// a job with gold and open items, visitors pass challenges drawn from it, consensus
// completes the open items, and the customer's manifest and CSV exports hold one right
// label per item and nothing about the visitors.

// labWait bounds every wait of the labeling test.
const labWait = 90 * time.Second

// labDemo is the part of demo.json the labeling test needs beyond demoInfo.
type labDemo struct {
	CustomerID     string `json:"customer_id"`
	CustomerAPIKey string `json:"customer_api_key"`
	JobID          string `json:"job_id"`
}

func readLabDemo(t *testing.T) labDemo {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(serve.dir, "data", "demo.json"))
	if err != nil {
		t.Fatalf("read demo.json: %v", err)
	}
	var d labDemo
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("demo.json: %v", err)
	}
	if d.CustomerAPIKey == "" {
		t.Fatalf("demo.json has no customer_api_key: %s", raw)
	}
	return d
}

// labWaitFor polls ok until it holds or labWait passes.
func labWaitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(labWait)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, labWait)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// uaTransport plays one visitor's browser: its own loopback source address and user agent.
type uaTransport struct {
	ua   string
	base http.RoundTripper
}

func (u uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return u.base.RoundTrip(r)
}

func visitorClient(source, ua string) *http.Client {
	c := loopbackClient(source)
	c.Transport = uaTransport{ua: ua, base: c.Transport}
	return c
}

// The customer's job is a binary image job: red squares (yes) and blue squares (no), as
// PNG uploads through presigned links, then a commit that checks them.
func TestLabelingJobToExportEndToEnd(t *testing.T) {
	d := startStack(t)
	demo := readLabDemo(t)
	key := demo.CustomerAPIKey
	classes := []string{"yes", "no"}

	// Challenges draw their yes/no task from binary jobs and their grids from image_grid
	// jobs, so the demo (image_grid) job keeps supplying the grids and this job, with the
	// highest priority, the yes/no questions once the pool has refreshed.
	status, j := call(t, http.MethodPost, d.URL+"/v1/jobs", key, map[string]any{
		"name": "E2E red squares", "type": "binary",
		"question":    map[string]string{"en": "Is this square red?"},
		"min_answers": 2, "max_answers": 2, "priority": 1000,
	})
	jobID := labStr(must(t, http.StatusCreated, status, j, "create job"), "id")
	if !strings.HasPrefix(jobID, "job_") || j["status"] != "active" {
		t.Fatalf("created job %v", j)
	}
	t.Cleanup(func() {
		// Out of the pool again, so later tests draw only what they expect.
		if status, j := call(t, http.MethodPost, d.URL+"/v1/jobs/"+jobID+"/pause", key, nil); status != http.StatusOK {
			t.Errorf("pause the test job: %d %v", status, j)
		}
	})

	// Gold items grade visitors; open items are what the customer wants labeled. One more
	// upload is announced as a PNG but is not an image: the commit must reject it.
	truth := map[string]string{} // item id -> yes/no, as a person looking at it would answer
	pngs := map[string][]byte{}
	var items []map[string]any
	var openIDs []string
	for i := range 8 {
		answer, fill := "yes", color.RGBA{R: 200 + uint8(i*5), G: 20, B: 30, A: 255}
		if i >= 4 {
			answer, fill = "no", color.RGBA{R: 20, G: 40, B: 180 + uint8(i*5), A: 255}
		}
		id := fmt.Sprintf("gold-%02d", i)
		if i%4 == 0 { // the first of each kind is open
			id = fmt.Sprintf("open-%02d", i)
			openIDs = append(openIDs, id)
		}
		pngs[id] = labSquare(t, fill)
		it := map[string]any{"id": id, "image": map[string]any{"content_type": "image/png", "size": len(pngs[id])}}
		if strings.HasPrefix(id, "gold-") {
			it["gold"] = answer
		}
		truth[id] = answer
		items = append(items, it)
	}
	notImage := bytes.Repeat([]byte("not an image "), 20)
	items = append(items, map[string]any{"id": "bogus", "image": map[string]any{"content_type": "image/png", "size": len(notImage)}})
	pngs["bogus"] = notImage
	slices.Sort(openIDs)
	status, added := call(t, http.MethodPost, d.URL+"/v1/jobs/"+jobID+"/items", key, map[string]any{"items": items})
	must(t, http.StatusCreated, status, added, "add items")
	var ids []string
	for _, raw := range added["items"].([]any) {
		it := raw.(map[string]any)
		id := labStr(it, "id")
		up, _ := it["upload"].(map[string]any)
		if labStr(it, "status") != "pending" || up == nil {
			t.Fatalf("added image item %v, want pending with an upload link", it)
		}
		req, err := http.NewRequest(http.MethodPut, labStr(up, "url"), bytes.NewReader(pngs[id]))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range up["headers"].(map[string]any) {
			req.Header.Set(k, v.(string))
		}
		req.ContentLength = int64(len(pngs[id]))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("upload %s: %v", id, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("upload %s through its presigned link: status %d", id, resp.StatusCode)
		}
		ids = append(ids, id)
	}
	status, committed := call(t, http.MethodPost, d.URL+"/v1/jobs/"+jobID+"/items/commit", key, map[string]any{"items": ids})
	must(t, http.StatusOK, status, committed, "commit uploads")
	for _, raw := range committed["items"].([]any) {
		it := raw.(map[string]any)
		switch id, st := labStr(it, "id"), labStr(it, "status"); {
		case id == "bogus":
			if st != "rejected" || labStr(it["error"].(map[string]any), "code") != "not_an_image" {
				t.Errorf("a non-image upload committed as %v, want rejected not_an_image", it)
			}
		case st != "open":
			t.Fatalf("committed image %v, want open", it)
		}
	}

	store := labChallengeStore(t, d)
	issue := func(c *http.Client) (int, apiResult) {
		return postJSON(t, c, d.URL+"/1/challenges", map[string]any{"sitekey": d.Sitekey, "host": "localhost", "hl": "en", "telemetry": map[string]any{}})
	}
	asksUs := func(rec challenge.Record) bool {
		for _, task := range rec.Tasks {
			if task.Kind == challenge.TaskYesNo && task.JobID == jobID {
				return true
			}
		}
		return false
	}

	// The pool refreshes every 30 s: wait until the yes/no question comes from this job.
	// Each probe uses its own address so no rate window fills up.
	probe := 0
	labWaitFor(t, "yes/no questions drawn from the new job (pool refresh)", func() bool {
		probe++
		status, res := issue(visitorClient(fmt.Sprintf("127.79.%d.1", probe%250+1), "e2e-probe"))
		if status != http.StatusOK || res.Challenge == nil {
			t.Fatalf("probe %d: status %d %+v", probe, status, res.Error)
		}
		rec, err := store.Get(context.Background(), res.Challenge.ID)
		if err != nil {
			t.Fatalf("read challenge %s: %v", res.Challenge.ID, err)
		}
		if !asksUs(rec) {
			time.Sleep(2 * time.Second)
			return false
		}
		return true
	})

	// Visitors, each from its own address and browser, pass challenges and answer this
	// job's open items as a reader would. An open item is asked 1 time in 3.
	openLeft := func() []string {
		status, page := call(t, http.MethodGet, d.URL+"/v1/jobs/"+jobID+"/items?limit=1000", key, nil)
		must(t, http.StatusOK, status, page, "list items")
		var left []string
		for _, raw := range page["items"].([]any) {
			it := raw.(map[string]any)
			if strings.HasPrefix(labStr(it, "id"), "open-") && labStr(it, "status") != "done" {
				left = append(left, labStr(it, "id"))
			}
		}
		return left
	}
	// Visitors come in batches that take a person's time over their challenges together
	// (only a pass scored as a person's publishes answers), each batch then answered.
	const batch = 6
	visitors, answered := 0, 0
	labWaitFor(t, "consensus completes every open item", func() bool {
		if len(openLeft()) == 0 {
			return true
		}
		if visitors >= 120 {
			t.Fatalf("%d visitors passed (%d open answers) and open items %v are still not done", visitors, answered, openLeft())
		}
		type visit struct {
			c      *http.Client
			rec    challenge.Record
			issued time.Time
		}
		var visits []visit
		for range batch {
			visitors++
			// Each on its own address and /24, so no address or subnet window fills up.
			c := personClient(fmt.Sprintf("127.78.%d.1", visitors))
			issued := time.Now()
			status, res := issue(c)
			if status != http.StatusOK || res.Challenge == nil {
				t.Fatalf("visitor %d: issue: status %d %+v", visitors, status, res.Error)
			}
			rec, err := store.Get(context.Background(), res.Challenge.ID)
			if err != nil {
				t.Fatalf("read challenge %s: %v", res.Challenge.ID, err)
			}
			visits = append(visits, visit{c, rec, issued})
		}
		opened := 0
		for _, v := range visits {
			answers, open := labAnswers(t, v.rec, jobID, truth)
			opened += open
			personSolve(v.issued, len(v.rec.Tasks))
			status, res := postJSON(t, v.c, d.URL+"/1/challenges/"+url.PathEscape(v.rec.ID)+"/answers",
				map[string]any{"sitekey": d.Sitekey, "answers": answers, "telemetry": personTelemetry})
			if status != http.StatusOK || !res.Pass || res.Token == "" {
				t.Fatalf("a visitor answered every gold item right: status %d %+v, want a pass", status, res)
			}
		}
		answered += opened
		if opened > 0 {
			time.Sleep(300 * time.Millisecond) // consensus runs from the queue
		}
		return false
	})
	t.Logf("%d visitors passed, %d of them answered an open item of the job", visitors, answered)

	// The items: every open item done with the answer its text deserves.
	status, page := call(t, http.MethodGet, d.URL+"/v1/jobs/"+jobID+"/items?limit=1000", key, nil)
	must(t, http.StatusOK, status, page, "list items")
	done := 0
	for _, raw := range page["items"].([]any) {
		it := raw.(map[string]any)
		id := labStr(it, "id")
		if strings.HasPrefix(id, "gold-") {
			if labStr(it, "gold") != truth[id] {
				t.Errorf("gold item %s shows gold %q, want %q", id, labStr(it, "gold"), truth[id])
			}
			continue
		}
		if labStr(it, "status") != "done" {
			t.Errorf("open item %s: status %q", id, labStr(it, "status"))
			continue
		}
		done++
		if labStr(it, "label") != truth[id] {
			t.Errorf("item %s labeled %q, want %q", id, labStr(it, "label"), truth[id])
		}
		if n, _ := it["answers"].(float64); n < 2 {
			t.Errorf("item %s done with %v answers, want at least min_answers 2", id, it["answers"])
		}
		if c, ok := it["confidence"].(float64); !ok || c < 0 || c > 1 {
			t.Errorf("item %s confidence %v, want a number in [0,1]", id, it["confidence"])
		}
	}
	if done != len(openIDs) {
		t.Fatalf("%d open items done, want %d", done, len(openIDs))
	}

	// Both export formats, downloaded through their presigned links.
	manifest := labExport(t, d, key, jobID, "manifest", len(openIDs))
	csvData := labExport(t, d, key, jobID, "csv", len(openIDs))
	for _, raw := range [][]byte{manifest, csvData} {
		for _, leak := range []string{"127.78.", "127.79.", "127.0.0.1", "Firefox", "Mozilla", "e2e-probe", "answerer", "gold-"} {
			if bytes.Contains(raw, []byte(leak)) {
				t.Errorf("export contains %q:\n%s", leak, raw)
			}
		}
	}

	var gotManifest []string
	for i, line := range strings.Split(strings.TrimSpace(string(manifest)), "\n") {
		var row struct {
			SourceRef   string `json:"source-ref"`
			ItemID      string `json:"item-id"`
			AnswerCount int    `json:"answer-count"`
			Label       *int   `json:"label"`
			Meta        struct {
				ClassName      string   `json:"class-name"`
				Confidence     *float64 `json:"confidence"`
				Type           string   `json:"type"`
				JobName        string   `json:"job-name"`
				HumanAnnotated string   `json:"human-annotated"`
				CreationDate   string   `json:"creation-date"`
			} `json:"label-metadata"`
		}
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("manifest line %d is not JSON: %v: %s", i+1, err, line)
		}
		var keys map[string]json.RawMessage
		_ = json.Unmarshal([]byte(line), &keys)
		for k := range keys {
			if !slices.Contains([]string{"source-ref", "item-id", "answer-count", "label", "label-metadata"}, k) {
				t.Errorf("manifest line %d has an unexpected field %q: %s", i+1, k, line)
			}
		}
		id := row.ItemID
		gotManifest = append(gotManifest, id)
		want := truth[id]
		if row.Label == nil || *row.Label < 0 || *row.Label >= len(classes) || classes[*row.Label] != want || row.Meta.ClassName != want {
			t.Errorf("manifest %s: label %v class-name %q, want %q", id, row.Label, row.Meta.ClassName, want)
		}
		if c := row.Meta.Confidence; c == nil || *c < 0 || *c > 1 {
			t.Errorf("manifest %s: confidence %v, want [0,1]", id, row.Meta.Confidence)
		}
		if !strings.HasPrefix(row.SourceRef, "s3://") || !strings.Contains(row.SourceRef, jobID) {
			t.Errorf("manifest %s: source-ref %q, want the media object's s3:// URI", id, row.SourceRef)
		}
		if row.Meta.Type != "groundtruth/image-classification" || row.Meta.JobName != "labeling-job/"+jobID ||
			row.Meta.HumanAnnotated != "yes" || row.Meta.CreationDate == "" {
			t.Errorf("manifest %s metadata %+v", id, row.Meta)
		}
		if row.AnswerCount < 2 {
			t.Errorf("manifest %s: answer-count %d", id, row.AnswerCount)
		}
	}
	if !slices.Equal(gotManifest, openIDs) {
		t.Errorf("manifest items %v, want one line per done item in id order %v", gotManifest, openIDs)
	}

	records, err := csv.NewReader(bytes.NewReader(csvData)).ReadAll()
	if err != nil {
		t.Fatalf("csv export: %v\n%s", err, csvData)
	}
	header := []string{"item_id", "source_ref", "source", "label", "class_name", "confidence", "answer_count", "completed_at"}
	if len(records) == 0 || !slices.Equal(records[0], header) {
		t.Fatalf("csv header %v, want %v", records[:min(1, len(records))], header)
	}
	var gotCSV []string
	for _, r := range records[1:] {
		id := r[0]
		gotCSV = append(gotCSV, id)
		want := truth[id]
		idx, err := strconv.Atoi(r[3])
		if err != nil || idx < 0 || idx >= len(classes) || classes[idx] != want || r[4] != want {
			t.Errorf("csv %s: label %q class_name %q, want %q", id, r[3], r[4], want)
		}
		if c, err := strconv.ParseFloat(r[5], 64); err != nil || c < 0 || c > 1 {
			t.Errorf("csv %s: confidence %q, want [0,1]", id, r[5])
		}
		if !strings.HasPrefix(r[1], "s3://") || r[2] != "" {
			t.Errorf("csv %s: source_ref %q source %q, want the media object's s3:// URI", id, r[1], r[2])
		}
		if _, err := time.Parse(time.RFC3339, r[7]); err != nil {
			t.Errorf("csv %s: completed_at %q is not RFC 3339", id, r[7])
		}
	}
	if !slices.Equal(gotCSV, openIDs) {
		t.Errorf("csv items %v, want one record per done item in id order %v", gotCSV, openIDs)
	}
}

// labSquare is a 32×32 PNG of one colour.
func labSquare(t *testing.T, c color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// labAnswers answers a stored challenge as a person who sees the images: gold items by
// their truth, this job's open items by truth (the test's own
// knowledge of its items); other jobs' open items, which the test cannot judge, stay
// unselected in grids. It returns the answers and how many of this job's open items they
// label.
func labAnswers(t *testing.T, rec challenge.Record, jobID string, truth map[string]string) ([]map[string]any, int) {
	t.Helper()
	var out []map[string]any
	open := 0
	for _, task := range rec.Tasks {
		shows := func(it challenge.ItemRecord) bool {
			switch {
			case it.Gold:
				return it.Truth
			case task.JobID != jobID:
				return false
			}
			answer, ok := truth[it.ItemID]
			if !ok {
				t.Fatalf("task %s shows item %q that this test did not create", task.ID, it.ItemID)
			}
			open++
			return answer == task.Class
		}
		switch task.Kind {
		case challenge.TaskImageGrid:
			sel := []string{}
			for _, it := range task.Items {
				if shows(it) {
					sel = append(sel, it.Tile)
				}
			}
			out = append(out, map[string]any{"task": task.ID, "selected": sel})
		case challenge.TaskYesNo:
			choice := "no"
			if len(task.Items) == 1 && shows(task.Items[0]) {
				choice = "yes"
			}
			out = append(out, map[string]any{"task": task.ID, "choice": choice})
		default:
			t.Fatalf("task %s of unknown kind %q", task.ID, task.Kind)
		}
	}
	return out, open
}

// labChallengeStore reads the stack's stored challenges with the challenge function's store.
func labChallengeStore(t *testing.T, d *demoInfo) *dynamo.Challenges {
	t.Helper()
	table := d.Tables[schema.TableChallenges]
	if table == "" || d.DynamoDBEndpoint == "" {
		t.Fatalf("demo.json names no challenges table or DynamoDB endpoint: %+v", d)
	}
	client := dynamodb.New(dynamodb.Options{
		Region:                          "us-east-1",
		BaseEndpoint:                    aws.String(d.DynamoDBEndpoint),
		Credentials:                     credentials.NewStaticCredentialsProvider("local", "local", ""),
		DisableValidateResponseChecksum: true,
	})
	return dynamo.NewChallenges(client, table)
}

// labExport asks for an export, waits until it is done and downloads it.
func labExport(t *testing.T, d *demoInfo, key, jobID, format string, wantRows int) []byte {
	t.Helper()
	status, e := call(t, http.MethodPost, d.URL+"/v1/jobs/"+jobID+"/exports", key, map[string]any{"format": format})
	must(t, http.StatusAccepted, status, e, "export "+format)
	id := labStr(e, "id")
	if !strings.HasPrefix(id, "exp_") || labStr(e, "status") != "queued" || labStr(e, "format") != format {
		t.Fatalf("export %s: %v", format, e)
	}
	var done map[string]any
	labWaitFor(t, "the "+format+" export", func() bool {
		status, e := call(t, http.MethodGet, d.URL+"/v1/exports/"+id, key, nil)
		must(t, http.StatusOK, status, e, "get export")
		if labStr(e, "status") == "failed" {
			t.Fatalf("export %s failed: %v", format, e)
		}
		done = e
		return labStr(e, "status") == "done"
	})
	if rows, _ := done["rows"].(float64); int(rows) != wantRows {
		t.Errorf("%s export: rows %v, want %d", format, done["rows"], wantRows)
	}
	link := labStr(done, "url")
	if link == "" {
		t.Fatalf("done %s export has no download link: %v", format, done)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatalf("download %s export: %v", format, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download %s export: %d %s", format, resp.StatusCode, body)
	}
	return body
}

// labStr is the string at m[key], or "".
func labStr(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

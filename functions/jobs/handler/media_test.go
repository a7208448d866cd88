package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/crowdgate/crowdgate/functions/jobs/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/blob/blobtest"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/job/jobtest"
)

const mediaBucket = "media"

// s3Client starts gofakes3 on loopback with a versioned media bucket (as on AWS), with the
// client settings platform.Env uses for the local stack.
func s3Client(t *testing.T) *s3.Client {
	t.Helper()
	return blobtest.FakeS3(t, blobtest.Versioned, mediaBucket)
}

// customerAPI is a client of the customer API as a customer's script would use it.
type customerAPI struct {
	t   *testing.T
	h   http.Handler
	key string
}

func (c customerAPI) call(method, path string, body any, wantStatus int) map[string]any {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set("Authorization", "Bearer "+c.key)
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, req)
	var m map[string]any
	if w.Code != wantStatus || json.Unmarshal(w.Body.Bytes(), &m) != nil {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, w.Code, w.Body.String(), wantStatus)
	}
	return m
}

// upload PUTs body to an item's upload link with the headers the API said to send.
func upload(t *testing.T, item map[string]any, body []byte) int {
	t.Helper()
	up := item["upload"].(map[string]any)
	req, err := http.NewRequest(up["method"].(string), up["url"].(string), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range up["headers"].(map[string]any) {
		req.Header.Set(k, v.(string))
	}
	req.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// mediaKeyOf is the object key an added image item's upload link writes (path-style
// links: /<bucket>/<key>).
func mediaKeyOf(t *testing.T, item map[string]any, bucket string) string {
	t.Helper()
	u, err := url.Parse(item["upload"].(map[string]any)["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	key, ok := strings.CutPrefix(u.Path, "/"+bucket+"/")
	if !ok {
		t.Fatalf("upload link %s is not in bucket %s", u, bucket)
	}
	return key
}

func versionCount(t *testing.T, c *s3.Client, prefix string) int {
	t.Helper()
	out, err := c.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(mediaBucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Versions) + len(out.DeleteMarkers)
}

// testAPI wires the handler with the real S3 media adapter on gofakes3 and the in-memory
// stores, and returns a client holding a fresh customer's key.
func testAPI(t *testing.T, media job.Media) (customerAPI, *jobtest.Store) {
	t.Helper()
	return testAPIAt(t, media, time.Now)
}

// testAPIAt is testAPI with the jobs service on clock now.
func testAPIAt(t *testing.T, media job.Media, now func() time.Time) (customerAPI, *jobtest.Store) {
	t.Helper()
	accounts := &accounttest.Store{}
	keys := account.NewCustomerService(accounts, time.Now)
	c, err := keys.CreateCustomer(context.Background(), account.NewCustomer{Name: "Buyer", Email: "data@buyer.example", Country: "GB"})
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := keys.CreateAPIKey(context.Background(), c.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	store := &jobtest.Store{Now: now}
	h := handler.New(handler.Deps{Keys: keys, Jobs: job.NewService(store, media, now)})
	return customerAPI{t: t, h: h, key: key}, store
}

// Uploads through presigned PUT links into S3 (gofakes3), then the commit check: images
// that decode as what was announced join the pool, anything else is removed from the
// bucket (every version) and reported.
func TestUploadThroughPresignedPutAndCommit(t *testing.T) {
	c := s3Client(t)
	store := blob.New(c)
	api, jobs := testAPI(t, &handler.Media{Store: store, Bucket: mediaBucket})

	j := api.call("POST", "/v1/jobs", map[string]any{"name": "Pets", "type": "image_grid", "classes": []string{"cat", "dog"}}, 201)
	id := j["id"].(string)
	good := pngBytes(t, 64, 48)
	var jpg, gf bytes.Buffer
	if err := jpeg.Encode(&jpg, image.NewRGBA(image.Rect(0, 0, 32, 32)), nil); err != nil {
		t.Fatal(err)
	}
	if err := gif.Encode(&gf, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	text := []byte("<html>not an image</html>")
	portrait := jpegWithMetadata(t, 1300<<10)    // its frame header is past the first MiB
	junk := bytes.Repeat([]byte{0x89}, 1200<<10) // as long, and no image at all
	img := func(ct string, n int) map[string]any { return map[string]any{"content_type": ct, "size": n} }
	added := api.call("POST", "/v1/jobs/"+id+"/items", map[string]any{"items": []any{
		map[string]any{"id": "png", "image": img("image/png", len(good)), "gold": "cat"},
		map[string]any{"id": "jpeg", "image": img("image/jpeg", jpg.Len())},
		map[string]any{"id": "gif", "image": img("image/gif", gf.Len())},
		map[string]any{"id": "html", "image": img("image/png", len(text))},
		map[string]any{"id": "renamed", "image": img("image/jpeg", len(good))}, // a PNG sent as JPEG
		map[string]any{"id": "later", "image": img("image/png", len(good))},
		map[string]any{"id": "portrait", "image": img("image/jpeg", len(portrait))},
		map[string]any{"id": "junk", "image": img("image/png", len(junk))},
	}}, 201)
	items := map[string]map[string]any{}
	for _, x := range added["items"].([]any) {
		it := x.(map[string]any)
		items[it["id"].(string)] = it
	}
	u, _ := url.Parse(items["png"]["upload"].(map[string]any)["url"].(string))
	if signed := u.Query().Get("X-Amz-SignedHeaders"); signed != "content-length;content-type;host" {
		t.Fatalf("the upload link signs %q; type and size must be signed", signed)
	}
	for id, body := range map[string][]byte{"png": good, "jpeg": jpg.Bytes(), "gif": gf.Bytes(), "html": text, "renamed": good, "portrait": portrait, "junk": junk} {
		if status := upload(t, items[id], body); status != 200 {
			t.Fatalf("PUT %s: %d", id, status)
		}
	}
	// Uploaded is not committed: nothing is in the pool yet.
	if st := jobs.Stocks(); len(st) != 1 || len(st[0].Gold)+len(st[0].Open) != 0 {
		t.Fatalf("pool before commit %+v", st)
	}

	res := api.call("POST", "/v1/jobs/"+id+"/items/commit", map[string]any{"items": []string{"png", "jpeg", "gif", "html", "renamed", "later", "portrait", "junk"}}, 200)
	got := map[string]string{}
	for _, x := range res["items"].([]any) {
		it := x.(map[string]any)
		got[it["id"].(string)] = fmt.Sprint(it["status"], " ", errCode(map[string]any{"error": it["error"]}))
	}
	want := map[string]string{
		"png": "open ", "jpeg": "open ", "gif": "open ",
		"html": "rejected not_an_image", "renamed": "rejected not_an_image", "later": "pending not_uploaded",
		"portrait": "open ", "junk": "rejected not_an_image",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("commit\n got %v\nwant %v", got, want)
	}
	for _, rejected := range []string{"html", "renamed", "junk"} {
		if n := versionCount(t, c, mediaKeyOf(t, items[rejected], mediaBucket)); n != 0 {
			t.Errorf("rejected upload %s: %d versions left in the bucket", rejected, n)
		}
	}
	if n := versionCount(t, c, mediaKeyOf(t, items["png"], mediaBucket)); n != 1 {
		t.Errorf("accepted upload: %d versions in the bucket, want 1", n)
	}
	st := jobs.Stocks()
	if len(st[0].Gold) != 1 || st[0].Gold[0].ID != "png" || len(st[0].Open) != 3 {
		t.Fatalf("pool after commit: gold %+v open %+v", st[0].Gold, st[0].Open)
	}
	// The late upload commits on a second try.
	upload(t, items["later"], good)
	res = api.call("POST", "/v1/jobs/"+id+"/items/commit", map[string]any{"items": []string{"later"}}, 200)
	if it := res["items"].([]any)[0].(map[string]any); it["status"] != "open" || it["error"] != nil {
		t.Fatalf("second commit %v", it)
	}

	// Deleting the job removes every object under its prefix.
	if d := api.call("DELETE", "/v1/jobs/"+id, nil, 200); d["done"] != true || d["objects_removed"] != 5.0 {
		t.Fatalf("delete %v", d)
	}
	if n := versionCount(t, c, job.MediaPrefix(id)); n != 0 {
		t.Fatalf("%d object versions left after deleting the job", n)
	}
}

func TestMediaAdapterMapsMissingObjects(t *testing.T) {
	m := &handler.Media{Store: blob.New(s3Client(t)), Bucket: mediaBucket}
	if _, _, err := m.ReadHead(context.Background(), "jobs/x/none", 100); !errors.Is(err, job.ErrNoObject) {
		t.Fatalf("missing upload: %v, want job.ErrNoObject", err)
	}
	if !strings.HasPrefix(job.MediaKey("j", "i"), job.MediaPrefix("j")) {
		t.Fatal("media keys must live under the job's prefix, or deletion misses them")
	}
}

// A customer who misses the 15 minutes of an item's upload link cannot add the id again
// with another announcement while it is pending (409 item_exists), so the commit that finds
// nothing uploaded hands out a fresh link to the same object: upload through it, commit
// again. (Adding the same announcement again is a retry and answers a fresh link too.)
func TestCommitOfAMissedUploadGivesAFreshLink(t *testing.T) {
	c := s3Client(t)
	now := time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC)
	api, _ := testAPIAt(t, &handler.Media{Store: blob.New(c), Bucket: mediaBucket}, func() time.Time { return now })
	id := api.call("POST", "/v1/jobs", map[string]any{"name": "Pets", "type": "image_grid", "classes": []string{"cat", "dog"}}, 201)["id"].(string)
	good := pngBytes(t, 16, 16)
	added := api.call("POST", "/v1/jobs/"+id+"/items", map[string]any{"items": []any{
		map[string]any{"id": "photo-1", "image": map[string]any{"content_type": "image/png", "size": len(good)}},
	}}, 201)["items"].([]any)[0].(map[string]any)

	now = now.Add(job.UploadTTL + 5*time.Minute) // the first link has expired
	api.call("POST", "/v1/jobs/"+id+"/items", map[string]any{"items": []any{
		map[string]any{"id": "photo-1", "image": map[string]any{"content_type": "image/png", "size": len(good) + 1}},
	}}, 409)
	readded := api.call("POST", "/v1/jobs/"+id+"/items", map[string]any{"items": []any{
		map[string]any{"id": "photo-1", "image": map[string]any{"content_type": "image/png", "size": len(good)}},
	}}, 201)["items"].([]any)[0].(map[string]any)
	if mediaKeyOf(t, readded, mediaBucket) != mediaKeyOf(t, added, mediaBucket) {
		t.Errorf("adding the same item again links another object than the item's")
	}
	res := api.call("POST", "/v1/jobs/"+id+"/items/commit", map[string]any{"items": []string{"photo-1"}}, 200)
	it := res["items"].([]any)[0].(map[string]any)
	if it["status"] != "pending" || errCode(map[string]any{"error": it["error"]}) != "not_uploaded" {
		t.Fatalf("commit before the upload: %v", it)
	}
	up, ok := it["upload"].(map[string]any)
	if !ok {
		t.Fatalf("commit before the upload: %v, want a fresh upload link", it)
	}
	if exp, _ := time.Parse(time.RFC3339, up["expires_at"].(string)); !exp.Equal(now.Add(job.UploadTTL)) {
		t.Errorf("fresh link expires %v, want %v", up["expires_at"], now.Add(job.UploadTTL))
	}
	if mediaKeyOf(t, it, mediaBucket) != mediaKeyOf(t, added, mediaBucket) {
		t.Errorf("the fresh link writes another object than the item's")
	}
	if h := up["headers"].(map[string]any); h["Content-Type"] != "image/png" || h["Content-Length"] != fmt.Sprint(len(good)) {
		t.Errorf("fresh link headers %v", h)
	}
	if status := upload(t, it, good); status != 200 {
		t.Fatalf("PUT through the fresh link: %d", status)
	}
	res = api.call("POST", "/v1/jobs/"+id+"/items/commit", map[string]any{"items": []string{"photo-1"}}, 200)
	if it := res["items"].([]any)[0].(map[string]any); it["status"] != "open" || it["error"] != nil || it["upload"] != nil {
		t.Fatalf("commit after the upload: %v", it)
	}
}

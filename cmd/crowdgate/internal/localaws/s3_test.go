package localaws

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/crowdgate/crowdgate/shared/platform"
)

// s3Client builds the client exactly as the local stack does: platform.Env with LocalS3.
func s3Client(endpoint string) *s3.Client {
	env := &platform.Env{
		AWS: aws.Config{
			Region:       "us-east-1",
			BaseEndpoint: aws.String(endpoint),
			Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		},
		LocalS3: true,
	}
	return env.S3()
}

func startS3(t *testing.T, dir string, opts ...Option) *S3 {
	t.Helper()
	s, err := StartS3(ctxT(t), dir, quietLog(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustBucket(t *testing.T, c *s3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(ctxT(t), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, c *s3.Client, bucket, key, body, contentType string, meta map[string]string) {
	t.Helper()
	if _, err := c.PutObject(ctxT(t), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body),
		ContentType: aws.String(contentType), Metadata: meta,
	}); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, c *s3.Client, bucket, key string) (*s3.GetObjectOutput, string) {
	t.Helper()
	out, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return out, string(b)
}

func TestS3PutGetListDelete(t *testing.T) {
	srv := startS3(t, "")
	c := s3Client(srv.Endpoint())
	ctx := ctxT(t)
	mustBucket(t, c, "exports")
	put(t, c, "exports", "job-1/labels.jsonl", `{"source-ref":"s3://media/a.png"}`+"\n", "application/x-ndjson", map[string]string{"job": "job-1"})
	put(t, c, "exports", "job-2/labels.csv", "a,b\n", "text/csv", nil)

	out, body := get(t, c, "exports", "job-1/labels.jsonl")
	if body != `{"source-ref":"s3://media/a.png"}`+"\n" || aws.ToString(out.ContentType) != "application/x-ndjson" || out.Metadata["job"] != "job-1" {
		t.Fatalf("got %q, %q, %v", body, aws.ToString(out.ContentType), out.Metadata)
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("exports"), Prefix: aws.String("job-1/")})
	if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "job-1/labels.jsonl" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("exports"), Key: aws.String("job-1/labels.jsonl")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("exports"), Key: aws.String("job-1/labels.jsonl")})
	var missing *s3types.NoSuchKey
	if !errors.As(err, &missing) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestS3PresignedLinksWorkWithPlainHTTP(t *testing.T) {
	srv := startS3(t, "")
	c := s3Client(srv.Endpoint())
	ctx := ctxT(t)
	mustBucket(t, c, "exports")
	put(t, c, "exports", "job-1/export.jsonl", "line1\nline2\n", "application/x-ndjson", nil)

	presign := s3.NewPresignClient(c)
	link, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("exports"), Key: aws.String("job-1/export.jsonl")}, s3.WithPresignExpires(15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link.URL, srv.Endpoint()+"/exports/") {
		t.Fatalf("link %s is not a path-style link to the local endpoint", link.URL)
	}
	resp, err := http.Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "line1\nline2\n" {
		t.Fatalf("GET presigned link = %d %q", resp.StatusCode, body)
	}

	// A presigned PUT (browser upload) lands as an object.
	up, err := presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("exports"), Key: aws.String("upload.bin")})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, up.URL, strings.NewReader("uploaded"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT presigned link = %d", resp.StatusCode)
	}
	if _, got := get(t, c, "exports", "upload.bin"); got != "uploaded" {
		t.Fatalf("uploaded object = %q", got)
	}
}

// sendS3 sends method to url with body and headers and returns the status and, for an
// error, S3's error code and message.
func sendS3(t *testing.T, method, url, body string, header map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Code, Message string }
	if resp.StatusCode >= 300 {
		if err := xml.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatalf("%s: %d with a body that is not S3's XML error: %v", method, resp.StatusCode, err)
		}
	}
	return resp.StatusCode, e.Code, e.Message
}

// A presigned upload link fixes type, size and lifetime locally as it does on AWS, so a
// developer on the local stack sees the 403s a wrong upload gets in production.
func TestS3PresignedPutEnforcesSignedHeadersAndExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := startS3(t, "", WithClock(clock))
	c := s3Client(srv.Endpoint())
	ctx := ctxT(t)
	mustBucket(t, c, "media")
	presign := s3.NewPresignClient(c)
	link := func(key string) string {
		t.Helper()
		req, err := presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("media"), Key: aws.String(key),
			ContentType: aws.String("image/png"), ContentLength: aws.Int64(5)}, s3.WithPresignExpires(15*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return req.URL
	}
	exists := func(key string) bool {
		_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("media"), Key: aws.String(key)})
		return err == nil
	}
	png := map[string]string{"Content-Type": "image/png"}

	for _, tc := range []struct {
		name, key, body string
		header          map[string]string
	}{
		{"wrong content type", "jobs/j1/type.png", "12345", map[string]string{"Content-Type": "image/jpeg"}},
		{"no content type", "jobs/j1/none.png", "12345", nil},
		{"wrong length", "jobs/j1/length.png", "123456", png},
	} {
		status, code, msg := sendS3(t, http.MethodPut, link(tc.key), tc.body, tc.header)
		if status != http.StatusForbidden || code != "SignatureDoesNotMatch" {
			t.Errorf("%s: PUT = %d %s %q, want 403 SignatureDoesNotMatch", tc.name, status, code, msg)
		}
		if exists(tc.key) {
			t.Errorf("%s: the refused upload was stored", tc.name)
		}
	}

	good := link("jobs/j1/good.png")
	if status, code, msg := sendS3(t, http.MethodPut, good, "12345", png); status != http.StatusOK {
		t.Fatalf("PUT as signed = %d %s %q", status, code, msg)
	}
	if _, body := get(t, c, "media", "jobs/j1/good.png"); body != "12345" {
		t.Fatalf("uploaded object = %q", body)
	}
	// A browser's CORS preflight carries the link's query but no signature to check.
	if status, _, _ := sendS3(t, http.MethodOptions, good, "", map[string]string{"Origin": "http://127.0.0.1:1", "Access-Control-Request-Method": "PUT"}); status != http.StatusOK {
		t.Fatalf("preflight = %d", status)
	}

	late := link("jobs/j1/late.png")
	mu.Lock()
	now = now.Add(15*time.Minute + 2*time.Second)
	mu.Unlock()
	status, code, msg := sendS3(t, http.MethodPut, late, "12345", png)
	if status != http.StatusForbidden || code != "AccessDenied" || msg != "Request has expired" {
		t.Fatalf("PUT after expiry = %d %s %q, want 403 AccessDenied Request has expired", status, code, msg)
	}
	if exists("jobs/j1/late.png") {
		t.Fatal("the upload after expiry was stored")
	}
}

// Download links with response overrides (exports, access packages) still work, and a
// changed query or foreign credentials are refused as on AWS.
func TestS3PresignedGetChecksQueryAndCredentials(t *testing.T) {
	srv := startS3(t, "")
	c := s3Client(srv.Endpoint())
	ctx := ctxT(t)
	mustBucket(t, c, "exports")
	key := "job-1/export ü+.jsonl"
	put(t, c, "exports", key, "line\n", "application/x-ndjson", nil)
	in := &s3.GetObjectInput{Bucket: aws.String("exports"), Key: aws.String(key),
		ResponseContentDisposition: aws.String(`attachment; filename*=UTF-8''export%20%C3%BC.jsonl`)}
	req, err := s3.NewPresignClient(c).PresignGetObject(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if status, code, msg := sendS3(t, http.MethodGet, req.URL, "", nil); status != http.StatusOK {
		t.Fatalf("GET as signed = %d %s %q", status, code, msg)
	}
	tampered := strings.Replace(req.URL, "response-content-disposition=attachment", "response-content-disposition=inline", 1)
	if status, code, _ := sendS3(t, http.MethodGet, tampered, "", nil); status != http.StatusForbidden || code != "SignatureDoesNotMatch" {
		t.Fatalf("GET with a changed query = %d %s, want 403 SignatureDoesNotMatch", status, code)
	}
	other := s3.New(c.Options(), func(o *s3.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider("AKIAOTHER", "secret", "")
	})
	req, err = s3.NewPresignClient(other).PresignGetObject(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if status, code, _ := sendS3(t, http.MethodGet, req.URL, "", nil); status != http.StatusForbidden || code != "InvalidAccessKeyId" {
		t.Fatalf("GET signed with unknown credentials = %d %s, want 403 InvalidAccessKeyId", status, code)
	}
}

func TestS3MultipartUpload(t *testing.T) {
	dir := t.TempDir()
	srv := startS3(t, dir)
	c := s3Client(srv.Endpoint())
	ctx := ctxT(t)
	mustBucket(t, c, "media")
	bucket, key := aws.String("media"), aws.String("big/archive.bin")
	parts := [][]byte{bytes.Repeat([]byte("a"), 5<<20), []byte("tail")} // S3's minimum part size is 5 MiB
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key, ContentType: aws.String("application/octet-stream")})
	if err != nil {
		t.Fatal(err)
	}
	var done []s3types.CompletedPart
	for i, p := range parts {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, s3types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: up.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatal(err)
	}
	want := string(parts[0]) + string(parts[1])
	if _, body := get(t, c, "media", "big/archive.bin"); body != want {
		t.Fatalf("assembled object has %d bytes, want %d", len(body), len(want))
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	again := startS3(t, dir)
	if _, body := get(t, s3Client(again.Endpoint()), "media", "big/archive.bin"); body != want {
		t.Fatalf("after restart the object has %d bytes, want %d", len(body), len(want))
	}
}

func TestS3DataSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	first, err := StartS3(ctxT(t), dir, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	c := s3Client(first.Endpoint())
	ctx := ctxT(t)
	mustBucket(t, c, "media")
	mustBucket(t, c, "privacy")
	put(t, c, "media", "jobs/j1/ünïcode name.png", "\x89PNG\x00binary", "image/png", map[string]string{"origin": "demo"})
	put(t, c, "media", "jobs/j1/gone.png", "x", "image/png", nil)
	put(t, c, "media", "jobs/j1/overwritten.txt", "old", "text/plain", nil)
	put(t, c, "media", "jobs/j1/overwritten.txt", "new", "text/plain", nil)
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("privacy"), Key: aws.String("copy.png"), CopySource: aws.String("media/jobs/j1/gone.png")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("media"), Key: aws.String("jobs/j1/gone.png")}); err != nil {
		t.Fatal(err)
	}
	mustBucket(t, c, "scratch")
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("scratch")}); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, S3Dir, "*", ".*tmp")); len(tmp) > 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}

	second := startS3(t, dir)
	c = s3Client(second.Endpoint())
	buckets, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range buckets.Buckets {
		names = append(names, aws.ToString(b.Name))
	}
	if strings.Join(names, ",") != "media,privacy" {
		t.Fatalf("buckets after restart = %v", names)
	}
	out, body := get(t, c, "media", "jobs/j1/ünïcode name.png")
	if body != "\x89PNG\x00binary" || aws.ToString(out.ContentType) != "image/png" || out.Metadata["origin"] != "demo" {
		t.Fatalf("object after restart = %q %q %v", body, aws.ToString(out.ContentType), out.Metadata)
	}
	if _, body := get(t, c, "media", "jobs/j1/overwritten.txt"); body != "new" {
		t.Fatalf("overwritten object after restart = %q", body)
	}
	if _, body := get(t, c, "privacy", "copy.png"); body != "x" {
		t.Fatalf("copied object after restart = %q", body)
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("media")})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	if strings.Join(keys, ",") != "jobs/j1/overwritten.txt,jobs/j1/ünïcode name.png" {
		t.Fatalf("media after restart = %v", keys)
	}
}

func TestS3RefusesDamagedObjectFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, S3Dir, "media"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, S3Dir, "media", "x.obj"), []byte("not a header"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := StartS3(context.Background(), dir, quietLog()); err == nil {
		s.Close()
		t.Fatal("started with a damaged object file")
	}
}

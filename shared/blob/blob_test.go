package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/blob/blobtest"
)

const bucket = "media"

// newStore starts gofakes3 on loopback with one bucket, configured as platform.Env.S3()
// configures the client for the local stack.
func newStore(t *testing.T) *blob.Store {
	t.Helper()
	return blob.New(blobtest.FakeS3(t, blobtest.Unversioned, bucket))
}

func read(t *testing.T, o blob.Object) string {
	t.Helper()
	defer o.Body.Close()
	b, err := io.ReadAll(o.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPutThenGetReturnsContentAndType(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	if err := s.Put(ctx, bucket, "jobs/a/1.png", "image/png", bytes.NewReader([]byte("png-bytes"))); err != nil {
		t.Fatal(err)
	}
	o, err := s.Get(ctx, bucket, "jobs/a/1.png")
	if err != nil {
		t.Fatal(err)
	}
	if o.ContentType != "image/png" || o.Size != 9 {
		t.Errorf("content type %q size %d", o.ContentType, o.Size)
	}
	if got := read(t, o); got != "png-bytes" {
		t.Errorf("body %q", got)
	}
}

func TestPutAcceptsAReaderThatCannotSeek(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	body := iotest.OneByteReader(strings.NewReader(strings.Repeat("x", 70_000)))
	if err := s.Put(ctx, bucket, "big.txt", "text/plain", body); err != nil {
		t.Fatal(err)
	}
	o, err := s.Get(ctx, bucket, "big.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, o); len(got) != 70_000 {
		t.Errorf("stored %d bytes, want 70000", len(got))
	}
}

func TestGetMissingObjectIsNotFound(t *testing.T) {
	s := newStore(t)
	if _, err := s.Get(context.Background(), bucket, "nope"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestDeleteRemovesObject(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	if err := s.Put(ctx, bucket, "k", "", strings.NewReader("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, bucket, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, bucket, "k"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestPresignedGetLinkReadsObjectWithoutCredentials(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	if err := s.Put(ctx, bucket, "img/tile.png", "image/png", strings.NewReader("tile")); err != nil {
		t.Fatal(err)
	}
	link, err := blob.Bucket{Store: s, Name: bucket}.PresignGet(ctx, "img/tile.png", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Query().Get("X-Amz-Expires"); got != "300" {
		t.Errorf("X-Amz-Expires = %q, want 300", got)
	}
	if u.Query().Get("X-Amz-Signature") == "" {
		t.Error("link is not signed")
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "tile" {
		t.Fatalf("GET link: %d %q", resp.StatusCode, b)
	}
}

// A download link names the file and its type in its signed query, and the object store
// answers with those headers: a browser saves the file under that name, whatever the key
// and the stored type are.
func TestDownloadLinkSetsFilenameAndType(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	if err := s.Put(ctx, bucket, "jobs/j1/exp_1.csv", "application/octet-stream", strings.NewReader("a,b\n")); err != nil {
		t.Fatal(err)
	}
	d := blob.Download{Filename: "j1-exp_1.csv", ContentType: "text/csv; charset=utf-8"}
	link, err := blob.Bucket{Store: s, Name: bucket}.PresignDownload(ctx, "jobs/j1/exp_1.csv", d, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	wantDisposition := `attachment; filename="j1-exp_1.csv"`
	if q.Get("response-content-disposition") != wantDisposition || q.Get("response-content-type") != d.ContentType {
		t.Errorf("link query %v, want response-content-disposition %q and response-content-type %q", q, wantDisposition, d.ContentType)
	}
	if !strings.Contains(q.Get("X-Amz-SignedHeaders"), "host") || q.Get("X-Amz-Signature") == "" {
		t.Errorf("link is not signed: %v", q)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "a,b\n" {
		t.Fatalf("GET link: %d %q", resp.StatusCode, b)
	}
	if got := resp.Header.Get("Content-Disposition"); got != wantDisposition {
		t.Errorf("Content-Disposition %q, want %q", got, wantDisposition)
	}
	if got := resp.Header.Get("Content-Type"); got != d.ContentType {
		t.Errorf("Content-Type %q, want %q", got, d.ContentType)
	}
}

// File names that are not plain ASCII, or hold characters file systems or header parsers
// trip over, still give one header every client reads: a safe ASCII filename, and the
// name itself in filename* (RFC 8187) when it differs.
func TestAttachmentIsSafeForEveryName(t *testing.T) {
	for name, want := range map[string]string{
		"reviews-exp_1.csv":   `attachment; filename="reviews-exp_1.csv"`,
		"a:b-exp_1.jsonl":     `attachment; filename="a_b-exp_1.jsonl"`,
		`x"; evil=1\y%41.csv`: `attachment; filename="x_; evil=1_y_41.csv"`,
		"line\r\nbreak.csv":   `attachment; filename="line__break.csv"`,
		"Grüße; x=y.csv":      `attachment; filename="Gr__e; x=y.csv"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%3B%20x%3Dy.csv`,
	} {
		if got := blob.Attachment(name); got != want {
			t.Errorf("Attachment(%q) = %s, want %s", name, got, want)
		}
	}
}

func TestPresignedPutLinkUploads(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	link, err := s.PresignPut(ctx, bucket, "upload/a.jpg", "image/jpeg", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, link, strings.NewReader("jpeg"))
	req.Header.Set("Content-Type", "image/jpeg")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT link: %d", resp.StatusCode)
	}
	o, err := s.Get(ctx, bucket, "upload/a.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, o); got != "jpeg" || o.ContentType != "image/jpeg" {
		t.Fatalf("uploaded %q (%s)", got, o.ContentType)
	}
}

func TestPresignRefusesLifetimesS3Rejects(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	for _, ttl := range []time.Duration{0, -time.Minute, 8 * 24 * time.Hour} {
		if _, err := s.PresignGet(ctx, bucket, "k", ttl); err == nil {
			t.Errorf("PresignGet ttl %v: no error", ttl)
		}
		if _, err := s.PresignPut(ctx, bucket, "k", "", ttl); err == nil {
			t.Errorf("PresignPut ttl %v: no error", ttl)
		}
	}
}

// countingSigner is a fake blob.LinkSigner that numbers its links.
type countingSigner struct {
	PresignGetFunc func(ctx context.Context, key string, ttl time.Duration) (string, error)
}

var _ blob.LinkSigner = (*countingSigner)(nil)

func (f *countingSigner) PresignGetAt(ctx context.Context, key string, ttl time.Duration, _ time.Time) (string, error) {
	return f.PresignGetFunc(ctx, key, ttl)
}

func TestLinksReuseALinkOnlyWithinTheWindow(t *testing.T) {
	calls := 0
	signer := &countingSigner{PresignGetFunc: func(_ context.Context, key string, ttl time.Duration) (string, error) {
		calls++
		return fmt.Sprintf("https://s3/%s?ttl=%v&n=%d", key, ttl, calls), nil
	}}
	now := time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC)
	l := blob.NewLinks(signer, time.Minute)
	l.Now = func() time.Time { return now }
	ctx := context.Background()
	a1, _ := l.PresignGet(ctx, "a", 5*time.Minute)
	now = now.Add(59 * time.Second)
	a2, _ := l.PresignGet(ctx, "a", 5*time.Minute)
	if a1 != a2 || calls != 1 {
		t.Fatalf("within the window: %q then %q after %d signatures", a1, a2, calls)
	}
	// Served 59 s after signing, the link must still work for the 5 minutes asked for.
	if !strings.Contains(a1, "ttl=6m0s") {
		t.Fatalf("link %q is not signed for the lifetime plus the reuse window", a1)
	}
	if b, _ := l.PresignGet(ctx, "b", 5*time.Minute); b == a1 {
		t.Fatal("another key got the same link")
	}
	if c, _ := l.PresignGet(ctx, "a", time.Minute); c == a1 {
		t.Fatal("another lifetime got the same link")
	}
	now = now.Add(time.Second)
	if a3, _ := l.PresignGet(ctx, "a", 5*time.Minute); a3 == a1 {
		t.Fatal("a link older than the reuse window was served")
	}
	signer.PresignGetFunc = func(context.Context, string, time.Duration) (string, error) { return "", errors.New("no credentials") }
	if _, err := l.PresignGet(ctx, "new", time.Minute); err == nil {
		t.Fatal("signing error swallowed")
	}
}

// A challenge's tiles must not say which of their images were shown a moment ago: gold
// images recur far more often than unlabeled ones, so a reused link (signed for an earlier
// challenge) next to a freshly signed one would tell a bot which tiles are gold. Every
// link handed out within one reuse window carries the same signing time, the window's
// start, whether it was reused or signed just now, and still works for the lifetime asked.
func TestLinksInOneWindowCarryTheSameSigningTime(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	for _, key := range []string{"jobs/j/gold", "jobs/j/open"} {
		if err := s.Put(ctx, bucket, key, "image/png", strings.NewReader(key)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().Truncate(time.Minute).Add(10 * time.Second)
	l := blob.NewLinks(blob.Bucket{Store: s, Name: bucket}, time.Minute)
	l.Now = func() time.Time { return now }
	gold, err := l.PresignGet(ctx, "jobs/j/gold", 5*time.Minute) // an earlier challenge
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(40 * time.Second)
	again, _ := l.PresignGet(ctx, "jobs/j/gold", 5*time.Minute)  // this challenge: reused
	open, err := l.PresignGet(ctx, "jobs/j/open", 5*time.Minute) // this challenge: fresh
	if err != nil {
		t.Fatal(err)
	}
	if again != gold {
		t.Fatalf("the link was not reused within the window: %s then %s", gold, again)
	}
	start := now.Truncate(time.Minute)
	for _, link := range []string{again, open} {
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := time.Parse("20060102T150405Z", u.Query().Get("X-Amz-Date"))
		if err != nil || !signed.Equal(start) {
			t.Errorf("link %s signed at %v (%v), want the window's start %v", u.Path, signed, err, start)
		}
		// Signed for the lifetime plus the window from the window's start: it works for
		// at least the lifetime from now.
		if got := u.Query().Get("X-Amz-Expires"); got != "360" {
			t.Errorf("link %s: X-Amz-Expires = %q, want 360", u.Path, got)
		}
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("link %s: %d", u.Path, resp.StatusCode)
		}
	}
}

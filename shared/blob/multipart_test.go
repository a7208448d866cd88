package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/crowdgate/crowdgate/shared/blob"
)

// pseudoRandom returns n reproducible bytes, so a misplaced part shows as a mismatch.
func pseudoRandom(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeInChunks writes data in uneven chunks, as an encoder does.
func writeInChunks(t *testing.T, w io.Writer, data []byte) {
	t.Helper()
	sizes := []int{1, 7, 4093, 65536, 1 << 20, 333}
	for i := 0; len(data) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(data))
		if _, err := w.Write(data[:n]); err != nil {
			t.Fatalf("write: %v", err)
		}
		data = data[n:]
	}
}

func TestUploadStreamsPartsThatReassembleToTheObject(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	data := pseudoRandom(2*blob.MinPartSize + 123_457) // two full parts and a short last one
	u, err := s.Upload(ctx, bucket, "exports/big.jsonl", "application/jsonl", blob.MinPartSize)
	if err != nil {
		t.Fatal(err)
	}
	writeInChunks(t, u, data)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if u.Parts() != 3 || u.Written() != int64(len(data)) {
		t.Errorf("parts %d written %d, want 3 and %d", u.Parts(), u.Written(), len(data))
	}
	o, err := s.Get(ctx, bucket, "exports/big.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, o); !bytes.Equal([]byte(got), data) {
		t.Fatalf("object differs from what was written (%d bytes read, %d written)", len(got), len(data))
	}
	if o.ContentType != "application/jsonl" {
		t.Errorf("content type %q", o.ContentType)
	}
}

func TestUploadOfASmallObjectIsOnePut(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	for _, body := range []string{"", "item_id,label\na,1\n"} {
		u, err := s.Upload(ctx, bucket, "small.csv", "text/csv", blob.MinPartSize)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(u, body); err != nil {
			t.Fatal(err)
		}
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
		if u.Parts() != 0 {
			t.Errorf("a %d-byte object used %d multipart parts", len(body), u.Parts())
		}
		o, err := s.Get(ctx, bucket, "small.csv")
		if err != nil {
			t.Fatal(err)
		}
		if got := read(t, o); got != body {
			t.Errorf("object %q, want %q", got, body)
		}
	}
}

func TestUploadOverwritesTheSameKey(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	for _, data := range [][]byte{pseudoRandom(blob.MinPartSize + 10), []byte("second run\n")} {
		u, err := s.Upload(ctx, bucket, "exports/e.jsonl", "", blob.MinPartSize)
		if err != nil {
			t.Fatal(err)
		}
		writeInChunks(t, u, data)
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
	}
	o, err := s.Get(ctx, bucket, "exports/e.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, o); got != "second run\n" {
		t.Errorf("object after re-run is %d bytes, want the second run's", len(got))
	}
}

func TestAbortedUploadLeavesNoObject(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	u, err := s.Upload(ctx, bucket, "exports/aborted.jsonl", "", blob.MinPartSize)
	if err != nil {
		t.Fatal(err)
	}
	writeInChunks(t, u, pseudoRandom(blob.MinPartSize+1)) // one part sent
	if u.Parts() != 1 {
		t.Fatalf("parts %d, want 1 sent before abort", u.Parts())
	}
	if err := u.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, bucket, "exports/aborted.jsonl"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("get after abort: %v, want ErrNotFound", err)
	}
	if _, err := u.Write([]byte("x")); !errors.Is(err, blob.ErrUploadClosed) {
		t.Errorf("write after abort: %v", err)
	}
}

func TestUploadRefusesPartsBelowTheS3Minimum(t *testing.T) {
	if _, err := blob.NewUpload(context.Background(), nil, bucket, "k", "", blob.MinPartSize-1); err == nil {
		t.Fatal("a part size below 5 MiB was accepted")
	}
}

// failingParts is an S3 API whose part uploads fail.
type failingParts struct {
	blob.MultipartAPI
	created int
}

func (f *failingParts) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	f.created++
	id := "u1"
	return &s3.CreateMultipartUploadOutput{UploadId: &id}, nil
}

func (f *failingParts) UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	return nil, errors.New("network down")
}

func TestUploadReportsAFailedPartOnEveryLaterCall(t *testing.T) {
	api := &failingParts{}
	u, err := blob.NewUpload(context.Background(), api, bucket, "k", "", blob.MinPartSize)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(pseudoRandom(blob.MinPartSize)); err == nil {
		t.Fatal("write that filled a failing part succeeded")
	}
	if _, err := u.Write([]byte("more")); err == nil {
		t.Error("write after a failed part succeeded")
	}
	if err := u.Close(); err == nil {
		t.Error("close after a failed part succeeded")
	}
	if api.created != 1 {
		t.Errorf("%d uploads started, want 1", api.created)
	}
}

package handler_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/crowdgate/crowdgate/functions/export/handler"
	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
)

// generated is an in-memory export.Source of n rows made on the fly, so that the memory
// measured is the export pipeline's, not the test data's.
type generated int

func (g generated) EachRow(_ context.Context, _ string, fn func(export.Row) error) error {
	for i := range int(g) {
		r := export.Row{ItemID: fmt.Sprintf("item-%06d", i), MediaKey: fmt.Sprintf("jobs/shapes/items/item-%06d.png", i),
			Label: []string{"circle", "square", "triangle"}[i%3], Confidence: 0.9 + float64(i%10)/100, Answers: 3 + i%5,
			CompletedAt: when.Add(time.Duration(i) * time.Second)}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// discardS3 is an S3 multipart API that reads and drops every part, as fast as memory.
type discardS3 struct {
	blob.MultipartAPI
	bytes, parts atomic.Int64
}

func (d *discardS3) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String("u")}, nil
}

func (d *discardS3) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	n, err := io.Copy(io.Discard, in.Body)
	d.bytes.Add(n)
	d.parts.Add(1)
	return &s3.UploadPartOutput{ETag: aws.String("e")}, err
}

func (d *discardS3) CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return &s3.CompleteMultipartUploadOutput{}, nil
}

func (d *discardS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	n, err := io.Copy(io.Discard, in.Body)
	d.bytes.Add(n)
	return &s3.PutObjectOutput{}, err
}

type discardUploader struct{ api *discardS3 }

func (u discardUploader) Upload(ctx context.Context, key, contentType string) (handler.Upload, error) {
	return blob.NewUpload(ctx, u.api, "exports", key, contentType, handler.PartSize)
}

// peakHeap samples the live heap while running and returns the highest value above the
// heap in use before the run.
func peakHeap(run func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var s runtime.MemStats
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&s)
			if s.HeapAlloc > base && s.HeapAlloc-base > peak.Load() {
				peak.Store(s.HeapAlloc - base)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	run()
	close(stop)
	wg.Wait()
	return peak.Load()
}

// BenchmarkExport streams a 100,000-item job through the consumer (encoder, 5 MiB
// multipart parts) into an S3 stand-in that drops the parts: rows/s and the peak heap of
// one export (sampled HeapAlloc above the heap before it, so it includes garbage not yet
// collected). The 1,000,000-item run shows that the peak does not grow with the job.
//
//	go test -run '^$' -bench Export -benchtime 3x ./functions/export/handler/
func BenchmarkExport(b *testing.B) {
	for _, tc := range []struct {
		f export.Format
		n int
	}{{export.FormatManifest, 100_000}, {export.FormatCSV, 100_000}, {export.FormatManifest, 1_000_000}} {
		f, n := tc.f, tc.n
		b.Run(fmt.Sprintf("%s/%dk", f, n/1000), func(b *testing.B) {
			var peak uint64
			var written int64
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				api := &discardS3{}
				id := fmt.Sprintf("exp_bench%016d", i)
				ex := &fakeExports{StartFn: running(id, f)}
				h := handler.New(handler.Deps{Exports: ex, Jobs: fakeJobs{"shapes": benchJob}, Rows: generated(n), Bucket: discardUploader{api}})
				ev := batchOf(id)
				var took time.Duration
				p := peakHeap(func() {
					start := time.Now()
					resp, err := h(context.Background(), ev)
					took = time.Since(start)
					if err != nil || len(resp.BatchItemFailures) > 0 || len(ex.finished) != 1 {
						b.Fatalf("export failed: %v %v %v", err, platformtest.FailedIDs(resp), ex.fails)
					}
				})
				peak, written, elapsed = max(peak, p), api.bytes.Load(), elapsed+took
			}
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "rows/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(written)/(1<<20), "object-MiB")
		})
	}
}

var benchJob = job.Job{ID: "shapes", CustomerID: "cust-1", Kind: job.KindImageGrid, Classes: []string{"circle", "square", "triangle"}, Status: job.StatusActive}

func batchOf(exportID string) (ev events.SQSEvent) {
	ev.Records = append(ev.Records, events.SQSMessage{MessageId: "m1", Body: `{"v":1,"export_id":"` + exportID + `"}`,
		Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
	return ev
}

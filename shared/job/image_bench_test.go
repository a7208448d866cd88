package job_test

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"

	"github.com/crowdgate/crowdgate/shared/job"
)

// BenchmarkCheckImage is the commit check of one 1024×768 JPEG upload: header decode only.
func BenchmarkCheckImage(b *testing.B) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 1024, 768)), nil); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := job.CheckImage(data, int64(len(data)), "image/jpeg", int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}

package shapes

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"testing"
)

func TestGenerateDecodablePNGsOfTheRequestedSize(t *testing.T) {
	imgs, err := Generate(7, 48, 40)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 48 {
		t.Fatalf("got %d images, want 48", len(imgs))
	}
	counts := map[Shape]int{}
	for i, im := range imgs {
		dec, err := png.Decode(bytes.NewReader(im.PNG))
		if err != nil {
			t.Fatalf("image %d: not a PNG: %v", i, err)
		}
		if b := dec.Bounds(); b.Dx() != 40 || b.Dy() != 40 {
			t.Fatalf("image %d: %v, want 40x40", i, b)
		}
		counts[im.Spec.Shape]++
	}
	for _, s := range All {
		if counts[s] != 12 {
			t.Errorf("%s appears %d times, want 12 (balanced)", s, counts[s])
		}
	}
}

func TestGenerateIsDeterministicPerSeed(t *testing.T) {
	a, _ := Generate(42, 8, 64)
	b, _ := Generate(42, 8, 64)
	c, _ := Generate(43, 8, 64)
	same := 0
	for i := range a {
		if !bytes.Equal(a[i].PNG, b[i].PNG) {
			t.Errorf("image %d differs between two runs with the same seed", i)
		}
		if bytes.Equal(a[i].PNG, c[i].PNG) {
			same++
		}
	}
	if same == len(a) {
		t.Error("a different seed produced identical images")
	}
}

// The pictures must actually show their shape: the centre is painted in the shape's
// colour, and a point near the circumradius in an edge direction is painted only for a
// circle (a polygon's edge is nearer the centre there).
func TestImagesShowTheirShape(t *testing.T) {
	imgs, err := Generate(3, 24, 96)
	if err != nil {
		t.Fatal(err)
	}
	for i, im := range imgs {
		dec, _ := png.Decode(bytes.NewReader(im.PNG))
		sp := im.Spec
		if !near(dec, sp.CX, sp.CY, sp.FG) {
			t.Errorf("image %d (%s): centre not painted in the shape colour", i, sp.Shape)
		}
		var dir float64
		switch sp.Shape {
		case Circle, Square:
			dir = 0
		case Triangle:
			dir = math.Pi / 2
		case Star:
			dir = -math.Pi/2 + math.Pi/5
		}
		a := sp.Rotation + dir
		x, y := sp.CX+0.85*sp.Radius*math.Cos(a), sp.CY+0.85*sp.Radius*math.Sin(a)
		if got := near(dec, x, y, sp.FG); got != (sp.Shape == Circle) {
			t.Errorf("image %d (%s): probe at 0.85r painted=%v", i, sp.Shape, got)
		}
	}
}

func TestGenerateRejectsBadArguments(t *testing.T) {
	if _, err := Generate(1, 4, 2); err == nil {
		t.Error("size 2 accepted")
	}
	if _, err := Generate(1, -1, 64); err == nil {
		t.Error("negative count accepted")
	}
}

func near(img image.Image, x, y float64, want color.RGBA) bool {
	r, g, b, _ := img.At(int(x), int(y)).RGBA()
	d := func(p uint32, q uint8) float64 { return math.Abs(float64(p>>8) - float64(q)) }
	return d(r, want.R) < 40 && d(g, want.G) < 40 && d(b, want.B) < 40
}

func BenchmarkGenerate48(b *testing.B) {
	for b.Loop() {
		if _, err := Generate(1, 48, 128); err != nil {
			b.Fatal(err)
		}
	}
}

// Package shapes draws the local stack's demo labeling images: simple geometric shapes in
// varied colours, sizes, rotations and backgrounds. Everything is derived from a seed, so a
// restart produces byte-identical images and the seeded job's labels stay true.
package shapes

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
)

// Shape is what an image shows.
type Shape string

const (
	Circle   Shape = "circle"
	Square   Shape = "square"
	Triangle Shape = "triangle"
	Star     Shape = "star"
)

// All lists every shape the generator draws, in a stable order.
var All = []Shape{Circle, Square, Triangle, Star}

// Spec fully describes one image; Render(spec) is a pure function of it.
type Spec struct {
	Shape    Shape
	Size     int        // width and height in pixels
	CX, CY   float64    // centre of the shape
	Radius   float64    // circumradius (circle: radius)
	Rotation float64    // radians
	FG       color.RGBA // shape colour
	BG1, BG2 color.RGBA // background gradient from top-left to bottom-right
	Dots     []Dot      // background clutter so images are not flat fills
}

// Dot is a small background disc.
type Dot struct {
	X, Y, R float64
	C       color.RGBA
}

// Image is one generated picture.
type Image struct {
	Spec Spec
	PNG  []byte
}

// palette holds well-separated, named-colour-like foregrounds.
var palette = []color.RGBA{
	{220, 40, 40, 255},  // red
	{30, 120, 220, 255}, // blue
	{30, 160, 70, 255},  // green
	{240, 170, 20, 255}, // amber
	{140, 60, 190, 255}, // purple
	{20, 20, 20, 255},   // near black
	{230, 100, 170, 255},
	{0, 150, 150, 255},
}

// Specs returns n image descriptions derived from seed. Shapes are balanced (each shape
// appears n/len(All) times, rounded) and shuffled.
func Specs(seed uint64, n, size int) []Spec {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	kinds := make([]Shape, n)
	for i := range kinds {
		kinds[i] = All[i%len(All)]
	}
	rng.Shuffle(n, func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })

	specs := make([]Spec, n)
	s := float64(size)
	for i, k := range kinds {
		fg := palette[rng.IntN(len(palette))]
		bg1, bg2 := pastel(rng), pastel(rng)
		r := s * (0.20 + 0.16*rng.Float64())
		margin := r + 2
		sp := Spec{
			Shape:    k,
			Size:     size,
			Radius:   r,
			CX:       margin + rng.Float64()*(s-2*margin),
			CY:       margin + rng.Float64()*(s-2*margin),
			Rotation: rng.Float64() * 2 * math.Pi,
			FG:       fg,
			BG1:      bg1,
			BG2:      bg2,
		}
		for range 6 + rng.IntN(10) {
			sp.Dots = append(sp.Dots, Dot{
				X: rng.Float64() * s, Y: rng.Float64() * s, R: 1 + rng.Float64()*3,
				C: mix(pastel(rng), color.RGBA{120, 120, 120, 255}, 0.4),
			})
		}
		specs[i] = sp
	}
	return specs
}

// Generate renders n PNG images of size×size pixels from seed.
func Generate(seed uint64, n, size int) ([]Image, error) {
	if n < 0 || size < 8 {
		return nil, fmt.Errorf("shapes: need n >= 0 and size >= 8, got n=%d size=%d", n, size)
	}
	out := make([]Image, 0, n)
	for _, sp := range Specs(seed, n, size) {
		b, err := Encode(sp)
		if err != nil {
			return nil, err
		}
		out = append(out, Image{Spec: sp, PNG: b})
	}
	return out, nil
}

// Encode renders spec as a PNG.
func Encode(sp Spec) ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, Render(sp)); err != nil {
		return nil, fmt.Errorf("shapes: encode png: %w", err)
	}
	return buf.Bytes(), nil
}

// Render draws spec. Edges are anti-aliased with 4×4 supersampling; pixels farther than
// a pixel's half-diagonal from every edge are wholly in or out and take one test.
func Render(sp Spec) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, sp.Size, sp.Size))
	poly := outline(sp)
	const ss = 4
	s := float64(sp.Size)
	for y := range sp.Size {
		for x := range sp.Size {
			// Background: diagonal gradient with clutter dots.
			t := (float64(x) + float64(y)) / (2 * s)
			bg := mix(sp.BG1, sp.BG2, t)
			cx, cy := float64(x)+0.5, float64(y)+0.5
			for _, d := range sp.Dots {
				if dx, dy := cx-d.X, cy-d.Y; dx*dx+dy*dy <= d.R*d.R {
					bg = d.C
				}
			}
			var cover float64
			if edgeDistance(sp, poly, cx, cy) > 0.75 {
				if inside(sp, poly, cx, cy) {
					cover = 1
				}
			} else {
				hits := 0
				for sy := range ss {
					for sx := range ss {
						if inside(sp, poly, float64(x)+(float64(sx)+0.5)/ss, float64(y)+(float64(sy)+0.5)/ss) {
							hits++
						}
					}
				}
				cover = float64(hits) / (ss * ss)
			}
			img.SetRGBA(x, y, mix(bg, sp.FG, cover))
		}
	}
	return img
}

// edgeDistance is the distance from (x, y) to the shape's outline.
func edgeDistance(sp Spec, poly []point, x, y float64) float64 {
	if sp.Shape == Circle {
		return math.Abs(math.Hypot(x-sp.CX, y-sp.CY) - sp.Radius)
	}
	best := math.Inf(1)
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[j], poly[i]
		dx, dy := b.x-a.x, b.y-a.y
		t := ((x-a.x)*dx + (y-a.y)*dy) / (dx*dx + dy*dy)
		t = max(0, min(1, t))
		best = min(best, math.Hypot(x-(a.x+t*dx), y-(a.y+t*dy)))
	}
	return best
}

type point struct{ x, y float64 }

// outline returns the polygon of a polygonal shape (nil for a circle).
func outline(sp Spec) []point {
	var pts []point
	add := func(r, a float64) {
		a += sp.Rotation
		pts = append(pts, point{sp.CX + r*math.Cos(a), sp.CY + r*math.Sin(a)})
	}
	switch sp.Shape {
	case Square:
		for i := range 4 {
			add(sp.Radius, math.Pi/4+float64(i)*math.Pi/2)
		}
	case Triangle:
		for i := range 3 {
			add(sp.Radius, -math.Pi/2+float64(i)*2*math.Pi/3)
		}
	case Star:
		for i := range 10 {
			r := sp.Radius
			if i%2 == 1 {
				r *= 0.45
			}
			add(r, -math.Pi/2+float64(i)*math.Pi/5)
		}
	}
	return pts
}

func inside(sp Spec, poly []point, x, y float64) bool {
	if sp.Shape == Circle {
		return math.Hypot(x-sp.CX, y-sp.CY) <= sp.Radius
	}
	// Even-odd ray casting.
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a.y > y) != (b.y > y) && x < (b.x-a.x)*(y-a.y)/(b.y-a.y)+a.x {
			in = !in
		}
	}
	return in
}

func pastel(rng *rand.Rand) color.RGBA {
	return color.RGBA{uint8(190 + rng.IntN(60)), uint8(190 + rng.IntN(60)), uint8(190 + rng.IntN(60)), 255}
}

func mix(a, b color.RGBA, t float64) color.RGBA {
	t = max(0, min(1, t))
	l := func(p, q uint8) uint8 { return uint8(math.Round(float64(p)*(1-t) + float64(q)*t)) }
	return color.RGBA{l(a.R, b.R), l(a.G, b.G), l(a.B, b.B), 255}
}

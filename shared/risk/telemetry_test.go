package risk_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/risk"
)

func ptr[T any](v T) *T { return &v }

func TestTelemetryRoundTrip(t *testing.T) {
	in := risk.Telemetry{
		Version:  1,
		Duration: 5230,
		Pointer: []risk.PointerEvent{
			{T: 120, X: 10, Y: 20, Kind: risk.Move},
			{T: 137, X: 14, Y: 22, Kind: risk.Move},
			{T: 300, X: 14, Y: 22, Kind: risk.Down},
			{T: 380, X: 14, Y: 22, Kind: risk.Up},
			{T: 900, X: 200, Y: 300, Kind: risk.Down, Dev: risk.Touch},
			{T: 950, X: 201, Y: 300, Kind: risk.Up, Dev: risk.Pen},
		},
		Scroll:      []risk.ScrollEvent{{T: 50, X: 0, Y: 120}},
		Keys:        []risk.KeyEvent{{T: 1000, Hold: 80}, {T: 1180, Hold: 95}},
		Activations: 2,
		Focus:       []risk.FocusEvent{{T: 10, Kind: risk.Focus}, {T: 4000, Kind: risk.Hidden}},
		Motion:      &risk.MotionSummary{N: 40, AccelSD: 0.3, RotSD: 2.5},
		Orientation: &risk.OrientationSummary{N: 40, BetaSD: 1.5, GammaSD: 0.7},
		Viewport:    &risk.Viewport{W: 1280, H: 720, OuterW: ptr(1280.0), OuterH: ptr(800.0), ScreenW: 1920, ScreenH: 1080, PixelRatio: 1.25},
		Automation:  &risk.Automation{Webdriver: ptr(false), Plugins: ptr(5), Languages: ptr(2), Platform: "Win32"},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"p":[[120,10,20,"m"],[17,14,22,"m"]`) {
		t.Errorf("pointer events are not sent as compact delta arrays: %s", b)
	}
	out, err := risk.ParseTelemetry(b)
	if err != nil {
		t.Fatalf("ParseTelemetry(%s): %v", b, err)
	}
	b2, _ := json.Marshal(out)
	if string(b) != string(b2) {
		t.Errorf("round trip changed the document:\n got %s\nwant %s", b2, b)
	}
	if out.Pointer[5].T != 950 || out.Pointer[5].Dev != risk.Pen || out.Keys[1].T != 1180 {
		t.Errorf("deltas not accumulated into times: %+v %+v", out.Pointer[5], out.Keys[1])
	}
}

func TestParseTelemetryAcceptsEmptyAndUnknownFields(t *testing.T) {
	for _, doc := range []string{`{}`, ` {"v":1} `, `{"v":1,"future_field":[1,2,3],"p":[]}`} {
		if _, err := risk.ParseTelemetry([]byte(doc)); err != nil {
			t.Errorf("ParseTelemetry(%s) = %v, want nil", doc, err)
		}
	}
}

func TestParseTelemetryRefusesOversizedInput(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`{"v":1,"p":[`)
	for i := 0; sb.Len() <= risk.MaxTelemetryBytes; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`[16,1000,1000,"m"]`)
	}
	sb.WriteString(`]}`)
	_, err := risk.ParseTelemetry([]byte(sb.String()))
	if !errors.Is(err, risk.ErrTooLarge) {
		t.Fatalf("%d bytes: err = %v, want ErrTooLarge", sb.Len(), err)
	}
	if !strings.Contains(err.Error(), "bytes") {
		t.Errorf("error does not say what is too large: %v", err)
	}

	// Under the byte cap but over the event cap.
	events := strings.TrimSuffix(strings.Repeat(`[1,1,1,"m"],`, risk.MaxPointerEvents+1), ",")
	_, err = risk.ParseTelemetry([]byte(`{"p":[` + events + `]}`))
	var fe *risk.FieldError
	if !errors.Is(err, risk.ErrTooLarge) || !errors.As(err, &fe) || fe.Field != "p" {
		t.Fatalf("%d events: err = %v, want ErrTooLarge on field p", risk.MaxPointerEvents+1, err)
	}
}

func TestParseTelemetryNamesTheBadField(t *testing.T) {
	long := strings.Repeat("x", 65)
	cases := []struct {
		doc, field string
	}{
		{`[]`, ""},
		{`null`, ""},
		{`"telemetry"`, ""},
		{`{"p":[[1,2,3,"m"]`, ""},
		{`{"v":2}`, "v"},
		{`{"dur":-5}`, "dur"},
		{`{"act":-1}`, "act"},
		{`{"p":"abc"}`, "p"},
		{`{"p":[[1,2,3]]}`, "p[0]"},
		{`{"p":[[1,2,3,"m"],[1,2,3,"x"]]}`, "p[1][3]"},
		{`{"p":[[-1,2,3,"m"]]}`, "p[0][0]"},
		{`{"p":[["1",2,3,"m"]]}`, "p[0][0]"},
		{`{"p":[[1,2,1e9,"m"]]}`, "p[0][2]"},
		{`{"p":[[1,2,3,"m","q"]]}`, "p[0][4]"},
		{`{"p":[[1,2,3,4]]}`, "p[0][3]"},
		{`{"s":[[1,2]]}`, "s[0]"},
		{`{"k":[[1]]}`, "k[0]"},
		{`{"k":[[1,-3]]}`, "k[0][1]"},
		{`{"f":[[1,"z"]]}`, "f[0][1]"},
		{`{"vp":{"w":-1}}`, "vp.w"},
		{`{"vp":{"dpr":99}}`, "vp.dpr"},
		{`{"vp":{"ow":-1}}`, "vp.ow"},
		{`{"a":{"pl":-2}}`, "a.pl"},
		{`{"a":{"pf":"` + long + `"}}`, "a.pf"},
		{`{"a":{"wd":"yes"}}`, "a.wd"},
		{`{"dm":{"n":-1}}`, "dm"},
		{`{"do":{"n":3,"b_sd":500}}`, "do"},
	}
	for _, c := range cases {
		_, err := risk.ParseTelemetry([]byte(c.doc))
		var fe *risk.FieldError
		if !errors.Is(err, risk.ErrInvalid) || !errors.As(err, &fe) {
			t.Errorf("ParseTelemetry(%s) = %v, want ErrInvalid", c.doc, err)
			continue
		}
		if fe.Field != c.field {
			t.Errorf("ParseTelemetry(%s) blames field %q (%v), want %q", c.doc, fe.Field, err, c.field)
		}
	}
}

func TestTelemetryEmbedsInRequestBodies(t *testing.T) {
	var body struct {
		Sitekey   string          `json:"sitekey"`
		Telemetry *risk.Telemetry `json:"telemetry"`
	}
	if err := json.Unmarshal([]byte(`{"sitekey":"s","telemetry":{"p":[[5,1,2,"m"],[16,3,4,"d"]]}}`), &body); err != nil {
		t.Fatal(err)
	}
	if body.Telemetry == nil || len(body.Telemetry.Pointer) != 2 || body.Telemetry.Pointer[1].T != 21 {
		t.Fatalf("telemetry not decoded: %+v", body.Telemetry)
	}
	body.Telemetry = nil
	if err := json.Unmarshal([]byte(`{"sitekey":"s","telemetry":null}`), &body); err != nil || body.Telemetry != nil {
		t.Fatalf("null telemetry: err %v, telemetry %+v; want none", err, body.Telemetry)
	}
	err := json.Unmarshal([]byte(`{"sitekey":"s","telemetry":{"p":[[1,2,3,"zz"]]}}`), &body)
	if !errors.Is(err, risk.ErrInvalid) {
		t.Fatalf("bad embedded telemetry: err = %v, want ErrInvalid", err)
	}
}

func FuzzParseTelemetry(f *testing.F) {
	f.Add([]byte(`{"v":1,"p":[[16,1,2,"m"],[0,1,2,"d","t"]],"k":[[5,80]],"a":{"wd":true}}`))
	f.Add([]byte(`{"vp":{"w":1,"h":2,"ow":0,"oh":0}}`))
	f.Add([]byte(`{"p":[[1e308,1,1,"m"]]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tel, err := risk.ParseTelemetry(b)
		if err != nil {
			if !errors.Is(err, risk.ErrInvalid) && !errors.Is(err, risk.ErrTooLarge) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		a := risk.Score(risk.Input{Stage: risk.StageAnswer, Telemetry: &tel})
		if a.Score < 0 || a.Score > 1 {
			t.Fatalf("score %v out of range for %s", a.Score, fmt.Sprint(string(b)))
		}
	})
}

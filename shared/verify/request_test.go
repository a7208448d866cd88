package verify_test

import (
	"bytes"
	"errors"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crowdgate/crowdgate/shared/verify"
)

func TestParseRequestFormats(t *testing.T) {
	want := verify.Request{Secret: "0xabc", Response: "P1_x.y", RemoteIP: "192.0.2.1", Sitekey: "sk", IdempotencyKey: "k"}
	form := "secret=0xabc&response=P1_x.y&remoteip=192.0.2.1&sitekey=sk&idempotency_key=k&extra=1"
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	for k, v := range map[string]string{"secret": "0xabc", "response": "P1_x.y", "remoteip": "192.0.2.1", "sitekey": "sk", "idempotency_key": "k"} {
		_ = mw.WriteField(k, v)
	}
	_ = mw.Close()
	cases := []struct{ ct, body string }{
		{"application/x-www-form-urlencoded", form},
		{"application/x-www-form-urlencoded; charset=UTF-8", form},
		{"", form},
		{"text/plain", form},
		{"application/json", `{"secret":"0xabc","response":"P1_x.y","remoteip":"192.0.2.1","sitekey":"sk","idempotency_key":"k","extra":1}`},
		{"application/json; charset=utf-8", `{"secret":" 0xabc ","response":"P1_x.y\n","remoteip":"192.0.2.1","sitekey":"sk","idempotency_key":" k"}`},
		{mw.FormDataContentType(), mp.String()},
	}
	for _, c := range cases {
		got, err := verify.ParseRequest(c.ct, strings.NewReader(c.body))
		if err != nil || got != want {
			t.Errorf("ParseRequest(%q) = %+v, %v; want %+v", c.ct, got, err, want)
		}
	}
	// Absent parameters are empty, not errors: siteverify answers missing-input-*.
	for _, c := range []struct{ ct, body string }{{"", ""}, {"application/json", "{}"}, {"application/json", "null"}} {
		if got, err := verify.ParseRequest(c.ct, strings.NewReader(c.body)); err != nil || got != (verify.Request{}) {
			t.Errorf("ParseRequest(%q, %q) = %+v, %v; want empty", c.ct, c.body, got, err)
		}
	}
}

// WithQuery takes the parameters a body lacks from the query string (GET /siteverify?…, or
// a POST with an empty body), trimmed as in a body; the body's own win.
func TestWithQuery(t *testing.T) {
	cases := []struct {
		name  string
		body  verify.Request
		query string
		want  verify.Request
	}{
		{"no query", verify.Request{Secret: "0xa"}, "", verify.Request{Secret: "0xa"}},
		{"all from the query", verify.Request{}, "secret=0xabc&response=P1_x.y+&remoteip=192.0.2.1&sitekey=sk&idempotency_key=k&extra=1",
			verify.Request{Secret: "0xabc", Response: "P1_x.y", RemoteIP: "192.0.2.1", Sitekey: "sk", IdempotencyKey: "k"}},
		{"the body wins", verify.Request{Secret: "0xbody", Response: "P1_body"}, "secret=0xquery&response=P1_query&sitekey=sk",
			verify.Request{Secret: "0xbody", Response: "P1_body", Sitekey: "sk"}},
		{"an empty query parameter stays absent", verify.Request{}, "secret=&response=P1_x", verify.Request{Response: "P1_x"}},
	}
	for _, c := range cases {
		got, err := c.body.WithQuery(c.query)
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	for _, q := range []string{"secret=%zz", "secret=%ff", "secret=a;b", "response=" + strings.Repeat("a", verify.MaxBody)} {
		if _, err := (verify.Request{}).WithQuery(q); !errors.Is(err, verify.ErrBadRequest) {
			t.Errorf("WithQuery(%.20q): %v, want ErrBadRequest", q, err)
		}
	}
}

func TestParseRequestBadRequests(t *testing.T) {
	huge := "secret=0x&response=" + strings.Repeat("a", verify.MaxBody)
	for _, c := range []struct{ name, ct, body string }{
		{"over the cap", "application/x-www-form-urlencoded", huge},
		{"bad escape", "application/x-www-form-urlencoded", "secret=%zz"},
		{"invalid JSON", "application/json", `{"secret":`},
		{"JSON array", "application/json", `["a"]`},
		{"number for a string", "application/json", `{"secret":42}`},
		{"trailing JSON", "application/json", `{} {}`},
		{"stray closing bracket", "application/json", `{"secret":"0x"}]`},
		{"multipart without boundary", "multipart/form-data", "x"},
		{"broken multipart", "multipart/form-data; boundary=zz", "--zz\r\nbroken"},
		{"invalid UTF-8", "application/x-www-form-urlencoded", "secret=%ff"},
	} {
		if _, err := verify.ParseRequest(c.ct, strings.NewReader(c.body)); !errors.Is(err, verify.ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", c.name, err)
		}
	}
	justUnder := "response=" + strings.Repeat("a", verify.MaxBody-len("response="))
	if _, err := verify.ParseRequest("", strings.NewReader(justUnder)); err != nil {
		t.Fatalf("a body of exactly MaxBody bytes refused: %v", err)
	}
}

// FuzzParseRequest: ParseRequest never panics on any content type and body; what it accepts
// is valid UTF-8 and survives a round trip through the form encoding unchanged.
func FuzzParseRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r, err := verify.ParseRequest(contentType, bytes.NewReader(body))
		if err != nil {
			if !errors.Is(err, verify.ErrBadRequest) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		for _, v := range []string{r.Secret, r.Response, r.RemoteIP, r.Sitekey} {
			if !utf8.ValidString(v) || strings.TrimSpace(v) != v {
				t.Fatalf("field %q not valid trimmed UTF-8", v)
			}
		}
		form := url.Values{"secret": {r.Secret}, "response": {r.Response}, "remoteip": {r.RemoteIP}, "sitekey": {r.Sitekey}}.Encode()
		if len(form) > verify.MaxBody {
			return
		}
		again, err := verify.ParseRequest("application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil || again != r {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, r)
		}
	})
}

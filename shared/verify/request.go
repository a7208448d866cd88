package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxBody caps a siteverify request body; real requests are well under 3 KiB.
const MaxBody = 16 << 10

// Request is a siteverify call.
type Request struct {
	Secret   string
	Response string
	RemoteIP string // optional: the visitor's IP as the integrator saw it
	Sitekey  string // optional: the sitekey the integrator expects
	// IdempotencyKey (optional, a UUID): a retry of a call whose answer was lost, sent
	// with the same key, gets the same success instead of already-seen-response.
	IdempotencyKey string
}

// ErrBadRequest: the body could not be read as a siteverify request (→ bad-request).
var ErrBadRequest = errors.New("verify: bad request")

// ParseRequest reads a form-encoded (the hCaptcha way), multipart or JSON body of at most
// MaxBody bytes. An absent or unknown content type is read as a form, as hCaptcha's
// clients often send none. Parameters that are absent come back empty; unknown ones are
// ignored.
func ParseRequest(contentType string, body io.Reader) (Request, error) {
	b, err := io.ReadAll(io.LimitReader(body, MaxBody+1))
	if err != nil || len(b) > MaxBody {
		return Request{}, ErrBadRequest
	}
	// A malformed parameter ("application/json; charset=") comes back with its media type
	// and ErrInvalidMediaParameter: the body is still JSON, and read as a form it would
	// report the secret and token as missing although they were sent.
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		mt = ""
	}
	var r Request
	switch mt {
	case "application/json":
		r, err = parseJSON(b)
	case "multipart/form-data":
		r, err = parseMultipart(b, params["boundary"])
	default:
		r, err = parseForm(b)
	}
	if err != nil {
		return Request{}, ErrBadRequest
	}
	return clean(r)
}

// WithQuery fills the parameters r lacks from a URL query string (without "?"), where
// hCaptcha reads them too: integrations call GET /siteverify?secret=…&response=… (the
// official WordPress plugin before 1.18, PHP's file_get_contents) or POST them with an
// empty body. A parameter in the body wins. A query string over MaxBody, or one that does
// not decode, is ErrBadRequest.
func (r Request) WithQuery(rawQuery string) (Request, error) {
	if rawQuery == "" {
		return r, nil
	}
	if len(rawQuery) > MaxBody {
		return Request{}, ErrBadRequest
	}
	q, err := parseForm([]byte(rawQuery))
	if err != nil {
		return Request{}, ErrBadRequest
	}
	if q, err = clean(q); err != nil {
		return Request{}, err
	}
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&r.Secret, q.Secret}, {&r.Response, q.Response}, {&r.RemoteIP, q.RemoteIP}, {&r.Sitekey, q.Sitekey},
		{&r.IdempotencyKey, q.IdempotencyKey},
	} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
	return r, nil
}

// clean refuses parameters that are not UTF-8 and trims the rest.
func clean(r Request) (Request, error) {
	for _, v := range []*string{&r.Secret, &r.Response, &r.RemoteIP, &r.Sitekey, &r.IdempotencyKey} {
		if !utf8.ValidString(*v) {
			return Request{}, ErrBadRequest
		}
		*v = strings.TrimSpace(*v)
	}
	return r, nil
}

func parseForm(b []byte) (Request, error) {
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return Request{}, err
	}
	return Request{Secret: v.Get("secret"), Response: v.Get("response"), RemoteIP: v.Get("remoteip"), Sitekey: v.Get("sitekey"),
		IdempotencyKey: v.Get("idempotency_key")}, nil
}

func parseJSON(b []byte) (Request, error) {
	var body struct {
		Secret   *string `json:"secret"`
		Response *string `json:"response"`
		RemoteIP *string `json:"remoteip"`
		Sitekey  *string `json:"sitekey"`
		Key      *string `json:"idempotency_key"`
	}
	// Unknown fields are allowed (hCaptcha's clients may send more); json.Unmarshal
	// refuses anything after the value.
	if err := json.Unmarshal(b, &body); err != nil {
		return Request{}, err
	}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return Request{Secret: deref(body.Secret), Response: deref(body.Response), RemoteIP: deref(body.RemoteIP), Sitekey: deref(body.Sitekey),
		IdempotencyKey: deref(body.Key)}, nil
}

// parseMultipart reads form fields from a multipart body (PHP's curl sends one when given an
// array). The body is already capped, so parts are read in memory; files are refused.
func parseMultipart(b []byte, boundary string) (Request, error) {
	if boundary == "" {
		return Request{}, errors.New("no boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(b), boundary)
	fields := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Request{}, err
		}
		if p.FileName() != "" {
			return Request{}, errors.New("file part")
		}
		v, err := io.ReadAll(p)
		if err != nil {
			return Request{}, err
		}
		if name := p.FormName(); name != "" {
			if _, dup := fields[name]; !dup {
				fields[name] = string(v)
			}
		}
	}
	return Request{Secret: fields["secret"], Response: fields["response"], RemoteIP: fields["remoteip"], Sitekey: fields["sitekey"],
		IdempotencyKey: fields["idempotency_key"]}, nil
}

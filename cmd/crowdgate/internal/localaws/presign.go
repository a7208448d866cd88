package localaws

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The credentials the local stack signs with (stack.LocalAWS). The S3 stand-in knows the
// secret, so it can verify presigned links as S3 does instead of trusting them.
const (
	AccessKeyID     = "local"
	SecretAccessKey = "local"
)

const (
	amzDateFormat     = "20060102T150405Z"
	maxPresignExpires = 7 * 24 * 60 * 60 // S3's limit: one week, in seconds
	sigV4Algorithm    = "AWS4-HMAC-SHA256"
)

// presignCheck refuses presigned requests (X-Amz-Signature in the query) that S3 would
// refuse: expired links, links signed with other credentials, and requests whose method,
// path, query or signed headers (Content-Type, Content-Length, x-amz-*) differ from what
// was signed. gofakes3 checks no signatures, so without this a developer on the local
// stack would never see the 403s their uploads get on AWS. Requests authorised by an
// Authorization header (SDK clients, aws --endpoint-url) pass unchecked.
type presignCheck struct {
	next    http.Handler
	now     func() time.Time
	secrets map[string]string // access key id → secret access key
	log     *slog.Logger
}

func (p presignCheck) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// A CORS preflight carries the link's query but is never signed (S3 does not check it).
	if r.Method == http.MethodOptions || !q.Has("X-Amz-Signature") {
		p.next.ServeHTTP(w, r)
		return
	}
	if e := p.check(r, q); e != nil {
		// The key names a customer's object: left out of the log.
		p.log.Info("presigned request refused", "method", r.Method, "code", e.Code)
		e.write(w, r)
		return
	}
	p.next.ServeHTTP(w, r)
}

// check returns the error S3 answers r with, or nil if the signature holds.
func (p presignCheck) check(r *http.Request, q url.Values) *s3Error {
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders"} {
		if q.Get(k) == "" {
			return queryParamError("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
	}
	if q.Get("X-Amz-Algorithm") != sigV4Algorithm {
		return queryParamError(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
	}
	cred := strings.Split(q.Get("X-Amz-Credential"), "/")
	if len(cred) != 5 || cred[4] != "aws4_request" {
		return queryParamError(`Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)
	}
	keyID, scopeDate, region, service := cred[0], cred[1], cred[2], cred[3]
	amzDate := q.Get("X-Amz-Date")
	signedAt, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return queryParamError(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	if scopeDate != signedAt.Format("20060102") {
		return queryParamError(`Error parsing the X-Amz-Credential parameter; incorrect date. This date in the credential must be in the format "yyyyMMdd".`)
	}
	expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	switch {
	case err != nil:
		return queryParamError("X-Amz-Expires should be a number")
	case expires < 0:
		return queryParamError("X-Amz-Expires must be non-negative")
	case expires > maxPresignExpires:
		return queryParamError("X-Amz-Expires must be less than a week (in seconds) that is; 604800")
	}
	now := p.now().UTC()
	if end := signedAt.Add(time.Duration(expires) * time.Second); now.After(end) {
		return &s3Error{status: http.StatusForbidden, Code: "AccessDenied", Message: "Request has expired",
			XAmzExpires: strconv.Itoa(expires), Expires: end.Format(time.RFC3339), ServerTime: now.Format(time.RFC3339)}
	}
	secret, ok := p.secrets[keyID]
	if !ok {
		return &s3Error{status: http.StatusForbidden, Code: "InvalidAccessKeyId",
			Message: "The AWS Access Key Id you provided does not exist in our records.", AWSAccessKeyID: keyID}
	}
	scope := strings.Join(cred[1:], "/")
	canonical := canonicalRequest(r, q)
	hash := sha256.Sum256([]byte(canonical))
	toSign := sigV4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(hash[:])
	key := []byte("AWS4" + secret)
	for _, part := range []string{scopeDate, region, service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	got := q.Get("X-Amz-Signature")
	if !hmac.Equal([]byte(want), []byte(got)) {
		// S3 shows what it signed, so the sender can find the header that differs.
		return &s3Error{status: http.StatusForbidden, Code: "SignatureDoesNotMatch",
			Message:        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
			AWSAccessKeyID: keyID, StringToSign: toSign, SignatureProvided: got, CanonicalRequest: canonical}
	}
	return nil
}

// canonicalRequest is SigV4's canonical form of r as S3 computes it: the path as sent (S3
// does not escape it again), the query without the signature, the signed headers' values
// as received, and an unsigned payload unless the link fixed its hash.
func canonicalRequest(r *http.Request, q url.Values) string {
	var params []string
	for k, vs := range q {
		if k == "X-Amz-Signature" {
			continue
		}
		for _, v := range vs {
			params = append(params, sigV4Escape(k)+"="+sigV4Escape(v))
		}
	}
	slices.Sort(params) // SigV4 sorts after encoding

	signed := q.Get("X-Amz-SignedHeaders")
	var headers strings.Builder
	for _, name := range strings.Split(signed, ";") {
		var value string
		if name == "host" {
			value = r.Host
		} else {
			var vs []string
			for _, v := range r.Header.Values(name) {
				vs = append(vs, strings.Join(strings.Fields(v), " "))
			}
			value = strings.Join(vs, ",")
		}
		headers.WriteString(name + ":" + value + "\n")
	}

	payload := q.Get("X-Amz-Content-Sha256")
	if payload == "" {
		payload = "UNSIGNED-PAYLOAD"
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	return strings.Join([]string{r.Method, path, strings.Join(params, "&"), headers.String(), signed, payload}, "\n")
}

// sigV4Escape percent-encodes everything outside RFC 3986's unreserved characters.
func sigV4Escape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func queryParamError(msg string) *s3Error {
	return &s3Error{status: http.StatusBadRequest, Code: "AuthorizationQueryParametersError", Message: msg}
}

// s3Error is S3's XML error body, with the detail elements S3 adds to authorisation errors.
type s3Error struct {
	XMLName           xml.Name `xml:"Error"`
	status            int
	Code              string
	Message           string
	XAmzExpires       string `xml:"X-Amz-Expires,omitempty"`
	Expires           string `xml:",omitempty"`
	ServerTime        string `xml:",omitempty"`
	AWSAccessKeyID    string `xml:"AWSAccessKeyId,omitempty"`
	StringToSign      string `xml:",omitempty"`
	SignatureProvided string `xml:",omitempty"`
	CanonicalRequest  string `xml:",omitempty"`
	RequestID         string `xml:"RequestId"`
	HostID            string `xml:"HostId"`
}

func (e *s3Error) write(w http.ResponseWriter, r *http.Request) {
	e.RequestID = strings.ToUpper(newID()[:16])
	e.HostID = newID()
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("X-Amz-Request-Id", e.RequestID)
	// The stand-in answers every origin (gofakes3's CORS); without this a browser would
	// see a network error instead of the 403.
	h.Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(e.status)
	if r.Method == http.MethodHead {
		return
	}
	body, _ := xml.Marshal(e) // strings only: cannot fail
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}

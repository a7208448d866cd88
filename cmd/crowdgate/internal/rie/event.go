package rie

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Kind is the shape of an event, and so of the response the function must give.
type Kind string

const (
	// KindHTTP is an API Gateway HTTP API (payload v2) request; the response is an
	// events.APIGatewayV2HTTPResponse.
	KindHTTP Kind = "http"
	// KindSQS is an SQS batch; the response is an events.SQSEventResponse (partial batch
	// failures).
	KindSQS Kind = "sqs"
	// KindEvent is any other JSON object (a Secrets Manager rotation step, an EventBridge
	// Scheduler payload: platform.StartEvent); the function answers null or fails.
	KindEvent Kind = "event"
)

// ErrUnknownEvent is returned by KindOf for JSON that is not an object.
var ErrUnknownEvent = errors.New("an event is a JSON object")

// KindOf tells an event's shape from its JSON.
func KindOf(event []byte) (Kind, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(event, &obj); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return "", fmt.Errorf("event is not JSON: %w", err)
		}
		return "", ErrUnknownEvent
	}
	if obj == nil {
		return "", ErrUnknownEvent
	}
	var probe struct {
		Version        string `json:"version"`
		RequestContext struct {
			HTTP *struct {
				Method string `json:"method"`
			} `json:"http"`
		} `json:"requestContext"`
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(event, &probe); err != nil {
		// A field of another type than either shape has: some other event.
		return KindEvent, nil
	}
	switch {
	case len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs":
		return KindSQS, nil
	case probe.Version == "2.0" && probe.RequestContext.HTTP != nil && probe.RequestContext.HTTP.Method != "":
		return KindHTTP, nil
	}
	return KindEvent, nil
}

// Check says whether payload is a good answer to event: no function error, the response
// shape the event calls for (an HTTP response with its status set and, where the content
// type is JSON, a JSON body; partial batch failures naming only messages of the batch; any
// JSON for other events), and never a 5xx.
func Check(event, payload []byte) error {
	if fe := functionError(payload); fe != nil {
		return fe
	}
	kind, err := KindOf(event)
	if err != nil {
		return err
	}
	switch kind {
	case KindSQS:
		_, err := sqsFailures(event, payload)
		return err
	case KindHTTP:
		_, err := decodeHTTP(payload)
		return err
	}
	if !json.Valid(payload) {
		return fmt.Errorf("response is not JSON: %.200q", payload)
	}
	return nil
}

// httpAnswer is the part of an HTTP response that Compare looks at.
type httpAnswer struct {
	Status      int    `json:"statusCode"`
	ContentType string `json:"contentType"`
	Base64      bool   `json:"isBase64Encoded"`
	JSON        any    `json:"json,omitempty"`
	Body        string `json:"body,omitempty"`
}

func decodeHTTP(payload []byte) (httpAnswer, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		return httpAnswer{}, fmt.Errorf("response is not a JSON object: %w", err)
	}
	if _, ok := raw["statusCode"]; !ok {
		return httpAnswer{}, fmt.Errorf("response has no statusCode (not an API Gateway v2 response): %.200s", payload)
	}
	var r events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(payload, &r); err != nil {
		return httpAnswer{}, fmt.Errorf("response is not an API Gateway v2 response: %w", err)
	}
	if r.StatusCode < 100 || r.StatusCode > 599 {
		return httpAnswer{}, fmt.Errorf("statusCode %d is not an HTTP status", r.StatusCode)
	}
	body := []byte(r.Body)
	if r.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(r.Body)
		if err != nil {
			return httpAnswer{}, fmt.Errorf("isBase64Encoded body is not base64: %w", err)
		}
		body = b
	}
	a := httpAnswer{Status: r.StatusCode, ContentType: header(r, "Content-Type"), Base64: r.IsBase64Encoded}
	if r.StatusCode >= 500 {
		return a, fmt.Errorf("status %d: %.300s", r.StatusCode, body)
	}
	if isJSON(a.ContentType) {
		var v any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil || dec.Decode(&json.RawMessage{}) != io.EOF {
			return a, fmt.Errorf("content type %s but the body is not one JSON value: %.200q", a.ContentType, body)
		}
		a.JSON = v
	} else {
		a.Body = string(body)
	}
	return a, nil
}

// header reads a response header case-insensitively from either header map.
func header(r events.APIGatewayV2HTTPResponse, name string) string {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range r.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func sqsFailures(event, payload []byte) ([]string, error) {
	var ev events.SQSEvent
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, fmt.Errorf("SQS event: %w", err)
	}
	ids := map[string]bool{}
	for _, m := range ev.Records {
		ids[m.MessageId] = true
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var r events.SQSEventResponse
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("response is not an SQSEventResponse: %w: %.200s", err, payload)
	}
	var failed []string
	for _, f := range r.BatchItemFailures {
		if !ids[f.ItemIdentifier] {
			return nil, fmt.Errorf("batchItemFailures names %q, not a message of the batch", f.ItemIdentifier)
		}
		failed = append(failed, f.ItemIdentifier)
	}
	sort.Strings(failed)
	return failed, nil
}

// Normalize returns the comparable content of a response to event, with volatile values
// masked (see Mask): for HTTP the status, content type, base64 flag and body (as masked
// JSON where the content type is JSON); for SQS the sorted failed message ids; for other
// events the masked response. Two responses are equivalent when their normalized forms
// are equal.
func Normalize(event, payload []byte) ([]byte, error) {
	if err := Check(event, payload); err != nil {
		return nil, err
	}
	kind, _ := KindOf(event)
	var v any
	switch kind {
	case KindSQS:
		failed, _ := sqsFailures(event, payload)
		v = map[string]any{"batchItemFailures": failed}
	case KindHTTP:
		a, _ := decodeHTTP(payload)
		if a.JSON != nil {
			a.JSON = Mask(a.JSON)
		}
		v = a
	default:
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("normalize: %w", err)
		}
		v = Mask(v)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("normalize: %w", err)
	}
	return out, nil
}

// volatileKeys hold values that differ between two runs of the same event against fresh
// tables: generated ids, request ids, times, tokens and secrets.
var volatileKeys = map[string]bool{
	"id": true, "request_id": true, "requestId": true,
	"token": true, "secret": true, "key": true,
	"created_at": true, "updated_at": true, "secret_rotated_at": true, "rotated_at": true,
	"challenge_ts": true, "answered_at": true, "expires_at": true, "issued_at": true,
}

var (
	timeRE   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)
	tokenRE  = regexp.MustCompile(`^P1_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)
	secretRE = regexp.MustCompile(`^0x[0-9a-f]{40}$`)
	// Random ids are long hex runs, also inside paths ("/requests/pr_<hex>/verify"); UUIDs
	// (at most 12 hex digits in a row) are kept.
	hexRunRE = regexp.MustCompile(`[0-9a-f]{16,}`)
)

// testSecret is hCaptcha's published test secret, which is not volatile.
const testSecret = "0x0000000000000000000000000000000000000000"

// Mask replaces volatile values in a decoded JSON document: string and number values under
// volatileKeys, RFC 3339 times, pass tokens ("P1_…"), site secrets ("0x" + 40 hex), runs
// of 16 or more hex digits anywhere in a string (random ids, also inside paths) and the
// query of signed URLs (X-Amz-Signature). Everything else is kept, so a difference in any
// status, code, message or field still shows.
func Mask(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			switch val.(type) {
			case string, json.Number, float64:
				if volatileKeys[k] && val != testSecret {
					out[k] = "<" + k + ">"
					continue
				}
			}
			out[k] = Mask(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = Mask(val)
		}
		return out
	case string:
		return maskString(x)
	}
	return v
}

func maskString(s string) string {
	switch {
	case timeRE.MatchString(s):
		return "<time>"
	case tokenRE.MatchString(s):
		return "<token>"
	case s != testSecret && secretRE.MatchString(s):
		return "<secret>"
	}
	if strings.Contains(s, "X-Amz-Signature=") {
		if u, err := url.Parse(s); err == nil {
			u.RawQuery = "<signed>"
			s = u.String()
		}
	}
	if s == testSecret {
		return s
	}
	return hexRunRE.ReplaceAllString(s, "<hex>")
}

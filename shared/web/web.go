// Package web holds the HTTP edge shared by every function: JSON bodies, the error
// envelope (domain errors become status codes only here), request ids, structured logs,
// panic recovery and CORS for the browser routes.
package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/shared/strictjson"
)

// Error is an error with a stable, documented code and the HTTP status it maps to.
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Common error codes used by more than one function.
const (
	CodeBadRequest   = "bad_request"
	CodeBadJSON      = "invalid_json"
	CodeTooLarge     = "body_too_large"
	CodeNotFound     = "not_found"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeConflict     = "conflict"
	CodeInternal     = "internal_error"
	CodeUnavailable  = "unavailable"
)

// ErrorBody is the JSON envelope of every error answer (except /siteverify, which speaks
// hCaptcha's format). RetryAfter and SignupURL appear only on the answers that carry them
// (a 429, the accessibility routes' 401).
type ErrorBody struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		RequestID  string `json:"request_id,omitempty"`
		RetryAfter int    `json:"retry_after,omitempty"`
		SignupURL  string `json:"signup_url,omitempty"`
	} `json:"error"`
}

// NewErrorBody is the envelope of code and message for request r.
func NewErrorBody(r *http.Request, code, message string) ErrorBody {
	var body ErrorBody
	body.Error.Code, body.Error.Message, body.Error.RequestID = code, message, RequestID(r.Context())
	return body
}

// WriteJSON writes v as a JSON answer with the given status: never cached (answers carry
// keys, secrets and tokens) and never sniffed by a browser into another type (error
// messages name paths and fields the caller sent).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// RetrySeconds is a wait in whole seconds, rounded up and at least 1: a client told to
// come back after 0 seconds would retry at once.
func RetrySeconds(d time.Duration) int { return max(int((d+time.Second-1)/time.Second), 1) }

// WriteTryLater answers a refusal for a while: 429 with code, the wait in the Retry-After
// header and in the envelope's retry_after (whole seconds, see RetrySeconds).
func WriteTryLater(w http.ResponseWriter, r *http.Request, code, message string, secs int) {
	secs = max(secs, 1) // retry_after is always there: never 0, which omitempty would drop
	body := NewErrorBody(r, code, message)
	body.Error.RetryAfter = secs
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	WriteJSON(w, http.StatusTooManyRequests, body)
}

// WriteError answers with err's status and code. Errors that are not *Error are logged and
// answered as a 500 without detail: internal messages never reach a client.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		Logger(r.Context()).ErrorContext(r.Context(), "request failed", "err", err)
		e = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"}
	} else if e.Status >= 500 {
		Logger(r.Context()).ErrorContext(r.Context(), "request failed", "code", e.Code, "err", err)
	}
	WriteJSON(w, e.Status, NewErrorBody(r, e.Code, e.Message))
}

// DecodeJSON reads a JSON body of at most limit bytes into v. Unknown fields are refused so
// typos surface as errors instead of silently ignored settings.
func DecodeJSON(r *http.Request, limit int64, v any) error {
	body, err := readBody(r, limit)
	if err != nil {
		return err
	}
	return decodeBody(body, v)
}

// DecodeOptionalJSON is DecodeJSON for a route whose body may be left out: an empty or
// blank body leaves v as it is. A body over the limit is refused even when blank.
func DecodeOptionalJSON(r *http.Request, limit int64, v any) error {
	body, err := readBody(r, limit)
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return err
	}
	return decodeBody(body, v)
}

// NoBody reports whether r came without a body (or with {}); otherwise it writes the error
// (400 invalid_json, 413 body_too_large) and reports false. A route that takes no body
// refuses one like any unknown field, so a setting sent there is not mistaken for one that
// was applied.
func NoBody(w http.ResponseWriter, r *http.Request, limit int64) bool {
	if err := DecodeOptionalJSON(r, limit, &struct{}{}); err != nil {
		WriteError(w, r, err)
		return false
	}
	return true
}

func readBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "could not read body", Err: err}
	}
	if int64(len(body)) > limit {
		return nil, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "body exceeds %d bytes", limit)
	}
	return body, nil
}

func decodeBody(body []byte, v any) error {
	err := strictjson.Decode(body, v)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, strictjson.ErrTrailingData):
		return Errorf(http.StatusBadRequest, CodeBadJSON, "body has trailing data after the JSON value")
	default:
		return &Error{Status: http.StatusBadRequest, Code: CodeBadJSON, Message: "body is not valid JSON for this request: " + jsonProblem(err)}
	}
}

// jsonProblem describes a decode error without echoing the client's data back.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return "the body must be " + jsonKind(typ.Type)
		}
		return fmt.Sprintf("field %q must be %s", typ.Field, jsonKind(typ.Type))
	case errors.Is(err, io.EOF):
		return "empty body"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "malformed"
}

// jsonKind names the JSON value a Go type decodes from, in the client's terms: the Go type
// itself (a struct's field list, a package path) means nothing to an API user.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmt.Sprintf("a whole number that fits in %d bits", t.Bits())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("a whole number from 0 that fits in %d bits", t.Bits())
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a different JSON type"
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyLogger
	keyGatewayRequestID
)

// WithGatewayRequestID carries the id API Gateway gave a request (its requestContext's
// requestId, which its access logs show) to Middleware, which then names the request by
// it instead of an id of its own.
func WithGatewayRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, keyGatewayRequestID, id)
}

// RequestID returns the id assigned to the request by Middleware.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

// Logger returns the request-scoped logger (with request_id) or the default logger.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(keyLogger).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// WithLogger returns ctx carrying l (used by queue consumers for per-message ids).
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, keyLogger, l)
}

// NewID returns a random 128-bit identifier in hex.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Middleware assigns a request id, logs one line per request (method, route pattern,
// status — never paths, bodies, query strings or client addresses) and turns panics into
// 500s. The id is API Gateway's (WithGatewayRequestID) or a random one, never a caller's
// X-Request-Id: the logs would then hold any string a caller chose to put there, and
// whatever shape check let ids through would let an address in base64 through too.
func Middleware(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := r.Context().Value(keyGatewayRequestID).(string)
		if !gatewayRequestID(id) {
			id = NewID()
		}
		l := log.With("request_id", id)
		ctx := context.WithValue(context.WithValue(r.Context(), keyRequestID, id), keyLogger, l)
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		rec.Header().Set("X-Request-Id", id)
		defer func() {
			if p := recover(); p != nil {
				l.ErrorContext(ctx, "panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !rec.wrote {
					WriteError(rec, r, fmt.Errorf("panic: %v", p))
				}
			}
			// The route pattern, not the path: paths carry identifiers such as the
			// looked-up address of GET /v1/risk/ips/{ip}.
			route := r.Pattern
			if route == "" {
				route = "unrouted"
			}
			l.InfoContext(ctx, "request", "method", r.Method, "route", route, "status", rec.status)
		}()
		next.ServeHTTP(rec, r)
	})
}

// gatewayRequestID reports whether an id looks like API Gateway's (up to 64 letters,
// digits and - _ =); a test event or a stand-in may carry anything.
func gatewayRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '=') {
			return false
		}
	}
	return true
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wrote {
		s.wrote = true
	}
	return s.ResponseWriter.Write(b)
}

// CORS lets any origin call a browser route. The widget sends no cookies or credentials,
// so a wildcard origin exposes nothing; preflight requests are answered here. Authorization
// is allowed for bearer secrets a page holds itself (the privacy status secret); without
// credentials mode a browser never adds one on its own.
func CORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
		h.Set("Access-Control-Max-Age", "600")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ClientIP returns the caller's address: API Gateway puts the source IP in RemoteAddr
// (through the Lambda adapter); net/http adds a port, which is dropped.
func ClientIP(r *http.Request) net.IP {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return net.ParseIP(host)
}

// CORSWithCredentials lets any origin call a browser route WITH credentials (cookies): the
// answer names the caller's origin instead of "*", which browsers require before they
// expose a credentialed answer, and varies by Origin so caches keep answers apart. The
// handler must itself decide what a cookie may do for an origin (the accessibility routes
// require the page's hostname to be the origin's). Only a web page's origin is named:
// "null" (a sandboxed frame, a file, a redirect across sites) is shared by every such
// document, so granting it would let any of them read a visitor's credentialed answers.
// Preflight requests are answered here.
func CORSWithCredentials(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		if origin := r.Header.Get("Origin"); IsWebOrigin(origin) {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type")
			h.Set("Access-Control-Max-Age", "600")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// IsWebOrigin reports whether an Origin header names a web page's origin, as browsers
// send it: http or https, a host, nothing after it ("https://shop.example:8443").
func IsWebOrigin(origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != "" &&
		origin == u.Scheme+"://"+u.Host
}

// BearerToken returns the token of "Authorization: Bearer <token>" (the scheme is
// case-insensitive); false when the header is missing, has another scheme or no token.
func BearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// Unauthorized answers 401 unauthorized with a Bearer challenge for realm.
func Unauthorized(w http.ResponseWriter, r *http.Request, realm, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
	WriteError(w, r, Errorf(http.StatusUnauthorized, CodeUnauthorized, "%s", msg))
}

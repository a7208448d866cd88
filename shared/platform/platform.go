// Package platform is what every function's main shares: it reads the configuration once,
// builds AWS SDK clients once (lazily, so a binary links only the clients it uses), sets up
// JSON logging and starts the Lambda runtime with an HTTP or SQS handler. The local stack
// builds the same Env with loopback endpoints and in-process queues.
package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/token"
	"github.com/crowdgate/crowdgate/shared/web"
)

// SQSHandler is the signature of every queue consumer (partial batch responses).
type SQSHandler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Sender sends JSON messages to one queue.
type Sender interface {
	SendJSON(ctx context.Context, msgs ...any) error
}

// MaxMessageBytes is SQS's limit on one message, and on the bodies of one batch together:
// 1 MiB since August 2025 (it was 256 KiB). The local broker holds its messages to it too.
const MaxMessageBytes = 1 << 20

// ErrMessageTooLarge is what EncodeMessages returns for a message over MaxMessageBytes.
var ErrMessageTooLarge = errors.New("message too large")

// EncodeMessages encodes every message as a queue body first, so that a Sender sends all of
// them or, when one does not encode or is over MaxMessageBytes, none.
func EncodeMessages(msgs ...any) ([]string, error) {
	bodies := make([]string, len(msgs))
	for i, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encode message: %w", err)
		}
		if len(b) > MaxMessageBytes {
			return nil, fmt.Errorf("message %d is %d bytes, over the SQS limit of %d bytes: %w", i, len(b), MaxMessageBytes, ErrMessageTooLarge)
		}
		bodies[i] = string(b)
	}
	return bodies, nil
}

// Env is a function's environment: configuration, AWS configuration and clients, logger
// and clock. Build it with Load (Lambda) or by hand (local stack, tests).
type Env struct {
	Config config.Config
	AWS    aws.Config
	Log    *slog.Logger
	// Now is the clock; nil means time.Now (Clock returns the one to use).
	Now func() time.Time
	// Queues, when set, replaces SQS senders (the local stack's in-process queues).
	Queues func(logical string) (Sender, error)
	// LocalS3 switches the S3 client to path-style addressing without optional checksums,
	// which gofakes3 needs.
	LocalS3 bool

	dynamoOnce sync.Once
	dynamo     *dynamodb.Client
	s3Once     sync.Once
	s3         *s3.Client
	sqsOnce    sync.Once
	sqs        *sqs.Client
	smOnce     sync.Once
	sm         *secretsmanager.Client
}

// Load reads the configuration from the environment and the AWS configuration from the
// default chain (which honours AWS_ENDPOINT_URL_<SERVICE> for local stand-ins).
func Load(ctx context.Context) (*Env, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return &Env{Config: cfg, AWS: awsCfg, Log: NewLogger(os.Stdout, cfg.LogLevel), Now: time.Now}, nil
}

// NewLogger returns the JSON logger every function uses.
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	err := l.UnmarshalText([]byte(strings.ToUpper(level)))
	if err != nil {
		l = slog.LevelInfo
	}
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
	if err != nil && level != "" {
		// Said once, at start: a mistyped level would otherwise silently log at info.
		log.Warn("log level not understood; logging at info", "level", level, "want", "debug, info, warn or error")
	}
	return log
}

// Logger returns Log, or slog's default logger when an Env was built without one.
func (e *Env) Logger() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

// DynamoDB returns the shared DynamoDB client.
func (e *Env) DynamoDB() *dynamodb.Client {
	e.dynamoOnce.Do(func() { e.dynamo = dynamodb.NewFromConfig(e.AWS) })
	return e.dynamo
}

// S3 returns the shared S3 client.
func (e *Env) S3() *s3.Client {
	e.s3Once.Do(func() {
		e.s3 = s3.NewFromConfig(e.AWS, func(o *s3.Options) {
			if e.LocalS3 {
				o.UsePathStyle = true
				o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
				o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
			}
		})
	})
	return e.s3
}

// SQS returns the shared SQS client.
func (e *Env) SQS() *sqs.Client {
	e.sqsOnce.Do(func() { e.sqs = sqs.NewFromConfig(e.AWS) })
	return e.sqs
}

// SecretsManager returns the shared Secrets Manager client.
func (e *Env) SecretsManager() *secretsmanager.Client {
	e.smOnce.Do(func() { e.sm = secretsmanager.NewFromConfig(e.AWS) })
	return e.sm
}

// Clock returns the environment's clock: Now, or time.Now when none is set.
func (e *Env) Clock() func() time.Time {
	if e.Now != nil {
		return e.Now
	}
	return time.Now
}

// Queue returns a sender for a logical queue (schema.Queue*).
func (e *Env) Queue(logical string) (Sender, error) {
	if e.Queues != nil {
		return e.Queues(logical)
	}
	url, err := e.Config.Queue(logical)
	if err != nil {
		return nil, err
	}
	return &sqsSender{client: e.SQS(), url: url}, nil
}

// SigningKeys returns the token-signing key list ("kid:base64,…", newest first), from the
// environment or from Secrets Manager on AWS. It reads the secret on every call: functions
// keep it in a token.Keyring, which calls it again to pick up rotated keys.
func (e *Env) SigningKeys(ctx context.Context) (string, error) {
	return e.Secret(ctx, e.Config.SigningKeys, e.Config.SigningSecretARN, "SIGNING_KEYS or SIGNING_SECRET_ARN")
}

// Keyring is the token-signing keyring every function that signs or checks pass tokens
// uses. It re-reads SigningKeys periodically, so rotated keys are picked up without a
// redeploy; a failed re-read keeps the previous keys and is logged.
func (e *Env) Keyring(ctx context.Context) (*token.Keyring, error) {
	return token.NewKeyring(ctx, e.SigningKeys, token.KeyringOptions{OnError: func(err error) {
		e.Logger().Warn("re-reading the signing keys failed; keeping the previous ones", "err", err)
	}})
}

// Secret returns value when it is set (local stack, tests), else the string of the Secrets
// Manager secret that arn names (AWS); settings names the two variables for the error.
func (e *Env) Secret(ctx context.Context, value, arn, settings string) (string, error) {
	if value != "" {
		return value, nil
	}
	if arn == "" {
		return "", errors.New("config: set " + settings)
	}
	out, err := e.SecretsManager().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn})
	if err != nil {
		return "", fmt.Errorf("read secret (%s): %w", settings, err)
	}
	return aws.ToString(out.SecretString), nil
}

// sqsSender sends JSON messages in batches within SQS's limits.
type sqsSender struct {
	client sqsBatchAPI
	url    string
}

// sqsBatchAPI is the part of the SQS client the sender uses (*sqs.Client; fakes in tests).
type sqsBatchAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// sqsMaxBatchEntries is how many messages one SendMessageBatch takes.
const sqsMaxBatchEntries = 10

// SendJSON encodes every message first (EncodeMessages: one that cannot go sends none),
// then sends them in order in batches of at most ten messages and MaxMessageBytes. A batch
// SQS refuses leaves the batches before it sent.
func (s *sqsSender) SendJSON(ctx context.Context, msgs ...any) error {
	bodies, err := EncodeMessages(msgs...)
	if err != nil {
		return fmt.Errorf("send to queue: %w", err)
	}
	for start := 0; start < len(bodies); {
		// Every body fits alone, so each batch takes at least one.
		end, size := start, 0
		for end < len(bodies) && end-start < sqsMaxBatchEntries && size+len(bodies[end]) <= MaxMessageBytes {
			size += len(bodies[end])
			end++
		}
		entries := make([]sqstypes.SendMessageBatchRequestEntry, 0, end-start)
		for i, b := range bodies[start:end] {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(b)})
		}
		out, err := s.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &s.url, Entries: entries})
		if err != nil {
			return fmt.Errorf("send to queue: %w", err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("send to queue: %d of %d messages failed (first: %s)", len(out.Failed), len(entries), aws.ToString(out.Failed[0].Message))
		}
		start = end
	}
	return nil
}

// StartHTTP builds an HTTP function's handler once and serves it through the API Gateway
// HTTP API (payload v2) adapter. A build failure is logged and exits: Lambda reports it as
// an init error.
func StartHTTP(build func(ctx context.Context, env *Env) (http.Handler, error)) {
	env, h := mustBuild(build)
	lambda.Start(ProxyHTTP(web.Middleware(env.Log, h)))
}

// ProxyHTTP serves API Gateway HTTP API (payload v2) events with h through the adapter
// (httpadapter.NewV2), mending two ways in which its request differs from the one net/http
// (the local stack) builds for the same call:
//   - The adapter splits every header value but a few at its commas, so Get saw only the
//     first part of a list: the GREASE brand of Sec-CH-UA (`"Not_A Brand";v="8",
//     "Chromium";v="120", …`), which the risk score then took for a lying browser, or the
//     first language of Accept-Language. h gets each value whole, as API Gateway sent it.
//   - API Gateway hands rawPath over decoded, so a '%' the client sent as %25 arrives
//     bare: the adapter cannot parse the URL, the invocation fails (API Gateway answers a
//     bare 500) and the adapter prints the path and query string, which can hold an
//     address or a code. Such bytes are escaped again (encodedPath), so the route decides.
func ProxyHTTP(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	adapter := httpadapter.NewV2(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers, _ := r.Context().Value(eventHeadersKey{}).(map[string]string)
		for name, v := range headers {
			// Cookies come from the event's cookies array, one header line each.
			if name = textproto.CanonicalMIMEHeaderKey(name); name != "Cookie" {
				r.Header[name] = []string{v}
			}
		}
		h.ServeHTTP(w, r)
	}))
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		ev.RawPath = encodedPath(ev.RawPath)
		ev.RequestContext.HTTP.Path = encodedPath(ev.RequestContext.HTTP.Path)
		ctx = web.WithGatewayRequestID(context.WithValue(ctx, eventHeadersKey{}, ev.Headers), ev.RequestContext.RequestID)
		return adapter.ProxyWithContext(ctx, ev)
	}
}

type eventHeadersKey struct{}

// encodedPath escapes the bytes that never stand literally in an encoded path — a '%'
// without two hex digits after it, '#', '?' and control characters — and keeps the rest:
// a decoded path then parses as the client's path would, and an encoded one is unchanged.
func encodedPath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]):
			b.WriteByte(c)
		case c == '%' || c == '#' || c == '?' || c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// StartSQS builds a queue consumer once and serves it.
func StartSQS(build func(ctx context.Context, env *Env) (SQSHandler, error)) {
	env, h := mustBuild(build)
	lambda.Start(InvocationLogged(IsolatePanics(h, env.Log), env.Log))
}

// InvocationLogged gives the lines a queue consumer logs through web.Logger the Lambda
// invocation's request id, which ties them to Lambda's own lines for the invocation
// (REPORT: duration and memory used; timeouts). HTTP requests are named by API Gateway's
// id instead (ProxyHTTP).
func InvocationLogged(h SQSHandler, log *slog.Logger) SQSHandler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
			ctx = web.WithLogger(ctx, log.With("request_id", lc.AwsRequestID))
		}
		return h(ctx, ev)
	}
}

// IsolatePanics makes a panic fail only the messages that cause it. A panic would end the
// invocation and return the whole batch to the queue, the good messages with it, batch
// after batch until the poison one reaches the dead-letter queue. After a panic each
// message is handled again on its own (consumers are idempotent) and only those that
// panic, fail or are reported as failed are reported.
func IsolatePanics(h SQSHandler, log *slog.Logger) SQSHandler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		resp, panicked, err := callSQS(ctx, h, ev)
		if panicked == nil {
			return resp, err
		}
		log.ErrorContext(ctx, "queue consumer panicked; handling the batch's messages one at a time", "messages", len(ev.Records), "panic", panicked)
		var out events.SQSEventResponse
		for _, rec := range ev.Records {
			one, p, err := callSQS(ctx, h, events.SQSEvent{Records: []events.SQSMessage{rec}})
			if p != nil || err != nil || len(one.BatchItemFailures) > 0 {
				out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			}
		}
		return out, nil
	}
}

// Recovered runs fn and returns a panic in it as an error (with the stack). A consumer's
// work on goroutines of its own needs it: a panic there would end the process, out of
// reach of IsolatePanics, and every message of the batch with it.
func Recovered(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return fn()
}

// callSQS runs h and returns what it panicked with, if it did.
func callSQS(ctx context.Context, h SQSHandler, ev events.SQSEvent) (resp events.SQSEventResponse, panicked any, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked = fmt.Sprint(p)
		}
	}()
	resp, err = h(ctx, ev)
	return resp, nil, err
}

// StartHTTPAndSQS serves a function with two event sources, an HTTP API and a queue:
// both handlers are built once from the same Env, and each invocation goes to the one
// its event is for (MixedHandler).
func StartHTTPAndSQS(buildHTTP func(ctx context.Context, env *Env) (http.Handler, error), buildSQS func(ctx context.Context, env *Env) (SQSHandler, error)) {
	env, h := mustBuild(buildHTTP)
	q, err := buildSQS(context.Background(), env)
	if err != nil {
		env.Log.Error("init failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(MixedHandler(web.Middleware(env.Log, h), InvocationLogged(IsolatePanics(q, env.Log), env.Log)))
}

// MixedHandler answers SQS events (Records from aws:sqs) with q and everything else as
// API Gateway HTTP API (payload v2) requests with h.
func MixedHandler(h http.Handler, q SQSHandler) func(ctx context.Context, event json.RawMessage) (any, error) {
	proxy := ProxyHTTP(h)
	return func(ctx context.Context, event json.RawMessage) (any, error) {
		var probe struct {
			Records []struct {
				EventSource string `json:"eventSource"`
			} `json:"Records"`
		}
		if json.Unmarshal(event, &probe) == nil && len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs" {
			var ev events.SQSEvent
			if err := json.Unmarshal(event, &ev); err != nil {
				return nil, fmt.Errorf("decode SQS event: %w", err)
			}
			return q(ctx, ev)
		}
		var req events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(event, &req); err != nil {
			return nil, fmt.Errorf("decode HTTP API event: %w", err)
		}
		return proxy(ctx, req)
	}
}

// StartEvent builds the handler of a function invoked with JSON events (Secrets Manager
// rotation steps, EventBridge Scheduler payloads) once and serves it. A returned error
// fails the invocation, so the caller retries and the Errors alarm sees it.
func StartEvent[E any](build func(ctx context.Context, env *Env) (func(ctx context.Context, ev E) error, error)) {
	_, h := mustBuild(build)
	lambda.Start(h)
}

func mustBuild[H any](build func(ctx context.Context, env *Env) (H, error)) (*Env, H) {
	ctx := context.Background()
	env, err := Load(ctx)
	if err != nil {
		slog.Error("init failed", "err", err)
		os.Exit(1)
	}
	slog.SetDefault(env.Log)
	h, err := build(ctx, env)
	if err != nil {
		env.Log.Error("init failed", "err", err)
		os.Exit(1)
	}
	return env, h
}

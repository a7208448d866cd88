package rie_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/rie"
	accessibilityhandler "github.com/crowdgate/crowdgate/functions/accessibility/handler"
	adminhandler "github.com/crowdgate/crowdgate/functions/admin/handler"
	challengehandler "github.com/crowdgate/crowdgate/functions/challenge/handler"
	consensushandler "github.com/crowdgate/crowdgate/functions/consensus/handler"
	exporthandler "github.com/crowdgate/crowdgate/functions/export/handler"
	jobshandler "github.com/crowdgate/crowdgate/functions/jobs/handler"
	privacyhandler "github.com/crowdgate/crowdgate/functions/privacy/handler"
	privacyworkerhandler "github.com/crowdgate/crowdgate/functions/privacyworker/handler"
	riskhandler "github.com/crowdgate/crowdgate/functions/risk/handler"
	rotatekeyshandler "github.com/crowdgate/crowdgate/functions/rotatekeys/handler"
	verifyhandler "github.com/crowdgate/crowdgate/functions/verify/handler"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/token"
	"github.com/crowdgate/crowdgate/shared/web"
)

type (
	httpWire = func(context.Context, *platform.Env) (http.Handler, error)
	sqsWire  = func(context.Context, *platform.Env) (platform.SQSHandler, error)
)

// wires are the Wire functions a function's main.go passes to platform.Start*: HTTP to
// StartHTTP, SQS to StartSQS, both to StartHTTPAndSQS, Event to StartEvent (a
// func(context.Context, *platform.Env) (func(context.Context, E) error, error)).
type wires struct {
	HTTP  httpWire
	SQS   sqsWire
	Event any
}

// inProcess maps every function under functions/ to its wires. Go cannot import a package
// found at run time, so a new function needs one line here;
// TestEveryFunctionHasAnInProcessWire says so when it is missing.
var inProcess = map[string]wires{
	"accessibility": {HTTP: accessibilityhandler.Wire},
	"admin":         {HTTP: adminhandler.Wire},
	"challenge":     {HTTP: challengehandler.Wire},
	"consensus":     {SQS: consensushandler.Wire},
	"export":        {SQS: exporthandler.Wire},
	"jobs":          {HTTP: jobshandler.Wire},
	"privacy":       {HTTP: privacyhandler.Wire},
	"privacyworker": {SQS: privacyworkerhandler.Wire},
	"risk":          {HTTP: riskhandler.Wire, SQS: riskhandler.WireConsumer},
	"rotatekeys":    {Event: rotatekeyshandler.Wire},
	"verify":        {HTTP: verifyhandler.Wire},
}

// kinds are the event kinds w serves (none when it is empty or Event has the wrong type).
func (w wires) kinds() map[rie.Kind]bool {
	k := map[rie.Kind]bool{}
	if w.HTTP != nil {
		k[rie.KindHTTP] = true
	}
	if w.SQS != nil {
		k[rie.KindSQS] = true
	}
	if w.Event != nil && eventHandlerType(reflect.TypeOf(w.Event)) != nil {
		k[rie.KindEvent] = true
	}
	return k
}

var (
	ctxType   = reflect.TypeFor[context.Context]()
	envType   = reflect.TypeFor[*platform.Env]()
	errorType = reflect.TypeFor[error]()
)

// eventHandlerType returns func(context.Context, E) error when wire is
// func(context.Context, *platform.Env) (func(context.Context, E) error, error), else nil.
func eventHandlerType(wire reflect.Type) reflect.Type {
	if wire == nil || wire.Kind() != reflect.Func || wire.NumIn() != 2 || wire.NumOut() != 2 ||
		wire.In(0) != ctxType || wire.In(1) != envType || wire.Out(1) != errorType {
		return nil
	}
	h := wire.Out(0)
	if h.Kind() != reflect.Func || h.NumIn() != 2 || h.NumOut() != 1 || h.In(0) != ctxType || h.Out(0) != errorType {
		return nil
	}
	return h
}

func moduleRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := rie.Root(wd)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// needRIE skips when aws-lambda-rie is not installed.
func needRIE(t testing.TB) string {
	t.Helper()
	p, err := rie.Path()
	if err != nil {
		t.Skipf("%v: these tests run the Lambda binaries under it (`go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@…` outside the test namespace)", err)
	}
	return p
}

// backends are the local AWS stand-ins every function's environment points at: DynamoDB
// Local (skips the test where it cannot run), gofakes3 and the SQS stub, all on loopback.
type backends struct {
	dynamoURL string
	s3URL     string
	s3        *s3.Client
	sqs       *sqsStub
}

var bucketSeq atomic.Int64

func newBackends(t testing.TB) *backends {
	t.Helper()
	ep := dynamotest.Endpoint(t)
	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(s3srv.Close)
	b := &backends{dynamoURL: ep, s3URL: s3srv.URL, sqs: newSQSStub(t)}
	b.s3 = s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s3srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	return b
}

// world is one fresh set of resources a function runs against.
type world struct {
	rie.Resources
	// secrets is the Secrets Manager holding the signing-key secret (SIGNING_SECRET_ARN).
	secrets *secretsStub
}

// defaultSigningSecretARN names the signing-key secret unless a function's events name
// one (rotation events must name the secret the function rotates).
const defaultSigningSecretARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:crowdgate-signing-keys"

// resources creates a fresh set of every table and bucket, names a fresh set of queues,
// all under a prefix of their own, and starts a Secrets Manager holding the signing keys;
// it returns a function environment for them.
func (b *backends) resources(t testing.TB, keys secrets) world {
	t.Helper()
	tables := dynamotest.Tables(t, dynamotest.Client(t))
	n := bucketSeq.Add(1)
	buckets, queues := map[string]string{}, map[string]string{}
	for _, bk := range schema.Buckets {
		name := fmt.Sprintf("rie-%d-%d-%s", os.Getpid(), n, bk.Name)
		if _, err := b.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Fatalf("create bucket: %v", err)
		}
		buckets[bk.Name] = name
	}
	for _, q := range schema.Queues {
		queues[q.Name] = b.sqs.QueueURL(fmt.Sprintf("rie-%d-%d-%s", os.Getpid(), n, q.Name))
	}
	arn := keys.signingARN
	if arn == "" {
		arn = defaultSigningSecretARN
	}
	sm := newSecretsStub(t)
	sm.create(arn, keys.signing)
	return world{secrets: sm, Resources: rie.Resources{
		Tables: tables, Buckets: buckets, Queues: queues, SigningKeys: keys.signing,
		Endpoints: map[string]string{"DynamoDB": b.dynamoURL, "S3": b.s3URL, "SQS": b.sqs.srv.URL, "Secrets Manager": sm.srv.URL},
		Extra: map[string]string{
			"LOG_LEVEL": "warn",
			// Mail goes to a folder (the local outbox) instead of SES.
			"MAIL_OUTBOX_DIR":    t.TempDir(),
			"PRIVACY_KEY":        keys.privacy,
			"SIGNING_SECRET_ARN": arn,
			// The accessibility function's confirm links (the events' host).
			"PUBLIC_URL": "https://api.crowdgate.example",
		},
	}}
}

// secrets are the keys a function environment holds; both sides of a comparison get the
// same ones, so tokens and hashes one side makes are valid on the other.
type secrets struct {
	signing    string // SIGNING_KEYS, also the value of the secret SIGNING_SECRET_ARN
	signingARN string // SIGNING_SECRET_ARN; default defaultSigningSecretARN
	privacy    string // PRIVACY_KEY
}

func newSecrets(t testing.TB) secrets {
	t.Helper()
	k, err := token.NewKey("rie1")
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 32)
	if _, err := rand.Read(p); err != nil {
		t.Fatal(err)
	}
	return secrets{signing: k, privacy: base64.StdEncoding.EncodeToString(p)}
}

// endpointSource names a base endpoint per SDK service id, as AWS_ENDPOINT_URL_<SERVICE>
// does for the binary.
type endpointSource map[string]string

func (e endpointSource) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	u, ok := e[sdkID]
	return u, ok, nil
}

// platformEnv builds what platform.Load builds inside the binary, from the same variables:
// the configuration through config.FromLookup, the SDK configuration from the region,
// credentials and endpoints.
func platformEnv(t testing.TB, res rie.Resources) *platform.Env {
	t.Helper()
	vars := res.Env()
	cfg, err := config.FromLookup(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	endpoints := endpointSource{}
	for svc := range res.Endpoints {
		endpoints[svc] = vars[rie.EndpointEnv(svc)]
	}
	return &platform.Env{
		Config: cfg,
		AWS: aws.Config{
			Region:        vars["AWS_REGION"],
			Credentials:   credentials.NewStaticCredentialsProvider(vars["AWS_ACCESS_KEY_ID"], vars["AWS_SECRET_ACCESS_KEY"], ""),
			ConfigSources: []any{endpoints},
		},
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Now: time.Now,
	}
}

// inProcessInvoker answers events the way the function's main does, without the Lambda
// runtime: Wire, then platform.ProxyHTTP around web.Middleware (platform.StartHTTP), the
// SQS handler itself (platform.StartSQS), or the event handler (platform.StartEvent); a
// function with HTTP and SQS wires picks by event shape (platform.StartHTTPAndSQS). The
// answer is the JSON the runtime would send.
type inProcessInvoker func(ctx context.Context, event []byte) ([]byte, error)

func newInProcess(t testing.TB, fn string, env *platform.Env) inProcessInvoker {
	t.Helper()
	ctx := context.Background()
	w := inProcess[fn]
	if len(w.kinds()) == 0 {
		t.Fatalf("functions/%s has no in-process Wire in harness_test.go's inProcess map", fn)
	}
	byKind := map[rie.Kind]inProcessInvoker{}
	if w.HTTP != nil {
		h, err := w.HTTP(ctx, env)
		if err != nil {
			t.Fatalf("%s: Wire: %v", fn, err)
		}
		proxy := platform.ProxyHTTP(web.Middleware(env.Log, h))
		byKind[rie.KindHTTP] = func(ctx context.Context, event []byte) ([]byte, error) {
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(event, &ev); err != nil {
				return lambdaError(err), nil
			}
			resp, err := proxy(ctx, ev)
			if err != nil {
				return lambdaError(err), nil
			}
			return json.Marshal(resp)
		}
	}
	if w.SQS != nil {
		h, err := w.SQS(ctx, env)
		if err != nil {
			t.Fatalf("%s: Wire: %v", fn, err)
		}
		byKind[rie.KindSQS] = func(ctx context.Context, event []byte) ([]byte, error) {
			var ev events.SQSEvent
			if err := json.Unmarshal(event, &ev); err != nil {
				return lambdaError(err), nil
			}
			// platform.Start* makes env.Log the default logger.
			resp, err := h(web.WithLogger(ctx, env.Log), ev)
			if err != nil {
				return lambdaError(err), nil
			}
			return json.Marshal(resp)
		}
	}
	if w.kinds()[rie.KindEvent] {
		out := reflect.ValueOf(w.Event).Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(env)})
		if err, _ := out[1].Interface().(error); err != nil {
			t.Fatalf("%s: Wire: %v", fn, err)
		}
		h := out[0]
		// The handler takes the event decoded into its own type and answers null or fails.
		byKind[rie.KindEvent] = func(ctx context.Context, event []byte) ([]byte, error) {
			ev := reflect.New(h.Type().In(1))
			if err := json.Unmarshal(event, ev.Interface()); err != nil {
				return lambdaError(err), nil
			}
			res := h.Call([]reflect.Value{reflect.ValueOf(web.WithLogger(ctx, env.Log)), ev.Elem()})
			if err, _ := res[0].Interface().(error); err != nil {
				return lambdaError(err), nil
			}
			return []byte("null"), nil
		}
	}
	return func(ctx context.Context, event []byte) ([]byte, error) {
		kind, err := rie.KindOf(event)
		if err != nil {
			return nil, err
		}
		inv := byKind[kind]
		if inv == nil {
			return nil, fmt.Errorf("functions/%s takes no %s events", fn, kind)
		}
		return inv(ctx, event)
	}
}

// lambdaError is the error document the Lambda runtime sends for a handler error.
func lambdaError(err error) []byte {
	b, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": reflect.TypeOf(err).String()})
	return b
}

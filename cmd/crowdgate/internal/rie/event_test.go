package rie_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/rie"
)

const (
	httpEvent = `{"version":"2.0","routeKey":"POST /siteverify","rawPath":"/siteverify",
		"requestContext":{"http":{"method":"POST","path":"/siteverify"}},"body":"","isBase64Encoded":false}`
	sqsEvent = `{"Records":[
		{"messageId":"m-1","body":"{}","eventSource":"aws:sqs"},
		{"messageId":"m-2","body":"{}","eventSource":"aws:sqs"}]}`
)

// httpResponse is the JSON the Lambda runtime sends for an API Gateway v2 answer.
func httpResponse(t *testing.T, status int, contentType, body string, b64 bool) []byte {
	t.Helper()
	if b64 {
		body = base64.StdEncoding.EncodeToString([]byte(body))
	}
	b, err := json.Marshal(map[string]any{
		"statusCode": status, "headers": map[string]string{"Content-Type": contentType, "X-Request-Id": "r1"},
		"body": body, "isBase64Encoded": b64,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKindOfTellsHTTPFromSQSEvents(t *testing.T) {
	for _, c := range []struct {
		event string
		want  rie.Kind
	}{
		{httpEvent, rie.KindHTTP}, {sqsEvent, rie.KindSQS},
		{`{"Step":"createSecret","SecretId":"arn:x"}`, rie.KindEvent},
		{`{"version":"1.0","httpMethod":"POST"}`, rie.KindEvent},
		{`{"Records":[{"eventSource":"aws:s3"}]}`, rie.KindEvent},
		{`{"Records":"x"}`, rie.KindEvent},
	} {
		if got, err := rie.KindOf([]byte(c.event)); err != nil || got != c.want {
			t.Errorf("KindOf = %q, %v; want %q", got, err, c.want)
		}
	}
	for _, bad := range []string{`[]`, `null`, `"x"`} {
		if _, err := rie.KindOf([]byte(bad)); !errors.Is(err, rie.ErrUnknownEvent) {
			t.Errorf("KindOf(%s) = %v, want ErrUnknownEvent", bad, err)
		}
	}
	if _, err := rie.KindOf([]byte(`{not json`)); err == nil {
		t.Error("KindOf accepted broken JSON")
	}
}

func TestCheckRefusesWhatSAMWouldShowAsBroken(t *testing.T) {
	ev := []byte(httpEvent)
	cases := []struct {
		name    string
		payload []byte
		want    string // part of the error; "" = accepted
	}{
		{"json answer", httpResponse(t, 200, "application/json; charset=utf-8", `{"success":false}`, false), ""},
		{"client error", httpResponse(t, 404, "application/json", `{"error":{"code":"x"}}`, false), ""},
		{"script", httpResponse(t, 200, "text/javascript", "/* js */", true), ""},
		{"empty preflight", httpResponse(t, 204, "", "", false), ""},
		{"server error", httpResponse(t, 500, "application/json", `{"error":{"code":"internal"}}`, false), "status 500"},
		{"503", httpResponse(t, 503, "application/json", `{}`, false), "status 503"},
		{"json type, text body", httpResponse(t, 200, "application/json", "oops", false), "not one JSON value"},
		{"two json values", httpResponse(t, 200, "application/json", "{} {}", false), "not one JSON value"},
		{"base64 flag, text body", []byte(`{"statusCode":200,"body":"%%%","isBase64Encoded":true}`), "not base64"},
		{"no status", []byte(`{"body":"{}"}`), "no statusCode"},
		{"bad status", []byte(`{"statusCode":42}`), "not an HTTP status"},
		{"function error", []byte(`{"errorMessage":"boom","errorType":"errorString"}`), "function error errorString: boom"},
		{"not json", []byte(`null x`), "not a JSON object"},
	}
	for _, c := range cases {
		err := rie.Check(ev, c.payload)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
	var fe *rie.FunctionError
	if err := rie.Check(ev, []byte(`{"errorMessage":"boom","errorType":"errorString"}`)); !errors.As(err, &fe) || fe.Message != "boom" {
		t.Errorf("function error not reported as *FunctionError: %v", err)
	}
}

func TestCheckSQSResponses(t *testing.T) {
	ev := []byte(sqsEvent)
	for payload, want := range map[string]string{
		`{"batchItemFailures":[]}`:                         "",
		`{"batchItemFailures":[{"itemIdentifier":"m-2"}]}`: "",
		`{"batchItemFailures":[{"itemIdentifier":"m-9"}]}`: `names "m-9"`,
		`{"statusCode":200}`:                               "not an SQSEventResponse",
		`{"errorMessage":"x","errorType":"y"}`:             "function error",
	} {
		err := rie.Check(ev, []byte(payload))
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: error %v, want %q", payload, err, want)
		}
	}
	a, err := rie.Normalize(ev, []byte(`{"batchItemFailures":[{"itemIdentifier":"m-2"},{"itemIdentifier":"m-1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := rie.Normalize(ev, []byte(`{"batchItemFailures":[{"itemIdentifier":"m-1"},{"itemIdentifier":"m-2"}]}`))
	c, _ := rie.Normalize(ev, []byte(`{"batchItemFailures":[{"itemIdentifier":"m-1"}]}`))
	if string(a) != string(b) || string(a) == string(c) {
		t.Errorf("failure lists: order should not matter, membership should:\n%s\n%s\n%s", a, b, c)
	}
}

func TestCheckOtherEvents(t *testing.T) {
	ev := []byte(`{"job":"destroy-salts"}`)
	if err := rie.Check(ev, []byte(`null`)); err != nil {
		t.Errorf("null answer refused: %v", err)
	}
	var fe *rie.FunctionError
	if err := rie.Check(ev, []byte(`{"errorMessage":"destroy salts: throttled","errorType":"joinError"}`)); !errors.As(err, &fe) {
		t.Errorf("function error accepted: %v", err)
	}
	if err := rie.Check(ev, []byte(`Task timed out`)); err == nil {
		t.Error("non-JSON answer accepted")
	}
}

func TestNormalizeMasksOnlyVolatileValues(t *testing.T) {
	ev := []byte(httpEvent)
	site := func(id, created, secret, code string) []byte {
		return httpResponse(t, 201, "application/json", `{"sitekey":"4f0e1c2a-7b1d-4a9e-9c3f-2d8e6b5a1f00","id":"`+id+`",
			"created_at":"`+created+`","secret":"`+secret+`","hostnames":["shop.example"],
			"token":"P1_eyJhIjoxfQ.c2ln","image_url":"https://b.s3.example/k.png?X-Amz-Signature=`+id+`&X-Amz-Date=1",
			"nested":[{"when":"`+created+`","code":"`+code+`"}],"error":{"request_id":"`+id+`"}}`, false)
	}
	a, err := rie.Normalize(ev, site("aa", "2026-11-30T19:30:00Z", "0x"+strings.Repeat("a", 40), "ok"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := rie.Normalize(ev, site("bb", "2026-11-30T19:31:02.5+01:00", "0x"+strings.Repeat("b", 40), "ok"))
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Errorf("responses differing only in ids, times, secrets, tokens and signatures normalize differently:\n%s\n%s", a, b)
	}
	c, _ := rie.Normalize(ev, site("aa", "2026-11-30T19:30:00Z", "0x"+strings.Repeat("a", 40), "changed"))
	if string(a) == string(c) {
		t.Error("a different code in a nested object was masked away")
	}
	// Random ids inside paths are masked; the path around them is kept.
	p1, _ := rie.Normalize(ev, httpResponse(t, 202, "application/json", `{"verify":"/v1/privacy/requests/pr_c14b399de1b2be0d91f0b2b8707587c2/verify"}`, false))
	p2, _ := rie.Normalize(ev, httpResponse(t, 202, "application/json", `{"verify":"/v1/privacy/requests/pr_caa396d12846dc57f303423ad07b3d39/verify"}`, false))
	p3, _ := rie.Normalize(ev, httpResponse(t, 202, "application/json", `{"verify":"/v1/privacy/requests/pr_caa396d12846dc57f303423ad07b3d39/cancel"}`, false))
	if string(p1) != string(p2) || string(p1) == string(p3) {
		t.Errorf("ids in paths: want equal then different:\n%s\n%s\n%s", p1, p2, p3)
	}
	for _, kept := range []string{"4f0e1c2a-7b1d-4a9e-9c3f-2d8e6b5a1f00", "shop.example", "https://b.s3.example/k.png"} {
		if !strings.Contains(string(a), kept) {
			t.Errorf("normalized form lost %q:\n%s", kept, a)
		}
	}
	// hCaptcha's published test secret is a constant, not a generated secret.
	testKey := httpResponse(t, 200, "application/json", `{"secret":"0x0000000000000000000000000000000000000000"}`, false)
	if n, _ := rie.Normalize(ev, testKey); !strings.Contains(string(n), "0x0000000000000000000000000000000000000000") {
		t.Errorf("test secret masked: %s", n)
	}

	// Status, content type and non-JSON bodies are compared as they are.
	base, _ := rie.Normalize(ev, httpResponse(t, 200, "text/javascript", "/* v1 */", true))
	for _, other := range [][]byte{
		httpResponse(t, 200, "text/javascript", "/* v2 */", true),
		httpResponse(t, 200, "text/javascript", "/* v1 */", false),
		httpResponse(t, 200, "application/javascript", "/* v1 */", true),
		httpResponse(t, 201, "text/javascript", "/* v1 */", true),
	} {
		if n, _ := rie.Normalize(ev, other); string(n) == string(base) {
			t.Errorf("difference not seen: %s", n)
		}
	}
}

func TestResourcesEnvNamesEverythingAFunctionReads(t *testing.T) {
	env := rie.Resources{
		Tables:      map[string]string{"accounts": "t1-accounts"},
		Queues:      map[string]string{"risk-events": "http://127.0.0.1:1/q/risk"},
		Buckets:     map[string]string{"media": "b-media"},
		SigningKeys: "k1:AAAA",
		Endpoints:   map[string]string{"DynamoDB": "http://127.0.0.1:8000", "S3": "http://127.0.0.1:9000"},
		Extra:       map[string]string{"LOG_LEVEL": "debug", "AWS_REGION": "eu-west-1"},
	}.Env()
	for k, want := range map[string]string{
		"TABLE_ACCOUNTS":              "t1-accounts",
		"QUEUE_RISK_EVENTS_URL":       "http://127.0.0.1:1/q/risk",
		"BUCKET_MEDIA":                "b-media",
		"SIGNING_KEYS":                "k1:AAAA",
		"AWS_ENDPOINT_URL_DYNAMODB":   "http://127.0.0.1:8000",
		"AWS_ENDPOINT_URL_S3":         "http://127.0.0.1:9000",
		"LOG_LEVEL":                   "debug",
		"AWS_REGION":                  "eu-west-1", // Extra wins
		"AWS_CONFIG_FILE":             "/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if env["AWS_ACCESS_KEY_ID"] == "" || env["AWS_SECRET_ACCESS_KEY"] == "" {
		t.Error("no static credentials: the SDK would go looking for real ones")
	}
}

func TestParseTimingsReadsTheEmulatorsReports(t *testing.T) {
	// Output of aws-lambda-rie v0.0.0-20261030222936-bef5c4ba774d (two invokes).
	out := "30 Nov 2026 20:04:29,354 [INFO] (rapid) INIT START(type: on-demand, phase: init)\n" +
		"START RequestId: 96aa Version: $LATEST\n" +
		"30 Nov 2026 20:04:29,394 [INFO] (rapid) INIT RTDONE(status: success)\n" +
		"30 Nov 2026 20:04:29,394 [INFO] (rapid) INIT REPORT(durationMs: 40.850000)\n" +
		`{"level":"INFO","msg":"request"}` + "\n" +
		"END RequestId: 96aa\n" +
		"REPORT RequestId: 96aa\tInit Duration: 5.14 ms\tDuration: 45.60 ms\tBilled Duration: 46 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t\n" +
		"START RequestId: 0413 Version: $LATEST\n" +
		"REPORT RequestId: 0413\tDuration: 3.02 ms\tBilled Duration: 4 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t\n"
	got := rie.ParseTimings(out)
	if got.Init.Microseconds() != 40850 {
		t.Errorf("init = %v, want 40.85ms", got.Init)
	}
	if len(got.Invokes) != 2 || got.Invokes[0].Microseconds() != 45600 || got.Invokes[1].Microseconds() != 3020 {
		t.Errorf("invokes = %v, want [45.6ms 3.02ms]", got.Invokes)
	}
	if empty := rie.ParseTimings("exec './bootstrap'\n"); empty.Init != 0 || len(empty.Invokes) != 0 {
		t.Errorf("timings from output without reports: %+v", empty)
	}
}

package handler_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/crowdgate/crowdgate/functions/privacy/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/mail"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// The privacy API built by Wire, as the local stack builds it: DynamoDB (Local), the file
// outbox and an in-process queue. A subject files, reads the code from the outbox,
// verifies and follows the request; an operator approves it and the job is queued.
func TestWireOnDynamoDB(t *testing.T) {
	ep := dynamotest.Endpoint(t)
	c := dynamotest.Client(t)
	tables := dynamotest.Tables(t, c)
	integrator, err := account.NewService(dynamo.NewAccounts(c, tables[schema.TableAccounts]), time.Now).
		CreateIntegrator(context.Background(), account.NewIntegrator{Name: "Shop", Email: "Ops@Shop.example", Country: "US"})
	if err != nil {
		t.Fatal(err)
	}
	outboxDir := t.TempDir()
	queue := &privacytest.Queue{}
	h, err := handler.Wire(context.Background(), &platform.Env{
		Config: config.Config{Tables: tables, MailOutboxDir: outboxDir, PrivacyKey: base64.StdEncoding.EncodeToString(key),
			Buckets: map[string]string{schema.BucketPrivacy: "privacy-packages"}}, // access-package links (signed locally)
		AWS: aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(ep), Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")},
		Now: time.Now,
		Queues: func(logical string) (platform.Sender, error) {
			if logical != schema.QueuePrivacy {
				t.Errorf("Wire asked for queue %q", logical)
			}
			return queue, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string, wantStatus int, header ...string) map[string]any {
		t.Helper()
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if len(header) == 2 {
			r.Header.Set(header[0], header[1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var m map[string]any
		if w.Code != wantStatus || json.Unmarshal(w.Body.Bytes(), &m) != nil {
			t.Fatalf("%s %s: %d %s, want %d", method, path, w.Code, w.Body.String(), wantStatus)
		}
		return m
	}
	filed := call("POST", "/v1/privacy/requests", `{"email":"ops@shop.example","type":"delete","regulation":"ccpa"}`, 202)
	id := filed["id"].(string)
	// The local stack mounts this outbox at /_outbox.
	msgs, err := mail.NewFileOutbox(outboxDir)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := msgs.Messages()
	if len(all) != 1 || all[0].To != "ops@shop.example" {
		t.Fatalf("outbox %+v", all)
	}
	code := regexp.MustCompile(`code is (\d{6})`).FindStringSubmatch(all[0].Text)[1]
	call("POST", "/v1/privacy/requests/"+id+"/verify", `{"code":"000000"}`, 403)
	verified := call("POST", "/v1/privacy/requests/"+id+"/verify", `{"code":"`+code+`"}`, 200)
	secret := verified["status_secret"].(string)

	got := call("GET", "/v1/compliance/requests/"+id, "", 200)
	if ids := got["request"].(map[string]any)["account_ids"].([]any); len(ids) != 1 || ids[0] != integrator.ID {
		t.Fatalf("matched accounts %v", ids)
	}
	call("POST", "/v1/compliance/requests/"+id+"/approve", "", 200)
	if st := call("GET", "/v1/privacy/requests/"+id, "", 200, "Authorization", "Bearer "+secret); st["status"] != "in_progress" {
		t.Fatalf("status %v", st)
	}
	jobs := queue.Jobs()
	if len(jobs) != 1 || jobs[0].(privacy.Job).RequestID != id {
		t.Fatalf("jobs %+v", jobs)
	}
	list := call("GET", "/v1/compliance/requests?status=in_progress", "", 200)
	if reqs := list["requests"].([]any); len(reqs) != 1 {
		t.Fatalf("listing %v", list)
	}
	audit := call("GET", "/v1/compliance/requests/"+id, "", 200)["audit"].([]any)
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	if strings.Join(actions, ",") != "filed,code_sent,verify_failed,verified,approved" {
		t.Fatalf("audit %v", actions)
	}

	// One network (httptest's 192.0.2.1) files for FilingsPerNetwork addresses in all; the
	// next filing is 429 with Retry-After and mails nothing.
	for i := 1; i < privacy.FilingsPerNetwork; i++ {
		call("POST", "/v1/privacy/requests", fmt.Sprintf(`{"email":"person%d@example.org","type":"access","regulation":"gdpr"}`, i), 202)
	}
	r := httptest.NewRequest("POST", "/v1/privacy/requests", strings.NewReader(`{"email":"one.more@example.org","type":"access","regulation":"gdpr"}`))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var refused map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &refused)
	e, _ := refused["error"].(map[string]any)
	if w.Code != http.StatusTooManyRequests || e["code"] != "too_many_requests" || w.Header().Get("Retry-After") == "" || e["retry_after"] == nil {
		t.Fatalf("filing %d from one network: %d %v %s, want 429 too_many_requests with Retry-After", privacy.FilingsPerNetwork+1, w.Code, w.Header(), w.Body)
	}
	if all, _ := msgs.Messages(); len(all) != privacy.FilingsPerNetwork {
		t.Errorf("%d mails for %d accepted filings", len(all), privacy.FilingsPerNetwork)
	}
}

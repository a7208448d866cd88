package handler_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/functions/admin/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// The admin API built by Wire over DynamoDB Local: a site created and rotated through it
// is what siteverify's secret lookup then finds.
func TestWireOnDynamoDB(t *testing.T) {
	call, c, tables := adminOnDynamoDB(t)
	it := call("POST", "/admin/integrators", `{"name":"Example","email":"ops@shop.example","country":"DE"}`, 201)
	call("GET", "/admin/integrators/"+it["id"].(string), "", 200)
	site := call("POST", "/admin/integrators/"+it["id"].(string)+"/sites", `{"name":"shop","hostnames":["shop.example"]}`, 201)
	sitekey := site["sitekey"].(string)
	call("PATCH", "/admin/sites/"+sitekey, `{"require_remoteip":true}`, 200)
	rot := call("POST", "/admin/sites/"+sitekey+"/secret", "", 200)
	call("POST", "/admin/integrators/00000000-0000-4000-8000-000000000000/sites", `{"name":"shop","hostnames":["shop.example"]}`, 404)

	sites := account.NewService(dynamo.NewAccounts(c, tables[schema.TableAccounts]), time.Now)
	if _, err := sites.SiteBySecret(context.Background(), site["secret"].(string)); err == nil {
		t.Fatal("the first secret still works after rotation")
	}
	got, err := sites.SiteBySecret(context.Background(), rot["secret"].(string))
	if err != nil || got.Sitekey != sitekey || !got.RequireRemoteIP {
		t.Fatalf("rotated secret finds %+v, %v", got, err)
	}
}

// adminOnDynamoDB builds the admin handler with Wire over fresh DynamoDB Local tables and
// returns a caller that checks each answer's status and decodes its JSON, the client, and
// the tables.
func adminOnDynamoDB(t *testing.T) (func(method, path, body string, wantStatus int) map[string]any, *dynamodb.Client, map[string]string) {
	t.Helper()
	ep := dynamotest.Endpoint(t)
	c := dynamotest.Client(t)
	tables := dynamotest.Tables(t, c)
	h, err := handler.Wire(context.Background(), &platform.Env{
		Config: config.Config{Tables: tables},
		AWS:    aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(ep), Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")},
		Now:    time.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string, wantStatus int) map[string]any {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
		var m map[string]any
		if w.Code != wantStatus || json.Unmarshal(w.Body.Bytes(), &m) != nil {
			t.Fatalf("%s %s: %d %s, want %d", method, path, w.Code, w.Body.String(), wantStatus)
		}
		return m
	}
	return call, c, tables
}

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

	"github.com/crowdgate/crowdgate/functions/admin/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// The integrator key routes built by Wire over DynamoDB Local: a key made through them is
// what the risk lookup's authentication then accepts, for its own integrator only, until it
// is revoked.
func TestIntegratorKeyRoutesOnDynamoDB(t *testing.T) {
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
	own := call("POST", "/admin/integrators", `{"name":"Shop","email":"ops@shop.example","country":"DE"}`, 201)["id"].(string)
	other := call("POST", "/admin/integrators", `{"name":"Other","email":"ops@other.example","country":"FR"}`, 201)["id"].(string)
	key := call("POST", "/admin/integrators/"+own+"/keys", `{"name":"risk"}`, 201)
	auth := account.NewIntegratorKeyService(dynamo.NewAccounts(c, tables[schema.TableAccounts]), time.Now)
	if k, err := auth.Authenticate(context.Background(), key["key"].(string)); err != nil || k.IntegratorID != own {
		t.Fatalf("new key: %+v, %v", k, err)
	}
	call("DELETE", "/admin/integrators/"+other+"/keys/"+key["id"].(string), "", 404)
	if _, err := auth.Authenticate(context.Background(), key["key"].(string)); err != nil {
		t.Fatalf("another integrator's revocation stopped the key: %v", err)
	}
	call("DELETE", "/admin/integrators/"+own+"/keys/"+key["id"].(string), "", 200)
	if _, err := auth.Authenticate(context.Background(), key["key"].(string)); err == nil {
		t.Fatal("a revoked key still authenticates")
	}
	call("POST", "/admin/integrators/00000000-0000-4000-8000-000000000000/keys", "", 404)
}

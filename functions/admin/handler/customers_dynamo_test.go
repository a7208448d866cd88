package handler_test

import (
	"context"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// The customer admin routes built by Wire over DynamoDB Local: a key made through them is
// what the customer API's authentication then accepts, until it is revoked.
func TestCustomerRoutesOnDynamoDB(t *testing.T) {
	call, c, tables := adminOnDynamoDB(t)
	cust := call("POST", "/admin/customers", `{"name":"Buyer","email":"data@buyer.example","country":"GB"}`, 201)
	id := cust["id"].(string)
	key := call("POST", "/admin/customers/"+id+"/keys", `{"name":"ci"}`, 201)
	got := call("GET", "/admin/customers/"+id, "", 200)
	if keys := got["keys"].([]any); len(keys) != 1 || keys[0].(map[string]any)["id"] != key["id"] {
		t.Fatalf("customer %v", got)
	}
	auth := account.NewCustomerService(dynamo.NewAccounts(c, tables[schema.TableAccounts]), time.Now)
	if k, err := auth.Authenticate(context.Background(), key["key"].(string)); err != nil || k.CustomerID != id {
		t.Fatalf("new key: %+v, %v", k, err)
	}
	call("DELETE", "/admin/customers/"+id+"/keys/"+key["id"].(string), "", 200)
	if _, err := auth.Authenticate(context.Background(), key["key"].(string)); err == nil {
		t.Fatal("a revoked key still authenticates")
	}
	call("POST", "/admin/customers/00000000-0000-4000-8000-000000000000/keys", "", 404)
}

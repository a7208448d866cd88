package handler_test

import (
	"context"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// The integrator key routes built by Wire over DynamoDB Local: a key made through them is
// what the risk lookup's authentication then accepts, for its own integrator only, until it
// is revoked.
func TestIntegratorKeyRoutesOnDynamoDB(t *testing.T) {
	call, c, tables := adminOnDynamoDB(t)
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

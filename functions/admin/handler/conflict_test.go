package handler_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/functions/admin/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
)

// tableAPI is a dynamo.API whose UpdateItem is updateItem; the other calls are not used.
type tableAPI struct {
	dynamo.API
	updateItem func(*dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error)
}

func (a tableAPI) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return a.updateItem(in)
}

// DynamoDB refuses a plain UpdateItem on an item that an ongoing transaction holds: a PATCH
// that meets a secret rotation of the same site must be the documented 409 conflict (retry),
// not a 500.
func TestPatchDuringRotationIsAConflict(t *testing.T) {
	api := tableAPI{updateItem: func(*dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
		return nil, &types.TransactionConflictException{Message: aws.String("Transaction is ongoing for the item")}
	}}
	h := handler.New(handler.Deps{Accounts: account.NewService(dynamo.NewAccounts(api, "accounts"), nil)})
	f := &fix{h: h}
	status, body := f.do(t, "PATCH", "/admin/sites/"+evSitekey, `{"require_remoteip": true}`)
	if status != http.StatusConflict || errCode(body) != "conflict" {
		t.Fatalf("PATCH during a rotation: %d %v, want 409 conflict", status, body)
	}
}

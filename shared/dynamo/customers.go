package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
)

// Customers and their API keys live on the accounts table next to integrators (accounts.go)
// and, like them, carry no ttl:
//
//	CUSTOMER#<id>   PROFILE         the customer (kind "customer")
//	CUSTOMER#<id>   APIKEY#<keyid>  the key's reference in its owner's partition (kind "api-key-ref")
//	APIKEY#<keyid>  APIKEY          an API key: its hash, owner and revocation time (kind "api-key");
//	                                gsi1 CUSTOMER#<id> / APIKEY#<created>#<keyid> lists a customer's keys
//
// A key is found by the id inside it with one strongly consistent GetItem, so revoking it
// takes effect at once and authentication never scans. gsi1 is eventually consistent, so
// it can miss a key created a moment ago; an erasure must not (the key would outlive its
// owner and keep authenticating), so an owner's keys are listed by their references too,
// with a strongly consistent Query (refQuery), as sites are (accounts.go). Keys stored
// before references existed have none: gsi1 alone lists those (until `crowdgate accounts
// repair` writes theirs, accounts_repair.go). A listing reads each key gsi1 shows live from
// the table, so a revocation shows at once (listKeys).
var _ account.CustomerStore = (*Accounts)(nil)

const acctSKAPIKey = "APIKEY"

func acctCustomerPK(id string) string { return "CUSTOMER#" + id }
func acctAPIKeyPK(id string) string   { return "APIKEY#" + id }

// acctKeyRecord is what every API key record holds, whoever owns it (a customer here, an
// integrator in integratorkeys.go): both share the APIKEY# id space and this layout.
type acctKeyRecord struct {
	PK        string     `dynamodbav:"pk"`
	SK        string     `dynamodbav:"sk"`
	GSI1PK    string     `dynamodbav:"gsi1pk"`
	GSI1SK    string     `dynamodbav:"gsi1sk"`
	Kind      string     `dynamodbav:"kind"`
	ID        string     `dynamodbav:"id"`
	Name      string     `dynamodbav:"name,omitempty"`
	Hash      string     `dynamodbav:"hash"`
	CreatedAt time.Time  `dynamodbav:"created_at"`
	RevokedAt *time.Time `dynamodbav:"revoked_at,omitempty"`
}

// newKeyRecord is a fresh key record, listed in its owner's gsi1 partition by creation.
func newKeyRecord(ownerPK, id, name, hash string, created time.Time) acctKeyRecord {
	return acctKeyRecord{
		PK: acctAPIKeyPK(id), SK: acctSKAPIKey, GSI1PK: ownerPK, GSI1SK: keyIndexSK(created, id),
		Kind: "api-key", ID: id, Name: name, Hash: hash, CreatedAt: created,
	}
}

// record is the record itself, whatever the owner's item type embedding it.
func (r acctKeyRecord) record() acctKeyRecord { return r }

// acctKeyRefItem is a key's reference in its owner's partition (no other attribute: the
// sort key names the key).
type acctKeyRefItem struct {
	PK   string `dynamodbav:"pk"`
	SK   string `dynamodbav:"sk"`
	Kind string `dynamodbav:"kind"`
}

// revoked is the revocation time (zero while the key is live).
func (r acctKeyRecord) revoked() time.Time {
	if r.RevokedAt == nil {
		return time.Time{}
	}
	return *r.RevokedAt
}

type acctAPIKeyItem struct {
	acctKeyRecord
	CustomerID string `dynamodbav:"customer_id"`
}

func (it acctAPIKeyItem) key() account.APIKey {
	return account.APIKey{ID: it.ID, CustomerID: it.CustomerID, Name: it.Name, Hash: it.Hash, CreatedAt: it.CreatedAt, RevokedAt: it.revoked()}
}

// CreateCustomer implements account.CustomerStore (account.ErrConflict if the id is taken).
func (a *Accounts) CreateCustomer(ctx context.Context, c account.Customer) error {
	return createProfile(ctx, a, acctCustomerPK(c.ID), "customer", c)
}

// GetCustomer implements account.CustomerStore.
func (a *Accounts) GetCustomer(ctx context.Context, id string) (account.Customer, error) {
	return getProfile[account.Customer](ctx, a, acctCustomerPK(id))
}

// CreateAPIKey implements account.CustomerStore: the key and a check that the customer
// exists commit together or not at all.
func (a *Accounts) CreateAPIKey(ctx context.Context, k account.APIKey) error {
	owner := acctCustomerPK(k.CustomerID)
	return a.putKey(ctx, acctAPIKeyItem{
		acctKeyRecord: newKeyRecord(owner, k.ID, k.Name, k.Hash, k.CreatedAt),
		CustomerID:    k.CustomerID,
	}, owner, "API key")
}

// putKey writes a new key record and its reference in the owner's partition together with
// a check that the owner's profile exists and is not being erased: all commit or none
// (ErrNotFound: no owner; ErrErasing: its erasure has begun; ErrConflict: the key id is
// taken). The check is what lets an erasure find every key: one committed before the fence
// (acctAttrErasing) has its reference, none commits after.
func (a *Accounts) putKey(ctx context.Context, record keyRecorder, ownerPK, what string) error {
	item, err := attributevalue.MarshalMap(record)
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	ref, err := attributevalue.MarshalMap(acctKeyRefItem{PK: ownerPK, SK: acctAPIKeyPK(record.record().ID), Kind: "api-key-ref"})
	if err != nil {
		return fmt.Errorf("encode %s reference: %w", what, err)
	}
	_, err = a.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &a.table, Item: item, ConditionExpression: aws.String(acctCondNew)}},
		{ConditionCheck: &types.ConditionCheck{TableName: &a.table, Key: Key(ownerPK, acctSKProfile), ConditionExpression: aws.String(acctCondOpen)}},
		{Put: &types.Put{TableName: &a.table, Item: ref, ConditionExpression: aws.String(acctCondNew)}},
	}})
	if err != nil {
		if acctFailedAt(err, 1) {
			if rerr := profileRefusal(ctx, a.api, a.table, ownerPK); rerr != nil {
				return fmt.Errorf("create %s: %w", what, rerr)
			}
			return account.ErrConflict // the profile was there after all: a retry decides
		}
		if isLostRace(err) {
			return account.ErrConflict
		}
		return fmt.Errorf("create %s: %w", what, err)
	}
	return nil
}

// keyRecorder is a key record of any owner (acctAPIKeyItem, acctIntegratorKeyItem).
type keyRecorder interface {
	record() acctKeyRecord
}

// keyIndexSK orders an owner's keys by creation in gsi1.
func keyIndexSK(created time.Time, id string) string {
	return acctAPIKeyPK(created.UTC().Format(time.RFC3339) + "#" + id)
}

// GetAPIKey implements account.CustomerStore with one strongly consistent read.
func (a *Accounts) GetAPIKey(ctx context.Context, id string) (account.APIKey, error) {
	var it acctAPIKeyItem
	if err := a.get(ctx, acctAPIKeyPK(id), acctSKAPIKey, &it); err != nil {
		return account.APIKey{}, err
	}
	return it.key(), nil
}

// ListAPIKeys implements account.CustomerStore through gsi1 and the keys' references
// (listKeys), so a key created a moment ago is listed too.
func (a *Accounts) ListAPIKeys(ctx context.Context, customerID string) ([]account.APIKey, error) {
	return listKeys[acctAPIKeyItem](ctx, a, acctCustomerPK(customerID), "API key")
}

// RevokeAPIKey implements account.CustomerStore with one conditional UpdateItem: the key
// must exist and belong to the customer; a first revocation time is kept.
func (a *Accounts) RevokeAPIKey(ctx context.Context, customerID, keyID string, at time.Time) (account.APIKey, error) {
	return revokeKey[acctAPIKeyItem](ctx, a, keyID, at, "customer_id = :owner", map[string]types.AttributeValue{
		":owner": &types.AttributeValueMemberS{Value: customerID},
	}, "API key")
}

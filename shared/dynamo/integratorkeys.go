package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Integrator API keys are API key records (customers.go) with an owner:
//
//	INTEGRATOR#<id>  APIKEY#<keyid>  the key's reference in its integrator's partition (kind "api-key-ref")
//	APIKEY#<keyid>   APIKEY          kind "api-key", owner_kind "integrator", integrator_id;
//	                                 gsi1 INTEGRATOR#<id> / APIKEY#<created>#<keyid> lists an integrator's keys
//
// They share the APIKEY# id space with customer keys, so a key id names one record whoever
// owns it; customer records carry no owner_kind, and every read or revocation here checks
// owner_kind so a customer's key is never taken for an integrator's. Like every account
// record they carry no ttl. An integrator's sites are listed through the same gsi1
// partition (INTEGRATOR#<id> / SITE#<sitekey>) and, for the privacy worker, their
// references (accounts.go).
var _ account.IntegratorKeyStore = (*Accounts)(nil)

type acctIntegratorKeyItem struct {
	acctKeyRecord
	OwnerKind    string `dynamodbav:"owner_kind"`
	IntegratorID string `dynamodbav:"integrator_id"`
}

func (it acctIntegratorKeyItem) key() account.IntegratorKey {
	return account.IntegratorKey{ID: it.ID, IntegratorID: it.IntegratorID, Name: it.Name, Hash: it.Hash, CreatedAt: it.CreatedAt, RevokedAt: it.revoked()}
}

// CreateIntegratorKey implements account.IntegratorKeyStore: the key, its reference and a
// check that the integrator exists commit together or not at all (putKey).
func (a *Accounts) CreateIntegratorKey(ctx context.Context, k account.IntegratorKey) error {
	owner := acctIntegratorPK(k.IntegratorID)
	return a.putKey(ctx, acctIntegratorKeyItem{
		acctKeyRecord: newKeyRecord(owner, k.ID, k.Name, k.Hash, k.CreatedAt),
		OwnerKind:     string(account.OwnerIntegrator), IntegratorID: k.IntegratorID,
	}, owner, "integrator key")
}

// GetIntegratorKey implements account.IntegratorKeyStore with one strongly consistent read.
func (a *Accounts) GetIntegratorKey(ctx context.Context, id string) (account.IntegratorKey, error) {
	var it acctIntegratorKeyItem
	if err := a.get(ctx, acctAPIKeyPK(id), acctSKAPIKey, &it); err != nil {
		return account.IntegratorKey{}, err
	}
	if it.OwnerKind != string(account.OwnerIntegrator) {
		return account.IntegratorKey{}, account.ErrNotFound
	}
	return it.key(), nil
}

// ListIntegratorKeys implements account.IntegratorKeyStore through gsi1 and the keys'
// references (listKeys), as ListAPIKeys.
func (a *Accounts) ListIntegratorKeys(ctx context.Context, integratorID string) ([]account.IntegratorKey, error) {
	return listKeys[acctIntegratorKeyItem](ctx, a, acctIntegratorPK(integratorID), "integrator key")
}

// RevokeIntegratorKey implements account.IntegratorKeyStore with one conditional
// UpdateItem: the key must exist, be an integrator key and belong to the integrator.
func (a *Accounts) RevokeIntegratorKey(ctx context.Context, integratorID, keyID string, at time.Time) (account.IntegratorKey, error) {
	return revokeKey[acctIntegratorKeyItem](ctx, a, keyID, at, "owner_kind = :kind AND integrator_id = :owner", map[string]types.AttributeValue{
		":kind":  &types.AttributeValueMemberS{Value: string(account.OwnerIntegrator)},
		":owner": &types.AttributeValueMemberS{Value: integratorID},
	}, "integrator key")
}

// keyItem is a stored API key record (a customer's or an integrator's) that converts to
// its domain key.
type keyItem[K any] interface {
	keyRecorder
	key() K
}

// listKeys lists an owner's API keys, oldest first (gsi1's order): those in its gsi1
// partition (APIKEY#… sort keys) and those its references name (refQuery). gsi1 may not
// list a key created a moment ago, so the references are read strongly consistently and
// each key gsi1 left out is read itself; keys stored before references existed are listed
// by gsi1 alone. gsi1's copy of a key may also predate its revocation, so each key gsi1
// shows live is read again from the table (a strongly consistent GetItem; one gone since
// is left out). A revocation is never undone, so a key gsi1 shows revoked is.
func listKeys[It keyItem[K], K any](ctx context.Context, a *Accounts, ownerPK, what string) ([]K, error) {
	var items []It
	var live []string
	listed := map[string]bool{}
	err := a.queryGSI1(ctx, ownerPK, acctAPIKeyPK(""), func(item map[string]types.AttributeValue) error {
		var it It
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return fmt.Errorf("decode %s: %w", what, err)
		}
		listed[it.record().ID] = true
		if it.record().RevokedAt == nil {
			live = append(live, it.record().ID)
			return nil
		}
		items = append(items, it)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", what, err)
	}
	read := func(id string) error {
		var it It
		if err := a.get(ctx, acctAPIKeyPK(id), acctSKAPIKey, &it); err != nil {
			return err
		}
		items = append(items, it)
		return nil
	}
	for _, id := range live {
		if err := read(id); err != nil && !errors.Is(err, account.ErrNotFound) {
			return nil, fmt.Errorf("list %ss: %w", what, err)
		}
	}
	err = a.readUnlisted(ctx, ownerPK, acctAPIKeyPK(""), listed, read)
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", what, err)
	}
	slices.SortFunc(items, func(x, y It) int { return strings.Compare(x.record().GSI1SK, y.record().GSI1SK) })
	var keys []K
	for _, it := range items {
		keys = append(keys, it.key())
	}
	return keys, nil
}

// revokeKey sets a key's first revocation time with one conditional UpdateItem: the key
// must exist and satisfy owner (the owner checks, with their values); otherwise
// account.ErrNotFound.
func revokeKey[It keyItem[K], K any](ctx context.Context, a *Accounts, keyID string, at time.Time, owner string, values map[string]types.AttributeValue, what string) (K, error) {
	var zero K
	atAV, err := attributevalue.Marshal(at)
	if err != nil {
		return zero, fmt.Errorf("encode revocation time: %w", err)
	}
	values[":at"] = atAV
	out, err := a.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &a.table, Key: Key(acctAPIKeyPK(keyID), acctSKAPIKey),
		UpdateExpression:          aws.String("SET revoked_at = if_not_exists(revoked_at, :at)"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND " + owner),
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if IsConditionFailed(err) {
		return zero, account.ErrNotFound
	}
	if err != nil {
		return zero, fmt.Errorf("revoke %s: %w", what, err)
	}
	var it It
	if err := attributevalue.UnmarshalMap(out.Attributes, &it); err != nil {
		return zero, fmt.Errorf("decode %s: %w", what, err)
	}
	return it.key(), nil
}

// IntegratorSites implements account.IntegratorKeyStore through gsi1 (INTEGRATOR#<id> /
// SITE#…), in sitekey order. The index is eventually consistent: for the risk lookup a
// site created a moment ago may be missing for a moment, which only withholds its data.
// The privacy worker must see every committed site and lists them with committedSites.
func (a *Accounts) IntegratorSites(ctx context.Context, integratorID string) ([]account.Site, error) {
	var sites []account.Site
	err := a.queryGSI1(ctx, acctIntegratorPK(integratorID), acctSitePK(""), func(item map[string]types.AttributeValue) error {
		var it acctSiteItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return fmt.Errorf("decode site: %w", err)
		}
		sites = append(sites, it.site())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list integrator sites: %w", err)
	}
	return sites, nil
}

// committedSites lists every committed site of an integrator, in sitekey order: those gsi1
// lists (IntegratorSites) and those its references name (accounts.go), which are read
// strongly consistently, each site gsi1 left out read itself. Sites stored before
// references existed are listed by gsi1 alone.
func (a *Accounts) committedSites(ctx context.Context, integratorID string) ([]account.Site, error) {
	sites, err := a.IntegratorSites(ctx, integratorID)
	if err != nil {
		return nil, err
	}
	listed := map[string]bool{}
	for _, s := range sites {
		listed[s.Sitekey] = true
	}
	err = a.readUnlisted(ctx, acctIntegratorPK(integratorID), acctSitePK(""), listed, func(sitekey string) error {
		s, err := a.GetSite(ctx, sitekey)
		if err != nil {
			return err
		}
		sites = append(sites, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list integrator sites: %w", err)
	}
	slices.SortFunc(sites, func(x, y account.Site) int { return strings.Compare(x.Sitekey, y.Sitekey) })
	return sites, nil
}

// readUnlisted calls read for each name an owner's references (sort keys prefix…) give
// that listed lacks: what gsi1, eventually consistent, has not indexed yet. A record read
// reports missing (account.ErrNotFound) is being deleted (an erasure deletes references
// last) and is skipped.
func (a *Accounts) readUnlisted(ctx context.Context, ownerPK, prefix string, listed map[string]bool, read func(name string) error) error {
	return queryEach(ctx, a.api, time.Time{}, refQuery(a.table, ownerPK, prefix), 0, func(item map[string]types.AttributeValue) error {
		name := refName(item, prefix)
		if listed[name] {
			return nil
		}
		if err := read(name); !errors.Is(err, account.ErrNotFound) {
			return err
		}
		return nil
	})
}

// queryGSI1 calls each for every item of gsi1 partition pk whose sort key starts with prefix.
func (a *Accounts) queryGSI1(ctx context.Context, pk, prefix string, each func(map[string]types.AttributeValue) error) error {
	return queryEach(ctx, a.api, time.Time{}, gsi1PrefixQuery(a.table, pk, prefix), 0, each)
}

// gsi1PrefixQuery queries gsi1 partition pk of table for the sort keys starting with prefix
// (an owner's sites or API keys on the accounts table).
func gsi1PrefixQuery(table, pk, prefix string) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName: &table, IndexName: aws.String(schema.GSI1.Name),
		KeyConditionExpression: aws.String("gsi1pk = :p AND begins_with(gsi1sk, :k)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": &types.AttributeValueMemberS{Value: pk},
			":k": &types.AttributeValueMemberS{Value: prefix},
		},
	}
}

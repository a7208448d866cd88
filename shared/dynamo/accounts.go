package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Accounts is the account.Store on the accounts table. Layout (accounts carry no ttl):
//
//	INTEGRATOR#<id>      PROFILE         the integrator (kind "integrator")
//	INTEGRATOR#<id>      SITE#<sitekey>  the site's reference in its integrator's partition (kind "site-ref")
//	SITE#<sitekey>       SITE            the site; gsi1 INTEGRATOR#<id> / SITE#<sitekey> lists an integrator's sites
//	SECRET#<sha256 hex>  SECRET          secret lookup → sitekey (kind "site-secret")
//
// gsi1 is eventually consistent, so it can miss a site created a moment ago; an opt-out or
// erasure must not, so they list the references with a strongly consistent Query
// (refQuery) as well. Sites stored before references existed have none: gsi1 alone
// lists those.
//
// Customers (CUSTOMER#<id> / PROFILE) and their API keys (APIKEY#<key id>) are in customers.go.
type Accounts struct {
	api   API
	table string
}

var _ account.Store = (*Accounts)(nil)

// NewAccounts returns the store on the deployed accounts table.
func NewAccounts(api API, table string) *Accounts { return &Accounts{api: api, table: table} }

const (
	acctSKProfile = "PROFILE"
	acctSKSite    = "SITE"
	acctSKSecret  = "SECRET"
)

func acctIntegratorPK(id string) string { return "INTEGRATOR#" + id }
func acctSitePK(sitekey string) string  { return "SITE#" + sitekey }
func acctSecretPK(hash string) string   { return "SECRET#" + hash }

// acctProfileItem is an account profile: an integrator's (kind "integrator") or a
// customer's (kind "customer", customers.go); the two are laid out alike.
type acctProfileItem struct {
	PK        string    `dynamodbav:"pk"`
	SK        string    `dynamodbav:"sk"`
	Kind      string    `dynamodbav:"kind"`
	ID        string    `dynamodbav:"id"`
	Name      string    `dynamodbav:"name"`
	Email     string    `dynamodbav:"email"`
	Country   string    `dynamodbav:"country"`
	CreatedAt time.Time `dynamodbav:"created_at"`
	acctChoices
}

// acctChoices are account.Choices as attributes of a profile or site (absent when false).
type acctChoices struct {
	OptOutSale     bool `dynamodbav:"opt_out_sale,omitempty"`
	LimitSensitive bool `dynamodbav:"limit_sensitive,omitempty"`
}

func (c acctChoices) choices() account.Choices {
	return account.Choices{OptOutSale: c.OptOutSale, LimitSensitive: c.LimitSensitive}
}

func toAcctChoices(c account.Choices) acctChoices {
	return acctChoices{OptOutSale: c.OptOutSale, LimitSensitive: c.LimitSensitive}
}

type acctSiteItem struct {
	PK              string    `dynamodbav:"pk"`
	SK              string    `dynamodbav:"sk"`
	GSI1PK          string    `dynamodbav:"gsi1pk"`
	GSI1SK          string    `dynamodbav:"gsi1sk"`
	Kind            string    `dynamodbav:"kind"`
	Sitekey         string    `dynamodbav:"sitekey"`
	IntegratorID    string    `dynamodbav:"integrator_id"`
	Name            string    `dynamodbav:"name"`
	Hostnames       []string  `dynamodbav:"hostnames"` // a list: order kept, never empty-set trouble
	SecretHash      string    `dynamodbav:"secret_hash"`
	RequireRemoteIP bool      `dynamodbav:"require_remoteip"`
	CreatedAt       time.Time `dynamodbav:"created_at"`
	SecretRotatedAt time.Time `dynamodbav:"secret_rotated_at"`
	acctChoices
}

// acctSiteRefItem is a site's reference in its integrator's partition (no other attribute:
// the sort key names the site).
type acctSiteRefItem struct {
	PK   string `dynamodbav:"pk"`
	SK   string `dynamodbav:"sk"`
	Kind string `dynamodbav:"kind"`
}

type acctSecretItem struct {
	PK      string `dynamodbav:"pk"`
	SK      string `dynamodbav:"sk"`
	Kind    string `dynamodbav:"kind"`
	Sitekey string `dynamodbav:"sitekey"`
}

func (it acctSiteItem) site() account.Site {
	return account.Site{
		Sitekey: it.Sitekey, IntegratorID: it.IntegratorID, Name: it.Name, Hostnames: it.Hostnames,
		SecretHash: it.SecretHash, RequireRemoteIP: it.RequireRemoteIP,
		CreatedAt: it.CreatedAt, SecretRotatedAt: it.SecretRotatedAt, Choices: it.choices(),
	}
}

const acctCondNew = "attribute_not_exists(pk)"

// acctAttrErasing is set on a profile when an erasure of its holder begins
// (Holdings.MarkErasing): the request id and time, nothing personal. Every write that
// creates something the erasure must find — a site, an API key, a secret lookup, a
// disclosure record — checks the profile with acctCondOpen in its own transaction, so none
// commits once the fence is up and the erasure's passes find every one that did. The
// fence goes with the profile.
const acctAttrErasing = "erasing"

// acctCondOpen is the condition on an owner's profile of every such write.
const acctCondOpen = "attribute_exists(pk) AND attribute_not_exists(" + acctAttrErasing + ")"

// profileRefusal explains a failed acctCondOpen on the profile under pk with a strongly
// consistent read: account.ErrNotFound if there is none, account.ErrErasing if an erasure
// has fenced it, nil if neither (another part of the caller's condition failed). A fence
// is only ever removed with its profile, so what the read sees is why the write failed.
func profileRefusal(ctx context.Context, api API, table, pk string) error {
	out, err := api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &table, Key: Key(pk, acctSKProfile), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("pk, " + acctAttrErasing),
	})
	switch {
	case err != nil:
		return fmt.Errorf("read profile: %w", err)
	case len(out.Item) == 0:
		return account.ErrNotFound
	case out.Item[acctAttrErasing] != nil:
		return account.ErrErasing
	}
	return nil
}

// CreateIntegrator implements account.Store (account.ErrConflict if the id is taken).
func (a *Accounts) CreateIntegrator(ctx context.Context, in account.Integrator) error {
	return createProfile(ctx, a, acctIntegratorPK(in.ID), "integrator", in)
}

// GetIntegrator implements account.Store.
func (a *Accounts) GetIntegrator(ctx context.Context, id string) (account.Integrator, error) {
	return getProfile[account.Integrator](ctx, a, acctIntegratorPK(id))
}

// acctProfile has exactly the fields of account.Integrator and account.Customer, so either
// converts to it and back: a field added to one of them alone stops createProfile and
// getProfile compiling, and they must then be told about the difference.
type acctProfile struct {
	ID        string
	Name      string
	Email     string
	Country   string
	CreatedAt time.Time
	Choices   account.Choices
}

// createProfile stores a new profile of either kind of account holder under pk
// (account.ErrConflict if it is taken); kind is also the record's kind attribute.
func createProfile[H account.Integrator | account.Customer](ctx context.Context, a *Accounts, pk, kind string, holder H) error {
	p := acctProfile(holder)
	return putNew(ctx, a.api, a.table, acctProfileItem{
		PK: pk, SK: acctSKProfile, Kind: kind,
		ID: p.ID, Name: p.Name, Email: p.Email, Country: p.Country, CreatedAt: p.CreatedAt, acctChoices: toAcctChoices(p.Choices),
	}, account.ErrConflict, kind)
}

// getProfile reads the profile of either kind of account holder under pk
// (account.ErrNotFound).
func getProfile[H account.Integrator | account.Customer](ctx context.Context, a *Accounts, pk string) (H, error) {
	var it acctProfileItem
	if err := a.get(ctx, pk, acctSKProfile, &it); err != nil {
		var none H
		return none, err
	}
	return H(acctProfile{ID: it.ID, Name: it.Name, Email: it.Email, Country: it.Country, CreatedAt: it.CreatedAt, Choices: it.choices()}), nil
}

// CreateSite implements account.Store: the site, its secret lookup, its reference in the
// integrator's partition and a check that the integrator exists, is not being erased and
// has no choice the site lacks commit together or not at all. The check is what closes the
// races with an opt-out (one landing after s.Choices were read fails it, one landing before
// the commit lists the site by its reference) and with an erasure (acctAttrErasing).
func (a *Accounts) CreateSite(ctx context.Context, s account.Site) error {
	site, err := attributevalue.MarshalMap(acctSiteItem{
		PK: acctSitePK(s.Sitekey), SK: acctSKSite, GSI1PK: acctIntegratorPK(s.IntegratorID), GSI1SK: acctSitePK(s.Sitekey), Kind: "site",
		Sitekey: s.Sitekey, IntegratorID: s.IntegratorID, Name: s.Name, Hostnames: s.Hostnames,
		SecretHash: s.SecretHash, RequireRemoteIP: s.RequireRemoteIP, CreatedAt: s.CreatedAt, SecretRotatedAt: s.SecretRotatedAt,
		acctChoices: toAcctChoices(s.Choices),
	})
	if err != nil {
		return fmt.Errorf("encode site: %w", err)
	}
	secret, err := attributevalue.MarshalMap(acctSecretItem{PK: acctSecretPK(s.SecretHash), SK: acctSKSecret, Kind: "site-secret", Sitekey: s.Sitekey})
	if err != nil {
		return fmt.Errorf("encode secret lookup: %w", err)
	}
	ref, err := attributevalue.MarshalMap(acctSiteRefItem{PK: acctIntegratorPK(s.IntegratorID), SK: acctSitePK(s.Sitekey), Kind: "site-ref"})
	if err != nil {
		return fmt.Errorf("encode site reference: %w", err)
	}
	owner, values := ownerCondition(s.Choices)
	_, err = a.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &a.table, Item: site, ConditionExpression: aws.String(acctCondNew)}},
		{Put: &types.Put{TableName: &a.table, Item: secret, ConditionExpression: aws.String(acctCondNew)}},
		{ConditionCheck: &types.ConditionCheck{
			TableName: &a.table, Key: Key(acctIntegratorPK(s.IntegratorID), acctSKProfile),
			ConditionExpression: aws.String(owner), ExpressionAttributeValues: values,
		}},
		{Put: &types.Put{TableName: &a.table, Item: ref, ConditionExpression: aws.String(acctCondNew)}},
	}})
	if err != nil {
		if acctFailedAt(err, 2) {
			// Gone, fenced, or a choice landed since s.Choices were read (the caller reads again).
			if rerr := profileRefusal(ctx, a.api, a.table, acctIntegratorPK(s.IntegratorID)); rerr != nil {
				return fmt.Errorf("create site: %w", rerr)
			}
			return account.ErrConflict
		}
		if isLostRace(err) {
			return account.ErrConflict
		}
		return fmt.Errorf("create site: %w", err)
	}
	return nil
}

// ownerCondition is CreateSite's condition on the integrator's profile: it exists, is not
// fenced by an erasure and has no choice the new site lacks. Choices are only ever added, so that is the choices read.
func ownerCondition(c account.Choices) (string, map[string]types.AttributeValue) {
	cond := acctCondOpen
	if !c.OptOutSale {
		cond += " AND (attribute_not_exists(opt_out_sale) OR opt_out_sale <> :t)"
	}
	if !c.LimitSensitive {
		cond += " AND (attribute_not_exists(limit_sensitive) OR limit_sensitive <> :t)"
	}
	if c.OptOutSale && c.LimitSensitive {
		return cond, nil
	}
	return cond, map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}}
}

// refQuery queries the references in an owner's partition whose sort keys start with
// prefix (SITE#…, APIKEY#…) with a strongly consistent read, which gsi1 cannot give.
func refQuery(table, ownerPK, prefix string) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName: &table, ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :p AND begins_with(sk, :k)"),
		ProjectionExpression:   aws.String("sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": &types.AttributeValueMemberS{Value: ownerPK},
			":k": &types.AttributeValueMemberS{Value: prefix},
		},
	}
}

// refName is what a reference's sort key names after prefix (the sitekey, the key id).
func refName(item map[string]types.AttributeValue, prefix string) string {
	return strings.TrimPrefix(attrString(item, schema.SortKey), prefix)
}

// GetSite implements account.Store.
func (a *Accounts) GetSite(ctx context.Context, sitekey string) (account.Site, error) {
	var it acctSiteItem
	if err := a.get(ctx, acctSitePK(sitekey), acctSKSite, &it); err != nil {
		return account.Site{}, err
	}
	return it.site(), nil
}

// UpdateSite implements account.Store with one conditional UpdateItem.
func (a *Accounts) UpdateSite(ctx context.Context, sitekey string, u account.SiteUpdate) (account.Site, error) {
	expr := ""
	values := map[string]types.AttributeValue{}
	names := map[string]string{}
	set := func(attr string, v any) error {
		av, err := attributevalue.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s: %w", attr, err)
		}
		if expr != "" {
			expr += ", "
		}
		expr += "#" + attr + " = :" + attr
		names["#"+attr] = attr
		values[":"+attr] = av
		return nil
	}
	var err error
	if u.Name != nil {
		err = errors.Join(err, set("name", *u.Name))
	}
	if u.Hostnames != nil {
		err = errors.Join(err, set("hostnames", *u.Hostnames))
	}
	if u.RequireRemoteIP != nil {
		err = errors.Join(err, set("require_remoteip", *u.RequireRemoteIP))
	}
	if err != nil {
		return account.Site{}, err
	}
	if expr == "" {
		return a.GetSite(ctx, sitekey)
	}
	out, err := a.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &a.table, Key: Key(acctSitePK(sitekey), acctSKSite),
		UpdateExpression:          aws.String("SET " + expr),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if IsConditionFailed(err) {
		return account.Site{}, account.ErrNotFound
	}
	// A rotation's transaction holding the site item refuses this write: a retryable race.
	if isTransactionConflict(err) {
		return account.Site{}, account.ErrConflict
	}
	if err != nil {
		return account.Site{}, fmt.Errorf("update site: %w", err)
	}
	var it acctSiteItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &it); err != nil {
		return account.Site{}, fmt.Errorf("decode site: %w", err)
	}
	return it.site(), nil
}

// RotateSecret implements account.Store: the site's hash changes (only if it is still
// oldHash), the old lookup is deleted and the new one created in one transaction, with a
// check that the site's integrator is not being erased: a new lookup committed after the
// erasure deleted the site would point at nothing and never be found.
func (a *Accounts) RotateSecret(ctx context.Context, sitekey, oldHash, newHash string, at time.Time) error {
	// The site names its integrator, which never changes.
	site, err := a.GetSite(ctx, sitekey)
	if err != nil {
		return err
	}
	owner := acctIntegratorPK(site.IntegratorID)
	atAV, err := attributevalue.Marshal(at)
	if err != nil {
		return fmt.Errorf("encode rotation time: %w", err)
	}
	secret, err := attributevalue.MarshalMap(acctSecretItem{PK: acctSecretPK(newHash), SK: acctSKSecret, Kind: "site-secret", Sitekey: sitekey})
	if err != nil {
		return fmt.Errorf("encode secret lookup: %w", err)
	}
	_, err = a.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: &a.table, Key: Key(acctSitePK(sitekey), acctSKSite),
			UpdateExpression:    aws.String("SET secret_hash = :new, secret_rotated_at = :at"),
			ConditionExpression: aws.String("attribute_exists(pk) AND secret_hash = :old"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":new": &types.AttributeValueMemberS{Value: newHash},
				":old": &types.AttributeValueMemberS{Value: oldHash},
				":at":  atAV,
			},
		}},
		{Delete: &types.Delete{TableName: &a.table, Key: Key(acctSecretPK(oldHash), acctSKSecret)}},
		{Put: &types.Put{TableName: &a.table, Item: secret, ConditionExpression: aws.String(acctCondNew)}},
		{ConditionCheck: &types.ConditionCheck{TableName: &a.table, Key: Key(owner, acctSKProfile), ConditionExpression: aws.String(acctCondOpen)}},
	}})
	if err == nil {
		return nil
	}
	if !isLostRace(err) {
		return fmt.Errorf("rotate secret: %w", err)
	}
	if acctFailedAt(err, 3) {
		if rerr := profileRefusal(ctx, a.api, a.table, owner); rerr != nil {
			return fmt.Errorf("rotate secret: %w", rerr)
		}
	}
	if acctFailedAt(err, 0) {
		if _, gerr := a.GetSite(ctx, sitekey); errors.Is(gerr, account.ErrNotFound) {
			return account.ErrNotFound
		}
	}
	return account.ErrConflict
}

// SiteBySecretHash implements account.Store. Both reads are strongly consistent, and the
// site's own hash is compared too, so a secret stops working the moment it is rotated.
func (a *Accounts) SiteBySecretHash(ctx context.Context, hash string) (account.Site, error) {
	var sec acctSecretItem
	if err := a.get(ctx, acctSecretPK(hash), acctSKSecret, &sec); err != nil {
		return account.Site{}, err
	}
	site, err := a.GetSite(ctx, sec.Sitekey)
	if err != nil {
		return account.Site{}, err
	}
	if site.SecretHash != hash {
		return account.Site{}, account.ErrNotFound
	}
	return site, nil
}

// get reads one item with a strongly consistent read into v (account.ErrNotFound if
// absent). Account records carry no ttl, hence the zero now.
func (a *Accounts) get(ctx context.Context, pk, sk string, v any) error {
	return getDecoded(ctx, a.api, a.table, Key(pk, sk), time.Time{}, v, account.ErrNotFound, sk)
}

// acctFailedAt reports whether a cancelled transaction failed the condition of item i.
func acctFailedAt(err error, i int) bool {
	var tc *types.TransactionCanceledException
	if !errors.As(err, &tc) || i >= len(tc.CancellationReasons) {
		return false
	}
	return aws.ToString(tc.CancellationReasons[i].Code) == "ConditionalCheckFailed"
}

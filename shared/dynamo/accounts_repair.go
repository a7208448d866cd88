package dynamo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
)

// RepairReport counts what Repair found and, unless it was a dry run, did. A second run
// right after a full one finds nothing to do.
type RepairReport struct {
	DryRun  bool `json:"dry_run"`
	Sites   int  `json:"sites"`   // site records examined
	Keys    int  `json:"keys"`    // API key records examined (customers' and integrators')
	Refs    int  `json:"refs"`    // reference items examined (sites' and keys')
	Secrets int  `json:"secrets"` // secret lookups examined
	// Records of a live owner without their reference (stored before references existed).
	SiteRefsMissing int `json:"site_refs_missing"`
	KeyRefsMissing  int `json:"key_refs_missing"`
	// Records whose owner's profile is gone (left by erasures that raced a creation).
	OrphanSites int `json:"orphan_sites"`
	OrphanKeys  int `json:"orphan_keys"`
	// References whose site or key is gone (a deletion that stopped between its batches).
	DanglingSiteRefs int `json:"dangling_site_refs"`
	DanglingKeyRefs  int `json:"dangling_key_refs"`
	// Secret lookups whose site is gone or holds another hash: they verify nothing.
	OrphanSecrets int `json:"orphan_secrets"`
	// What this run changed (zero in a dry run).
	RefsWritten    int `json:"refs_written"`
	SitesDeleted   int `json:"sites_deleted"`
	KeysDeleted    int `json:"keys_deleted"`
	RefsDeleted    int `json:"refs_deleted"`
	SecretsDeleted int `json:"secrets_deleted"`
	// Items that changed under the run (a write's condition failed: the owner, the record
	// or its secret changed meanwhile) or name no owner or record; a later run looks at
	// them again.
	Skipped int `json:"skipped"`
}

// repairRecord is what Repair reads of a site or key record, a reference or a secret
// lookup (whose sitekey is the site it maps to).
type repairRecord struct {
	PK           string `dynamodbav:"pk"`
	SK           string `dynamodbav:"sk"`
	Kind         string `dynamodbav:"kind"`
	Sitekey      string `dynamodbav:"sitekey"`
	SecretHash   string `dynamodbav:"secret_hash"`
	ID           string `dynamodbav:"id"`
	OwnerKind    string `dynamodbav:"owner_kind"`
	IntegratorID string `dynamodbav:"integrator_id"`
	CustomerID   string `dynamodbav:"customer_id"`
}

// owner is the partition of the record's owner profile (and of its reference), and the
// condition and values that pin the record to that owner ("" when it names none).
func (r repairRecord) owner() (pk, cond string, values map[string]types.AttributeValue) {
	switch {
	case r.Kind == "site" && r.IntegratorID != "":
		pk, cond = acctIntegratorPK(r.IntegratorID), "integrator_id = :owner"
	case r.Kind == "api-key" && r.OwnerKind == string(account.OwnerIntegrator) && r.IntegratorID != "":
		pk, cond = acctIntegratorPK(r.IntegratorID), "integrator_id = :owner"
	case r.Kind == "api-key" && r.OwnerKind == "" && r.CustomerID != "":
		pk, cond = acctCustomerPK(r.CustomerID), "customer_id = :owner"
	default:
		return "", "", nil
	}
	owner := r.IntegratorID
	if r.Kind == "api-key" && r.OwnerKind == "" {
		owner = r.CustomerID
	}
	return pk, cond, map[string]types.AttributeValue{":owner": &types.AttributeValueMemberS{Value: owner}}
}

// refSK is the sort key of the record's reference in its owner's partition.
func (r repairRecord) refSK() string {
	if r.Kind == "site" {
		return acctSitePK(r.Sitekey)
	}
	return acctAPIKeyPK(r.ID)
}

// Repair is the operator's maintenance pass over the accounts table (crowdgate accounts
// repair). It scans the site and API key records, their references and the secret lookups
// (one paginated, filtered Scan; each page is handled before the next is read, so memory
// stays bounded) and:
//   - a record whose owner's profile is present and reference missing: writes the
//     reference, in a transaction that also checks the profile and the record still exist,
//     so an erasure running at the same time never gets a reference back for what it deleted;
//   - a record whose owner's profile is gone (read strongly consistently): deletes the
//     record, its reference and, for a site, its SECRET# lookup, in a transaction that checks
//     the profile is still absent and the record unchanged. Such a record is never one being
//     created: creation checks the profile in the same transaction that writes the record;
//   - a reference whose record is gone: deletes it, checking in the same transaction that
//     the record is still absent;
//   - a secret lookup whose site is gone or holds another hash: deletes it, checking in the
//     same transaction that the site still does not hold the hash. Such a lookup verifies
//     nothing (SiteBySecretHash compares the site's current hash, and a rotation retires the
//     old hash at once: there is no grace window to respect), so only a lookup that still
//     verifies is live.
//
// References and lookups are created in the same transaction as what they name, so one
// whose record is absent is never one being created. With dryRun it only counts. Every
// write is conditional, so running it twice, or while the service runs, is safe.
func (a *Accounts) Repair(ctx context.Context, dryRun bool) (RepairReport, error) {
	rep := RepairReport{DryRun: dryRun}
	err := scanEach(ctx, a.api, time.Time{}, &dynamodb.ScanInput{
		TableName:                &a.table,
		FilterExpression:         aws.String("#kind = :site OR #kind = :key OR #kind = :siteref OR #kind = :keyref OR #kind = :secret"),
		ProjectionExpression:     aws.String("pk, sk, #kind, sitekey, secret_hash, id, owner_kind, integrator_id, customer_id"),
		ExpressionAttributeNames: map[string]string{"#kind": "kind"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":site":    &types.AttributeValueMemberS{Value: "site"},
			":key":     &types.AttributeValueMemberS{Value: "api-key"},
			":siteref": &types.AttributeValueMemberS{Value: "site-ref"},
			":keyref":  &types.AttributeValueMemberS{Value: "api-key-ref"},
			":secret":  &types.AttributeValueMemberS{Value: "site-secret"},
		},
	}, func(item map[string]types.AttributeValue) error {
		var r repairRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return fmt.Errorf("decode %s: %w", attrString(item, "pk"), err)
		}
		switch r.Kind {
		case "site-ref", "api-key-ref":
			return a.repairRef(ctx, r, &rep)
		case "site-secret":
			return a.repairSecret(ctx, r, &rep)
		}
		return a.repairOne(ctx, r, &rep)
	})
	if err != nil {
		return rep, fmt.Errorf("repair accounts: %w", err)
	}
	return rep, nil
}

func (a *Accounts) repairOne(ctx context.Context, r repairRecord, rep *RepairReport) error {
	if r.Kind == "site" {
		rep.Sites++
	} else {
		rep.Keys++
	}
	ownerPK, _, _ := r.owner()
	if ownerPK == "" || (r.Kind == "site" && r.Sitekey == "") || (r.Kind == "api-key" && r.ID == "") {
		rep.Skipped++ // nothing says whose it is: left for a person to look at
		return nil
	}
	profile, err := getStored(ctx, a.api, a.table, Key(ownerPK, acctSKProfile), nil, "owner profile")
	if err != nil {
		return err
	}
	if profile == nil {
		return a.repairOrphan(ctx, r, rep)
	}
	ref, err := getStored(ctx, a.api, a.table, Key(ownerPK, r.refSK()), nil, "reference")
	if err != nil || ref != nil {
		return err
	}
	if r.Kind == "site" {
		rep.SiteRefsMissing++
	} else {
		rep.KeyRefsMissing++
	}
	if rep.DryRun {
		return nil
	}
	return a.putRef(ctx, r, rep)
}

// putRef writes a live owner's missing reference, only while the owner's profile and the
// record (still the owner's) exist and the reference does not.
func (a *Accounts) putRef(ctx context.Context, r repairRecord, rep *RepairReport) error {
	ownerPK, cond, values := r.owner()
	kind := "api-key-ref"
	if r.Kind == "site" {
		kind = "site-ref"
	}
	ref, err := attributevalue.MarshalMap(acctSiteRefItem{PK: ownerPK, SK: r.refSK(), Kind: kind})
	if err != nil {
		return fmt.Errorf("encode reference: %w", err)
	}
	return a.repairWrite(ctx, rep, &rep.RefsWritten, fmt.Sprintf("write reference %s/%s", ownerPK, r.refSK()), []types.TransactWriteItem{
		{Put: &types.Put{TableName: &a.table, Item: ref, ConditionExpression: aws.String(acctCondNew)}},
		{ConditionCheck: &types.ConditionCheck{TableName: &a.table, Key: Key(ownerPK, acctSKProfile), ConditionExpression: aws.String("attribute_exists(pk)")}},
		{ConditionCheck: &types.ConditionCheck{
			TableName: &a.table, Key: Key(r.PK, recordSK(r)),
			ConditionExpression: aws.String("attribute_exists(pk) AND " + cond), ExpressionAttributeValues: values,
		}},
	})
}

// repairWrite commits one of the repair's conditional transactions and counts it in done;
// one whose condition failed (the owner, the record or its secret changed under the run)
// counts as skipped, for a later run to look at again.
func (a *Accounts) repairWrite(ctx context.Context, rep *RepairReport, done *int, what string, items []types.TransactWriteItem) error {
	_, err := a.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if isLostRace(err) {
		rep.Skipped++
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	*done++
	return nil
}

// repairOrphan deletes a record whose owner's profile is gone, with its reference and (a
// site) its secret lookup, only while the profile is still absent and the record unchanged.
func (a *Accounts) repairOrphan(ctx context.Context, r repairRecord, rep *RepairReport) error {
	if r.Kind == "site" {
		rep.OrphanSites++
	} else {
		rep.OrphanKeys++
	}
	if rep.DryRun {
		return nil
	}
	ownerPK, cond, values := r.owner()
	items := []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{TableName: &a.table, Key: Key(ownerPK, acctSKProfile), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Delete: &types.Delete{TableName: &a.table, Key: Key(ownerPK, r.refSK())}},
	}
	if r.Kind == "site" {
		// The secret compared, so the lookup deleted is the one the site points to (a
		// rotation in between fails this, and the next run looks at the site again).
		// A site stored without a hash has none to compare: its hash must still be absent.
		secretCond := " AND attribute_not_exists(secret_hash)"
		if r.SecretHash != "" {
			secretCond = " AND secret_hash = :hash"
			values[":hash"] = &types.AttributeValueMemberS{Value: r.SecretHash}
		}
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{
			TableName: &a.table, Key: Key(r.PK, acctSKSite),
			ConditionExpression: aws.String("attribute_exists(pk) AND " + cond + secretCond), ExpressionAttributeValues: values,
		}})
		if r.SecretHash != "" {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{
				TableName: &a.table, Key: Key(acctSecretPK(r.SecretHash), acctSKSecret),
				ConditionExpression:       aws.String("attribute_not_exists(pk) OR sitekey = :sitekey"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":sitekey": &types.AttributeValueMemberS{Value: r.Sitekey}},
			}})
		}
	} else {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{
			TableName: &a.table, Key: Key(r.PK, acctSKAPIKey),
			ConditionExpression: aws.String("attribute_exists(pk) AND " + cond), ExpressionAttributeValues: values,
		}})
	}
	done := &rep.KeysDeleted
	if r.Kind == "site" {
		done = &rep.SitesDeleted
	}
	return a.repairWrite(ctx, rep, done, "delete orphan "+r.PK, items)
}

// recordSK is the sort key of a site or key record.
func recordSK(r repairRecord) string {
	if r.Kind == "site" {
		return acctSKSite
	}
	return acctSKAPIKey
}

// refTarget is the key of the record a reference names ("" when its sort key names none).
func (r repairRecord) refTarget() (pk, sk string) {
	prefix, sk := acctSitePK(""), acctSKSite
	if r.Kind == "api-key-ref" {
		prefix, sk = acctAPIKeyPK(""), acctSKAPIKey
	}
	if !strings.HasPrefix(r.SK, prefix) || len(r.SK) == len(prefix) {
		return "", ""
	}
	return r.SK, sk // a reference's sort key is its record's partition key
}

// repairRef deletes a reference whose record is gone, only while the record is still
// absent: a record that reappears (restored, or written by anything that does not check
// its reference) keeps it.
func (a *Accounts) repairRef(ctx context.Context, r repairRecord, rep *RepairReport) error {
	rep.Refs++
	pk, sk := r.refTarget()
	if pk == "" {
		rep.Skipped++ // names no record: left for a person to look at
		return nil
	}
	record, err := getStored(ctx, a.api, a.table, Key(pk, sk), nil, "referenced record")
	if err != nil || record != nil {
		return err
	}
	// An orphan's reference goes with it earlier in the run: only one still there dangles.
	if ref, err := getStored(ctx, a.api, a.table, Key(r.PK, r.SK), nil, "reference"); err != nil || ref == nil {
		return err
	}
	if r.Kind == "site-ref" {
		rep.DanglingSiteRefs++
	} else {
		rep.DanglingKeyRefs++
	}
	if rep.DryRun {
		return nil
	}
	return a.repairWrite(ctx, rep, &rep.RefsDeleted, fmt.Sprintf("delete dangling reference %s/%s", r.PK, r.SK), []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{TableName: &a.table, Key: Key(pk, sk), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Delete: &types.Delete{TableName: &a.table, Key: Key(r.PK, r.SK), ConditionExpression: aws.String("attribute_exists(pk)")}},
	})
}

// repairSecret deletes a secret lookup that verifies nothing (its site gone or holding
// another hash), only while the site still does not hold the hash and the lookup still
// maps it to that site.
func (a *Accounts) repairSecret(ctx context.Context, r repairRecord, rep *RepairReport) error {
	rep.Secrets++
	hash := strings.TrimPrefix(r.PK, acctSecretPK(""))
	if r.Sitekey == "" || hash == "" || hash == r.PK {
		rep.Skipped++ // maps nothing: left for a person to look at
		return nil
	}
	site, err := getStored(ctx, a.api, a.table, Key(acctSitePK(r.Sitekey), acctSKSite), nil, "site")
	if err != nil || (site != nil && attrString(site, "secret_hash") == hash) {
		return err // live: SiteBySecretHash finds the site by it
	}
	// An orphan site's lookup goes with it, and a rotation deletes the old one, earlier
	// in the run: only one still there is left over.
	lookup, err := getStored(ctx, a.api, a.table, Key(r.PK, r.SK), nil, "secret lookup")
	if err != nil || lookup == nil {
		return err
	}
	if attrString(lookup, "sitekey") != r.Sitekey {
		rep.Skipped++ // taken by another site since the scan read it
		return nil
	}
	rep.OrphanSecrets++
	if rep.DryRun {
		return nil
	}
	return a.repairWrite(ctx, rep, &rep.SecretsDeleted, "delete orphan secret lookup "+r.PK, []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{
			TableName: &a.table, Key: Key(acctSitePK(r.Sitekey), acctSKSite),
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR secret_hash <> :hash"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":hash": &types.AttributeValueMemberS{Value: hash}},
		}},
		{Delete: &types.Delete{
			TableName: &a.table, Key: Key(r.PK, r.SK),
			ConditionExpression:       aws.String("sitekey = :sitekey"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":sitekey": &types.AttributeValueMemberS{Value: r.Sitekey}},
		}},
	})
}

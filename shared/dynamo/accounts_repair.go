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

// RepairReport counts what Repair found and, unless it was a dry run, did. A second run
// right after a full one finds nothing to do.
type RepairReport struct {
	DryRun bool `json:"dry_run"`
	Sites  int  `json:"sites"` // site records examined
	Keys   int  `json:"keys"`  // API key records examined (customers' and integrators')
	// Records of a live owner without their reference (stored before references existed).
	SiteRefsMissing int `json:"site_refs_missing"`
	KeyRefsMissing  int `json:"key_refs_missing"`
	// Records whose owner's profile is gone (left by erasures that raced a creation).
	OrphanSites int `json:"orphan_sites"`
	OrphanKeys  int `json:"orphan_keys"`
	// What this run changed (zero in a dry run).
	RefsWritten  int `json:"refs_written"`
	SitesDeleted int `json:"sites_deleted"`
	KeysDeleted  int `json:"keys_deleted"`
	// Records that changed under the run (a write's condition failed: the owner, the record
	// or its secret changed meanwhile) or name no owner; a later run looks at them again.
	Skipped int `json:"skipped"`
}

// repairRecord is what Repair reads of a site or key record.
type repairRecord struct {
	PK           string `dynamodbav:"pk"`
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
// repair). It scans the site and API key records (a paginated, filtered Scan; each page is
// handled before the next is read, so memory stays bounded) and, for each:
//   - owner profile present, reference missing: writes the reference, in a transaction
//     that also checks the profile and the record still exist, so an erasure running at
//     the same time never gets a reference back for what it deleted;
//   - owner profile gone (read strongly consistently): deletes the record, its reference
//     and, for a site, its SECRET# lookup, in a transaction that checks the profile is
//     still absent and the record unchanged. Such a record is never one being created:
//     creation checks the profile in the same transaction that writes the record.
//
// With dryRun it only counts. Every write is conditional, so running it twice, or while
// the service runs, is safe.
func (a *Accounts) Repair(ctx context.Context, dryRun bool) (RepairReport, error) {
	rep := RepairReport{DryRun: dryRun}
	err := scanEach(ctx, a.api, time.Time{}, &dynamodb.ScanInput{
		TableName:                &a.table,
		FilterExpression:         aws.String("#kind = :site OR #kind = :key"),
		ProjectionExpression:     aws.String("pk, #kind, sitekey, secret_hash, id, owner_kind, integrator_id, customer_id"),
		ExpressionAttributeNames: map[string]string{"#kind": "kind"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":site": &types.AttributeValueMemberS{Value: "site"},
			":key":  &types.AttributeValueMemberS{Value: "api-key"},
		},
	}, func(item map[string]types.AttributeValue) error {
		var r repairRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return fmt.Errorf("decode %s: %w", attrString(item, "pk"), err)
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
	_, err = a.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &a.table, Item: ref, ConditionExpression: aws.String(acctCondNew)}},
		{ConditionCheck: &types.ConditionCheck{TableName: &a.table, Key: Key(ownerPK, acctSKProfile), ConditionExpression: aws.String("attribute_exists(pk)")}},
		{ConditionCheck: &types.ConditionCheck{
			TableName: &a.table, Key: Key(r.PK, recordSK(r)),
			ConditionExpression: aws.String("attribute_exists(pk) AND " + cond), ExpressionAttributeValues: values,
		}},
	}})
	if isLostRace(err) {
		rep.Skipped++
		return nil
	}
	if err != nil {
		return fmt.Errorf("write reference %s/%s: %w", ownerPK, r.refSK(), err)
	}
	rep.RefsWritten++
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
		values[":hash"] = &types.AttributeValueMemberS{Value: r.SecretHash}
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{
			TableName: &a.table, Key: Key(r.PK, acctSKSite),
			ConditionExpression: aws.String("attribute_exists(pk) AND " + cond + " AND secret_hash = :hash"), ExpressionAttributeValues: values,
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
	_, err := a.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if isLostRace(err) {
		rep.Skipped++
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete orphan %s: %w", r.PK, err)
	}
	if r.Kind == "site" {
		rep.SitesDeleted++
	} else {
		rep.KeysDeleted++
	}
	return nil
}

// recordSK is the sort key of a site or key record.
func recordSK(r repairRecord) string {
	if r.Kind == "site" {
		return acctSKSite
	}
	return acctSKAPIKey
}

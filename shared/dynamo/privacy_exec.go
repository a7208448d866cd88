package dynamo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Holdings is what the privacy worker reads, changes and erases of a data subject's
// accounts across the tables (privacy.AccountData, privacy.LabelData, privacy.RequestLog),
// on the layouts the stores own (accounts.go, customers.go, jobs.go, consensus.go,
// exports.go, privacy.go, risk_disclosure.go). Lookups by address and by subject hash are
// filtered Scans: requests are rare, and adding indexes for them would put e-mail hashes
// into index keys of the hot tables.
type Holdings struct {
	api      API
	accounts *Accounts
	jobs     *Jobs
	tables   HoldingsTables
	now      func() time.Time
}

// HoldingsTables names the deployed tables Holdings works on.
type HoldingsTables struct {
	Accounts, Labels, Privacy string
}

var (
	_ privacy.AccountData = (*Holdings)(nil)
	_ privacy.LabelData   = (*Holdings)(nil)
	_ privacy.RequestLog  = (*Holdings)(nil)
)

// NewHoldings returns the adapter; now (nil: time.Now) judges expiry.
func NewHoldings(api API, tables HoldingsTables, now func() time.Time) *Holdings {
	return &Holdings{api: api, accounts: NewAccounts(api, tables.Accounts), jobs: NewJobs(api, tables.Labels), tables: tables, now: clockOrTimeNow(now)}
}

// deletePartition deletes the first limit items of partition pk of table, as deleteQueried
// (which counts those deleted before a failure too).
func (h *Holdings) deletePartition(ctx context.Context, table, pk string, limit int) (int, bool, error) {
	return deleteQueried(ctx, h.api, &dynamodb.QueryInput{
		TableName:                 &table,
		KeyConditionExpression:    aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": sAttr(pk)},
	}, limit)
}

func sAttr(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// --- accounts table (privacy.AccountData) ---------------------------------------------

// IntegratorsByEmail implements privacy.AccountData.
func (h *Holdings) IntegratorsByEmail(ctx context.Context, email string) ([]string, error) {
	return h.accounts.IntegratorsByEmail(ctx, email)
}

// CustomersByEmail implements privacy.AccountData (a Scan, like IntegratorsByEmail;
// profiles carry no ttl, so there is nothing expired to skip).
func (h *Holdings) CustomersByEmail(ctx context.Context, email string) ([]string, error) {
	return h.accounts.CustomersByEmail(ctx, email)
}

// GetIntegrator implements privacy.AccountData.
func (h *Holdings) GetIntegrator(ctx context.Context, id string) (account.Integrator, error) {
	return h.accounts.GetIntegrator(ctx, id)
}

// GetCustomer implements privacy.AccountData.
func (h *Holdings) GetCustomer(ctx context.Context, id string) (account.Customer, error) {
	return h.accounts.GetCustomer(ctx, id)
}

// ListIntegratorKeys implements privacy.AccountData.
func (h *Holdings) ListIntegratorKeys(ctx context.Context, integratorID string) ([]account.IntegratorKey, error) {
	return h.accounts.ListIntegratorKeys(ctx, integratorID)
}

// ListAPIKeys implements privacy.AccountData.
func (h *Holdings) ListAPIKeys(ctx context.Context, customerID string) ([]account.APIKey, error) {
	return h.accounts.ListAPIKeys(ctx, customerID)
}

// RevokeAPIKey implements privacy.AccountData.
func (h *Holdings) RevokeAPIKey(ctx context.Context, customerID, keyID string, at time.Time) (account.APIKey, error) {
	return h.accounts.RevokeAPIKey(ctx, customerID, keyID, at)
}

// SitesOf implements privacy.AccountData: every committed site of the integrator, one
// created a moment ago too (an opt-out must reach it; committedSites).
func (h *Holdings) SitesOf(ctx context.Context, integratorID string) ([]account.Site, error) {
	return h.accounts.committedSites(ctx, integratorID)
}

// DeleteSites implements privacy.AccountData: each site goes with its secret lookup and
// its reference. Sites are found as SitesOf finds them — by their references,
// read strongly consistently, so a site created a moment ago is not missed, and through
// gsi1 for sites stored before references existed — and each is read again, strongly
// consistently, for its current secret hash (gsi1's copy may predate a rotation). Only
// sites that were there, and the secret lookups of those that have a secret hash, are
// counted: a site once it is gone (the retry no longer finds it), with its secret lookup;
// a secret lookup whose site a failure left is counted by the retry, which finds the site.
func (h *Holdings) DeleteSites(ctx context.Context, integratorID string, limit int) (sites, secrets int, more bool, err error) {
	sitekeys, more, err := h.ownedBatch(ctx, acctIntegratorPK(integratorID), acctSitePK(""), limit, func(it map[string]types.AttributeValue) string {
		return attrString(it, "sitekey")
	}, func(sitekey string) map[string]types.AttributeValue { return Key(acctSitePK(sitekey), acctSKSite) })
	if err != nil {
		return 0, 0, false, fmt.Errorf("list sites to delete: %w", err)
	}
	// Sites with a secret lookup and those without are deleted apart, so that the number
	// of sites a failure left deleted also gives the number of their secret lookups.
	var secretKeys, withSecret, withoutSecret, refKeys []map[string]types.AttributeValue
	for _, sitekey := range sitekeys {
		s, err := h.accounts.GetSite(ctx, sitekey)
		switch {
		case errors.Is(err, account.ErrNotFound):
			// Already gone: a stale gsi1 entry, or a reference a failed attempt left.
		case err != nil:
			return 0, 0, false, fmt.Errorf("read site to delete: %w", err)
		case s.SecretHash != "":
			withSecret = append(withSecret, Key(acctSitePK(sitekey), acctSKSite))
			secretKeys = append(secretKeys, Key(acctSecretPK(s.SecretHash), acctSKSecret))
		default:
			withoutSecret = append(withoutSecret, Key(acctSitePK(sitekey), acctSKSite))
		}
		refKeys = append(refKeys, Key(acctIntegratorPK(integratorID), acctSitePK(sitekey)))
	}
	// Each kind in its own batches, in the order that keeps the rest reachable whatever a
	// failure leaves: secret lookups (only the site names them), then sites, then the
	// references (one left still leads the next attempt to its site).
	if _, err := deleteKeys(ctx, h.api, h.tables.Accounts, secretKeys); err != nil {
		return 0, 0, true, fmt.Errorf("delete secret lookups: %w", err)
	}
	n, err := deleteKeys(ctx, h.api, h.tables.Accounts, withSecret)
	if err != nil {
		return n, n, true, fmt.Errorf("delete sites: %w", err)
	}
	n, err = deleteKeys(ctx, h.api, h.tables.Accounts, withoutSecret)
	sites, secrets = len(withSecret)+n, len(withSecret)
	if err != nil {
		return sites, secrets, true, fmt.Errorf("delete sites: %w", err)
	}
	if _, err := deleteKeys(ctx, h.api, h.tables.Accounts, refKeys); err != nil {
		return sites, secrets, true, fmt.Errorf("delete site references: %w", err)
	}
	return sites, secrets, more, nil
}

// ownedBatch names up to limit of an owner's records of one kind (sort key prefix: SITE#,
// APIKEY#). Its references in the owner's partition come first: read strongly
// consistently, each names a record that is there (a record's reference goes after it).
// Only when they are fewer than limit is the batch filled from gsi1 (records stored before
// references existed), with the names no reference gave whose record (key: its base
// table key) a consistent read still finds: gsi1 goes on listing a record deleted a moment
// ago, and a batch of those would delete nothing while more stayed true. So a batch is
// empty only when nothing is left. name reads a name from an index item; more reports
// that names may remain beyond the batch.
func (h *Holdings) ownedBatch(ctx context.Context, ownerPK, prefix string, limit int, name func(map[string]types.AttributeValue) string, key func(string) map[string]types.AttributeValue) ([]string, bool, error) {
	refs := refQuery(h.tables.Accounts, ownerPK, prefix)
	refs.Limit = aws.Int32(int32(limit))
	out, err := h.api.Query(ctx, refs)
	if err != nil {
		return nil, false, err
	}
	names := make([]string, 0, limit)
	for _, it := range out.Items {
		names = append(names, refName(it, prefix))
	}
	if len(out.LastEvaluatedKey) > 0 {
		return names, true, nil
	}
	referenced := map[string]bool{}
	for _, n := range names {
		referenced[n] = true
	}
	idx := gsi1PrefixQuery(h.tables.Accounts, ownerPK, prefix)
	idx.Limit = aws.Int32(int32(limit))
	for {
		page, err := h.api.Query(ctx, idx)
		if err != nil {
			return nil, false, err
		}
		for _, it := range page.Items {
			n := name(it)
			if referenced[n] {
				continue
			}
			if len(names) == limit {
				return names, true, nil // a name left unread: the next batch reads it
			}
			got, err := h.api.GetItem(ctx, &dynamodb.GetItemInput{
				TableName: &h.tables.Accounts, Key: key(n), ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("pk"),
			})
			if err != nil {
				return nil, false, fmt.Errorf("read a record gsi1 lists: %w", err)
			}
			if len(got.Item) > 0 {
				names = append(names, n)
				referenced[n] = true
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return names, false, nil
		}
		idx.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// DeleteAPIKeys implements privacy.AccountData: customer keys and integrators' risk-lookup
// keys alike, each with its reference. Keys are found as listKeys finds them — by their
// references in the owner's partition (CUSTOMER#<id> or INTEGRATOR#<id> / APIKEY#<keyid>),
// read strongly consistently, so a key created a moment ago is not missed, and through
// gsi1 for keys stored before references existed. Only keys that were there are counted
// (gsi1 may still list one deleted a moment ago).
func (h *Holdings) DeleteAPIKeys(ctx context.Context, kind privacy.HolderKind, ownerID string, limit int) (int, bool, error) {
	owner, err := profilePK(kind, ownerID)
	if err != nil {
		return 0, false, err
	}
	ids, more, err := h.ownedBatch(ctx, owner, acctAPIKeyPK(""), limit, func(it map[string]types.AttributeValue) string {
		return strings.TrimPrefix(attrString(it, schema.PartitionKey), acctAPIKeyPK(""))
	}, func(id string) map[string]types.AttributeValue { return Key(acctAPIKeyPK(id), acctSKAPIKey) })
	if err != nil {
		return 0, false, fmt.Errorf("list API keys to delete: %w", err)
	}
	deleted := 0
	var refKeys []map[string]types.AttributeValue
	for _, id := range ids {
		out, err := h.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: &h.tables.Accounts, Key: Key(acctAPIKeyPK(id), acctSKAPIKey), ReturnValues: types.ReturnValueAllOld,
		})
		if err != nil {
			return deleted, true, fmt.Errorf("delete API key: %w", err)
		}
		if len(out.Attributes) > 0 {
			deleted++
		}
		refKeys = append(refKeys, Key(owner, acctAPIKeyPK(id)))
	}
	// References last: one left by a failure still leads the next attempt to its key.
	if _, err := deleteKeys(ctx, h.api, h.tables.Accounts, refKeys); err != nil {
		return deleted, true, err
	}
	return deleted, more, nil
}

func profilePK(kind privacy.HolderKind, id string) (string, error) {
	switch kind {
	case privacy.HolderIntegrator:
		return acctIntegratorPK(id), nil
	case privacy.HolderCustomer:
		return acctCustomerPK(id), nil
	}
	return "", fmt.Errorf("unknown account kind %q", kind)
}

// DeleteProfile implements privacy.AccountData.
func (h *Holdings) DeleteProfile(ctx context.Context, kind privacy.HolderKind, id string) (bool, error) {
	pk, err := profilePK(kind, id)
	if err != nil {
		return false, err
	}
	out, err := h.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &h.tables.Accounts, Key: Key(pk, acctSKProfile), ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return false, fmt.Errorf("delete %s: %w", kind, err)
	}
	return len(out.Attributes) > 0, nil
}

// MarkErasing implements privacy.AccountData: the fence (acctAttrErasing) on an existing
// profile, the first erasure's request id and time kept if a retry or a second request
// marks it again.
func (h *Holdings) MarkErasing(ctx context.Context, kind privacy.HolderKind, id, requestID string, at time.Time) error {
	pk, err := profilePK(kind, id)
	if err != nil {
		return err
	}
	fence, err := attributevalue.Marshal(struct {
		RequestID string    `dynamodbav:"request_id"`
		At        time.Time `dynamodbav:"at"`
	}{requestID, at.UTC()})
	if err != nil {
		return fmt.Errorf("encode erasure fence: %w", err)
	}
	return h.updateExisting(ctx, Key(pk, acctSKProfile), "SET "+acctAttrErasing+" = if_not_exists("+acctAttrErasing+", :e)", nil,
		map[string]types.AttributeValue{":e": fence})
}

// profileAttrs are the attributes UpdateProfile may set (account.Field* → attribute).
var profileAttrs = map[string]string{account.FieldName: "name", account.FieldEmail: "email", account.FieldCountry: "country"}

// UpdateProfile implements privacy.AccountData with one conditional UpdateItem: a
// profile an erasure has fenced is left as it is (account.ErrErasing), since a corrected
// address would no longer lead the erasure to it.
func (h *Holdings) UpdateProfile(ctx context.Context, kind privacy.HolderKind, id string, fields map[string]string) error {
	pk, err := profilePK(kind, id)
	if err != nil {
		return err
	}
	var sets []string
	names := map[string]string{}
	values := map[string]types.AttributeValue{}
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		attr, ok := profileAttrs[f]
		if !ok {
			return fmt.Errorf("update profile: unknown field %q", f)
		}
		sets = append(sets, "#"+attr+" = :"+attr)
		names["#"+attr] = attr
		values[":"+attr] = sAttr(fields[f])
	}
	if len(sets) == 0 {
		return nil
	}
	err = h.update(ctx, Key(pk, acctSKProfile), acctCondOpen, "SET "+strings.Join(sets, ", "), names, values)
	if IsConditionFailed(err) {
		if rerr := profileRefusal(ctx, h.api, h.tables.Accounts, pk); rerr != nil {
			return rerr
		}
		return account.ErrConflict // the profile was open after all: a retry decides
	}
	return err
}

// updateExisting applies an update to an existing item (account.ErrNotFound otherwise).
func (h *Holdings) updateExisting(ctx context.Context, key map[string]types.AttributeValue, update string, names map[string]string, values map[string]types.AttributeValue) error {
	err := h.update(ctx, key, "attribute_exists(pk)", update, names, values)
	if IsConditionFailed(err) {
		return account.ErrNotFound
	}
	return err
}

// update applies an update to an item of the accounts table under a condition (a failed
// one is returned as DynamoDB reports it).
func (h *Holdings) update(ctx context.Context, key map[string]types.AttributeValue, cond, update string, names map[string]string, values map[string]types.AttributeValue) error {
	if len(names) == 0 {
		names = nil
	}
	_, err := h.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &h.tables.Accounts, Key: key,
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if IsConditionFailed(err) {
		return err
	}
	if err != nil {
		return fmt.Errorf("update account: %w", err)
	}
	return nil
}

func choicesUpdate(c account.Choices) (string, map[string]types.AttributeValue) {
	var sets []string
	if c.OptOutSale {
		sets = append(sets, "opt_out_sale = :t")
	}
	if c.LimitSensitive {
		sets = append(sets, "limit_sensitive = :t")
	}
	if len(sets) == 0 {
		return "", nil
	}
	return "SET " + strings.Join(sets, ", "), map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}}
}

// SetChoices implements privacy.AccountData.
func (h *Holdings) SetChoices(ctx context.Context, kind privacy.HolderKind, id string, c account.Choices) error {
	pk, err := profilePK(kind, id)
	if err != nil {
		return err
	}
	update, values := choicesUpdate(c)
	if update == "" {
		return nil
	}
	return h.updateExisting(ctx, Key(pk, acctSKProfile), update, nil, values)
}

// SetSiteChoices implements privacy.AccountData.
func (h *Holdings) SetSiteChoices(ctx context.Context, sitekey string, c account.Choices) error {
	update, values := choicesUpdate(c)
	if update == "" {
		return nil
	}
	return h.updateExisting(ctx, Key(acctSitePK(sitekey), acctSKSite), update, nil, values)
}

// --- labels table (privacy.LabelData) -------------------------------------------------

// ListJobs implements privacy.LabelData.
func (h *Holdings) ListJobs(ctx context.Context, customerID string) ([]job.Job, error) {
	return h.jobs.listJobs(ctx, customerID, time.Time{}) // expired but not yet swept jobs too
}

// ListEntries implements privacy.LabelData.
func (h *Holdings) ListEntries(ctx context.Context, jobID, after string, limit int) ([]job.Entry, string, error) {
	return h.jobs.ListEntries(ctx, jobID, after, limit)
}

// DeleteEntries implements privacy.LabelData.
func (h *Holdings) DeleteEntries(ctx context.Context, jobID string, limit int) (int, bool, error) {
	return h.jobs.DeleteEntries(ctx, jobID, limit)
}

// DeleteJob implements privacy.LabelData.
func (h *Holdings) DeleteJob(ctx context.Context, id string) error { return h.jobs.DeleteJob(ctx, id) }

// DeleteConsensus implements privacy.LabelData: the CONS#<job> partition (consensus.go).
func (h *Holdings) DeleteConsensus(ctx context.Context, jobID string, limit int) (int, bool, error) {
	return h.deletePartition(ctx, h.tables.Labels, consPK(jobID), limit)
}

// ExportsOf implements privacy.LabelData (a Scan: exports have no index by customer).
// Expired records DynamoDB has not swept yet are listed too, as ListJobs lists expired
// jobs: their files can outlive them in the exports bucket, and an erasure must reach both.
func (h *Holdings) ExportsOf(ctx context.Context, customerID string) ([]export.Export, error) {
	var out []export.Export
	err := scanEach(ctx, h.api, time.Time{}, &dynamodb.ScanInput{
		TableName:                &h.tables.Labels,
		FilterExpression:         aws.String("#kind = :k AND customer_id = :c"),
		ExpressionAttributeNames: map[string]string{"#kind": "kind"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":k": sAttr("export"), ":c": sAttr(customerID),
		},
	}, func(it map[string]types.AttributeValue) error {
		e, err := decodeExport(it)
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list exports: %w", err)
	}
	slices.SortFunc(out, func(a, b export.Export) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// DeleteExport implements privacy.LabelData.
func (h *Holdings) DeleteExport(ctx context.Context, id string) error {
	if _, err := h.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &h.tables.Labels, Key: Key(exportPK(id), exportSK)}); err != nil {
		return fmt.Errorf("delete export: %w", err)
	}
	return nil
}

// --- privacy table (privacy.RequestLog) ----------------------------------------------

// DisclosuresTo implements privacy.RequestLog: after is a sort key of the recipient's
// partition (risk_disclosure.go).
func (h *Holdings) DisclosuresTo(ctx context.Context, recipient, after string, limit int) ([]privacy.Disclosure, string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &h.tables.Privacy,
		KeyConditionExpression:    aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": sAttr(disclosurePK(recipient))},
		Limit:                     aws.Int32(int32(limit)),
	}
	if after != "" {
		in.KeyConditionExpression = aws.String("pk = :p AND sk > :after")
		in.ExpressionAttributeValues[":after"] = sAttr(after)
	}
	out, err := h.api.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list disclosures: %w", err)
	}
	now := h.now()
	var list []privacy.Disclosure
	last := ""
	for _, it := range out.Items {
		var x disclosureItem
		if err := attributevalue.UnmarshalMap(it, &x); err != nil {
			return nil, "", fmt.Errorf("decode disclosure: %w", err)
		}
		last = x.SK
		if Expired(it, now) {
			continue
		}
		d, err := x.disclosure()
		if err != nil {
			return nil, "", fmt.Errorf("decode disclosure time: %w", err)
		}
		list = append(list, d)
	}
	if len(out.LastEvaluatedKey) == 0 {
		last = ""
	}
	return list, last, nil
}

// DeleteDisclosures implements privacy.RequestLog.
func (h *Holdings) DeleteDisclosures(ctx context.Context, recipient string, limit int) (int, bool, error) {
	return h.deletePartition(ctx, h.tables.Privacy, disclosurePK(recipient), limit)
}

// RequestsOf implements privacy.RequestLog (a Scan by subject hash).
func (h *Holdings) RequestsOf(ctx context.Context, subjectHash string) ([]privacy.Request, error) {
	var out []privacy.Request
	err := scanEach(ctx, h.api, h.now(), &dynamodb.ScanInput{
		TableName:                &h.tables.Privacy,
		FilterExpression:         aws.String("#kind = :k AND subject_hash = :h"),
		ExpressionAttributeNames: map[string]string{"#kind": "kind"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":k": sAttr("privacy-request"), ":h": sAttr(subjectHash),
		},
	}, func(it map[string]types.AttributeValue) error {
		var x privRequestItem
		if err := attributevalue.UnmarshalMap(it, &x); err != nil {
			return fmt.Errorf("decode request: %w", err)
		}
		r, err := x.request()
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	return out, nil
}

// ScrubAccountIDs implements privacy.RequestLog.
func (h *Holdings) ScrubAccountIDs(ctx context.Context, id string) (bool, error) {
	return h.editRequest(ctx, id, func(item map[string]types.AttributeValue) (bool, error) {
		st := attrString(item, "status")
		if _, ok := item["account_ids"]; !ok || (st != string(privacy.StatusCompleted) && st != string(privacy.StatusDenied)) {
			return false, nil
		}
		delete(item, "account_ids")
		return true, nil
	})
}

// DropAccountIDs implements privacy.RequestLog.
func (h *Holdings) DropAccountIDs(ctx context.Context, id string, ids []string) (bool, error) {
	return h.editRequest(ctx, id, func(item map[string]types.AttributeValue) (bool, error) {
		av, ok := item["account_ids"]
		if !ok {
			return false, nil
		}
		var have []string
		if err := attributevalue.Unmarshal(av, &have); err != nil {
			return false, fmt.Errorf("request %s account ids: %w", id, err)
		}
		kept := slices.DeleteFunc(slices.Clone(have), func(a string) bool { return slices.Contains(ids, a) })
		if len(kept) == len(have) {
			return false, nil
		}
		if len(kept) == 0 {
			delete(item, "account_ids")
			return true, nil
		}
		av, err := attributevalue.Marshal(kept)
		if err != nil {
			return false, fmt.Errorf("request %s account ids: %w", id, err)
		}
		item["account_ids"] = av
		return true, nil
	})
}

// editRequest rewrites a request item with a read and a put conditional on the version
// read, which moves on, so a change made from the old state cannot write the old values
// back. edit changes the item in place and reports whether it changed it. (A put rather
// than UpdateItem REMOVE: the local stack's minidyn ignores REMOVE of a list attribute.)
func (h *Holdings) editRequest(ctx context.Context, id string, edit func(map[string]types.AttributeValue) (bool, error)) (bool, error) {
	key := Key(privReqPK(id), privSKRequest)
	for range 3 {
		out, err := h.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &h.tables.Privacy, Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return false, fmt.Errorf("read request: %w", err)
		}
		item := out.Item
		if len(item) == 0 {
			return false, nil
		}
		prev, ok := item["version"].(*types.AttributeValueMemberN)
		if !ok {
			return false, fmt.Errorf("request %s has no version", id)
		}
		v, err := strconv.ParseInt(prev.Value, 10, 64)
		if err != nil {
			return false, fmt.Errorf("request %s version: %w", id, err)
		}
		if changed, err := edit(item); !changed || err != nil {
			return false, err
		}
		item["version"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(v+1, 10)}
		_, err = h.api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &h.tables.Privacy, Item: item,
			ConditionExpression:       aws.String("#v = :prev"),
			ExpressionAttributeNames:  map[string]string{"#v": "version"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":prev": prev},
		})
		if IsConditionFailed(err) {
			continue // changed meanwhile: read again
		}
		if err != nil {
			return false, fmt.Errorf("rewrite request: %w", err)
		}
		return true, nil
	}
	return false, fmt.Errorf("rewrite request: %w", privacy.ErrConflict)
}

func attrString(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

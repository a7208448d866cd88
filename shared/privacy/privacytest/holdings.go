package privacytest

import (
	"bytes"
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

// Holdings is an in-memory world of accounts, jobs, exports and disclosures that
// implements privacy.AccountData, privacy.LabelData and privacy.RequestLog the way
// shared/dynamo.Holdings does, for the executors' tests. Requests come from Requests.
// Fail, when set, is asked before every change ("delete_sites", "delete_entries", …) and
// its error is returned instead, so tests can stop a run half-way.
type Holdings struct {
	Requests *Store
	Fail     func(op string) error

	mu          sync.Mutex
	Integrators map[string]account.Integrator
	Sites       map[string]account.Site
	Secrets     map[string]string // secret hash → sitekey
	Customers   map[string]account.Customer
	Keys        map[string]account.APIKey
	// IntegratorKeys are integrators' risk-lookup keys by key id.
	IntegratorKeys map[string]account.IntegratorKey
	Jobs           map[string]job.Job
	Items          map[string]map[string]job.Entry // job → item id → entry
	Consensus      map[string]int                  // job → consensus records
	Exports        map[string]export.Export
	Disclosures    map[string][]privacy.Disclosure // recipient → oldest first
	// Erasing are the fences MarkErasing set on profiles: FenceKey → the request's id.
	Erasing map[string]string
}

// FenceKey names a profile in Holdings.Erasing.
func FenceKey(kind privacy.HolderKind, id string) string { return string(kind) + "#" + id }

var (
	_ privacy.AccountData = (*Holdings)(nil)
	_ privacy.LabelData   = (*Holdings)(nil)
	_ privacy.RequestLog  = (*Holdings)(nil)
)

// NewHoldings returns an empty world whose requests live in store.
func NewHoldings(store *Store) *Holdings {
	return &Holdings{
		Requests: store, Integrators: map[string]account.Integrator{}, Sites: map[string]account.Site{},
		Secrets: map[string]string{}, Customers: map[string]account.Customer{}, Keys: map[string]account.APIKey{},
		IntegratorKeys: map[string]account.IntegratorKey{},
		Jobs:           map[string]job.Job{}, Items: map[string]map[string]job.Entry{}, Consensus: map[string]int{},
		Exports: map[string]export.Export{}, Disclosures: map[string][]privacy.Disclosure{}, Erasing: map[string]string{},
	}
}

func (h *Holdings) fail(op string) error {
	if h.Fail != nil {
		return h.Fail(op)
	}
	return nil
}

// AddSite stores a site and its secret lookup (none for a site without a secret hash).
func (h *Holdings) AddSite(s account.Site) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Sites[s.Sitekey] = s
	if s.SecretHash != "" {
		h.Secrets[s.SecretHash] = s.Sitekey
	}
}

// AddItems stores items of a job.
func (h *Holdings) AddItems(jobID string, entries ...job.Entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Items[jobID] == nil {
		h.Items[jobID] = map[string]job.Entry{}
	}
	for _, e := range entries {
		e.JobID = jobID
		h.Items[jobID][e.ID] = e
	}
}

func byEmail[T any](m map[string]T, email func(T) string, id func(T) string, want string) []string {
	var out []string
	for _, v := range m {
		if strings.EqualFold(email(v), want) {
			out = append(out, id(v))
		}
	}
	slices.Sort(out)
	return out
}

// IntegratorsByEmail implements privacy.AccountData.
func (h *Holdings) IntegratorsByEmail(_ context.Context, email string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return byEmail(h.Integrators, func(i account.Integrator) string { return i.Email }, func(i account.Integrator) string { return i.ID }, email), nil
}

// CustomersByEmail implements privacy.AccountData.
func (h *Holdings) CustomersByEmail(_ context.Context, email string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return byEmail(h.Customers, func(c account.Customer) string { return c.Email }, func(c account.Customer) string { return c.ID }, email), nil
}

// lookup returns m[id], or the zero value and account.ErrNotFound.
func lookup[V any](m map[string]V, id string) (V, error) {
	v, ok := m[id]
	if !ok {
		return v, account.ErrNotFound
	}
	return v, nil
}

// update applies change to the record m[id] and stores it back (the maps hold values).
func update[V any](m map[string]V, id string, change func(*V)) error {
	v, err := lookup(m, id)
	if err != nil {
		return err
	}
	change(&v)
	m[id] = v
	return nil
}

// GetIntegrator implements privacy.AccountData.
func (h *Holdings) GetIntegrator(_ context.Context, id string) (account.Integrator, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return lookup(h.Integrators, id)
}

// GetCustomer implements privacy.AccountData.
func (h *Holdings) GetCustomer(_ context.Context, id string) (account.Customer, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return lookup(h.Customers, id)
}

// matching returns the values of m that keep accepts, sorted by order: for listings the
// adapter sorts by a field rather than by the map key, as owned does.
func matching[V any](m map[string]V, keep func(V) bool, order func(a, b V) int) []V {
	var out []V
	for _, v := range m {
		if keep(v) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, order)
	return out
}

// deleteFirst deletes the first limit of items with del and says how many went and
// whether any are left: one batch of the adapter's resumable deletes.
func deleteFirst[T any](items []T, limit int, del func(T)) (int, bool, error) {
	n := min(limit, len(items))
	for _, it := range items[:n] {
		del(it)
	}
	return n, len(items) > n, nil
}

// owned returns the values of m (keyed by their id) that keep accepts, in id order, as
// the DynamoDB adapter returns them.
func owned[V any](m map[string]V, keep func(V) bool) []V {
	var out []V
	for _, id := range slices.Sorted(maps.Keys(m)) {
		if keep(m[id]) {
			out = append(out, m[id])
		}
	}
	return out
}

func (h *Holdings) sitesOf(id string) []account.Site {
	return owned(h.Sites, func(s account.Site) bool { return s.IntegratorID == id })
}

// SitesOf implements privacy.AccountData.
func (h *Holdings) SitesOf(_ context.Context, id string) ([]account.Site, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sitesOf(id), nil
}

func (h *Holdings) keysOf(customerID string) []account.APIKey {
	return owned(h.Keys, func(k account.APIKey) bool { return k.CustomerID == customerID })
}

func (h *Holdings) integratorKeysOf(integratorID string) []account.IntegratorKey {
	return owned(h.IntegratorKeys, func(k account.IntegratorKey) bool { return k.IntegratorID == integratorID })
}

// ListIntegratorKeys implements privacy.AccountData.
func (h *Holdings) ListIntegratorKeys(_ context.Context, integratorID string) ([]account.IntegratorKey, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.integratorKeysOf(integratorID), nil
}

// ListAPIKeys implements privacy.AccountData.
func (h *Holdings) ListAPIKeys(_ context.Context, customerID string) ([]account.APIKey, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.keysOf(customerID), nil
}

// RevokeAPIKey implements privacy.AccountData.
func (h *Holdings) RevokeAPIKey(_ context.Context, customerID, keyID string, at time.Time) (account.APIKey, error) {
	if err := h.fail("revoke_api_key"); err != nil {
		return account.APIKey{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k, ok := h.Keys[keyID]
	if !ok || k.CustomerID != customerID {
		return account.APIKey{}, account.ErrNotFound
	}
	if k.RevokedAt.IsZero() {
		k.RevokedAt = at
		h.Keys[keyID] = k
	}
	return k, nil
}

// DeleteSites implements privacy.AccountData.
func (h *Holdings) DeleteSites(_ context.Context, id string, limit int) (sites, secrets int, more bool, err error) {
	if err := h.fail("delete_sites"); err != nil {
		return 0, 0, false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	sites, more, err = deleteFirst(h.sitesOf(id), limit, func(s account.Site) {
		delete(h.Sites, s.Sitekey)
		if _, ok := h.Secrets[s.SecretHash]; ok && s.SecretHash != "" {
			delete(h.Secrets, s.SecretHash)
			secrets++
		}
	})
	return sites, secrets, more, err
}

// DeleteAPIKeys implements privacy.AccountData: integrators' risk-lookup keys or
// customers' API keys.
func (h *Holdings) DeleteAPIKeys(_ context.Context, kind privacy.HolderKind, ownerID string, limit int) (int, bool, error) {
	if err := h.fail("delete_api_keys"); err != nil {
		return 0, false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if kind == privacy.HolderIntegrator {
		return deleteFirst(h.integratorKeysOf(ownerID), limit, func(k account.IntegratorKey) { delete(h.IntegratorKeys, k.ID) })
	}
	return deleteFirst(h.keysOf(ownerID), limit, func(k account.APIKey) { delete(h.Keys, k.ID) })
}

// MarkErasing implements privacy.AccountData (the first request's id is kept).
func (h *Holdings) MarkErasing(_ context.Context, kind privacy.HolderKind, id, requestID string, _ time.Time) error {
	if err := h.fail("mark_erasing"); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	exists := false
	if kind == privacy.HolderIntegrator {
		_, exists = h.Integrators[id]
	} else {
		_, exists = h.Customers[id]
	}
	if !exists {
		return account.ErrNotFound
	}
	if _, ok := h.Erasing[FenceKey(kind, id)]; !ok {
		h.Erasing[FenceKey(kind, id)] = requestID
	}
	return nil
}

// DeleteProfile implements privacy.AccountData (the fence goes with the profile).
func (h *Holdings) DeleteProfile(_ context.Context, kind privacy.HolderKind, id string) (bool, error) {
	if err := h.fail("delete_profile"); err != nil {
		return false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.Erasing, FenceKey(kind, id))
	switch kind {
	case privacy.HolderIntegrator:
		_, ok := h.Integrators[id]
		delete(h.Integrators, id)
		return ok, nil
	default:
		_, ok := h.Customers[id]
		delete(h.Customers, id)
		return ok, nil
	}
}

func setField(name, email, country *string, fields map[string]string) {
	for f, v := range fields {
		switch f {
		case account.FieldName:
			*name = v
		case account.FieldEmail:
			*email = v
		case account.FieldCountry:
			*country = v
		}
	}
}

// UpdateProfile implements privacy.AccountData (account.ErrErasing for a fenced profile).
func (h *Holdings) UpdateProfile(_ context.Context, kind privacy.HolderKind, id string, fields map[string]string) error {
	if err := h.fail("update_profile"); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, fenced := h.Erasing[FenceKey(kind, id)]; fenced {
		return account.ErrErasing
	}
	if kind == privacy.HolderIntegrator {
		return update(h.Integrators, id, func(it *account.Integrator) { setField(&it.Name, &it.Email, &it.Country, fields) })
	}
	return update(h.Customers, id, func(c *account.Customer) { setField(&c.Name, &c.Email, &c.Country, fields) })
}

func merge(a, b account.Choices) account.Choices {
	return account.Choices{OptOutSale: a.OptOutSale || b.OptOutSale, LimitSensitive: a.LimitSensitive || b.LimitSensitive}
}

// SetChoices implements privacy.AccountData.
func (h *Holdings) SetChoices(_ context.Context, kind privacy.HolderKind, id string, c account.Choices) error {
	if err := h.fail("set_choices"); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if kind == privacy.HolderIntegrator {
		return update(h.Integrators, id, func(it *account.Integrator) { it.Choices = merge(it.Choices, c) })
	}
	return update(h.Customers, id, func(cu *account.Customer) { cu.Choices = merge(cu.Choices, c) })
}

// SetSiteChoices implements privacy.AccountData.
func (h *Holdings) SetSiteChoices(_ context.Context, sitekey string, c account.Choices) error {
	if err := h.fail("set_site_choices"); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return update(h.Sites, sitekey, func(s *account.Site) { s.Choices = merge(s.Choices, c) })
}

// ListJobs implements privacy.LabelData.
func (h *Holdings) ListJobs(_ context.Context, customerID string) ([]job.Job, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return matching(h.Jobs, func(j job.Job) bool { return j.CustomerID == customerID }, func(a, b job.Job) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	}), nil
}

func (h *Holdings) itemIDs(jobID string) []string {
	ids := make([]string, 0, len(h.Items[jobID]))
	for id := range h.Items[jobID] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// ListEntries implements privacy.LabelData.
func (h *Holdings) ListEntries(_ context.Context, jobID, after string, limit int) ([]job.Entry, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []job.Entry
	ids := h.itemIDs(jobID)
	for i, id := range ids {
		if id <= after {
			continue
		}
		out = append(out, h.Items[jobID][id])
		if len(out) == limit {
			if i < len(ids)-1 {
				return out, id, nil
			}
			break
		}
	}
	return out, "", nil
}

// DeleteEntries implements privacy.LabelData.
func (h *Holdings) DeleteEntries(_ context.Context, jobID string, limit int) (int, bool, error) {
	if err := h.fail("delete_entries"); err != nil {
		return 0, false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return deleteFirst(h.itemIDs(jobID), limit, func(id string) { delete(h.Items[jobID], id) })
}

// DeleteConsensus implements privacy.LabelData.
func (h *Holdings) DeleteConsensus(_ context.Context, jobID string, limit int) (int, bool, error) {
	if err := h.fail("delete_consensus"); err != nil {
		return 0, false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n := min(limit, h.Consensus[jobID])
	h.Consensus[jobID] -= n
	if h.Consensus[jobID] == 0 {
		delete(h.Consensus, jobID)
	}
	return n, h.Consensus[jobID] > 0, nil
}

// DeleteJob implements privacy.LabelData.
func (h *Holdings) DeleteJob(_ context.Context, id string) error {
	if err := h.fail("delete_job"); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.Jobs, id)
	if len(h.Items[id]) == 0 {
		delete(h.Items, id)
	}
	return nil
}

// ExportsOf implements privacy.LabelData.
func (h *Holdings) ExportsOf(_ context.Context, customerID string) ([]export.Export, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return matching(h.Exports, func(e export.Export) bool { return e.CustomerID == customerID }, func(a, b export.Export) int {
		return strings.Compare(a.ID, b.ID)
	}), nil
}

// DeleteExport implements privacy.LabelData.
func (h *Holdings) DeleteExport(_ context.Context, id string) error {
	if err := h.fail("delete_export"); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.Exports, id)
	return nil
}

// DisclosuresTo implements privacy.RequestLog; positions are disclosure ids.
func (h *Holdings) DisclosuresTo(_ context.Context, recipient, after string, limit int) ([]privacy.Disclosure, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	all := h.Disclosures[recipient]
	start := 0
	if after != "" {
		start = slices.IndexFunc(all, func(d privacy.Disclosure) bool { return d.ID == after }) + 1
	}
	end := min(start+limit, len(all))
	page := slices.Clone(all[start:end])
	if end < len(all) {
		return page, page[len(page)-1].ID, nil
	}
	return page, "", nil
}

// DeleteDisclosures implements privacy.RequestLog.
func (h *Holdings) DeleteDisclosures(_ context.Context, recipient string, limit int) (int, bool, error) {
	if err := h.fail("delete_disclosures"); err != nil {
		return 0, false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	all := h.Disclosures[recipient]
	n := min(limit, len(all))
	h.Disclosures[recipient] = all[n:]
	if len(h.Disclosures[recipient]) == 0 {
		delete(h.Disclosures, recipient)
	}
	return n, len(all) > n, nil
}

func (h *Holdings) allRequests(ctx context.Context) ([]privacy.Request, error) {
	page, err := h.Requests.List(ctx, privacy.Query{Statuses: privacy.Statuses, Limit: privacy.MaxListLimit})
	if err != nil {
		return nil, err
	}
	return page.Requests, nil
}

// RequestsOf implements privacy.RequestLog.
func (h *Holdings) RequestsOf(ctx context.Context, subjectHash string) ([]privacy.Request, error) {
	all, err := h.allRequests(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(r privacy.Request) bool { return r.SubjectHash != subjectHash }), nil
}

// ScrubAccountIDs implements privacy.RequestLog.
func (h *Holdings) ScrubAccountIDs(ctx context.Context, id string) (bool, error) {
	if err := h.fail("scrub"); err != nil {
		return false, err
	}
	r, err := h.Requests.Get(ctx, id)
	if err != nil {
		return false, err
	}
	if r.Status.Open() || len(r.AccountIDs) == 0 {
		return false, nil
	}
	r.AccountIDs = nil
	r.Version++
	return true, h.Requests.Save(ctx, privacy.Change{Request: r})
}

// DropAccountIDs implements privacy.RequestLog.
func (h *Holdings) DropAccountIDs(ctx context.Context, id string, ids []string) (bool, error) {
	if err := h.fail("drop_account_ids"); err != nil {
		return false, err
	}
	r, err := h.Requests.Get(ctx, id)
	if err != nil {
		return false, err
	}
	kept := slices.DeleteFunc(slices.Clone(r.AccountIDs), func(a string) bool { return slices.Contains(ids, a) })
	if len(kept) == len(r.AccountIDs) {
		return false, nil
	}
	if len(kept) == 0 {
		kept = nil
	}
	r.AccountIDs = kept
	r.Version++
	return true, h.Requests.Save(ctx, privacy.Change{Request: r})
}

// Bucket is an in-memory bucket: privacy.Objects and privacy.Files.
type Bucket struct {
	Fail func(op string) error

	mu      sync.Mutex
	objects map[string][]byte
}

var (
	_ privacy.Objects = (*Bucket)(nil)
	_ privacy.Files   = (*Bucket)(nil)
)

func (b *Bucket) fail(op string) error {
	if b.Fail != nil {
		return b.Fail(op)
	}
	return nil
}

// Keys lists the keys under prefix, sorted.
func (b *Bucket) Keys(prefix string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for k := range b.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Object returns an object's content.
func (b *Bucket) Object(key string) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.objects[key]
	return v, ok
}

// Put implements privacy.Files.
func (b *Bucket) Put(_ context.Context, key, _ string, body []byte) error {
	if err := b.fail("put"); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.objects == nil {
		b.objects = map[string][]byte{}
	}
	b.objects[key] = slices.Clone(body)
	return nil
}

// Get implements privacy.Files.
func (b *Bucket) Get(_ context.Context, key string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.objects[key]
	if !ok {
		return nil, privacy.ErrNoFile
	}
	return slices.Clone(v), nil
}

// Create implements privacy.Files: the object appears when the writer is closed.
func (b *Bucket) Create(_ context.Context, key, _ string) (privacy.FileWriter, error) {
	if err := b.fail("create"); err != nil {
		return nil, err
	}
	return &writer{b: b, key: key}, nil
}

type writer struct {
	b   *Bucket
	key string
	buf bytes.Buffer
}

func (w *writer) Write(p []byte) (int, error) { return w.buf.Write(p) }
func (w *writer) Close() error {
	return w.b.Put(context.Background(), w.key, "", w.buf.Bytes())
}
func (w *writer) Abort(context.Context) error { return nil }

// DeleteObject implements privacy.Objects.
func (b *Bucket) DeleteObject(_ context.Context, key string) error {
	if err := b.fail("delete"); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.objects, key)
	return nil
}

// DeletePrefix implements privacy.Objects and privacy.Files.
func (b *Bucket) DeletePrefix(_ context.Context, prefix string, limit int) (int, bool, error) {
	if err := b.fail("delete_prefix"); err != nil {
		return 0, false, err
	}
	keys := b.Keys(prefix)
	b.mu.Lock()
	defer b.mu.Unlock()
	return deleteFirst(keys, limit, func(k string) { delete(b.objects, k) })
}

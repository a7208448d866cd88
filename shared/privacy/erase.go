package privacy

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/job"
)

// ItemBatch is how many items of a job one erasure step removes.
const ItemBatch = 500

// Kinds of record counted in the report (Report, audit notes).
const (
	KindIntegrator      = "integrator"
	KindSite            = "site"
	KindSiteSecret      = "site_secret"
	KindCustomer        = "customer"
	KindAPIKey          = "api_key"
	KindJob             = "job"
	KindItem            = "item"
	KindMediaObject     = "media_object"
	KindConsensus       = "consensus_record"
	KindExport          = "export"
	KindExportObject    = "export_object"
	KindDisclosure      = "disclosure"
	KindPackageObject   = "access_package_object"
	KindRequestScrubbed = "request_account_ids"
	KindPrivacyRequest  = "privacy_request"
)

// The phases of the jobs step. The numbers are stored in cursors, so they keep the
// meanings they had before the fence existed; the fence is a flag of its own
// (progress.Fenced: the holders fenced, fenceOnce).
const (
	jobsPhaseRevoke = 0 // revoke the customers' API keys
	jobsPhaseJobs   = 1 // erase the jobs one by one
)

// eraseJobs fences the subject's profiles (fenceOnce), then removes the jobs of its
// customer accounts: first every API key is revoked (so no new job, item or export can
// appear while erasure runs), then job by job its items, its media objects (the
// customer's uploads under job.MediaPrefix), its consensus records and the job itself. An
// upload link issued before the erasure still works for job.UploadTTL: the job's deletion
// leaves a marker (job id and time), by which the daily sweep (job.SweepExpired) removes
// what such an upload put under the prefix. The fence and the revocation each end in a
// checkpoint, so a retry does not repeat a finished one.
func (d ExecDeps) eraseJobs(ctx context.Context, r Request, h Holders, p *progress) (bool, error) {
	// fenceOnce revokes the keys of every customer it fences (its next piece of work): one
	// registered since, and all of a cursor saved before the fence existed past its
	// revocation, whose keys may have been created since.
	if fenced, err := d.fenceOnce(ctx, r, h, p); fenced || err != nil {
		return false, err
	}
	if p.Phase == jobsPhaseRevoke {
		if err := d.revokeKeys(ctx, h.Customers); err != nil {
			return false, err
		}
		p.Phase = jobsPhaseJobs
		return false, nil
	}
	for _, c := range h.Customers {
		jobs, err := d.Labels.ListJobs(ctx, c)
		if err != nil {
			return false, fmt.Errorf("list jobs: %w", err)
		}
		if len(jobs) == 0 {
			continue
		}
		return false, d.eraseJob(ctx, jobs[0].ID, p)
	}
	return true, nil
}

// fenced runs step once the executor has fenced the holders (fenceOnce).
func (d ExecDeps) fenced(step stepFunc) stepFunc {
	return func(ctx context.Context, r Request, h Holders, p *progress) (bool, error) {
		if fenced, err := d.fenceOnce(ctx, r, h, p); fenced || err != nil {
			return false, err
		}
		return step(ctx, r, h, p)
	}
}

// fenceOnce is the first step of every erasure executor: it fences the holders not yet
// fenced (d.fence), records them in the executor's cursor, and reports whether it fenced
// any now (the step then ends, and its checkpoint saves them); the next step revokes the
// API keys of the customers among them, and reports true as well. Every executor fences
// rather than only the first: a request carried part-way by a release without the fence
// is fenced by whichever step it reaches next. The holders are looked up again with each
// run of the worker (a run that stops or fails ends there), so an account registered
// under the address since is fenced before the step that next finds it deletes anything.
// Marking a fenced profile again changes nothing (MarkErasing keeps the first mark).
func (d ExecDeps) fenceOnce(ctx context.Context, r Request, h Holders, p *progress) (bool, error) {
	// The keys of the customers fenced last time, in a checkpoint of their own so a failed
	// revocation does not fence again: a fenced customer's keys could still add jobs, items
	// and exports, which only the jobs step erases, so one fenced after that step would
	// keep what it adds until the accounts step deleted its keys.
	if len(p.Revoke) > 0 {
		if err := d.revokeKeys(ctx, p.Revoke); err != nil {
			return false, err
		}
		p.Revoke = nil
		return true, nil
	}
	// The holders an accounts step recorded (remember) too: the address may no longer
	// find one whose profile is still there.
	var todo Holders
	for _, id := range union(h.Integrators, p.Integrators) {
		if !slices.Contains(p.Fenced, fenceID(HolderIntegrator, id)) {
			todo.Integrators = append(todo.Integrators, id)
		}
	}
	for _, id := range union(h.Customers, p.Customers) {
		if !slices.Contains(p.Fenced, fenceID(HolderCustomer, id)) {
			todo.Customers = append(todo.Customers, id)
		}
	}
	if len(todo.Integrators)+len(todo.Customers) == 0 {
		return false, nil
	}
	if err := d.fence(ctx, r, todo); err != nil {
		return false, err
	}
	p.Revoke = todo.Customers
	for _, id := range todo.Integrators {
		p.Fenced = append(p.Fenced, fenceID(HolderIntegrator, id))
	}
	for _, id := range todo.Customers {
		p.Fenced = append(p.Fenced, fenceID(HolderCustomer, id))
	}
	return true, nil
}

func fenceID(kind HolderKind, id string) string { return string(kind) + ":" + id }

func union(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// fence marks the profile of every holder as being erased (AccountData.MarkErasing). A
// holder registered under the address after this is fenced by the next step of the next
// worker run (fenceOnce); the accounts step, last, makes a second pass after deleting
// each profile for keys and sites created in between.
func (d ExecDeps) fence(ctx context.Context, r Request, h Holders) error {
	at := d.Now().UTC()
	for _, hs := range []struct {
		kind HolderKind
		ids  []string
	}{{HolderIntegrator, h.Integrators}, {HolderCustomer, h.Customers}} {
		for _, id := range hs.ids {
			err := d.Accounts.MarkErasing(ctx, hs.kind, id, r.ID, at)
			if err != nil && !errors.Is(err, account.ErrNotFound) {
				return fmt.Errorf("fence %s: %w", hs.kind, err)
			}
		}
	}
	return nil
}

// revokeKeys revokes every live API key of the customers.
func (d ExecDeps) revokeKeys(ctx context.Context, customers []string) error {
	for _, c := range customers {
		keys, err := d.Accounts.ListAPIKeys(ctx, c)
		if err != nil {
			return fmt.Errorf("list API keys: %w", err)
		}
		for _, k := range keys {
			if k.Revoked() {
				continue
			}
			if _, err := d.Accounts.RevokeAPIKey(ctx, c, k.ID, d.Now().UTC()); err != nil && !errors.Is(err, account.ErrNotFound) {
				return fmt.Errorf("revoke API key: %w", err)
			}
		}
	}
	return nil
}

// eraseJob does one bounded piece of erasing a job; the job record goes last, so the next
// step (or a rerun) finds the job again until everything under it is gone.
func (d ExecDeps) eraseJob(ctx context.Context, id string, p *progress) error {
	n, more, err := d.Labels.DeleteEntries(ctx, id, ItemBatch)
	p.add(KindItem, n)
	if err != nil || more {
		return wrap("delete items", err)
	}
	n, more, err = d.Media.DeletePrefix(ctx, job.MediaPrefix(id), 1000)
	p.add(KindMediaObject, n)
	if err != nil || more {
		return wrap("delete media", err)
	}
	n, more, err = d.Labels.DeleteConsensus(ctx, id, Batch)
	p.add(KindConsensus, n)
	if err != nil || more {
		return wrap("delete consensus records", err)
	}
	if err := d.Labels.DeleteJob(ctx, id); err != nil {
		return fmt.Errorf("delete job: %w", err)
	}
	p.add(KindJob, 1)
	return nil
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// eraseExports removes the customers' export records and files.
func (d ExecDeps) eraseExports(ctx context.Context, _ Request, h Holders, p *progress) (bool, error) {
	for _, c := range h.Customers {
		exps, err := d.Labels.ExportsOf(ctx, c)
		if err != nil {
			return false, fmt.Errorf("list exports: %w", err)
		}
		for i, e := range exps {
			if i == Batch {
				return false, nil
			}
			// The file first: a record without a file is harmless, a file without a record
			// would no longer be found. Both are counted once the record is gone: until
			// then a retry deletes (and would count) the file again.
			if e.Key != "" {
				if err := d.Exports.DeleteObject(ctx, e.Key); err != nil {
					return false, fmt.Errorf("delete export file: %w", err)
				}
			}
			if err := d.Labels.DeleteExport(ctx, e.ID); err != nil {
				return false, fmt.Errorf("delete export: %w", err)
			}
			if e.Key != "" {
				p.add(KindExportObject, 1)
			}
			p.add(KindExport, 1)
		}
	}
	return true, nil
}

// eraseDisclosures removes the records of risk information disclosed to the subject's
// integrator accounts.
func (d ExecDeps) eraseDisclosures(ctx context.Context, _ Request, h Holders, p *progress) (bool, error) {
	for _, id := range h.Integrators {
		n, more, err := d.Log.DeleteDisclosures(ctx, id, Batch)
		p.add(KindDisclosure, n)
		if err != nil {
			return false, fmt.Errorf("delete disclosures: %w", err)
		}
		if more {
			return false, nil
		}
	}
	return true, nil
}

// eraseRequests deletes the access packages of the subject's earlier requests and removes
// the account ids from the subject's finished requests: what remains of them is the
// hashed identity, the dates and the outcome (the 24-month request log).
func (d ExecDeps) eraseRequests(ctx context.Context, r Request, _ Holders, p *progress) (bool, error) {
	reqs, err := d.Log.RequestsOf(ctx, r.SubjectHash)
	if err != nil {
		return false, fmt.Errorf("list the subject's requests: %w", err)
	}
	for _, o := range reqs {
		if o.ID == r.ID {
			continue
		}
		if o.Type == TypeAccess {
			n, more, err := d.Files.DeletePrefix(ctx, accessPrefix(o.ID), 1000)
			p.add(KindPackageObject, n)
			if err != nil {
				return false, fmt.Errorf("delete access package: %w", err)
			}
			if more {
				return false, nil
			}
		}
		if len(o.AccountIDs) > 0 {
			ok, err := d.Log.ScrubAccountIDs(ctx, o.ID)
			if err != nil {
				return false, fmt.Errorf("scrub request: %w", err)
			}
			if ok {
				p.add(KindRequestScrubbed, 1)
			}
		}
	}
	return true, nil
}

// eraseAccounts removes the accounts last: each integrator's API keys and sites with their
// secret lookups, the disclosures recorded since the disclosures step, the profile and then
// any key or site created meanwhile and the disclosures they made; then each customer's API
// keys, profile and any key created meanwhile.
func (d ExecDeps) eraseAccounts(ctx context.Context, r Request, h Holders, p *progress) (bool, error) {
	// The fence first (fenceOnce), before anything is deleted, and the holders it fenced
	// recorded in the same checkpoint, so the step deletes every profile it fenced.
	fenced, err := d.fenceOnce(ctx, r, h, p)
	if err != nil {
		return false, err
	}
	// An account registered under the address after filing is found by the address only
	// while its profile exists: a step that fails after deleting it (in a second pass)
	// must find it again from the cursor, saved with every holder before any profile goes.
	if p.remember(h) || fenced {
		return false, nil
	}
	h = Holders{Integrators: p.Integrators, Customers: p.Customers}
	for _, id := range h.Integrators {
		if done, err := d.eraseIntegratorHoldings(ctx, id, p); !done {
			return false, err
		}
		ok, err := d.Accounts.DeleteProfile(ctx, HolderIntegrator, id)
		if err != nil {
			return false, fmt.Errorf("delete integrator: %w", err)
		}
		if ok {
			p.add(KindIntegrator, 1)
		}
		// A key or site created since they were deleted passed its check that the profile
		// exists, and answered risk lookups until now; none can be created from here on,
		// so one more pass finds every one.
		if done, err := d.eraseIntegratorHoldings(ctx, id, p); !done {
			return false, err
		}
	}
	for _, id := range h.Customers {
		if done, err := d.eraseAPIKeys(ctx, HolderCustomer, id, p); !done {
			return false, err
		}
		ok, err := d.Accounts.DeleteProfile(ctx, HolderCustomer, id)
		if err != nil {
			return false, fmt.Errorf("delete customer: %w", err)
		}
		if ok {
			p.add(KindCustomer, 1)
		}
		// As for integrators: a key created since the keys were deleted.
		if done, err := d.eraseAPIKeys(ctx, HolderCustomer, id, p); !done {
			return false, err
		}
	}
	return d.dropErasedIDs(ctx, r, h.Integrators, p)
}

// dropErasedIDs removes the ids of the integrators just deleted from the subject's other
// requests. The requests step scrubbed only those finished then; one still open, or
// finished since, would otherwise keep the ids in the request log once it closes. Only
// the erased ids go: an open request may name an integrator this erasure did not find
// (one whose address changed since that request was filed), which it still serves.
func (d ExecDeps) dropErasedIDs(ctx context.Context, r Request, integrators []string, p *progress) (bool, error) {
	if len(integrators) == 0 {
		return true, nil
	}
	reqs, err := d.Log.RequestsOf(ctx, r.SubjectHash)
	if err != nil {
		return false, fmt.Errorf("list the subject's requests: %w", err)
	}
	for _, o := range reqs {
		if o.ID == r.ID || !slices.ContainsFunc(o.AccountIDs, func(a string) bool { return slices.Contains(integrators, a) }) {
			continue
		}
		ok, err := d.Log.DropAccountIDs(ctx, o.ID, integrators)
		if err != nil {
			return false, fmt.Errorf("drop erased account ids: %w", err)
		}
		if ok {
			p.add(KindRequestScrubbed, 1)
		}
	}
	return true, nil
}

// eraseIntegratorHoldings deletes an integrator's API keys, its sites with their secret
// lookups, and the disclosures recorded since the disclosures step (risk lookups worked
// with those keys and site secrets until now). done is false while a batch is left.
func (d ExecDeps) eraseIntegratorHoldings(ctx context.Context, id string, p *progress) (bool, error) {
	if done, err := d.eraseAPIKeys(ctx, HolderIntegrator, id, p); !done {
		return false, err
	}
	n, secrets, more, err := d.Accounts.DeleteSites(ctx, id, Batch)
	p.add(KindSite, n)
	p.add(KindSiteSecret, secrets)
	if err != nil || more {
		return false, wrap("delete sites", err)
	}
	n, more, err = d.Log.DeleteDisclosures(ctx, id, Batch)
	p.add(KindDisclosure, n)
	if err != nil || more {
		return false, wrap("delete disclosures", err)
	}
	return true, nil
}

// eraseAPIKeys deletes a batch of an account's API keys; done is false while one is left.
func (d ExecDeps) eraseAPIKeys(ctx context.Context, kind HolderKind, id string, p *progress) (bool, error) {
	n, more, err := d.Accounts.DeleteAPIKeys(ctx, kind, id, Batch)
	p.add(KindAPIKey, n)
	if err != nil || more {
		return false, wrap("delete "+string(kind)+" API keys", err)
	}
	return true, nil
}

// correctAccounts writes the requested corrections to every profile of the subject. The
// old values are overwritten, not kept: the audit note names only the fields. A value the
// account rules refuse (filing checks them too, so only rules changed since could) is
// left out and counted as rejected. A profile the subject's erasure has fenced is left to
// it and counted as being erased: with its address corrected, the erasure would no longer
// find a customer account (it finds those by the address alone).
func (d ExecDeps) correctAccounts(ctx context.Context, r Request, h Holders, p *progress) (bool, error) {
	fields := map[string]string{}
	for _, c := range r.Corrections {
		v, err := account.NormalizeField(c.Field, c.Value)
		if err != nil {
			p.add("rejected "+c.Field, 1)
			continue
		}
		fields[c.Field] = v
	}
	if len(fields) == 0 {
		return true, nil
	}
	apply := func(kind HolderKind, ids []string) error {
		for _, id := range ids {
			err := d.Accounts.UpdateProfile(ctx, kind, id, fields)
			if errors.Is(err, account.ErrNotFound) {
				continue
			}
			if errors.Is(err, account.ErrErasing) {
				p.add(string(kind)+" being erased", 1)
				continue
			}
			if err != nil {
				return fmt.Errorf("correct %s: %w", kind, err)
			}
			p.add(string(kind), 1)
			for f := range fields {
				p.add(f+" corrected", 1)
			}
		}
		return nil
	}
	if err := apply(HolderIntegrator, h.Integrators); err != nil {
		return false, err
	}
	return true, apply(HolderCustomer, h.Customers)
}

// choose records an opt-out or limit choice on every profile of the subject and on every
// site of its integrators, where the challenge function reads it
// (account.Site.PublishesAnswers).
func (d ExecDeps) choose(c account.Choices) stepFunc {
	return func(ctx context.Context, _ Request, h Holders, p *progress) (bool, error) {
		for _, id := range h.Integrators {
			err := d.Accounts.SetChoices(ctx, HolderIntegrator, id, c)
			if errors.Is(err, account.ErrNotFound) {
				continue
			}
			if err != nil {
				return false, fmt.Errorf("record choice on integrator: %w", err)
			}
			p.add(KindIntegrator, 1)
			// The profile first: a site created meanwhile inherits the choice from it.
			sites, err := d.Accounts.SitesOf(ctx, id)
			if err != nil {
				return false, fmt.Errorf("list sites: %w", err)
			}
			for _, s := range sites {
				err := d.Accounts.SetSiteChoices(ctx, s.Sitekey, c)
				if errors.Is(err, account.ErrNotFound) {
					continue
				}
				if err != nil {
					return false, fmt.Errorf("record choice on site: %w", err)
				}
				p.add(KindSite, 1)
			}
		}
		for _, id := range h.Customers {
			err := d.Accounts.SetChoices(ctx, HolderCustomer, id, c)
			if errors.Is(err, account.ErrNotFound) {
				continue
			}
			if err != nil {
				return false, fmt.Errorf("record choice on customer: %w", err)
			}
			p.add(KindCustomer, 1)
		}
		return true, nil
	}
}

// accessPrefix is where a request's access package lives in the privacy bucket.
func accessPrefix(requestID string) string { return "access/" + requestID + "/" }

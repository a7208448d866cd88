// Package jobtest has in-memory stand-ins for the customer jobs API's ports: a job.Store
// with the same conditional semantics as the DynamoDB adapter, and a job.Media bucket.
// Handler tests and the service's own tests use them.
package jobtest

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/shared/job"
)

// Store is an in-memory job.Store. The zero value is ready to use; Now, when set, is the
// clock expiry is checked against.
type Store struct {
	Now func() time.Time

	mu       sync.Mutex
	jobs     map[string]job.Job
	items    map[string]map[string]job.Entry // job id → item id → entry
	expiries map[string]job.Expiry           // expiryKey → marker
	uploads  map[string]job.UploadMarker     // job id and batch → marker
	keys     map[string]createKey            // job.CreateKey → the job it names
	batches  int
}

type createKey struct {
	jobID string
	until time.Time
}

var (
	_ job.Store       = (*Store)(nil)
	_ job.ExpiryStore = (*Store)(nil)
)

func (s *Store) init() {
	if s.jobs == nil {
		s.jobs = map[string]job.Job{}
		s.items = map[string]map[string]job.Entry{}
		s.expiries = map[string]job.Expiry{}
		s.uploads = map[string]job.UploadMarker{}
		s.keys = map[string]createKey{}
	}
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func expired(at, now time.Time) bool { return !at.IsZero() && !now.Before(at) }

// CreateJob implements job.Store.
func (s *Store) CreateJob(_ context.Context, j job.Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	return s.createJob(j)
}

// CreateJobOnce implements job.Store.
func (s *Store) CreateJobOnce(_ context.Context, j job.Job, key string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	if k, ok := s.keys[key]; ok && !expired(k.until, s.now()) {
		return job.ErrConflict
	}
	if err := s.createJob(j); err != nil {
		return err
	}
	s.keys[key] = createKey{jobID: j.ID, until: until}
	return nil
}

// JobOfKey implements job.Store.
func (s *Store) JobOfKey(_ context.Context, key string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	k, ok := s.keys[key]
	if !ok || expired(k.until, s.now()) {
		return "", job.ErrNotFound
	}
	return k.jobID, nil
}

func (s *Store) createJob(j job.Job) error {
	if old, ok := s.jobs[j.ID]; ok && !expired(old.ExpiresAt, s.now()) {
		return job.ErrConflict
	}
	s.jobs[j.ID] = clone(j)
	if !j.ExpiresAt.IsZero() {
		s.expiries[expiryKey(j.ID, j.ExpiresAt)] = job.Expiry{JobID: j.ID, At: j.ExpiresAt}
	}
	return nil
}

// expiryKey tells apart a job's markers (its expiry's and its deletion's) as the DynamoDB
// adapter's keys do: by job id and time, to the second.
func expiryKey(jobID string, at time.Time) string {
	return at.UTC().Truncate(time.Second).Format(time.RFC3339) + "#" + jobID
}

// DueExpiries implements job.ExpiryStore.
func (s *Store) DueExpiries(_ context.Context, now time.Time, limit int) ([]job.Expiry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	var due []job.Expiry
	for _, e := range s.expiries {
		if !e.At.After(now) {
			due = append(due, e)
		}
	}
	slices.SortFunc(due, func(a, b job.Expiry) int { return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.JobID, b.JobID)) })
	return due[:min(limit, len(due))], nil
}

// DeleteExpiry implements job.ExpiryStore.
func (s *Store) DeleteExpiry(_ context.Context, e job.Expiry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	delete(s.expiries, expiryKey(e.JobID, e.At))
	return nil
}

// DueUploads implements job.ExpiryStore.
func (s *Store) DueUploads(_ context.Context, now time.Time, limit int) ([]job.UploadMarker, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	var due []job.UploadMarker
	for _, m := range s.uploads {
		if !m.Due.After(now) {
			m.Uploads = slices.Clone(m.Uploads)
			due = append(due, m)
		}
	}
	slices.SortFunc(due, func(a, b job.UploadMarker) int {
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.JobID, b.JobID), cmp.Compare(a.Batch, b.Batch))
	})
	return due[:min(limit, len(due))], nil
}

// DropPending implements job.ExpiryStore.
func (s *Store) DropPending(_ context.Context, jobID, itemID, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	e, ok := s.items[jobID][itemID] // expired or not
	if !ok || e.MediaKey != key {
		return true, nil
	}
	if e.Status != job.ItemPending {
		return false, nil
	}
	delete(s.items[jobID], itemID)
	return true, nil
}

// DeleteUploadMarker implements job.ExpiryStore.
func (s *Store) DeleteUploadMarker(_ context.Context, m job.UploadMarker) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	if got, ok := s.uploads[m.JobID+"/"+m.Batch]; ok && got.Due.Equal(m.Due) {
		delete(s.uploads, m.JobID+"/"+m.Batch)
	}
	return nil
}

// Items returns how many items of the job are stored, expired ones included (what a sweep
// must remove).
func (s *Store) Items(jobID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items[jobID])
}

// GetJob implements job.Store.
func (s *Store) GetJob(_ context.Context, id string) (job.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	j, ok := s.jobs[id]
	if !ok || expired(j.ExpiresAt, s.now()) {
		return job.Job{}, job.ErrNotFound
	}
	return clone(j), nil
}

// ListJobs implements job.Store.
func (s *Store) ListJobs(_ context.Context, customerID string, after job.JobPosition, limit int) ([]job.Job, bool, error) {
	if limit < 1 {
		return nil, false, fmt.Errorf("%w: page size %d", job.ErrInvalid, limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	var out []job.Job
	for _, j := range s.jobs {
		if j.CustomerID == customerID && !expired(j.ExpiresAt, s.now()) && j.Position().Compare(after) > 0 {
			out = append(out, clone(j))
		}
	}
	slices.SortFunc(out, func(a, b job.Job) int { return a.Position().Compare(b.Position()) })
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// ChangeStatus implements job.Store.
func (s *Store) ChangeStatus(_ context.Context, id string, from, to job.Status) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	j, ok := s.jobs[id]
	if !ok || expired(j.ExpiresAt, s.now()) {
		return job.ErrNotFound
	}
	if j.Status != from {
		return job.ErrConflict
	}
	j.Status = to
	s.jobs[id] = j
	return nil
}

// AddEntries implements job.Store.
func (s *Store) AddEntries(_ context.Context, j job.Job, entries []job.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	m := s.items[j.ID]
	for _, e := range entries {
		if old, ok := m[e.ID]; ok && !expired(old.ExpiresAt, s.now()) {
			return job.ErrConflict
		}
	}
	if m == nil {
		m = map[string]job.Entry{}
		s.items[j.ID] = m
	}
	for _, e := range entries {
		m[e.ID] = e
	}
	s.batches++
	if mk, ok := job.UploadMarkerFor(j.ID, fmt.Sprint(s.batches), entries); ok {
		s.uploads[mk.JobID+"/"+mk.Batch] = mk
	}
	return nil
}

func (s *Store) entry(jobID, itemID string) (job.Entry, bool) {
	e, ok := s.items[jobID][itemID]
	if !ok || expired(e.ExpiresAt, s.now()) {
		return job.Entry{}, false
	}
	return e, true
}

// GetEntry implements job.Store.
func (s *Store) GetEntry(_ context.Context, jobID, itemID string) (job.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	e, ok := s.entry(jobID, itemID)
	if !ok {
		return job.Entry{}, job.ErrNotFound
	}
	return e, nil
}

func (s *Store) sortedIDs(jobID string) []string {
	var ids []string
	for id := range s.items[jobID] {
		if _, ok := s.entry(jobID, id); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// ListEntries implements job.Store.
func (s *Store) ListEntries(_ context.Context, jobID, after string, limit int) ([]job.Entry, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	var out []job.Entry
	for _, id := range s.sortedIDs(jobID) {
		if id <= after {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].ID, nil
		}
		out = append(out, s.items[jobID][id])
	}
	return out, "", nil
}

// EachEntry implements job.Store.
func (s *Store) EachEntry(_ context.Context, jobID string, fn func(job.Entry) error) error {
	s.mu.Lock()
	var entries []job.Entry
	for _, id := range s.sortedIDs(jobID) {
		entries = append(entries, s.items[jobID][id])
	}
	s.mu.Unlock()
	for _, e := range entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// CommitEntry implements job.Store.
func (s *Store) CommitEntry(_ context.Context, j job.Job, itemID, mediaKey string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	e, ok := s.entry(j.ID, itemID)
	if !ok || e.MediaKey != mediaKey {
		return job.ErrNotFound
	}
	if e.Status != job.ItemPending {
		return job.ErrConflict
	}
	e.Status, e.ExpiresAt = job.ItemOpen, j.ExpiresAt
	s.items[j.ID][itemID] = e
	return nil
}

// DeleteEntry implements job.Store.
func (s *Store) DeleteEntry(_ context.Context, jobID, itemID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	delete(s.items[jobID], itemID)
	return nil
}

// DeleteEntries implements job.Store.
func (s *Store) DeleteEntries(_ context.Context, jobID string, limit int) (int, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	n := 0
	for id := range s.items[jobID] {
		if n == limit {
			return n, true, nil
		}
		delete(s.items[jobID], id)
		n++
	}
	budget := limit - n
	for k, m := range s.uploads {
		if m.JobID != jobID {
			continue
		}
		if budget == 0 {
			return n, true, nil
		}
		delete(s.uploads, k)
		budget--
	}
	return n, false, nil
}

// DeleteJob implements job.Store.
func (s *Store) DeleteJob(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	now := s.now()
	if j, ok := s.jobs[id]; ok && !expired(j.ExpiresAt, now) {
		at := now.UTC().Truncate(time.Second)
		s.expiries[expiryKey(id, at)] = job.Expiry{JobID: id, At: at}
	}
	delete(s.jobs, id)
	delete(s.items, id)
	return nil
}

// SetResult records what the consensus function would: an item's status, answer count
// and consensus label and confidence.
func (s *Store) SetResult(jobID, itemID string, status job.ItemStatus, answers int, label string, confidence float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	e, ok := s.entry(jobID, itemID)
	if !ok {
		return job.ErrNotFound
	}
	e.Status, e.AnswerCount, e.Label, e.Confidence = status, answers, label, confidence
	s.items[jobID][itemID] = e
	return nil
}

// Stocks returns what the challenge pool would load: every active job with its gold and
// its open (committed, not done) items. Build a job.Catalog from it to see what visitors
// are shown.
func (s *Store) Stocks() []job.Stock {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	var out []job.Stock
	for _, j := range s.jobs {
		if j.Status != job.StatusActive || expired(j.ExpiresAt, s.now()) {
			continue
		}
		st := job.Stock{Job: clone(j)}
		for _, id := range s.sortedIDs(j.ID) {
			e := s.items[j.ID][id]
			switch {
			case e.Status == job.ItemPending:
			case e.Gold:
				st.Gold = append(st.Gold, e.Item)
			case e.Status == job.ItemOpen:
				st.Open = append(st.Open, e.Item)
			}
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b job.Stock) int { return cmp.Compare(a.Job.ID, b.Job.ID) })
	return out
}

// clone copies a job's slices and maps, so callers never share them with the store.
func clone(j job.Job) job.Job {
	j.Classes = slices.Clone(j.Classes)
	if j.Question != nil {
		q := make(map[string]string, len(j.Question))
		for k, v := range j.Question {
			q[k] = v
		}
		j.Question = q
	}
	if j.ClassNames != nil {
		n := make(map[string][]string, len(j.ClassNames))
		for k, v := range j.ClassNames {
			n[k] = slices.Clone(v)
		}
		j.ClassNames = n
	}
	return j
}

// Media is an in-memory job.Media. PresignPut returns an https://media.test/ link that
// names the key, type and size; Upload stands in for the customer's PUT.
type Media struct {
	mu      sync.Mutex
	objects map[string][]byte
	// Presigned counts the upload links signed.
	Presigned int
}

var _ job.Media = (*Media)(nil)

// Upload stores an object as a PUT through a presigned link would.
func (m *Media) Upload(key string, body []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.objects == nil {
		m.objects = map[string][]byte{}
	}
	m.objects[key] = slices.Clone(body)
}

// Has reports whether an object exists.
func (m *Media) Has(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.objects[key]
	return ok
}

// Len is the number of objects.
func (m *Media) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.objects)
}

// PresignPut implements job.Media.
func (m *Media) PresignPut(_ context.Context, key, contentType string, size int64, ttl time.Duration) (string, error) {
	m.mu.Lock()
	m.Presigned++
	m.mu.Unlock()
	q := url.Values{"content-type": {contentType}, "content-length": {fmt.Sprint(size)}, "expires": {fmt.Sprint(int(ttl.Seconds()))}}
	return "https://media.test/" + key + "?" + q.Encode(), nil
}

// ReadHead implements job.Media.
func (m *Media) ReadHead(_ context.Context, key string, n int64) ([]byte, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		return nil, 0, job.ErrNoObject
	}
	return slices.Clone(b[:min(int64(len(b)), n)]), int64(len(b)), nil
}

// Delete implements job.Media.
func (m *Media) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, key)
	return nil
}

// DeletePrefix implements job.Media.
func (m *Media) DeletePrefix(_ context.Context, prefix string, limit int) (int, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k := range m.objects {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if n == limit {
			return n, true, nil
		}
		delete(m.objects, k)
		n++
	}
	return n, false, nil
}

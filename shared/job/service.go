package job

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// This file is the customer jobs API's domain: customers create jobs, add items (texts
// inline, images through presigned uploads that are checked before they count), follow
// progress, pause, resume and delete. Every call is scoped to the calling customer: a job
// of another customer is ErrNotFound, exactly like a job that does not exist.

// ItemPending is the status of an image item whose upload has not been committed yet. It
// is not in the challenge pool.
const ItemPending ItemStatus = "pending"

// StatusDeleting marks a job whose deletion has started: it has left the challenge pool
// and its items and media are being removed (Service.Delete).
const StatusDeleting Status = "deleting"

// Defaults and limits of the customer API.
const (
	DefaultMinAnswers = 3
	DefaultMaxAnswers = 9
	DefaultTarget     = 0.95
	// MaxAnswersLimit caps max_answers: beyond it more answers hardly change a label.
	MaxAnswersLimit = 50
	// MaxBatch is how many items one add or commit request may carry.
	MaxBatch = 100
	// MaxImageBytes is the largest image upload; the presigned PUT signs the exact size.
	MaxImageBytes = 4 << 20
	// MaxImageSide bounds an image's width and height in pixels.
	MaxImageSide = 8192
	// UploadTTL is how long an upload link works.
	UploadTTL = 15 * time.Minute
	// PendingTTL is how long an uncommitted upload's item is kept.
	PendingTTL = 24 * time.Hour
	// UploadGrace is how long after its item expired an uncommitted upload's object waits
	// for the daily sweep (SweepExpired): longer than any clock skew or in-flight request
	// (signed requests are refused after 15 minutes), so no commit can still be under way.
	// The sweep waits as long after a job expired or was deleted, so no upload can.
	UploadGrace = time.Hour
	// DeleteBatch bounds the items and media objects one Delete call removes.
	DeleteBatch = 500
	// DefaultPage and MaxPage are the item listing's page sizes.
	DefaultPage = 100
	MaxPage     = 1000
	// MaxPageBytes bounds the bytes of the strings a page of items shows (ids, texts,
	// known answers, labels): a page ends early, with a cursor, once the next item would
	// pass it. A thousand of the largest items (texts of MaxTextLen quotes, each growing
	// to four bytes in the Lambda response that carries the JSON body as a string) came to
	// 4.8 MB, too close to Lambda's 6 MB response limit; at this bound a page of the
	// largest items stays near 4 MB (functions/jobs/handler checks it), and a page of
	// ordinary items is not cut.
	MaxPageBytes = 1 << 20
	// DefaultJobPage and MaxJobPage are the job listing's page sizes. A job can be 50 times
	// the size of an item (four questions, ten classes with names in four locales): a page
	// of MaxJobPage of the largest jobs must stay well inside Lambda's 6 MB response
	// (functions/jobs/handler checks it).
	DefaultJobPage = 100
	MaxJobPage     = 200
	// CreateKeyTTL is how long a create's idempotency key names the job it made: a retry
	// comes within minutes; a day also covers a batch script run again the same day.
	CreateKeyTTL = 24 * time.Hour
)

// More errors of the customer API.
var (
	// ErrConflict: an id is taken (item ids within a job), or a concurrent change won.
	ErrConflict = errors.New("job: conflict")
	// ErrDeleting: the job is being deleted; only Delete and reads are allowed.
	ErrDeleting = errors.New("job: job is being deleted")
	// ErrKeyReused: a create's idempotency key names a job made by another request (other
	// settings), or one that has been deleted since.
	ErrKeyReused = errors.New("job: idempotency key used for another job")
)

// Store is what the customer API needs from job storage. Implementations:
// shared/dynamo.Jobs, jobtest.Store.
type Store interface {
	// CreateJob stores a new job and, when it is active, its pool entry (ErrConflict if
	// the id exists).
	CreateJob(ctx context.Context, j Job) error
	// CreateJobOnce is CreateJob that, in the same write, records key (CreateKey: an
	// opaque hash) as naming the job until until; ErrConflict if the key is recorded and
	// unexpired already (or the id is taken).
	CreateJobOnce(ctx context.Context, j Job, key string, until time.Time) error
	// JobOfKey returns the id of the job a recorded key names (ErrNotFound if none, or
	// expired), with a strongly consistent read.
	JobOfKey(ctx context.Context, key string) (string, error)
	// GetJob returns ErrNotFound for an unknown or expired job.
	GetJob(ctx context.Context, id string) (Job, error)
	// ListJobs returns up to limit of a customer's jobs that come after position after (the
	// zero JobPosition: from the first) in listing order (JobPosition), and whether more
	// follow. Expired jobs are left out; a page is full unless it is the last.
	ListJobs(ctx context.Context, customerID string, after JobPosition, limit int) (jobs []Job, more bool, err error)
	// ChangeStatus moves a job from status from to status to and keeps its pool entry in
	// step (present exactly while active). ErrConflict if the job's status is not from;
	// ErrNotFound if there is no such job.
	ChangeStatus(ctx context.Context, id string, from, to Status) error
	// AddEntries stores new items of j; all or nothing, ErrConflict if an id is taken.
	// Open and gold entries join the challenge pool at once, pending ones do not: they
	// leave an UploadMarker, written before them, due UploadGrace after they expire.
	AddEntries(ctx context.Context, j Job, entries []Entry) error
	// GetEntry returns ErrNotFound for an unknown or expired item.
	GetEntry(ctx context.Context, jobID, itemID string) (Entry, error)
	// ListEntries returns up to limit items with ids after after, in id order, and the id
	// to continue after ("" at the end).
	ListEntries(ctx context.Context, jobID, after string, limit int) ([]Entry, string, error)
	// EachEntry calls fn for every item of the job.
	EachEntry(ctx context.Context, jobID string, fn func(Entry) error) error
	// CommitEntry turns a pending item of j into an open (or gold) one that joins the pool
	// and no longer expires before the job, only while it holds mediaKey, the upload the
	// caller checked. ErrConflict if it is no longer pending; ErrNotFound if it is gone,
	// expired, or holds another key (its id was added again after it expired).
	CommitEntry(ctx context.Context, j Job, itemID, mediaKey string) error
	// DeleteEntry removes an item (no error if it is gone).
	DeleteEntry(ctx context.Context, jobID, itemID string) error
	// DeleteEntries removes up to limit items of the job and reports whether any remain.
	// Once the items are gone it removes the job's upload markers within the same limit
	// (not counted in deleted): they name the job and its items.
	DeleteEntries(ctx context.Context, jobID string, limit int) (deleted int, more bool, err error)
	// DeleteJob removes the job record and its pool entry and, in the same write, leaves
	// an Expiry marker at now if the record was there and had not expired: an image
	// uploaded through a link signed before may land after the job's media were removed,
	// and the marker leads SweepExpired to it. An expired job's own marker does that.
	DeleteJob(ctx context.Context, id string) error
}

// Media is the media bucket as the customer API uses it.
type Media interface {
	// PresignPut signs an upload of exactly size bytes of contentType to key.
	PresignPut(ctx context.Context, key, contentType string, size int64, ttl time.Duration) (string, error)
	// ReadHead returns up to n first bytes of the object and its full size (ErrNoObject).
	ReadHead(ctx context.Context, key string, n int64) (head []byte, size int64, err error)
	// Delete removes an object (every version of it).
	Delete(ctx context.Context, key string) error
	// DeletePrefix removes up to limit objects (every version) under prefix and reports
	// whether any remain.
	DeletePrefix(ctx context.Context, prefix string, limit int) (deleted int, more bool, err error)
}

// ErrNoObject: the media object does not exist (the upload has not happened).
var ErrNoObject = errors.New("job: no such media object")

// Entry is an item as the customer API keeps and shows it.
type Entry struct {
	Item
	// Holdout is the known answer of a holdout item: gold that is not used to grade
	// visitors but labeled by them like an open item (Item.Gold is false), so consensus on
	// it measures accuracy. Empty for other items.
	Holdout string
	// ContentType and Size describe an image upload.
	ContentType string
	Size        int64
	// Label and Confidence are the consensus so far (written by the consensus function);
	// Label is empty before the first answer.
	Label      string
	Confidence float64
	CreatedAt  time.Time
	// ExpiresAt is when an uncommitted upload is forgotten; zero otherwise.
	ExpiresAt time.Time
}

// Truth is the known answer of a gold or holdout item ("" for others).
func (e Entry) Truth() string {
	if e.Gold {
		return e.GoldLabel
	}
	return e.Holdout
}

// Result is what consensus found for an item so far; stores keep it with the item so the
// customer API can show it (on DynamoDB the consensus store writes it on the item record).
type Result struct {
	Status     ItemStatus // ItemOpen while answers are still wanted, ItemDone after
	Answers    int
	Label      string // the class with the highest posterior ("" before any answer)
	Confidence float64
}

// Service is the customer jobs API's logic.
type Service struct {
	store Store
	media Media
	now   func() time.Time
	rand  io.Reader
}

// NewService returns a Service over store and media using now as its clock.
func NewService(store Store, media Media, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, media: media, now: now, rand: rand.Reader}
}

// NewJob is what a customer asks for. Nil MinAnswers, MaxAnswers, Target and Priority
// take the defaults, a nil ExpiresAt keeps the job until it is deleted and a nil ItemLang
// leaves its items without a language; a value given is checked as given, so an explicit
// 0 is refused rather than read as "the default" (and the zero time as an expiry long
// past, not as none, and "" as no language tag). A missing question of an image_grid or multiple_choice job
// takes the built-in one in every locale.
type NewJob struct {
	Name       string
	Kind       Kind
	Question   map[string]string
	Classes    []string
	ClassNames map[string][]string
	// ItemLang is the language of the text items (nil: not given); see Job.ItemLang.
	ItemLang   *string
	MinAnswers *int
	MaxAnswers *int
	Target     *float64
	Priority   *int
	ExpiresAt  *time.Time
}

// defaultQuestions are the built-in questions per kind.
var defaultQuestions = map[Kind]map[string]string{
	KindImageGrid: {
		"en": "Select every image that shows a {class}",
		"de": "Wählen Sie jedes Bild mit diesem Motiv: {class}",
		"fr": "Sélectionnez chaque image qui montre : {class}",
		"es": "Seleccione cada imagen que muestre: {class}",
	},
	KindMultipleChoice: {
		"en": "Does this show a {class}?",
		"de": "Zeigt dies: {class}?",
		"fr": "Est-ce que cela montre : {class} ?",
		"es": "¿Esto muestra: {class}?",
	},
}

// Create validates and stores a new job of the customer. It is active at once: the
// challenge pool picks it up within its refresh interval (30 s) once it has gold items.
func (s *Service) Create(ctx context.Context, customerID string, in NewJob) (Job, error) {
	j, err := s.newJob(customerID, in)
	if err != nil {
		return Job{}, err
	}
	if err := s.store.CreateJob(ctx, j); err != nil {
		return Job{}, fmt.Errorf("create job: %w", err)
	}
	return j, nil
}

// newJob is the job a create request asks for, validated, with a fresh id.
func (s *Service) newJob(customerID string, in NewJob) (Job, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || !utf8.ValidString(name) || len(name) > MaxNameLen || hasControl(name) {
		return Job{}, invalid("name is required: 1-%d bytes of text", MaxNameLen)
	}
	switch in.Kind {
	case KindBinary, KindMultipleChoice, KindImageGrid:
	case "":
		return Job{}, invalid("type is required (binary, multiple_choice or image_grid)")
	default:
		return Job{}, invalid("type %q (want binary, multiple_choice or image_grid)", in.Kind)
	}
	q := in.Question
	if len(q) == 0 {
		if in.Kind == KindBinary {
			return Job{}, invalid("binary jobs need a question (en)")
		}
		q = defaultQuestions[in.Kind]
	}
	question := make(map[string]string, len(q))
	for loc, text := range q {
		text = strings.TrimSpace(text)
		if !utf8.ValidString(text) || hasControl(text) {
			return Job{}, invalid("question (%s) must be plain text", loc)
		}
		question[loc] = text
	}
	classes := in.Classes
	if in.Kind == KindBinary && len(classes) == 0 {
		classes = []string{"yes", "no"}
	}
	for _, c := range classes {
		if c != strings.TrimSpace(c) || !utf8.ValidString(c) || hasControl(c) {
			return Job{}, invalid("class %q: no control characters or surrounding spaces", c)
		}
	}
	for loc, names := range in.ClassNames {
		for _, n := range names {
			// "" falls back to the class; a blank name would show visitors an empty question.
			if !utf8.ValidString(n) || hasControl(n) || len(n) > MaxClassLen || n != strings.TrimSpace(n) {
				return Job{}, invalid("class names (%s): plain text of at most %d bytes, no surrounding spaces", loc, MaxClassLen)
			}
		}
	}
	var itemLang string
	if in.ItemLang != nil {
		var err error
		if itemLang, err = canonicalLang(*in.ItemLang); err != nil {
			return Job{}, err
		}
	}
	j := Job{
		CustomerID: customerID, Name: name, Kind: in.Kind, Question: question, Classes: classes, ClassNames: in.ClassNames, ItemLang: itemLang,
		Priority: orDefault(in.Priority, 1), Status: StatusActive,
		MinAnswers: orDefault(in.MinAnswers, DefaultMinAnswers), MaxAnswers: orDefault(in.MaxAnswers, DefaultMaxAnswers),
		Target: orDefault(in.Target, DefaultTarget), CreatedAt: s.now().UTC().Truncate(time.Second),
	}
	if in.MinAnswers == nil && in.MaxAnswers != nil && *in.MaxAnswers >= 1 && *in.MaxAnswers < j.MinAnswers {
		j.MinAnswers = *in.MaxAnswers // "max 2" alone means what it says
	}
	if in.MaxAnswers == nil && j.MaxAnswers < j.MinAnswers {
		j.MaxAnswers = j.MinAnswers
	}
	if j.MaxAnswers > MaxAnswersLimit {
		return Job{}, invalid("max_answers %d (want at most %d)", j.MaxAnswers, MaxAnswersLimit)
	}
	if j.Target <= 0 || j.Target > 1 {
		return Job{}, invalid("confidence_target %v (want more than 0, at most 1)", j.Target)
	}
	if in.ExpiresAt != nil {
		// Compare what is stored: both times are whole seconds, so an expiry within the
		// creation second would make the job gone as soon as it is created.
		j.ExpiresAt = in.ExpiresAt.UTC().Truncate(time.Second)
		if !j.ExpiresAt.After(j.CreatedAt) {
			return Job{}, invalid("expires_at must be in the future, after the current whole second")
		}
	}
	id, err := s.randomID("job_", 12)
	if err != nil {
		return Job{}, err
	}
	j.ID = id
	// Not Normalize: every default is filled above, and Normalize would turn a 0 the
	// customer sent into a default instead of letting Validate refuse it.
	if err := j.Validate(); err != nil {
		return Job{}, err
	}
	return j, nil
}

// CreateOnce is Create with the customer's idempotency key (1-255 printable ASCII
// characters, no spaces): a request sent again with its key within CreateKeyTTL, after a
// timeout say, gets the job the first one made (replayed true) instead of a second job.
// ErrKeyReused if the key's job has other settings, or has been deleted since. The key is
// stored only hashed with the customer's id (CreateKey).
func (s *Service) CreateOnce(ctx context.Context, customerID, key string, in NewJob) (j Job, replayed bool, err error) {
	if !ValidIdempotencyKey(key) {
		return Job{}, false, invalid("idempotency key: 1-255 printable ASCII characters without spaces")
	}
	j, err = s.newJob(customerID, in)
	if err != nil {
		return Job{}, false, err
	}
	hash := CreateKey(customerID, key)
	id, err := s.store.JobOfKey(ctx, hash)
	if err == nil {
		j, err = s.replayCreate(ctx, customerID, id, j)
		return j, err == nil, err
	}
	if !errors.Is(err, ErrNotFound) {
		return Job{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	err = s.store.CreateJobOnce(ctx, j, hash, j.CreatedAt.Add(CreateKeyTTL))
	if errors.Is(err, ErrConflict) {
		// A request with the same key was faster: answer with its job.
		if id, err = s.store.JobOfKey(ctx, hash); err != nil {
			return Job{}, false, fmt.Errorf("read idempotency key: %w", err)
		}
		j, err = s.replayCreate(ctx, customerID, id, j)
		return j, err == nil, err
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("create job: %w", err)
	}
	return j, false, nil
}

// replayCreate answers a create whose key names job id: that job as it is now, if want
// (the job this request would have made) has its settings.
func (s *Service) replayCreate(ctx context.Context, customerID, id string, want Job) (Job, error) {
	j, err := s.Get(ctx, customerID, id)
	if errors.Is(err, ErrNotFound) {
		return Job{}, fmt.Errorf("%w: its job has been deleted (use a new key to create another)", ErrKeyReused)
	}
	if err != nil {
		return Job{}, err
	}
	if !sameSettings(j, want) {
		return Job{}, fmt.Errorf("%w: its job %s was created with other settings", ErrKeyReused, j.ID)
	}
	return j, nil
}

// sameSettings reports whether two jobs were asked for alike (id, status and creation
// time aside).
func sameSettings(a, b Job) bool {
	return a.Name == b.Name && a.Kind == b.Kind && maps.Equal(a.Question, b.Question) && slices.Equal(a.Classes, b.Classes) &&
		maps.EqualFunc(a.ClassNames, b.ClassNames, slices.Equal) && a.MinAnswers == b.MinAnswers && a.MaxAnswers == b.MaxAnswers &&
		a.Target == b.Target && a.Priority == b.Priority && a.ExpiresAt.Equal(b.ExpiresAt) && a.ItemLang == b.ItemLang
}

// ValidIdempotencyKey accepts 1-255 printable ASCII characters without spaces (a UUID, a
// timestamp, a name of the client's own).
func ValidIdempotencyKey(key string) bool {
	if key == "" || len(key) > 255 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return false
		}
	}
	return true
}

// CreateKey is what storage keeps of a customer's idempotency key: a hash with the
// customer's id, so keys of two customers never meet and the record names neither.
func CreateKey(customerID, key string) string {
	sum := sha256.Sum256([]byte(customerID + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// orDefault is *v, or d when the customer left the field out.
func orDefault[T int | float64](v *T, d T) T {
	if v == nil {
		return d
	}
	return *v
}

// hasControlBesidesLayout is hasControl for multi-line text: tabs and line breaks are kept.
func hasControlBesidesLayout(s string) bool {
	return hasControl(strings.NewReplacer("\n", "", "\r", "", "\t", "").Replace(s))
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// Get returns one of the customer's jobs (ErrNotFound for another customer's).
func (s *Service) Get(ctx context.Context, customerID, id string) (Job, error) {
	if ValidID(id) != nil {
		return Job{}, ErrNotFound
	}
	j, err := s.store.GetJob(ctx, id)
	if err != nil {
		return Job{}, fmt.Errorf("get job: %w", err)
	}
	if j.CustomerID != customerID {
		return Job{}, ErrNotFound
	}
	return j, nil
}

// JobPosition is where a job stands in its customer's listing, which is ordered by
// creation time in whole seconds, then by id. The zero JobPosition comes before every job.
type JobPosition struct {
	Created time.Time
	ID      string
}

// Position is j's place in its customer's listing.
func (j Job) Position() JobPosition {
	return JobPosition{Created: j.CreatedAt.UTC().Truncate(time.Second), ID: j.ID}
}

// Compare orders positions as the listing does.
func (p JobPosition) Compare(q JobPosition) int {
	if c := p.Created.Compare(q.Created); c != 0 {
		return c
	}
	return strings.Compare(p.ID, q.ID)
}

// cursor is p as a job listing cursor's position: "<created, RFC 3339>/<id>".
func (p JobPosition) cursor() string { return p.Created.UTC().Format(time.RFC3339) + "/" + p.ID }

// parseJobPosition reads what JobPosition.cursor wrote, in exactly that form.
func parseJobPosition(s string) (JobPosition, bool) {
	created, id, ok := strings.Cut(s, "/")
	t, err := time.Parse(time.RFC3339, created)
	if !ok || err != nil || t.UTC().Format(time.RFC3339) != created || ValidID(id) != nil {
		return JobPosition{}, false
	}
	return JobPosition{Created: t.UTC(), ID: id}, true
}

// JobPage is one page of a customer's jobs.
type JobPage struct {
	Jobs []Job
	// Next continues the listing ("" on the last page).
	Next string
}

// List lists the customer's jobs, oldest first, limit per page (0: DefaultJobPage).
// cursor is the Next of the previous page of the same customer's listing ("" for the
// first page). A job created while a listing is paged through comes after the jobs
// listed before it, unless it was created in the same second as the cursor's job with a
// smaller id.
func (s *Service) List(ctx context.Context, customerID, cursor string, limit int) (JobPage, error) {
	if limit == 0 {
		limit = DefaultJobPage
	}
	if limit < 1 || limit > MaxJobPage {
		return JobPage{}, invalid("limit must be a number from 1 to %d", MaxJobPage)
	}
	var after JobPosition
	if cursor != "" {
		// A cursor names its customer: one of another customer's listing is refused like a
		// forged one rather than read as a position in this listing.
		pos, ok := decodeCursor(cursor, customerID)
		if ok {
			after, ok = parseJobPosition(pos)
		}
		if !ok {
			return JobPage{}, invalid("cursor is not one this API returned for this listing")
		}
	}
	jobs, more, err := s.store.ListJobs(ctx, customerID, after, limit)
	if err != nil {
		return JobPage{}, fmt.Errorf("list jobs: %w", err)
	}
	var p JobPage
	if more && len(jobs) > 0 {
		// From the last job read, even if it is dropped below: the next page starts after it.
		p.Next = encodeCursor(customerID, jobs[len(jobs)-1].Position().cursor())
	}
	// Expired jobs wait for DynamoDB's lazy TTL deletion; they no longer exist.
	now := s.now()
	for _, j := range jobs {
		if j.ExpiresAt.IsZero() || now.Before(j.ExpiresAt) {
			p.Jobs = append(p.Jobs, j)
		}
	}
	return p, nil
}

// Pause takes a job out of the challenge pool (within the pool's refresh interval).
// Pausing a paused job changes nothing.
func (s *Service) Pause(ctx context.Context, customerID, id string) (Job, error) {
	return s.setStatus(ctx, customerID, id, StatusActive, StatusPaused)
}

// Resume puts a paused job back into the challenge pool.
func (s *Service) Resume(ctx context.Context, customerID, id string) (Job, error) {
	return s.setStatus(ctx, customerID, id, StatusPaused, StatusActive)
}

func (s *Service) setStatus(ctx context.Context, customerID, id string, from, to Status) (Job, error) {
	j, err := s.Get(ctx, customerID, id)
	if err != nil {
		return Job{}, err
	}
	switch j.Status {
	case to:
		return j, nil
	case StatusDeleting:
		return Job{}, ErrDeleting
	case from:
	default:
		return Job{}, fmt.Errorf("%w: job status %q", ErrConflict, j.Status)
	}
	if err := s.store.ChangeStatus(ctx, id, from, to); err != nil {
		return Job{}, fmt.Errorf("change job status: %w", err)
	}
	j.Status = to
	return j, nil
}

// Deletion says how far a Delete call got.
type Deletion struct {
	// Done: the job, its items and media are gone.
	Done bool
	// Items and Objects count what this call removed.
	Items, Objects int
}

// Delete removes a job with its items and media objects, at most DeleteBatch items and
// DeleteBatch objects per call (so one request stays well inside the function's timeout):
// the first call takes the job out of the pool at once (status "deleting"); callers repeat
// until Done. Items go first, then the media under the job's prefix (which also catches
// uploads that were never committed), then the job record.
func (s *Service) Delete(ctx context.Context, customerID, id string) (Deletion, error) {
	j, err := s.Get(ctx, customerID, id)
	if err != nil {
		return Deletion{}, err
	}
	if j.Status != StatusDeleting {
		if err := s.store.ChangeStatus(ctx, id, j.Status, StatusDeleting); err != nil {
			return Deletion{}, fmt.Errorf("start deleting job: %w", err)
		}
	}
	var d Deletion
	n, more, err := s.store.DeleteEntries(ctx, id, DeleteBatch)
	d.Items = n
	if err != nil {
		return d, fmt.Errorf("delete items: %w", err)
	}
	if more {
		return d, nil
	}
	n, more, err = s.media.DeletePrefix(ctx, MediaPrefix(id), DeleteBatch)
	d.Objects = n
	if err != nil {
		return d, fmt.Errorf("delete media: %w", err)
	}
	if more {
		return d, nil
	}
	if err := s.store.DeleteJob(ctx, id); err != nil {
		return d, fmt.Errorf("delete job: %w", err)
	}
	d.Done = true
	return d, nil
}

// MediaPrefix is where a job's media objects live in the media bucket.
func MediaPrefix(jobID string) string { return "jobs/" + jobID + "/" }

// MediaKey is the object key of an image in a job: name is random (Service gives every
// image item a fresh one), never the item's id, because the key is in the signed links
// visitors' browsers load, and a customer's ids may say what an item is ("gold-cat-3").
func MediaKey(jobID, name string) string { return MediaPrefix(jobID) + name }

// NewItem is an item a customer adds: exactly one of Text and Image.
type NewItem struct {
	// ID is optional (generated when empty); it must be unique within the job.
	ID    string
	Text  string
	Image *ImageUpload
	// Gold is the known answer (a class of the job), if any. Gold items grade visitors,
	// unless Holdout is set: then visitors label the item like any other and the item
	// measures the labels' accuracy (Progress).
	Gold    string
	Holdout bool
}

// ImageUpload announces an image: its content type (ImageTypes) and exact size in bytes.
type ImageUpload struct {
	ContentType string
	Size        int64
}

// ImageTypes are the accepted image content types and the image package format each
// must decode as. WebP is not accepted: the standard library cannot decode it.
var ImageTypes = map[string]string{
	"image/png":  "png",
	"image/jpeg": "jpeg",
	"image/gif":  "gif",
}

// Added is an item as added, with the upload link of an image item.
type Added struct {
	Entry  Entry
	Upload *Upload
}

// Upload is a presigned PUT: send the body with exactly these headers before ExpiresAt.
type Upload struct {
	URL       string
	Headers   map[string]string
	ExpiresAt time.Time
}

// uploadLink signs a PUT of a pending item's image to its key, valid for UploadTTL from now.
func (s *Service) uploadLink(ctx context.Context, e Entry, now time.Time) (*Upload, error) {
	url, err := s.media.PresignPut(ctx, e.MediaKey, e.ContentType, e.Size, UploadTTL)
	if err != nil {
		return nil, fmt.Errorf("sign upload: %w", err)
	}
	return &Upload{
		URL:       url,
		Headers:   map[string]string{"Content-Type": e.ContentType, "Content-Length": fmt.Sprint(e.Size)},
		ExpiresAt: now.Add(UploadTTL),
	}, nil
}

// AddItems validates and stores a batch of items (1..MaxBatch; all or nothing). Text items
// are open at once; image items wait for their upload and Commit.
func (s *Service) AddItems(ctx context.Context, customerID, jobID string, items []NewItem) ([]Added, error) {
	j, err := s.Get(ctx, customerID, jobID)
	if err != nil {
		return nil, err
	}
	if j.Status == StatusDeleting {
		return nil, ErrDeleting
	}
	if len(items) == 0 || len(items) > MaxBatch {
		return nil, invalid("%d items (want 1-%d per request)", len(items), MaxBatch)
	}
	now := s.now().UTC().Truncate(time.Second)
	entries := make([]Entry, len(items))
	seen := map[string]bool{}
	for i, in := range items {
		e, err := s.entry(j, in, now)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		if seen[e.ID] {
			return nil, invalid("item %d: id %q appears twice", i, e.ID)
		}
		seen[e.ID] = true
		entries[i] = e
	}
	out := make([]Added, len(entries))
	for i, e := range entries {
		out[i].Entry = e
		if e.Status != ItemPending {
			continue
		}
		if out[i].Upload, err = s.uploadLink(ctx, e, now); err != nil {
			return nil, err
		}
	}
	if err := s.store.AddEntries(ctx, j, entries); err != nil {
		if errors.Is(err, ErrConflict) {
			return s.replay(ctx, j, items, entries, now, err)
		}
		return nil, fmt.Errorf("add items: %w", err)
	}
	// A DELETE may have started since the job was read, and may already have passed its
	// items: these would outlive the job, out of every caller's reach. Read the job again
	// and take the batch back.
	again, err := s.store.GetJob(ctx, jobID)
	if err == nil && again.Status != StatusDeleting {
		return out, nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("get job: %w", err)
	}
	for _, e := range entries {
		if derr := s.store.DeleteEntry(ctx, jobID, e.ID); derr != nil {
			return nil, fmt.Errorf("take back items of a job being deleted: %w", derr)
		}
	}
	if err != nil {
		return nil, ErrNotFound
	}
	return nil, ErrDeleting
}

// replay answers a batch refused because an id is taken (conflict, from AddEntries) as
// the request that stored it was answered, when every item of the batch has its id and is
// stored as this batch says: a customer whose add timed out can send the same batch
// again, and a batch is stored whole or not at all, so finding all of it means an earlier
// send succeeded. The items show as they are now; an image not yet committed gets a fresh
// link to the object its item holds. Anything else is the conflict: an id is taken by
// another item.
func (s *Service) replay(ctx context.Context, j Job, items []NewItem, entries []Entry, now time.Time, conflict error) ([]Added, error) {
	out := make([]Added, len(entries))
	for i, want := range entries {
		if items[i].ID == "" { // a generated id names nothing stored
			return nil, conflict
		}
		got, err := s.store.GetEntry(ctx, j.ID, want.ID)
		if errors.Is(err, ErrNotFound) {
			return nil, conflict
		}
		if err != nil {
			return nil, fmt.Errorf("read item %s: %w", want.ID, err)
		}
		if !sameContent(got, want) {
			return nil, conflict
		}
		out[i].Entry = got
		if got.Status == ItemPending {
			if out[i].Upload, err = s.uploadLink(ctx, got, now); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// sameContent reports whether stored is the item an add request describes as want: the
// same text, or an image of the same type and size, and the same known answer used the
// same way. The media key is not compared (each request names a new one).
func sameContent(stored, want Entry) bool {
	return stored.Text == want.Text && (stored.MediaKey == "") == (want.MediaKey == "") &&
		stored.ContentType == want.ContentType && stored.Size == want.Size &&
		stored.Gold == want.Gold && stored.GoldLabel == want.GoldLabel && stored.Holdout == want.Holdout
}

func (s *Service) entry(j Job, in NewItem, now time.Time) (Entry, error) {
	id := in.ID
	if id == "" {
		var err error
		if id, err = s.randomID("item_", 10); err != nil {
			return Entry{}, err
		}
	} else if err := ValidID(id); err != nil {
		return Entry{}, err
	}
	e := Entry{Item: Item{JobID: j.ID, ID: id, Status: ItemOpen}, CreatedAt: now}
	if in.Gold != "" {
		if !j.HasClass(in.Gold) {
			return Entry{}, invalid("gold %q is not a class of the job (%s)", in.Gold, strings.Join(j.Classes, ", "))
		}
		if in.Holdout {
			e.Holdout = in.Gold
		} else {
			e.Gold, e.GoldLabel = true, in.Gold
		}
	} else if in.Holdout {
		return Entry{}, invalid("holdout items need a gold answer")
	}
	switch {
	case in.Image != nil && in.Text != "":
		return Entry{}, invalid("give text or image, not both")
	case in.Image != nil:
		if _, ok := ImageTypes[in.Image.ContentType]; !ok {
			return Entry{}, invalid("image content type %q (want image/png, image/jpeg or image/gif)", in.Image.ContentType)
		}
		if in.Image.Size < 1 || in.Image.Size > MaxImageBytes {
			return Entry{}, invalid("image size %d bytes (want 1-%d)", in.Image.Size, MaxImageBytes)
		}
		name, err := s.randomID("m_", 16)
		if err != nil {
			return Entry{}, err
		}
		e.MediaKey, e.ContentType, e.Size = MediaKey(j.ID, name), in.Image.ContentType, in.Image.Size
		e.Status, e.ExpiresAt = ItemPending, now.Add(PendingTTL)
	case in.Text != "":
		if j.Kind == KindImageGrid {
			return Entry{}, invalid("image_grid jobs take images only")
		}
		if strings.TrimSpace(in.Text) == "" || !utf8.ValidString(in.Text) || len(in.Text) > MaxTextLen || hasControlBesidesLayout(in.Text) {
			return Entry{}, invalid("text must be 1-%d bytes of text (line breaks and tabs allowed, no other control characters)", MaxTextLen)
		}
		e.Text = in.Text
	default:
		return Entry{}, invalid("give text or image")
	}
	return e, nil
}

// Commit reasons: why an upload was not accepted.
var (
	// ErrNotUploaded: nothing has been uploaded yet; the item stays pending (retry after
	// uploading, until the link or the item expires).
	ErrNotUploaded = errors.New("job: not uploaded yet")
	// ErrNotImage: the upload is not a decodable image of its content type (or not of the
	// announced size, or too large in pixels). The item and the object are removed.
	ErrNotImage = errors.New("job: upload is not an acceptable image")
)

// Committed is the outcome of committing one item.
type Committed struct {
	ID     string
	Status ItemStatus // ItemOpen on success (or already committed), ItemPending, or "rejected"
	Err    error      // nil, ErrNotFound, ErrNotUploaded or an ErrNotImage with the reason
	// Upload is a fresh link to the same key with ErrNotUploaded: the one the item was
	// added with works for UploadTTL only, and its id stays taken while it is pending, so
	// without a new link a customer who missed the first could not upload the image at all.
	Upload *Upload
}

// ItemRejected is the status Commit reports for a refused upload (the item is removed).
const ItemRejected ItemStatus = "rejected"

// headBytes is how much of an upload Commit reads first: enough for almost any image
// header. A JPEG's metadata segments before its frame header can be longer (phones store
// depth maps and XMP there), so an upload whose header does not decode from this much is
// read whole (at most MaxImageBytes) before it is refused.
const headBytes = 1 << 20

// Commit checks the uploads of pending items (1..MaxBatch distinct ids) and turns each good one
// into an open (or gold) item in the challenge pool. An upload that is not a decodable
// image of its announced type and size is rejected: its item and object are removed, and
// the id may be added again.
func (s *Service) Commit(ctx context.Context, customerID, jobID string, ids []string) ([]Committed, error) {
	j, err := s.Get(ctx, customerID, jobID)
	if err != nil {
		return nil, err
	}
	if j.Status == StatusDeleting {
		return nil, ErrDeleting
	}
	if len(ids) == 0 || len(ids) > MaxBatch {
		return nil, invalid("%d items (want 1-%d per request)", len(ids), MaxBatch)
	}
	// An id listed twice would be checked twice at once: when its upload is rejected, one
	// answer could say "rejected" and the other "pending" with a link to the item just
	// removed. The batch is refused before anything is checked, as AddItems refuses one.
	// (The id is not echoed: it has not been validated, and may be long.)
	first := make(map[string]int, len(ids))
	for i, id := range ids {
		if at, ok := first[id]; ok {
			return nil, invalid("item %d is item %d again: list each id once", i, at)
		}
		first[id] = i
	}
	out := make([]Committed, len(ids))
	errs := make([]error, len(ids))
	// Each item costs a read and an S3 range request: a few at a time keep a batch of 100
	// well inside the function's timeout.
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], errs[i] = s.commit(ctx, j, id)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) commit(ctx context.Context, j Job, id string) (Committed, error) {
	c := Committed{ID: id}
	if ValidID(id) != nil {
		c.Err = ErrNotFound
		return c, nil
	}
	e, err := s.store.GetEntry(ctx, j.ID, id)
	if errors.Is(err, ErrNotFound) {
		c.Err = ErrNotFound
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("get item %s: %w", id, err)
	}
	if e.Status != ItemPending {
		c.Status = e.Status
		return c, nil
	}
	head, size, err := s.media.ReadHead(ctx, e.MediaKey, headBytes)
	if errors.Is(err, ErrNoObject) {
		// The sweeps wait UploadGrace (longer than UploadTTL) after the item or the job
		// expires, or the job is deleted, so they still catch an upload through this link.
		c.Status, c.Err = ItemPending, ErrNotUploaded
		if c.Upload, err = s.uploadLink(ctx, e, s.now().UTC().Truncate(time.Second)); err != nil {
			return c, err
		}
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read upload %s: %w", id, err)
	}
	problem := CheckImage(head, size, e.ContentType, e.Size)
	if problem != nil && int64(len(head)) < size && size == e.Size && size <= MaxImageBytes {
		// The header may lie past the head (see headBytes): refusing removes the item and
		// the object, so look at all of it first.
		if head, size, err = s.media.ReadHead(ctx, e.MediaKey, size); err != nil {
			return c, fmt.Errorf("read upload %s: %w", id, err)
		}
		problem = CheckImage(head, size, e.ContentType, e.Size)
	}
	if problem != nil {
		// The object goes first: an item without its object could be committed again and
		// would find nothing; an object without its item is swept by SweepExpired (or when
		// the job is deleted).
		if err := s.media.Delete(ctx, e.MediaKey); err != nil {
			return c, fmt.Errorf("delete rejected upload %s: %w", id, err)
		}
		if err := s.store.DeleteEntry(ctx, j.ID, id); err != nil {
			return c, fmt.Errorf("delete rejected item %s: %w", id, err)
		}
		c.Status, c.Err = ItemRejected, problem
		return c, nil
	}
	// Conditioned on the key checked: an item added again under the same id meanwhile has
	// its own upload, which this check has not seen.
	err = s.store.CommitEntry(ctx, j, id, e.MediaKey)
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
		// A concurrent commit won (or the item expired meanwhile, perhaps added again):
		// report what is stored.
		if e, gerr := s.store.GetEntry(ctx, j.ID, id); gerr == nil {
			c.Status = e.Status
			return c, nil
		}
		c.Err = ErrNotFound
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("commit item %s: %w", id, err)
	}
	c.Status = ItemOpen
	return c, nil
}

// ItemPage is one page of a job's items.
type ItemPage struct {
	Items []Entry
	// Next continues the listing ("" on the last page).
	Next string
}

// Items lists a job's items in id order, limit per page (0: DefaultPage), fewer when the
// page would show more than MaxPageBytes. cursor is the Next of the previous page of the
// same job.
func (s *Service) Items(ctx context.Context, customerID, jobID, cursor string, limit int) (ItemPage, error) {
	if limit == 0 {
		limit = DefaultPage
	}
	if limit < 1 || limit > MaxPage {
		return ItemPage{}, invalid("limit must be a number from 1 to %d", MaxPage)
	}
	after := ""
	if cursor != "" {
		// A cursor names its job: one of another job would list this job from a position
		// in another, silently skipping items.
		id, ok := decodeCursor(cursor, jobID)
		if !ok || ValidID(id) != nil {
			return ItemPage{}, invalid("cursor is not one this API returned for this job")
		}
		after = id
	}
	if _, err := s.Get(ctx, customerID, jobID); err != nil {
		return ItemPage{}, err
	}
	entries, next, err := s.store.ListEntries(ctx, jobID, after, limit)
	if err != nil {
		return ItemPage{}, fmt.Errorf("list items: %w", err)
	}
	// A page cut by MaxPageBytes continues after its last item: ids are the listing order.
	shown := 0
	for i, e := range entries {
		if shown += shownBytes(e); shown > MaxPageBytes && i > 0 {
			entries, next = entries[:i], entries[i-1].ID
			break
		}
	}
	p := ItemPage{Items: entries}
	if next != "" {
		p.Next = encodeCursor(jobID, next)
	}
	return p, nil
}

// shownBytes is the size of the strings the item listing shows of e, the part of an item
// that grows with what the customer sent.
func shownBytes(e Entry) int {
	return len(e.ID) + len(e.Text) + len(e.Truth()) + len(e.Label)
}

// Progress summarises a job's items.
type Progress struct {
	// Pending, Open and Done count the items visitors label (holdout items included):
	// waiting for their upload, collecting answers, finished.
	Pending, Open, Done int
	// Answers is the number of answers collected for those items.
	Answers int
	// Gold counts the gold items that grade visitors (committed ones; a pending gold
	// image is counted nowhere).
	Gold int
	// Holdout counts holdout items; HoldoutScored those done with a consensus label and
	// HoldoutCorrect those whose label is the known answer.
	Holdout, HoldoutScored, HoldoutCorrect int
}

// Accuracy is the share of scored holdout items whose consensus label is right; ok is
// false before any holdout item is done.
func (p Progress) Accuracy() (acc float64, ok bool) {
	if p.HoldoutScored == 0 {
		return 0, false
	}
	return float64(p.HoldoutCorrect) / float64(p.HoldoutScored), true
}

// Progress reads every item of the job (cost grows with the job; fine for the sizes a
// customer API call should handle, and exact, unlike counters that can drift).
func (s *Service) Progress(ctx context.Context, customerID, jobID string) (Job, Progress, error) {
	j, err := s.Get(ctx, customerID, jobID)
	if err != nil {
		return Job{}, Progress{}, err
	}
	var p Progress
	err = s.store.EachEntry(ctx, jobID, func(e Entry) error {
		p.add(e)
		return nil
	})
	if err != nil {
		return Job{}, Progress{}, fmt.Errorf("read items: %w", err)
	}
	return j, p, nil
}

func (p *Progress) add(e Entry) {
	if e.Gold {
		// A gold image grades nobody until its upload is committed.
		if e.Status != ItemPending {
			p.Gold++
		}
		return
	}
	switch e.Status {
	case ItemPending:
		p.Pending++
	case ItemDone:
		p.Done++
	default:
		p.Open++
	}
	p.Answers += e.AnswerCount
	if e.Holdout == "" {
		return
	}
	p.Holdout++
	if e.Status == ItemDone && e.Label != "" {
		p.HoldoutScored++
		if e.Label == e.Holdout {
			p.HoldoutCorrect++
		}
	}
}

func (s *Service) randomID(prefix string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

package stack

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/shapes"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// The demo accounts. The hostnames cover both ways of opening the demo page locally.
var (
	demoIntegrator = account.NewIntegrator{Name: "crowdgate demo", Email: "demo@example.com", Country: "US"}
	demoSite       = account.NewSite{Name: "crowdgate demo site", Hostnames: []string{"localhost", "127.0.0.1"}}
	demoCustomer   = account.NewCustomer{Name: "crowdgate demo customer", Email: "customer@example.com", Country: "US"}
)

// seedReport says what the demo job holds (for the banner).
type seedReport struct {
	Items, Gold int
}

// seed makes sure the demo integrator, site, customer id and labeling job exist, reusing
// what an earlier start created (ids in st). st is saved after each step that creates
// something, so a failure later never loses the secret of a site already created.
func seed(ctx context.Context, env *platform.Env, st *state, dataDir string) (seedReport, error) {
	table, err := env.Config.Table(schema.TableAccounts)
	if err != nil {
		return seedReport{}, err
	}
	svc := account.NewService(dynamo.NewAccounts(env.DynamoDB(), table), env.Now)
	save := func() error { return saveState(dataDir, *st) }

	if err := seedAccounts(ctx, svc, st, save); err != nil {
		return seedReport{}, err
	}
	customers := account.NewCustomerService(dynamo.NewAccounts(env.DynamoDB(), table), env.Now)
	if err := seedCustomer(ctx, customers, st, save); err != nil {
		return seedReport{}, err
	}
	return seedJob(ctx, env, st, save)
}

// seedCustomer makes sure the demo customer and a working API key for it exist.
func seedCustomer(ctx context.Context, svc *account.CustomerService, st *state, save func() error) error {
	if st.CustomerID != "" {
		_, err := svc.GetCustomer(ctx, st.CustomerID)
		switch {
		case errors.Is(err, account.ErrNotFound):
			st.CustomerID, st.CustomerAPIKey = "", ""
		case err != nil:
			return fmt.Errorf("find demo customer: %w", err)
		}
	}
	if st.CustomerID == "" {
		c, err := svc.CreateCustomer(ctx, demoCustomer)
		if err != nil {
			return fmt.Errorf("create demo customer: %w", err)
		}
		st.CustomerID, st.CustomerAPIKey = c.ID, ""
		if err := save(); err != nil {
			return err
		}
	}
	if st.CustomerAPIKey != "" {
		if k, err := svc.Authenticate(ctx, st.CustomerAPIKey); err == nil && k.CustomerID == st.CustomerID {
			return nil
		}
	}
	_, key, err := svc.CreateAPIKey(ctx, st.CustomerID, "demo")
	if err != nil {
		return fmt.Errorf("create demo API key: %w", err)
	}
	st.CustomerAPIKey = key
	return save()
}

func seedAccounts(ctx context.Context, svc *account.Service, st *state, save func() error) error {
	if st.IntegratorID != "" {
		_, err := svc.GetIntegrator(ctx, st.IntegratorID)
		switch {
		case errors.Is(err, account.ErrNotFound):
			// The database was reset: start over with new accounts.
			st.IntegratorID, st.Sitekey, st.Secret = "", "", ""
		case err != nil:
			return fmt.Errorf("find demo integrator: %w", err)
		}
	}
	if st.IntegratorID == "" {
		it, err := svc.CreateIntegrator(ctx, demoIntegrator)
		if err != nil {
			return fmt.Errorf("create demo integrator: %w", err)
		}
		st.IntegratorID, st.Sitekey, st.Secret = it.ID, "", ""
		if err := save(); err != nil {
			return err
		}
	}

	if st.Sitekey != "" {
		site, err := svc.GetSite(ctx, st.Sitekey)
		switch {
		case errors.Is(err, account.ErrNotFound) || (err == nil && site.IntegratorID != st.IntegratorID):
			st.Sitekey, st.Secret = "", ""
		case err != nil:
			return fmt.Errorf("find demo site: %w", err)
		}
	}
	if st.Sitekey == "" {
		site, secret, err := svc.CreateSite(ctx, st.IntegratorID, demoSite)
		if err != nil {
			return fmt.Errorf("create demo site: %w", err)
		}
		st.Sitekey, st.Secret = site.Sitekey, secret
		return save()
	}

	// The secret may have been rotated through the admin API since (only its hash is
	// stored): rotate once more so the demo backend knows the current one.
	site, err := svc.SiteBySecret(ctx, st.Secret)
	if err == nil && site.Sitekey == st.Sitekey {
		return nil
	}
	if err != nil && !errors.Is(err, account.ErrNotFound) && !errors.Is(err, account.ErrInvalidSecret) {
		return fmt.Errorf("check demo secret: %w", err)
	}
	_, secret, err := svc.RotateSecret(ctx, st.Sitekey)
	if err != nil {
		return fmt.Errorf("renew demo secret: %w", err)
	}
	st.Secret = secret
	return save()
}

// The demo labeling job: generated shape images, half of each shape gold (known label),
// half open for visitors to label. 60 gold images are enough for the hardest challenge
// (challenge.MaxExtraGrids extra grids: five grids of nine plus a question) from gold
// alone, once visitors have labeled every open image; with fewer, a busy local stack
// could no longer make a suspicious visitor's challenge harder. 120 open images last a
// developer's afternoon of demo answers and the end-to-end suite, which used all but a
// few of 60.
const (
	demoJobID      = "demo-shapes"
	demoImageSeed  = 2026
	demoImageCount = 240
	demoImageSize  = 128
)

func demoJob(customerID string, now time.Time) job.Job {
	return job.Job{
		ID:         demoJobID,
		CustomerID: customerID,
		Name:       "Demo: shapes",
		Kind:       job.KindImageGrid,
		Question: map[string]string{
			"en": "Select every image that shows a {class}",
			"de": "Wähle jedes Bild mit diesem Motiv: {class}",
			"fr": "Sélectionnez chaque image qui montre : {class}",
			"es": "Selecciona cada imagen que muestre: {class}",
		},
		Classes: shapeClasses(),
		ClassNames: map[string][]string{
			"de": {"Kreis", "Quadrat", "Dreieck", "Stern"},
			"fr": {"cercle", "carré", "triangle", "étoile"},
			"es": {"círculo", "cuadrado", "triángulo", "estrella"},
		},
		Priority:   1,
		Status:     job.StatusActive,
		MinAnswers: 3,
		MaxAnswers: 10,
		Target:     0.9,
		CreatedAt:  now.UTC().Truncate(time.Second),
	}
}

func shapeClasses() []string {
	out := make([]string, len(shapes.All))
	for i, s := range shapes.All {
		out[i] = string(s)
	}
	return out
}

// demoMediaKey is the object key of the i-th demo image: under the job's prefix, like a
// customer's upload (so deleting the job removes it), and a keyed hash of the data dir's
// own key, so that the links visitors' browsers load tell neither the item nor, through
// the public image seed, the shape it shows.
func demoMediaKey(key []byte, i int) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "demo-image/%d", i)
	return job.MediaPrefix(demoJobID) + "m_" + hex.EncodeToString(m.Sum(nil)[:16])
}

// demoItems pairs the generated images with items: the first half of each shape's images
// are gold, the rest open. mediaKey is the data dir's demo media key (state).
func demoItems(specs []shapes.Spec, mediaKey []byte) []job.Item {
	perShape := map[shapes.Shape]int{}
	for _, sp := range specs {
		perShape[sp.Shape]++
	}
	seen := map[shapes.Shape]int{}
	items := make([]job.Item, len(specs))
	for i, sp := range specs {
		s := sp.Shape
		it := job.Item{JobID: demoJobID, ID: fmt.Sprintf("img-%02d", i), MediaKey: demoMediaKey(mediaKey, i), Status: job.ItemOpen}
		if seen[s] < perShape[s]/2 {
			it.Gold, it.GoldLabel = true, string(s)
		}
		seen[s]++
		items[i] = it
	}
	return items
}

// seedJob stores the demo job, its images and items unless an earlier start did. The job
// goes last, so an existing job means its images and items are there too (re-storing the
// items would reset the answers counted on them), and a start cut short is finished by the
// next one. Data dirs seeded before image keys were keyed hashes keep their job as it is.
func seedJob(ctx context.Context, env *platform.Env, st *state, save func() error) (seedReport, error) {
	labels, err := env.Config.Table(schema.TableLabels)
	if err != nil {
		return seedReport{}, err
	}
	media, err := env.Config.Bucket(schema.BucketMedia)
	if err != nil {
		return seedReport{}, err
	}
	mediaKey, err := base64.StdEncoding.DecodeString(st.DemoMediaKey)
	if err != nil || len(mediaKey) == 0 {
		return seedReport{}, fmt.Errorf("demo media key in %s: want base64 (delete the data dir to start afresh)", StateFile)
	}
	jobs := dynamo.NewJobs(env.DynamoDB(), labels)
	store := blob.New(env.S3())

	specs := shapes.Specs(demoImageSeed, demoImageCount, demoImageSize)
	items := demoItems(specs, mediaKey)
	rep := seedReport{Items: len(items)}
	for _, it := range items {
		if it.Gold {
			rep.Gold++
		}
	}

	j, err := jobs.GetJob(ctx, demoJobID)
	switch {
	case errors.Is(err, job.ErrNotFound):
		j = demoJob(st.CustomerID, env.Now())
		if err := storeDemoItems(ctx, env, jobs, store, media, j, specs, items); err != nil {
			return rep, err
		}
		if err := jobs.PutJob(ctx, j); err != nil {
			return rep, fmt.Errorf("store demo job: %w", err)
		}
	case err != nil:
		return rep, fmt.Errorf("find demo job: %w", err)
	}
	if st.JobID != j.ID || st.CustomerID != j.CustomerID {
		st.JobID, st.CustomerID = j.ID, j.CustomerID
		if err := save(); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// storeDemoItems uploads the images an earlier, interrupted start did not, then adds the
// items as the customer API would (with their image's type and size), 100 at a time.
func storeDemoItems(ctx context.Context, env *platform.Env, jobs *dynamo.Jobs, store *blob.Store, media string, j job.Job, specs []shapes.Spec, items []job.Item) error {
	// One listing instead of a read per image: an interrupted start resumes quickly.
	have := map[string]bool{}
	pages := s3.NewListObjectsV2Paginator(env.S3(), &s3.ListObjectsV2Input{Bucket: &media, Prefix: aws.String(job.MediaPrefix(j.ID))})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list demo images: %w", err)
		}
		for _, o := range page.Contents {
			have[aws.ToString(o.Key)] = true
		}
	}
	entries := make([]job.Entry, len(items))
	for i, it := range items {
		png, err := shapes.Encode(specs[i])
		if err != nil {
			return err
		}
		if !have[it.MediaKey] {
			if err := store.Put(ctx, media, it.MediaKey, "image/png", bytes.NewReader(png)); err != nil {
				return fmt.Errorf("upload demo image: %w", err)
			}
		}
		entries[i] = job.Entry{Item: it, ContentType: "image/png", Size: int64(len(png)), CreatedAt: j.CreatedAt}
	}
	for start := 0; start < len(entries); start += job.MaxBatch {
		err := jobs.AddEntries(ctx, j, entries[start:min(start+job.MaxBatch, len(entries))])
		// A batch is written whole or not at all: a taken id means an interrupted start
		// wrote this batch already.
		if err != nil && !errors.Is(err, job.ErrConflict) {
			return fmt.Errorf("store demo items: %w", err)
		}
	}
	return nil
}

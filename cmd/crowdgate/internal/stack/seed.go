package stack

import (
	"bytes"
	"context"
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
	demoMediaDir   = "demo/shapes/"
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

// demoItems pairs the generated images with items: the first half of each shape's images
// are gold, the rest open.
func demoItems(specs []shapes.Spec) []job.Item {
	perShape := map[shapes.Shape]int{}
	for _, sp := range specs {
		perShape[sp.Shape]++
	}
	seen := map[shapes.Shape]int{}
	items := make([]job.Item, len(specs))
	for i, sp := range specs {
		s := sp.Shape
		it := job.Item{JobID: demoJobID, ID: fmt.Sprintf("img-%02d", i), MediaKey: fmt.Sprintf("%simg-%02d.png", demoMediaDir, i), Status: job.ItemOpen}
		if seen[s] < perShape[s]/2 {
			it.Gold, it.GoldLabel = true, string(s)
		}
		seen[s]++
		items[i] = it
	}
	return items
}

// seedJob uploads the demo images that are missing and stores the job and its items unless
// an earlier start did.
func seedJob(ctx context.Context, env *platform.Env, st *state, save func() error) (seedReport, error) {
	labels, err := env.Config.Table(schema.TableLabels)
	if err != nil {
		return seedReport{}, err
	}
	media, err := env.Config.Bucket(schema.BucketMedia)
	if err != nil {
		return seedReport{}, err
	}
	jobs := dynamo.NewJobs(env.DynamoDB(), labels)
	store := blob.New(env.S3())

	specs := shapes.Specs(demoImageSeed, demoImageCount, demoImageSize)
	items := demoItems(specs)
	rep := seedReport{Items: len(items)}
	for _, it := range items {
		if it.Gold {
			rep.Gold++
		}
	}

	// One listing instead of a read per image: restarts stay quick.
	have := map[string]bool{}
	pages := s3.NewListObjectsV2Paginator(env.S3(), &s3.ListObjectsV2Input{Bucket: &media, Prefix: aws.String(demoMediaDir)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return rep, fmt.Errorf("list demo images: %w", err)
		}
		for _, o := range page.Contents {
			have[aws.ToString(o.Key)] = true
		}
	}
	for i, it := range items {
		if have[it.MediaKey] {
			continue
		}
		png, err := shapes.Encode(specs[i])
		if err != nil {
			return rep, err
		}
		if err := store.Put(ctx, media, it.MediaKey, "image/png", bytes.NewReader(png)); err != nil {
			return rep, fmt.Errorf("upload demo image: %w", err)
		}
	}

	// Items are stored before the job, so an existing job means its items are there too
	// (re-storing them would reset the answers counted on them).
	j, err := jobs.GetJob(ctx, demoJobID)
	switch {
	case errors.Is(err, job.ErrNotFound):
		j = demoJob(st.CustomerID, env.Now())
		if err := jobs.PutItems(ctx, j, items...); err != nil {
			return rep, fmt.Errorf("store demo items: %w", err)
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

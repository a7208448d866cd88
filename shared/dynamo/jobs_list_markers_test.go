package dynamo_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
)

// readCounter counts the queries and the records they return.
type readCounter struct {
	dynamo.API
	mu               sync.Mutex
	queries, records int
}

func (c *readCounter) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := c.API.Query(ctx, in, opts...)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queries++
	if out != nil {
		c.records += len(out.Items)
	}
	return out, err
}

func (c *readCounter) reset() (queries, records int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	queries, records, c.queries, c.records = c.queries, c.records, 0, 0
	return queries, records
}

// Every batch of announced uploads leaves a marker in the job's partition, after its items
// ("UPLOAD#…" > "ITEM#…"), for a day or two. Listing the items must not read through
// them: the last page of a busy job would take a query per marker (the page is full, so
// each asks for one more record) and run into the API's timeout.
func TestTheLastPageOfItemsDoesNotReadUploadMarkers(t *testing.T) {
	for name, api := range map[string]func(t *testing.T) (dynamo.API, string){
		"DynamoDB Local": func(t *testing.T) (dynamo.API, string) { _, c, table := jobStore(t); return c, table },
		"minidyn":        func(t *testing.T) (dynamo.API, string) { return minidynLabels(t), "labels" },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			base, table := api(t)
			rc := &readCounter{API: base}
			s := dynamo.NewJobs(rc, table)
			now := time.Now().UTC().Truncate(time.Second)
			j := job.Job{ID: fmt.Sprint("job_markers_", now.UnixNano()), CustomerID: "c", Name: "n", Kind: job.KindImageGrid,
				Classes: []string{"a", "b"}, Question: map[string]string{"en": "a {class}?"}, Status: job.StatusActive,
				Target: 0.9, CreatedAt: now}.Normalize()
			if err := s.CreateJob(ctx, j); err != nil {
				t.Fatal(err)
			}
			const batches = 30
			for i := range batches {
				id := fmt.Sprintf("img-%02d", i)
				e := job.Entry{Item: job.Item{JobID: j.ID, ID: id, MediaKey: job.MediaKey(j.ID, "m_"+id), Status: job.ItemPending},
					ContentType: "image/png", Size: 10, CreatedAt: now, ExpiresAt: now.Add(job.PendingTTL)}
				if err := s.AddEntries(ctx, j, []job.Entry{e}); err != nil {
					t.Fatal(err)
				}
			}
			rc.reset()
			var ids []string
			after := ""
			for range batches {
				page, next, err := s.ListEntries(ctx, j.ID, after, 10)
				if err != nil {
					t.Fatal(err)
				}
				if q, r := rc.reset(); q != 1 || r > 10+2 {
					t.Errorf("the page after %q took %d queries reading %d records; want 1 reading its 10 items, the cursor's and 1 more", after, q, r)
				}
				for _, e := range page {
					ids = append(ids, e.ID)
				}
				if next == "" {
					break
				}
				after = next
			}
			if len(ids) != batches || ids[0] != "img-00" || ids[batches-1] != fmt.Sprintf("img-%02d", batches-1) {
				t.Fatalf("listed %v", ids)
			}
			// Past the last item: an empty page, read as cheaply.
			if page, next, err := s.ListEntries(ctx, j.ID, ids[batches-1], 10); err != nil || len(page) != 0 || next != "" {
				t.Fatalf("after the last item: %v, %q, %v", page, next, err)
			}
			if q, r := rc.reset(); q > 1 || r > 1 {
				t.Errorf("the empty page took %d queries reading %d records", q, r)
			}
		})
	}
}

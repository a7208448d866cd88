package job_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/crowdgate/crowdgate/shared/benchmetric"
	"github.com/crowdgate/crowdgate/shared/job"
)

// BenchmarkCatalogDraw is what one challenge asks of an instance's catalog at production
// size (dynamo.NewJobPool's sample: 200 gold and 200 open items per job; here 10 image
// jobs of 4 classes): two 9-tile grids (at most 3 open, 2 to 7 gold showing the class)
// and a one-item question, each excluding the items drawn before it.
//
//	go test -run '^$' -bench CatalogDraw -benchmem ./shared/job/
func BenchmarkCatalogDraw(b *testing.B) {
	var stocks []job.Stock
	classes := []string{"circle", "square", "triangle", "star"}
	for j := range 10 {
		st := job.Stock{Job: job.Job{ID: fmt.Sprintf("job-%d", j), Kind: job.KindImageGrid, Classes: classes, Priority: 1, Status: job.StatusActive}}
		for i := range 200 {
			st.Gold = append(st.Gold, job.Item{JobID: st.Job.ID, ID: fmt.Sprintf("g-%03d", i), Gold: true, GoldLabel: classes[i%len(classes)], Status: job.ItemDone})
			st.Open = append(st.Open, job.Item{JobID: st.Job.ID, ID: fmt.Sprintf("o-%03d", i), Status: job.ItemOpen})
		}
		stocks = append(stocks, st)
	}
	cat := job.NewCatalog(stocks)
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	b.ReportAllocs()
	defer benchmetric.CPU(b)()
	for b.Loop() {
		exclude := map[string]bool{}
		for _, size := range []int{9, 9, 1} {
			req := job.Request{Kinds: []job.Kind{job.KindImageGrid}, Size: size, Exclude: exclude, Rand: rng}
			if size > 1 {
				req.MaxOpen, req.MinTrue, req.MinFalse = 3, 2, 2
			}
			d, err := cat.Draw(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			for _, it := range append(d.Gold, d.Open...) {
				exclude[it.Key()] = true
			}
		}
	}
}

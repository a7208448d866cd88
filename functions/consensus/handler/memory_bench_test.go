package handler_test

// Memory measurements for BenchmarkReestimateInMemory (bench_test.go): memory targets are
// shown by the benchmark, not asserted by a test.

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	mclient "github.com/truora/minidyn/aws-v2/client"

	"github.com/crowdgate/crowdgate/functions/consensus/handler"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/job"
)

// pagedAPI is minidyn (the local stack's DynamoDB, in memory) returning queries in pages
// of at most 500 records, as DynamoDB returns them in pages of 1 MB: a load never holds
// more than one page of raw records.
type pagedAPI struct{ *mclient.Client }

func (p pagedAPI) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if in.Limit == nil {
		c := *in
		c.Limit = aws.Int32(500)
		in = &c
	}
	return p.Client.Query(ctx, in, opts...)
}

// storedJob stores job j with jc's items and answerers, through the stores, in a labels
// table of its own in memory, and returns the consensus store that reads them back.
func storedJob(tb testing.TB, j job.Job, jc dynamo.JobConsensus) *dynamo.Consensus {
	tb.Helper()
	ctx := context.Background()
	c := dynamotest.Minidyn(tb, "labels")
	api := pagedAPI{c}
	jobs := dynamo.NewJobs(api, "labels")
	if err := jobs.PutJob(ctx, j); err != nil {
		tb.Fatal(err)
	}
	var items []job.Item
	for _, it := range jc.Items {
		items = append(items, job.Item{JobID: j.ID, ID: it.ID, Text: "t", Status: job.ItemOpen})
	}
	for start := 0; start < len(items); start += 500 {
		if err := jobs.PutItems(ctx, j, items[start:min(start+500, len(items))]...); err != nil {
			tb.Fatal(err)
		}
	}
	s := dynamo.NewConsensus(api, "labels")
	for _, it := range jc.Items {
		if err := s.PutItem(ctx, j.ID, it); err != nil {
			tb.Fatal(err)
		}
	}
	for _, w := range jc.Answerers {
		if err := s.PutAnswerer(ctx, j.ID, w, time.Now().Add(72*time.Hour)); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// liveHeap is the heap's live bytes after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// peakSampler records the largest live heap the collector marked while it runs. It sets
// GOGC to 10 so that collections, and so samples, come at least every 10% of heap growth:
// the peak it finds is within about 10% of the true one.
type peakSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
	gogc int
}

func startPeakSampler() *peakSampler {
	p := &peakSampler{stop: make(chan struct{}), gogc: debug.SetGCPercent(10)}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			p.peak = max(p.peak, s[0].Value.Uint64())
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// end stops sampling and returns the peak.
func (p *peakSampler) end() uint64 {
	runtime.GC() // the last cycle's marks, for the sample below
	close(p.stop)
	p.done.Wait()
	debug.SetGCPercent(p.gogc)
	return p.peak
}

// passMemory loads job j of n items from s, then runs one whole pass over it (every item
// written back, to a store that only counts), and returns the pass's report and the bytes
// per item held: the loaded job, the pass while writing, and the pass at its peak.
func passMemory(tb testing.TB, s *dynamo.Consensus, j job.Job, n int) (rep handler.ReestimateReport, loaded, writing, peak float64) {
	tb.Helper()
	base := liveHeap()
	jc, err := s.LoadJob(context.Background(), j.ID, 2)
	if err != nil {
		tb.Fatal(err)
	}
	loaded = float64(liveHeap()-base) / float64(n)
	runtime.KeepAlive(jc)
	jc = dynamo.JobConsensus{}

	var live uint64
	var once sync.Once
	store := &fakeStore{
		LoadJobFn: s.LoadJob,
		PutItemFn: func(context.Context, string, dynamo.ConsensusItem) error {
			once.Do(func() { live = liveHeap() })
			return nil
		},
	}
	base = liveHeap()
	sampler := startPeakSampler()
	rep, err = handler.Reestimate(context.Background(), store, j, time.Now())
	top := sampler.end()
	if err != nil || rep.ItemsWritten != n {
		tb.Fatalf("%+v, %v", rep, err)
	}
	return rep, loaded, float64(live-base) / float64(n), float64(top-base) / float64(n)
}

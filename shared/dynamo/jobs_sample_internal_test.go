package dynamo

import (
	"fmt"
	"testing"

	"github.com/crowdgate/crowdgate/shared/job"
)

// The catalog weighs jobs by priority when it draws; the subset of a large pool that an
// instance caches must not weigh them again, or a priority-1000 job would be in nearly
// every subset and drawn about a million times as often as a priority-1 job, not a
// thousand.
func TestJobsSampleIsUniform(t *testing.T) {
	jobs := make([]job.Job, 100)
	for i := range jobs {
		jobs[i] = job.Job{ID: fmt.Sprint("job-", i), Priority: 1}
	}
	jobs[0].Priority = 1000
	in := 0
	for range 2000 {
		s := jobsSample(jobs, 50)
		if len(s) != 50 {
			t.Fatalf("sample of %d", len(s))
		}
		seen := map[string]bool{}
		for _, j := range s {
			if seen[j.ID] {
				t.Fatalf("%s sampled twice", j.ID)
			}
			seen[j.ID] = true
		}
		if seen["job-0"] {
			in++
		}
	}
	// Half the jobs are kept, so about 1000 of 2000 samples hold job-0 (sd about 22).
	if in < 850 || in > 1150 {
		t.Errorf("the priority-1000 job is in %d of 2000 samples, want about 1000", in)
	}
}

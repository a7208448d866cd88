package jobtest_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/job/jobtest"
)

func TestInMemoryStore(t *testing.T) {
	jobtest.TestStore(t, func(*testing.T) job.Store { return &jobtest.Store{} },
		func(_ *testing.T, s job.Store) []job.Stock { return s.(*jobtest.Store).Stocks() })
}

package privacytest_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
)

func TestInMemoryStoreContract(t *testing.T) {
	privacytest.TestStore(t, func(*testing.T) privacy.Store { return &privacytest.Store{} })
	privacytest.TestFilingCounter(t, &privacytest.Filings{})
}

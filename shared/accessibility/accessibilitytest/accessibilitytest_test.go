package accessibilitytest_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/accessibility/accessibilitytest"
)

func TestInMemoryStoreContract(t *testing.T) {
	accessibilitytest.TestStore(t, func(*testing.T) accessibilitytest.FullStore {
		s, _ := accessibilitytest.NewStore()
		return s
	})
}

func TestInMemoryChallengesContract(t *testing.T) {
	accessibilitytest.TestChallenges(t, func(*testing.T) accessibility.Challenges {
		s, _ := accessibilitytest.NewChallenges()
		return s
	})
}

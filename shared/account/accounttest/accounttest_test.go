package accounttest_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
)

func TestMemoryStore(t *testing.T) {
	accounttest.TestStore(t, func(*testing.T) account.Store { return &accounttest.Store{} })
}

package accounttest_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
)

func TestInMemoryCustomerStore(t *testing.T) {
	accounttest.TestCustomerStore(t, func(*testing.T) account.CustomerStore { return &accounttest.Store{} })
}

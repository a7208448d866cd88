package verifytest_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/verify/verifytest"
)

func TestMemoryTokens(t *testing.T) {
	verifytest.TestTokenStore(t, func(*testing.T) verifytest.TokenStore { return &verifytest.Tokens{} })
}

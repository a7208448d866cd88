package accessibility_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/accessibility"
)

// The network pseudonym is keyed with the clock hour, so a new hour counts afresh: the
// wait a refused sign-up is told must end then, not an hour after the first sign-up.
func TestNetworkLimitRetryAfterEndsWithTheHour(t *testing.T) {
	f := newFix(t) // 19:30
	ctx := context.Background()
	ip := net.ParseIP("203.0.113.9")
	for i := range accessibility.SignupsPerNetwork {
		if err := f.svc.SignUp(ctx, accessibility.SignUpInput{Email: "p" + strconv.Itoa(i) + "@example.com", Network: ip}); err != nil {
			t.Fatalf("sign-up %d: %v", i+1, err)
		}
	}
	f.clock.Advance(10 * time.Minute) // 19:40
	err := f.svc.SignUp(ctx, accessibility.SignUpInput{Email: "late@example.com", Network: ip})
	var le *accessibility.LimitError
	if !errors.As(err, &le) || le.What != accessibility.LimitNetwork {
		t.Fatalf("sign-up over the network limit: %v", err)
	}
	if le.RetryAfter != 20*time.Minute {
		t.Fatalf("RetryAfter = %v, want 20m (the hour ends at 20:00)", le.RetryAfter)
	}
	f.clock.Advance(le.RetryAfter)
	if err := f.svc.SignUp(ctx, accessibility.SignUpInput{Email: "late@example.com", Network: ip}); err != nil {
		t.Fatalf("after the announced wait: %v", err)
	}
}

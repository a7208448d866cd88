package config_test

import (
	"errors"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/schema"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestFromLookupReadsResourceNames(t *testing.T) {
	c, err := config.FromLookup(lookup(map[string]string{
		"TABLE_ACCOUNTS":        "prod-accounts",
		"QUEUE_RISK_EVENTS_URL": "https://sqs/risk",
		"BUCKET_MEDIA":          "media-bkt",
		"CHALLENGE_TTL_SECONDS": "90",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Table(schema.TableAccounts); v != "prod-accounts" {
		t.Errorf("table = %q", v)
	}
	if v, _ := c.Queue(schema.QueueRiskEvents); v != "https://sqs/risk" {
		t.Errorf("queue = %q", v)
	}
	if v, _ := c.Bucket(schema.BucketMedia); v != "media-bkt" {
		t.Errorf("bucket = %q", v)
	}
	if c.ChallengeTTL != 90*time.Second {
		t.Errorf("ttl = %v", c.ChallengeTTL)
	}
	if _, err := c.Table(schema.TableLabels); !errors.Is(err, config.ErrMissing) || err.Error() != "config: missing setting TABLE_LABELS" {
		t.Errorf("missing table error = %v", err)
	}
}

// A challenge lives at most as long as its image links (5 minutes): a longer one would show
// broken images to a visitor who takes their time.
func TestFromLookupRejectsBadTTL(t *testing.T) {
	for _, v := range []string{"-1", "0", "301", "3600", "5m"} {
		if _, err := config.FromLookup(lookup(map[string]string{"CHALLENGE_TTL_SECONDS": v})); err == nil {
			t.Errorf("CHALLENGE_TTL_SECONDS=%s accepted", v)
		}
	}
	if c, err := config.FromLookup(lookup(map[string]string{"CHALLENGE_TTL_SECONDS": "300"})); err != nil || c.ChallengeTTL != 5*time.Minute {
		t.Errorf("300: %v, %v", c.ChallengeTTL, err)
	}
}

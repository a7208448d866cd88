package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// SaltPurposes lists every purpose a Salts store is created with. The daily sweep destroys
// the salts of exactly these purposes, so a new purpose must be added here.
var SaltPurposes = []string{SaltPurposeAnswerer, SaltPurposeRisk}

// SaltExpiry is when the salt of day ("2006-01-02") must be gone: the end of the day plus
// SaltRetention.
func SaltExpiry(day string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return time.Time{}, fmt.Errorf("salt day %q: %w", day, err)
	}
	return d.AddDate(0, 0, 1).Add(SaltRetention), nil
}

// LastExpiredSaltDay is the newest day whose salts are past retention at now.
func LastExpiredSaltDay(now time.Time) string {
	return now.UTC().Add(-24 * time.Hour).Add(-SaltRetention).Format(time.DateOnly)
}

// SaltSweeper destroys daily salts explicitly. Their ttl alone is not enough: DynamoDB
// deletes expired items lazily (typically within two days), and the privacy policy
// promises salts are destroyed 48 h after their day.
type SaltSweeper struct {
	api   API
	table string
	// Now is the clock the retention check uses (time.Now when nil).
	Now func() time.Time
}

// NewSaltSweeper returns the sweeper of the deployed risk table.
func NewSaltSweeper(api API, table string) *SaltSweeper {
	return &SaltSweeper{api: api, table: table}
}

// Destroy deletes the salts of day for every purpose of SaltPurposes. It refuses a day
// still within retention: pseudonyms of that day must stay linkable until it ends.
// Deleting a salt that is already gone is not an error.
func (s *SaltSweeper) Destroy(ctx context.Context, day string) error {
	expires, err := SaltExpiry(day)
	if err != nil {
		return err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if now().Before(expires) {
		return fmt.Errorf("destroy salts of %s: still within retention until %s", day, expires.Format(time.RFC3339))
	}
	for _, purpose := range SaltPurposes {
		_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: &s.table,
			Key:       Key("SALT#"+purpose+"#"+day, saltSK), // the key Salts.load writes
		})
		if err != nil {
			return fmt.Errorf("destroy %s salt of %s: %w", purpose, day, err)
		}
	}
	return nil
}

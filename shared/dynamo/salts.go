package dynamo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/schema"
)

// SaltBytes is the size of a daily salt.
const SaltBytes = 32

// SaltRetention is how long a day's salt outlives the day: then it is destroyed (ttl) and
// the pseudonyms made with it can no longer be linked to anyone.
const SaltRetention = 48 * time.Hour

// SaltPurposeAnswerer keys the answerer pseudonyms of answers-queue messages.
const SaltPurposeAnswerer = "answerer"

// ErrSaltDestroyed: the day's salt has passed its retention (or the day is not a date).
var ErrSaltDestroyed = errors.New("salt: day is past retention")

// Salts keeps one random salt per UTC day and purpose on the risk table, created on first
// use with a conditional put so every Lambda instance agrees on it:
//
//	SALT#<purpose>#<YYYY-MM-DD>  SALT  value (32 random bytes); ttl = day end + 48 h
//
// Separate purposes get separate salts so hashes made for one use cannot be joined with
// another's. Salts are cached in memory for the life of the instance (a day's salt never
// changes) but never served past their retention.
type Salts struct {
	api     API
	table   string
	purpose string

	mu    sync.Mutex
	cache map[string][]byte
}

// NewSalts returns the salt store for one purpose on the deployed risk table.
func NewSalts(api API, table, purpose string) *Salts {
	return &Salts{api: api, table: table, purpose: purpose, cache: map[string][]byte{}}
}

const saltSK = "SALT"

// Salt returns the salt of day ("2006-01-02"), creating it if it does not exist yet.
func (s *Salts) Salt(ctx context.Context, day string) ([]byte, error) {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a date", ErrSaltDestroyed, day)
	}
	expires := d.AddDate(0, 0, 1).Add(SaltRetention)
	if !time.Now().Before(expires) {
		return nil, ErrSaltDestroyed
	}
	s.mu.Lock()
	v, ok := s.cache[day]
	s.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err = s.load(ctx, day, expires)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	for k := range s.cache {
		if k < day { // keep the cache to the newest days
			delete(s.cache, k)
		}
	}
	s.cache[day] = v
	s.mu.Unlock()
	return v, nil
}

func (s *Salts) load(ctx context.Context, day string, expires time.Time) ([]byte, error) {
	key := Key("SALT#"+s.purpose+"#"+day, saltSK)
	if v, err := s.get(ctx, key); err != nil || v != nil {
		return v, err
	}
	fresh := make([]byte, SaltBytes)
	_, _ = rand.Read(fresh) // crypto/rand never fails (it panics instead)
	item := Key("SALT#"+s.purpose+"#"+day, saltSK)
	item["kind"] = &types.AttributeValueMemberS{Value: "salt"}
	item["value"] = &types.AttributeValueMemberB{Value: fresh}
	item[schema.TTLAttribute] = TTL(expires)
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if err == nil {
		return fresh, nil
	}
	if !IsConditionFailed(err) {
		return nil, fmt.Errorf("create salt: %w", err)
	}
	// Another instance created it first: use theirs.
	v, err := s.get(ctx, key)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, errors.New("salt: lost creation race but found no salt")
	}
	return v, nil
}

// get returns the stored salt, nil if there is none.
func (s *Salts) get(ctx context.Context, key map[string]types.AttributeValue) ([]byte, error) {
	item, err := getStored(ctx, s.api, s.table, key, nil, "salt")
	if err != nil || item == nil {
		return nil, err
	}
	if Expired(item, time.Now()) {
		return nil, ErrSaltDestroyed
	}
	b, ok := item["value"].(*types.AttributeValueMemberB)
	if !ok || len(b.Value) != SaltBytes {
		return nil, errors.New("salt: stored value is malformed")
	}
	return b.Value, nil
}

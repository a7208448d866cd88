// Package config reads a function's settings from its environment once, at start-up.
// Names are the same on Lambda (set by the CDK stack) and in the local stack.
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/shared/schema"
)

// MaxChallengeTTLSeconds caps CHALLENGE_TTL_SECONDS: a challenge's image links live at most
// 5 minutes (challenge.MaxMediaTTL), and a longer challenge would show broken images.
const MaxChallengeTTLSeconds = 300

// Config is everything a function needs to know about its surroundings.
type Config struct {
	// Tables, Queues and Buckets map schema logical names to deployed names (tables,
	// buckets) or URLs (queues). A function only gets the entries it was granted.
	Tables  map[string]string
	Queues  map[string]string
	Buckets map[string]string

	// SigningKeys holds token-signing keys as "kid:base64key" pairs separated by commas;
	// the first is used to sign. On AWS SigningSecretARN names a Secrets Manager secret
	// with the same content instead (a bare base64 key before its first rotation: see
	// token.NewSigner).
	SigningKeys      string
	SigningSecretARN string

	// PublicURL is the externally visible base URL of the API (for links in the widget).
	PublicURL string
	// ChallengeTTL is how long an issued challenge may be answered (at most
	// MaxChallengeTTLSeconds).
	ChallengeTTL time.Duration
	// LogLevel is slog's level name (debug, info, warn, error).
	LogLevel string

	// MailFrom is the sender address of e-mails sent through SES (a verified identity).
	MailFrom string
	// MailNoticeConfigurationSet names the SES configuration set privacy notices go through
	// (MAIL_NOTICE_CONFIGURATION_SET, set by the stack; it adds no address to the
	// account-level suppression list).
	MailNoticeConfigurationSet string
	// MailOutboxDir, when set, makes functions write e-mails as files into this directory
	// instead of sending them (the local stack's outbox; never set on AWS).
	MailOutboxDir string
	// PrivacyKey keys the privacy table's subject and code hashes: base64 of at least 32
	// random bytes, never changed while requests are kept. On AWS PrivacyKeySecretARN names
	// a Secrets Manager secret with the same content instead.
	PrivacyKey          string
	PrivacyKeySecretARN string
}

// EnvName returns the environment variable that carries a resource name, e.g.
// TABLE_ACCOUNTS, QUEUE_RISK_EVENTS_URL, BUCKET_MEDIA.
func EnvName(kind, logical string) string {
	n := strings.ToUpper(strings.ReplaceAll(logical, "-", "_"))
	switch kind {
	case "table":
		return "TABLE_" + n
	case "queue":
		return "QUEUE_" + n + "_URL"
	case "bucket":
		return "BUCKET_" + n
	}
	panic("config: unknown kind " + kind)
}

// FromEnv reads the configuration from the process environment.
func FromEnv() (Config, error) { return FromLookup(os.LookupEnv) }

// FromLookup reads the configuration through lookup (tests pass a map).
func FromLookup(lookup func(string) (string, bool)) (Config, error) {
	get := func(k string) string { v, _ := lookup(k); return v }
	c := Config{
		Tables:           map[string]string{},
		Queues:           map[string]string{},
		Buckets:          map[string]string{},
		SigningKeys:      get("SIGNING_KEYS"),
		SigningSecretARN: get("SIGNING_SECRET_ARN"),
		PublicURL:        strings.TrimRight(get("PUBLIC_URL"), "/"),
		ChallengeTTL:     5 * time.Minute,
		LogLevel:         get("LOG_LEVEL"),

		MailFrom:                   get("MAIL_FROM"),
		MailNoticeConfigurationSet: get("MAIL_NOTICE_CONFIGURATION_SET"),
		MailOutboxDir:              get("MAIL_OUTBOX_DIR"),
		PrivacyKey:                 get("PRIVACY_KEY"),
		PrivacyKeySecretARN:        get("PRIVACY_KEY_SECRET_ARN"),
	}
	for _, t := range schema.Tables {
		if v := get(EnvName("table", t.Name)); v != "" {
			c.Tables[t.Name] = v
		}
	}
	for _, q := range schema.Queues {
		if v := get(EnvName("queue", q.Name)); v != "" {
			c.Queues[q.Name] = v
		}
	}
	for _, b := range schema.Buckets {
		if v := get(EnvName("bucket", b.Name)); v != "" {
			c.Buckets[b.Name] = v
		}
	}
	if v := get("CHALLENGE_TTL_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > MaxChallengeTTLSeconds {
			return Config{}, fmt.Errorf("config: CHALLENGE_TTL_SECONDS=%q is not a whole number of seconds from 1 to %d", v, MaxChallengeTTLSeconds)
		}
		c.ChallengeTTL = time.Duration(n) * time.Second
	}
	return c, nil
}

// ErrMissing is returned by the Require* helpers.
var ErrMissing = errors.New("config: missing setting")

// Table returns the deployed name of a table or an error naming the variable to set.
func (c Config) Table(logical string) (string, error) {
	if v := c.Tables[logical]; v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%w %s", ErrMissing, EnvName("table", logical))
}

// Queue returns the URL of a queue or an error naming the variable to set.
func (c Config) Queue(logical string) (string, error) {
	if v := c.Queues[logical]; v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%w %s", ErrMissing, EnvName("queue", logical))
}

// Bucket returns the deployed name of a bucket or an error naming the variable to set.
func (c Config) Bucket(logical string) (string, error) {
	if v := c.Buckets[logical]; v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%w %s", ErrMissing, EnvName("bucket", logical))
}

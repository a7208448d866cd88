// Package token issues and checks pass tokens: the string a visitor's browser receives after
// passing a challenge and the integrator's backend sends to /siteverify.
//
// A token is self-authenticating (HMAC-SHA256 over its claims), so a malformed, forged or
// expired token is refused without touching a database; only a genuine, fresh token costs
// the single-use redemption write (see Record and the stores that keep it).
//
// Format: "P1_" + base64url(JSON claims) + "." + base64url(HMAC-SHA256), unpadded. The MAC
// covers the prefix and the encoded claims exactly as sent, so the version prefix cannot be
// swapped. The key id travels in the claims so tokens signed before a key rotation still
// verify while the old key is listed.
package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/shared/strictjson"
)

const (
	// Prefix starts every pass token (version 1).
	Prefix = "P1_"
	// TTL is how long a pass token verifies after it is issued (hCaptcha: 120 s).
	TTL = 120 * time.Second
	// MaxLen caps what Parse looks at; real tokens are about 250 bytes.
	MaxLen = 2048
	// MinKeyBytes is the shortest signing key accepted (HMAC-SHA256's block of entropy).
	MinKeyBytes = 32
)

// Errors returned by Parse. They are distinct so siteverify can answer precisely.
var (
	// ErrMalformed: not a token of this format at all (structure, encoding, length).
	ErrMalformed = errors.New("token: malformed")
	// ErrForged: well-formed but not signed by any current key (unknown kid or bad MAC).
	ErrForged = errors.New("token: forged")
	// ErrExpired: genuine but past its expiry.
	ErrExpired = errors.New("token: expired")
)

// Errors returned by the single-use stores (Redeem).
var (
	// ErrNotFound: no record for the token id (never stored, or already deleted).
	ErrNotFound = errors.New("token: not found")
	// ErrAlreadyRedeemed: the token was verified once already.
	ErrAlreadyRedeemed = errors.New("token: already redeemed")
)

// Claims are what a token says about itself.
type Claims struct {
	ID        string    // jti: random, unique per token; the key of its Record
	Sitekey   string    // sk: the site the visitor passed for
	IssuedAt  time.Time // iat (seconds)
	ExpiresAt time.Time // exp (seconds)
	KeyID     string    // kid: the key that signed it (set by Sign)
}

// wire is the JSON form of Claims. Field order is fixed, so Sign is deterministic.
type wire struct {
	ID        string `json:"jti"`
	Sitekey   string `json:"sk"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
	KeyID     string `json:"kid"`
}

// Record is what the challenge function stores when a visitor passes and what siteverify
// returns to the integrator after redeeming the token once.
type Record struct {
	ID           string // the token's jti
	Sitekey      string
	Hostname     string    // the page's hostname the challenge was solved on
	ChallengeTS  time.Time // when the challenge was passed
	ExpiresAt    time.Time // the token's expiry (also the record's ttl)
	Score        float64   // 0..1, higher = riskier
	ScoreReasons []string
}

// Signer signs with its first key and verifies with all of them.
type Signer struct {
	kid  string
	keys map[string][]byte
}

var b64 = base64.RawURLEncoding.Strict()

// NewSigner parses a key list "kid:base64key,kid2:base64key" (standard or URL base64,
// padded or not). The first key signs; every key verifies, so a rotation lists the new key
// first and keeps the old one until its tokens have expired. An entry may also be a bare
// base64 key without "kid:": its kid is DerivedKeyID(key). That is the form of the first
// key Secrets Manager generates at deploy time, before any rotation has written a list.
func NewSigner(keys string) (*Signer, error) {
	entries, err := parseKeys(keys)
	if err != nil {
		return nil, err
	}
	s := &Signer{kid: entries[0].kid, keys: make(map[string][]byte, len(entries))}
	for _, e := range entries {
		s.keys[e.kid] = e.key
	}
	return s, nil
}

// keyEntry is one key of a key list.
type keyEntry struct {
	kid string
	key []byte
}

// parseKeys parses a key list in its order (see NewSigner).
func parseKeys(keys string) ([]keyEntry, error) {
	var out []keyEntry
	seen := map[string]bool{}
	for i, part := range strings.Split(keys, ",") {
		part = strings.TrimSpace(part)
		kid, enc, named := strings.Cut(part, ":")
		if !named {
			enc = part // base64 has no ':', so this is a bare key
		} else if !validKID(kid) {
			return nil, fmt.Errorf("token: key %d: want kid:base64key with a kid of 1-32 letters, digits, '-' or '_'", i+1)
		}
		key, err := decodeKey(enc)
		if err != nil {
			return nil, fmt.Errorf("token: key %d: %w", i+1, err)
		}
		if len(key) < MinKeyBytes {
			return nil, fmt.Errorf("token: key %d has %d bytes, want at least %d", i+1, len(key), MinKeyBytes)
		}
		if !named {
			kid = DerivedKeyID(key)
		}
		if seen[kid] {
			return nil, fmt.Errorf("token: key id %q listed twice", kid)
		}
		seen[kid] = true
		out = append(out, keyEntry{kid: kid, key: key})
	}
	return out, nil
}

// DerivedKeyID is the kid of a key listed without one: "h" and 12 hex digits of a SHA-256
// of the key. It names the key without revealing anything usable about it, and it stays
// the same when a rotation rewrites the bare key as "kid:base64key", so tokens signed
// before the first rotation still verify after it.
func DerivedKeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("crowdgate token kid\x00"))
	h.Write(key)
	return "h" + hex.EncodeToString(h.Sum(nil)[:6])
}

// NewDerivedKey returns a fresh "kid:base64key" entry (32 random bytes) whose kid is
// DerivedKeyID of the key.
func NewDerivedKey() (string, error) {
	var b [MinKeyBytes]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return "", fmt.Errorf("token: generate key: %w", err)
	}
	return DerivedKeyID(b[:]) + ":" + base64.StdEncoding.EncodeToString(b[:]), nil
}

// MaxRotatedKeys is how many keys RotateKeys keeps: the new signing key, the one before
// it (tokens it signed live TTL, and instances that have not re-read the list yet still
// sign with it) and one more, so even two rotations in quick succession (a scheduled one
// and a manual one) never retire a key some instance may still sign with.
const MaxRotatedKeys = 3

// RotateKeys returns keys after one rotation: a freshly generated key first, so it signs,
// then the keys of keys in their order, each written as "kid:base64key" (a bare key keeps
// its derived kid), MaxRotatedKeys in all. Keys further back are dropped: nothing has
// signed with them for a whole rotation period.
func RotateKeys(keys string) (string, error) {
	old, err := parseKeys(keys)
	if err != nil {
		return "", err
	}
	for {
		fresh, err := NewDerivedKey()
		if err != nil {
			return "", err
		}
		kid, _, _ := strings.Cut(fresh, ":")
		if slices.ContainsFunc(old, func(e keyEntry) bool { return e.kid == kid }) {
			continue // a 48-bit kid collision: draw another key
		}
		out := []string{fresh}
		for _, e := range old[:min(len(old), MaxRotatedKeys-1)] {
			out = append(out, e.kid+":"+base64.StdEncoding.EncodeToString(e.key))
		}
		return strings.Join(out, ","), nil
	}
}

// KeyIDs lists the kids of a key list, signing key first.
func KeyIDs(keys string) ([]string, error) {
	entries, err := parseKeys(keys)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.kid
	}
	return out, nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("key is not base64")
}

func validKID(kid string) bool {
	if kid == "" || len(kid) > 32 {
		return false
	}
	for _, c := range kid {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// NewKey returns a fresh "kid:base64key" entry for SIGNING_KEYS (32 random bytes).
func NewKey(kid string) (string, error) {
	if !validKID(kid) {
		return "", fmt.Errorf("token: invalid key id %q", kid)
	}
	var b [MinKeyBytes]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return "", fmt.Errorf("token: generate key: %w", err)
	}
	return kid + ":" + base64.StdEncoding.EncodeToString(b[:]), nil
}

// KeyID is the id of the signing key.
func (s *Signer) KeyID() string { return s.kid }

// Issue makes and signs the claims of a new token for sitekey, valid for TTL from now.
func (s *Signer) Issue(sitekey string, now time.Time) (string, Claims, error) {
	var id [16]byte
	if _, err := io.ReadFull(rand.Reader, id[:]); err != nil {
		return "", Claims{}, fmt.Errorf("token: random id: %w", err)
	}
	now = now.Truncate(time.Second)
	c := Claims{ID: hex.EncodeToString(id[:]), Sitekey: sitekey, IssuedAt: now, ExpiresAt: now.Add(TTL)}
	tok, err := s.Sign(c)
	if err != nil {
		return "", Claims{}, err
	}
	c.KeyID = s.kid
	return tok, c, nil
}

// Sign encodes and signs c with the signing key; c.KeyID is ignored and set to that key's
// id. Times are kept to the second.
func (s *Signer) Sign(c Claims) (string, error) {
	if c.ID == "" || c.Sitekey == "" {
		return "", errors.New("token: sign: id and sitekey are required")
	}
	if !c.ExpiresAt.After(c.IssuedAt) {
		return "", errors.New("token: sign: expiry must be after issue time")
	}
	payload, err := json.Marshal(wire{ID: c.ID, Sitekey: c.Sitekey, IssuedAt: c.IssuedAt.Unix(), ExpiresAt: c.ExpiresAt.Unix(), KeyID: s.kid})
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	n := len(Prefix) + b64.EncodedLen(len(payload))
	buf := make([]byte, n, n+1+b64.EncodedLen(sha256.Size))
	copy(buf, Prefix)
	b64.Encode(buf[len(Prefix):], payload)
	sum := mac(s.keys[s.kid], buf)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sum)
	if len(buf) > MaxLen {
		return "", fmt.Errorf("token: sign: token would be %d bytes, over %d", len(buf), MaxLen)
	}
	return string(buf), nil
}

func mac(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// Parse checks tok's structure and MAC and returns its claims. A genuine token past its
// expiry returns its claims together with ErrExpired.
func (s *Signer) Parse(tok string, now time.Time) (Claims, error) {
	c, _, err := s.parse(tok, now)
	return c, err
}

// keyMiss is why a well-formed token failed its MAC check in a way a newer key list may
// cure: its kid is not in the list, or the list holds other key material under that kid
// (a key id reused by hand). A Keyring re-reads its list then.
type keyMiss struct {
	// issuedAt is the issue time the token claims. It is unauthenticated: it only tells
	// whether a list read after that time could hold the key.
	issuedAt time.Time
}

// parse is Parse that also reports a keyMiss (nil when the failure, if any, is not one).
func (s *Signer) parse(tok string, now time.Time) (c Claims, miss *keyMiss, err error) {
	if len(tok) > MaxLen || !strings.HasPrefix(tok, Prefix) {
		return Claims{}, nil, ErrMalformed
	}
	signed, sig, ok := strings.Cut(tok, ".")
	if !ok || strings.Contains(sig, ".") {
		return Claims{}, nil, ErrMalformed
	}
	payload, err := b64.DecodeString(signed[len(Prefix):])
	if err != nil || len(payload) == 0 {
		return Claims{}, nil, ErrMalformed
	}
	sum, err := b64.DecodeString(sig)
	if err != nil || len(sum) != sha256.Size {
		return Claims{}, nil, ErrMalformed
	}
	// The claims are decoded before the MAC is checked because the kid inside them picks
	// the key; the input is capped at MaxLen, and nothing from it is trusted until the MAC
	// matches.
	var w wire
	if err := strictjson.Decode(payload, &w); err != nil {
		return Claims{}, nil, ErrMalformed
	}
	if key, ok := s.keys[w.KeyID]; !ok || !hmac.Equal(mac(key, []byte(signed)), sum) {
		return Claims{}, &keyMiss{issuedAt: time.Unix(w.IssuedAt, 0).UTC()}, ErrForged
	}
	c = Claims{ID: w.ID, Sitekey: w.Sitekey, IssuedAt: time.Unix(w.IssuedAt, 0).UTC(), ExpiresAt: time.Unix(w.ExpiresAt, 0).UTC(), KeyID: w.KeyID}
	if c.ID == "" || c.Sitekey == "" {
		return Claims{}, nil, ErrMalformed
	}
	if !now.Before(c.ExpiresAt) {
		return c, nil, ErrExpired
	}
	return c, nil, nil
}

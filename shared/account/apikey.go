package account

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
)

// API keys look like cgk_<id>_<secret>: APIKeyPrefix, KeyIDLen hex digits that name the
// key's record (so a key is found, and revoked, without a scan), an underscore and
// keySecretLen hex digits (256 random bits). The prefix makes leaked keys easy to spot
// with secret scanners.
const (
	APIKeyPrefix = "cgk_"
	KeyIDLen     = 16
	keySecretLen = 64
	apiKeyLen    = len(APIKeyPrefix) + KeyIDLen + 1 + keySecretLen
)

// ParseAPIKey returns the id part of a key shaped like an API key (lower-case hex only).
func ParseAPIKey(key string) (id string, ok bool) {
	if len(key) != apiKeyLen || key[:len(APIKeyPrefix)] != APIKeyPrefix {
		return "", false
	}
	rest := key[len(APIKeyPrefix):]
	if rest[KeyIDLen] != '_' || !isLowerHex(rest[:KeyIDLen]) || !isLowerHex(rest[KeyIDLen+1:]) {
		return "", false
	}
	return rest[:KeyIDLen], true
}

// IsAPIKeyID reports whether id is shaped like the id part of an API key.
func IsAPIKeyID(id string) bool { return len(id) == KeyIDLen && isLowerHex(id) }

// HashAPIKey is how a key is stored: SHA-256 of the whole key, in hex. As for site secrets
// (HashSecret), a fast unsalted hash is right: the key carries 256 random bits, so guessing
// is hopeless at any hash speed, and a slow KDF on every customer request would only be a
// denial-of-service lever.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// newAPIKey mints a key shaped like an API key under prefix (APIKeyPrefix or
// IntegratorKeyPrefix, which have the same length).
func newAPIKey(r io.Reader, prefix string) (id, key string, err error) {
	var b [KeyIDLen/2 + keySecretLen/2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", "", fmt.Errorf("generate API key: %w", err)
	}
	h := hex.EncodeToString(b[:])
	id = h[:KeyIDLen]
	return id, prefix + id + "_" + h[KeyIDLen:], nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}

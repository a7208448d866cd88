package privacy

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// Verification codes: 6 digits, valid 10 minutes, 3 attempts; at most 5 sent per request
// in 24 hours (filing again while open sends a new code, so this caps mail bombing).
const (
	CodeDigits        = 6
	CodeLifetime      = 10 * time.Minute
	MaxAttempts       = 3
	MaxCodesPerWindow = 5
	CodeWindow        = 24 * time.Hour
)

// FilingsPerNetwork requests may be filed from one network (an IPv4 address or an IPv6
// /64) per FilingWindow, the clock hour. Each filing mails a code to an address anyone may
// type, and the per-request limit above holds per address only: this bounds the mail one
// source can direct at other people's inboxes (and at the sender's reputation). A person
// filing for themselves files a few.
const (
	FilingsPerNetwork = 20
	FilingWindow      = time.Hour
)

// Network is the network a rate limit counts ip under: an IPv4 address itself, an IPv6
// address's /64 (one household or host gets a whole /64).
func Network(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	if v6 := ip.To16(); v6 != nil {
		return (&net.IPNet{IP: v6.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
	}
	return ip.String()
}

// NetworkKey is the keyed pseudonym of ip's Network in the FilingWindow that holds now:
// the filing counter's key, which changes every window and cannot be reversed without the
// key.
func NetworkKey(key []byte, ip net.IP, now time.Time) string {
	return keyedHash(key, "filing-network", strconv.FormatInt(now.Truncate(FilingWindow).Unix(), 10), Network(ip))
}

// MinKeyBytes is the least key material Service accepts for its keyed hashes.
const MinKeyBytes = 32

// MaxEmailBytes is RFC 5321's limit on a forward path.
const MaxEmailBytes = 254

// Code is the verification code currently valid for a request, as stored: only its keyed
// hash, never the digits.
type Code struct {
	RequestID string
	Hash      string
	Attempts  int // wrong attempts so far
	ExpiresAt time.Time
}

// Usable reports whether the code can still be tried at now.
func (c Code) Usable(now time.Time) bool { return now.Before(c.ExpiresAt) && c.Attempts < MaxAttempts }

// NormalizeEmail validates a plain address (no display name) and returns its normal form:
// trimmed and lower-cased as a whole. Lower-casing the local part too is deliberate: no
// real provider distinguishes case there, and a request must find the subject however they
// type it. Provider-specific aliases (dots, +tags) are not folded.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", invalid("email", "is required")
	}
	if len(s) > MaxEmailBytes {
		return "", invalid("email", "must be at most %d bytes", MaxEmailBytes)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", invalid("email", "must be a plain address like name@example.com")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || !strings.Contains(s[at+1:], ".") || strings.ContainsAny(s[at+1:], "[]") {
		return "", invalid("email", "must have a domain like example.com")
	}
	return strings.ToLower(s), nil
}

// keyed hashes with domain separation, so a subject hash can never be replayed as a code
// hash or the other way round.
func keyedHash(key []byte, purpose string, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("crowdgate/privacy/" + purpose + "/v1"))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// SubjectHash is the identity of a data subject in the privacy table: HMAC-SHA256 under
// the privacy key of the normalised address. Without the key it cannot be reversed by
// hashing candidate addresses.
func SubjectHash(key []byte, normalizedEmail string) string {
	return keyedHash(key, "subject", normalizedEmail)
}

// codeHash binds a code to its request, so a code stolen from one request's table record
// cannot be tried on another, and a table dump does not reveal codes by enumeration
// without the key.
func codeHash(key []byte, requestID, code string) string {
	return keyedHash(key, "code", requestID, code)
}

// codeMatches compares in constant time.
func codeMatches(key []byte, c Code, code string) bool {
	want := codeHash(key, c.RequestID, code)
	return subtle.ConstantTimeCompare([]byte(want), []byte(c.Hash)) == 1
}

// IsCode reports whether s is shaped like a code: exactly six ASCII digits.
func IsCode(s string) bool {
	if len(s) != CodeDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// newCode draws a uniform six-digit code (rejection sampling: no modulo bias).
func newCode(r io.Reader) (string, error) {
	const n = 1_000_000
	const limit = (1 << 32) - (1<<32)%n
	var b [4]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", fmt.Errorf("draw code: %w", err)
		}
		if v := binary.BigEndian.Uint32(b[:]); uint64(v) < limit {
			return fmt.Sprintf("%06d", v%n), nil
		}
	}
}

// Request ids and status secrets.
const (
	idPrefix     = "pr_"
	secretPrefix = "pss_"
)

func newRequestID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("draw request id: %w", err)
	}
	return idPrefix + hex.EncodeToString(b[:]), nil
}

// IsRequestID reports whether s is shaped like a request id ("pr_" + 32 lower-case hex), so
// handlers refuse anything else without a lookup.
func IsRequestID(s string) bool {
	if len(s) != len(idPrefix)+32 || !strings.HasPrefix(s, idPrefix) {
		return false
	}
	for _, c := range s[len(idPrefix):] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// newStatusSecret returns 256 random bits.
func newStatusSecret(r io.Reader) (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("draw status secret: %w", err)
	}
	return secretPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashStatusSecret is how a status secret is stored: SHA-256 in hex. A fast unsalted hash
// is enough for 256 random bits (nothing to brute-force).
func HashStatusSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// secretMatches compares a presented status secret with the stored hash in constant time;
// an empty hash (never verified) matches nothing.
func secretMatches(storedHash, secret string) bool {
	if storedHash == "" || !strings.HasPrefix(secret, secretPrefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(HashStatusSecret(secret)), []byte(storedHash)) == 1
}

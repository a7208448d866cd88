package accessibility

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/shared/locale"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

// SignUpInput is a sign-up form.
type SignUpInput struct {
	Email string
	// Network is the caller's address; nil skips the per-network limit (no address known).
	Network net.IP
	// Locale picks the mail's language (locale.Pick over Locales).
	Locale string
}

// SignUp mails a confirm link to the address. The answer is the same whether or not the
// address signed up before; only the rate limits refuse (*LimitError).
func (s *Service) SignUp(ctx context.Context, in SignUpInput) error {
	email, err := privacy.NormalizeEmail(in.Email)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEmail, err)
	}
	now := s.d.Now()
	// The network is limited first, so one network cannot use up other people's
	// per-address allowance.
	if in.Network != nil {
		// The pseudonym changes with the clock hour, so its counter ends with that hour: a
		// full window from the first sign-up would announce a wait past the moment the
		// network counts afresh (and keep a useless record longer).
		rest := now.Truncate(NetworkWindow).Add(NetworkWindow).Sub(now)
		c := Counter{Key: "NET#" + s.networkPseudonym(in.Network, now), Limit: SignupsPerNetwork, Window: rest}
		if err := s.take(ctx, c, LimitNetwork, now); err != nil {
			return err
		}
	}
	subject := privacy.SubjectHash(s.d.Key, email)
	perAddress := Counter{Key: "MAIL#" + subject, Subject: subject, Limit: MailsPerAddress, Window: MailWindow}
	if err := s.take(ctx, perAddress, LimitAddress, now); err != nil {
		return err
	}
	code, err := s.secret()
	if err != nil {
		return err
	}
	if err := s.d.Store.PutSignup(ctx, Signup{CodeHash: s.codeHash(code), Subject: subject, CreatedAt: now, ExpiresAt: now.Add(CodeTTL)}); err != nil {
		return fmt.Errorf("store sign-up: %w", err)
	}
	// The link names the mail's language: the confirm page must name the same button as
	// the mail, whatever the browser that opens the link asks for.
	loc := locale.Pick(in.Locale, "", Locales)
	m := mailText(loc, s.d.BaseURL+"/accessibility/confirm?c="+url.QueryEscape(code)+"&hl="+loc)
	// The trimmed input, not the lower-cased form: the mailbox's own spelling.
	if err := s.d.Mailer.Send(ctx, strings.TrimSpace(in.Email), m.subject, m.text); err != nil {
		// No mail went out: the address gets its try back, or a mail outage would lock
		// the person out for a day without a single link. Best effort.
		if gerr := s.d.Store.GiveBack(ctx, perAddress, now); gerr != nil {
			err = errors.Join(err, gerr)
		}
		return fmt.Errorf("%w: %w", ErrMail, err)
	}
	return nil
}

func (s *Service) take(ctx context.Context, c Counter, what string, now time.Time) error {
	ok, reset, err := s.d.Store.Take(ctx, c, now)
	if err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	if !ok {
		return &LimitError{What: what, RetryAfter: max(reset.Sub(now), time.Second)}
	}
	return nil
}

// Confirm consumes a confirm code and returns a new accessibility token and its expiry.
func (s *Service) Confirm(ctx context.Context, code string) (string, time.Time, error) {
	if !validSecret(code) {
		return "", time.Time{}, ErrInvalidCode
	}
	now := s.d.Now()
	su, err := s.d.Store.TakeSignup(ctx, s.codeHash(code), now)
	if err != nil {
		if errors.Is(err, ErrInvalidCode) {
			return "", time.Time{}, ErrInvalidCode
		}
		return "", time.Time{}, fmt.Errorf("take sign-up: %w", err)
	}
	raw, err := s.secret()
	if err != nil {
		return "", time.Time{}, err
	}
	tok := TokenPrefix + raw
	t := Token{Hash: TokenHash(tok), Subject: su.Subject, CreatedAt: now, ExpiresAt: now.Add(TokenTTL)}
	if err := s.d.Store.PutToken(ctx, t); err != nil {
		if errors.Is(err, ErrErasing) {
			// The address's accessibility records are being erased: the sign-up counts as
			// one of them (the erasure's listing may not see it in time).
			return "", time.Time{}, ErrInvalidCode
		}
		return "", time.Time{}, fmt.Errorf("store token: %w", err)
	}
	return tok, t.ExpiresAt, nil
}

// Authenticate returns the stored token of tok (ErrTokenRequired when it does not work).
func (s *Service) Authenticate(ctx context.Context, tok string) (Token, error) {
	if !ValidToken(tok) {
		return Token{}, ErrTokenRequired
	}
	t, err := s.d.Store.Token(ctx, TokenHash(tok), s.d.Now())
	if errors.Is(err, ErrTokenRequired) {
		return Token{}, ErrTokenRequired
	}
	if err != nil {
		return Token{}, fmt.Errorf("read token: %w", err)
	}
	return t, nil
}

// Revoke deletes the token; revoking a token that does not work is not an error.
func (s *Service) Revoke(ctx context.Context, tok string) error {
	if !ValidToken(tok) {
		return nil
	}
	if err := s.d.Store.DeleteToken(ctx, TokenHash(tok)); err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// ValidToken reports whether tok is shaped like an accessibility token.
func ValidToken(tok string) bool {
	raw, ok := strings.CutPrefix(tok, TokenPrefix)
	return ok && validSecret(raw)
}

// TokenHash is how a token is stored: hex SHA-256 (the token has 256 random bits, so no
// key is needed to make the hash useless to whoever reads the table).
func TokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func validSecret(s string) bool {
	if len(s) != secretLen {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == secretBytes
}

func (s *Service) secret() (string, error) {
	var b [secretBytes]byte
	if _, err := io.ReadFull(s.d.Rand, b[:]); err != nil {
		return "", fmt.Errorf("accessibility: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// keyed hashes with domain separation (never equal to a privacy subject or code hash).
func (s *Service) keyed(purpose string, parts ...string) string {
	m := hmac.New(sha256.New, s.d.Key)
	m.Write([]byte("crowdgate/accessibility/" + purpose + "/v1"))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Service) codeHash(code string) string { return s.keyed("code", code) }

// networkPseudonym names the caller's network (an IPv4 address, an IPv6 /64) for one
// NetworkWindow: the window's start is hashed in, so pseudonyms of different windows
// cannot be linked, and nothing stored reveals the address.
func (s *Service) networkPseudonym(ip net.IP, now time.Time) string {
	window := now.Truncate(NetworkWindow).Unix()
	return s.keyed("network", strconv.FormatInt(window, 10), privacy.Network(ip))
}

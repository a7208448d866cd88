// Package account manages the parties that hold accounts with crowdgate — integrators
// (websites that verify visitors) and their sites — behind a Store port. Customers (who buy
// labels) are a later kind of account holder: records are keyed by kind ("integrator",
// "site", …) so adding Customer means adding a type and Store methods, not renaming these.
//
// It imports no AWS SDK; shared/dynamo implements the Store.
package account

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// Integrator is a website operator that embeds the widget and verifies tokens. Name and
// Email are personal information; they live only in the accounts table.
type Integrator struct {
	ID        string
	Name      string
	Email     string
	Country   string // ISO 3166-1 alpha-2, upper case
	CreatedAt time.Time
	Choices   Choices // opt-out and limit requests (choices.go)
}

// Site is one sitekey of an integrator with its allowed hostnames and the hash of its secret.
type Site struct {
	Sitekey         string // UUID v4, public (in the integrator's HTML)
	IntegratorID    string
	Name            string
	Hostnames       []string // lower-case DNS names or IP addresses, 1..MaxHostnames
	SecretHash      string   // HashSecret of the current secret; the secret itself is never stored
	RequireRemoteIP bool     // siteverify answers missing-remoteip when the caller omits remoteip
	CreatedAt       time.Time
	SecretRotatedAt time.Time
	// Choices are the integrator's (choices.go): a site follows its integrator's.
	Choices Choices
}

// AllowsHostname reports whether a page on host may use the site: host equals one of the
// site's hostnames or is a subdomain of one (as hCaptcha allows). IPs match only exactly.
func (s Site) AllowsHostname(host string) bool { return HostAllowed(s.Hostnames, host) }

// HostAllowed reports whether host is one of hostnames or a subdomain of one of them (IP
// addresses match exactly), as hCaptcha's site settings do.
func HostAllowed(hostnames []string, host string) bool {
	host = CanonicalHost(host)
	if host == "" {
		return false
	}
	for _, h := range hostnames {
		if host == h || (!isIP(h) && strings.HasSuffix(host, "."+h)) {
			return true
		}
	}
	return false
}

// CanonicalHost is host as ValidHostnames stores hostnames: trimmed, lower-case, without
// a trailing dot, and an IP address in canonical form without brackets (a page's
// location.hostname gives an IPv6 address in brackets, a URL's Hostname without).
func CanonicalHost(host string) string {
	host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && ip.Zone() == "" {
		return ip.Unmap().String()
	}
	return host
}

// NewIntegrator is the input of CreateIntegrator.
type NewIntegrator struct {
	Name    string
	Email   string
	Country string
}

// NewSite is the input of CreateSite.
type NewSite struct {
	Name            string
	Hostnames       []string
	RequireRemoteIP bool
}

// SiteUpdate changes the fields that are set (nil leaves a field as it is).
type SiteUpdate struct {
	Name            *string
	Hostnames       *[]string
	RequireRemoteIP *bool
}

// Domain errors; the handler maps them to status codes.
var (
	ErrNotFound = errors.New("account: not found")
	// ErrInvalidSecret: the string is not shaped like a secret (so no lookup is made).
	ErrInvalidSecret = errors.New("account: malformed secret")
	// ErrConflict: a concurrent change won (e.g. two rotations at once); retry.
	ErrConflict = errors.New("account: conflicting concurrent change")
	// ErrErasing: an erasure of the account holder has begun (its profile is fenced), so
	// nothing new may be created for it: a site, an API key, a secret, a disclosure record.
	// The erasure would not find it; it ends with the profile.
	ErrErasing = errors.New("account: the account is being erased")
)

// ValidationError says which input field is wrong and why (the reason is safe to show; it
// never echoes the value).
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return "account: invalid " + e.Field + ": " + e.Reason }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Store keeps accounts. Implementations: shared/dynamo.Accounts, accounttest.Store.
type Store interface {
	// CreateIntegrator stores a new integrator (ErrConflict if the id exists).
	CreateIntegrator(ctx context.Context, in Integrator) error
	// GetIntegrator returns ErrNotFound for an unknown id.
	GetIntegrator(ctx context.Context, id string) (Integrator, error)
	// CreateSite stores the site and its secret lookup atomically; ErrNotFound if the
	// integrator does not exist, ErrErasing if its erasure has begun, ErrConflict if the
	// sitekey or secret hash is taken or the integrator has a choice s.Choices lacks (it
	// landed after they were read).
	CreateSite(ctx context.Context, s Site) error
	// GetSite returns ErrNotFound for an unknown sitekey.
	GetSite(ctx context.Context, sitekey string) (Site, error)
	// UpdateSite applies u and returns the updated site (ErrNotFound if unknown, ErrConflict
	// if a concurrent change such as a rotation held the site).
	UpdateSite(ctx context.Context, sitekey string, u SiteUpdate) (Site, error)
	// RotateSecret replaces the secret lookup oldHash → newHash atomically, so the old
	// secret stops working at once; ErrConflict if the site's hash is no longer oldHash,
	// ErrErasing if the erasure of the site's integrator has begun.
	RotateSecret(ctx context.Context, sitekey, oldHash, newHash string, at time.Time) error
	// SiteBySecretHash returns the site whose current secret hashes to hash (ErrNotFound).
	SiteBySecretHash(ctx context.Context, hash string) (Site, error)
}

// Service is the account logic: validation, id and secret generation.
type Service struct {
	store Store
	minter
}

// NewService returns a Service over store using now as its clock.
func NewService(store Store, now func() time.Time) *Service {
	return &Service{store: store, minter: newMinter(now)}
}

// CreateIntegrator validates and stores a new integrator.
func (s *Service) CreateIntegrator(ctx context.Context, in NewIntegrator) (Integrator, error) {
	return createAccount(ctx, s.minter, in.Name, in.Email, in.Country, s.store.CreateIntegrator, "create integrator")
}

// GetIntegrator returns an integrator (ErrNotFound for an unknown or malformed id).
func (s *Service) GetIntegrator(ctx context.Context, id string) (Integrator, error) {
	return byUUID(ctx, id, s.store.GetIntegrator, "get integrator")
}

// CreateSite creates a site for an integrator and returns it with its secret. The secret is
// returned only here (and by RotateSecret): only its hash is stored.
func (s *Service) CreateSite(ctx context.Context, integratorID string, in NewSite) (Site, string, error) {
	if !IsUUID(integratorID) {
		return Site{}, "", ErrNotFound
	}
	name, err := validName(in.Name)
	if err != nil {
		return Site{}, "", err
	}
	hosts, err := ValidHostnames(in.Hostnames)
	if err != nil {
		return Site{}, "", err
	}
	sitekey, err := s.uuid()
	if err != nil {
		return Site{}, "", err
	}
	secret, err := s.newSecret()
	if err != nil {
		return Site{}, "", err
	}
	now := s.stamp()
	site := Site{
		Sitekey: sitekey, IntegratorID: integratorID, Name: name, Hostnames: hosts,
		SecretHash: HashSecret(secret), RequireRemoteIP: in.RequireRemoteIP,
		CreatedAt: now, SecretRotatedAt: now,
	}
	// A new site follows the integrator's opt-out and limit choices from the start. The
	// privacy worker sets a choice on the integrator, then on the sites it lists: a choice
	// landing between this read and the write may miss the site, so the store refuses the
	// write (ErrConflict) and the choices are read again.
	for attempt := 1; ; attempt++ {
		owner, err := s.store.GetIntegrator(ctx, integratorID)
		if err != nil {
			return Site{}, "", fmt.Errorf("create site: %w", err)
		}
		site.Choices = owner.Choices
		err = s.store.CreateSite(ctx, site)
		if err == nil {
			return site, secret, nil
		}
		if !errors.Is(err, ErrConflict) || attempt == createSiteAttempts {
			return Site{}, "", fmt.Errorf("create site: %w", err)
		}
	}
}

// createSiteAttempts bounds CreateSite's reads of choices that keep changing; choices
// change by privacy request, so a second attempt all but always succeeds.
const createSiteAttempts = 3

// GetSite returns a site (ErrNotFound for an unknown or malformed sitekey).
func (s *Service) GetSite(ctx context.Context, sitekey string) (Site, error) {
	return byUUID(ctx, sitekey, s.store.GetSite, "get site")
}

// UpdateSite validates and applies a partial update.
func (s *Service) UpdateSite(ctx context.Context, sitekey string, u SiteUpdate) (Site, error) {
	if !IsUUID(sitekey) {
		return Site{}, ErrNotFound
	}
	if u.Name != nil {
		n, err := validName(*u.Name)
		if err != nil {
			return Site{}, err
		}
		u.Name = &n
	}
	if u.Hostnames != nil {
		h, err := ValidHostnames(*u.Hostnames)
		if err != nil {
			return Site{}, err
		}
		u.Hostnames = &h
	}
	site, err := s.store.UpdateSite(ctx, sitekey, u)
	if err != nil {
		return Site{}, fmt.Errorf("update site: %w", err)
	}
	return site, nil
}

// RotateSecret gives a site a new secret and returns it (once). The old secret stops
// verifying immediately.
func (s *Service) RotateSecret(ctx context.Context, sitekey string) (Site, string, error) {
	site, err := s.GetSite(ctx, sitekey)
	if err != nil {
		return Site{}, "", err
	}
	secret, err := s.newSecret()
	if err != nil {
		return Site{}, "", err
	}
	now := s.stamp()
	hash := HashSecret(secret)
	if err := s.store.RotateSecret(ctx, sitekey, site.SecretHash, hash, now); err != nil {
		return Site{}, "", fmt.Errorf("rotate secret: %w", err)
	}
	site.SecretHash, site.SecretRotatedAt = hash, now
	return site, secret, nil
}

// SiteBySecret returns the site a secret belongs to: ErrInvalidSecret (no lookup made) if it
// is not shaped like a secret, ErrNotFound if no site has it.
func (s *Service) SiteBySecret(ctx context.Context, secret string) (Site, error) {
	if !IsSecret(secret) {
		return Site{}, ErrInvalidSecret
	}
	site, err := s.store.SiteBySecretHash(ctx, HashSecret(secret))
	if err != nil {
		return Site{}, fmt.Errorf("site by secret: %w", err)
	}
	return site, nil
}

// secretLen is len("0x") + 40 hex digits (160 bits), hCaptcha's secret shape.
const secretLen = 42

// IsSecret reports whether s is shaped like a secret: "0x" and 40 hex digits.
func IsSecret(s string) bool {
	if len(s) != secretLen || s[0] != '0' || s[1] != 'x' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// HashSecret is how a secret is stored and looked up: SHA-256 of the lower-cased secret, in
// hex. A fast unsalted hash is right here, unlike for passwords: the secret is 160 bits from
// crypto/rand, so brute force over the input space is hopeless however fast the hash is,
// and siteverify must find the site by the secret alone, which a per-record salt or a slow
// KDF would turn into a scan (or a DoS lever).
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(secret)))
	return hex.EncodeToString(sum[:])
}

func (m minter) newSecret() (string, error) {
	var b [20]byte
	if _, err := io.ReadFull(m.rand, b[:]); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return "0x" + hex.EncodeToString(b[:]), nil
}

// NewUUID returns a random (version 4) UUID, for a caller that needs one of its own: the
// demo backend's siteverify idempotency key.
func NewUUID() (string, error) { return newMinter(nil).uuid() }

func (m minter) uuid() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(m.rand, b[:]); err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// IsUUID reports whether s is a lower- or upper-case hex UUID in 8-4-4-4-12 form.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

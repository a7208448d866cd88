package token_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/token"
)

// Fixed keys so the seed corpus in testdata/fuzz stays valid.
var (
	keyA = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	keyB = base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
	// t0 is the issue time of the seed tokens; they expire at t0+120s.
	t0 = time.Unix(1_800_000_000, 0).UTC()
)

func signer(t testing.TB, keys string) *token.Signer {
	t.Helper()
	s, err := token.NewSigner(keys)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

func TestIssueThenParseReturnsTheClaims(t *testing.T) {
	s := signer(t, "a:"+keyA)
	tok, c, err := s.Issue("site-1", t0.Add(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, token.Prefix) || len(tok) > 300 {
		t.Fatalf("token %q: want P1_ prefix and a short string", tok)
	}
	if c.KeyID != "a" || c.Sitekey != "site-1" || len(c.ID) != 32 || !c.IssuedAt.Equal(t0) || !c.ExpiresAt.Equal(t0.Add(token.TTL)) {
		t.Fatalf("claims %+v", c)
	}
	got, err := s.Parse(tok, t0.Add(token.TTL-time.Second))
	if err != nil {
		t.Fatalf("Parse just before expiry: %v", err)
	}
	if got != c {
		t.Fatalf("Parse = %+v, want %+v", got, c)
	}
	_, c2, _ := s.Issue("site-1", t0)
	if c2.ID == c.ID {
		t.Fatal("two tokens share an id")
	}
}

func TestParseExpiresAtExp(t *testing.T) {
	s := signer(t, "a:"+keyA)
	tok, c, _ := s.Issue("site-1", t0)
	got, err := s.Parse(tok, t0.Add(token.TTL))
	if !errors.Is(err, token.ErrExpired) {
		t.Fatalf("at exp: err %v, want ErrExpired", err)
	}
	if got.ID != c.ID {
		t.Fatal("expired token should still report its claims")
	}
}

func TestKeyRotation(t *testing.T) {
	old := signer(t, "old:"+keyA)
	tok, _, _ := old.Issue("site-1", t0)

	rotated := signer(t, "new:"+keyB+", old:"+keyA)
	if _, err := rotated.Parse(tok, t0); err != nil {
		t.Fatalf("old token during rotation: %v", err)
	}
	fresh, c, _ := rotated.Issue("site-1", t0)
	if c.KeyID != "new" {
		t.Fatalf("rotated signer signs with %q, want new", c.KeyID)
	}
	if _, err := old.Parse(fresh, t0); !errors.Is(err, token.ErrForged) {
		t.Fatalf("token of an unknown key: %v, want ErrForged", err)
	}
	retired := signer(t, "new:"+keyB)
	if _, err := retired.Parse(tok, t0); !errors.Is(err, token.ErrForged) {
		t.Fatalf("token of a retired key: %v, want ErrForged", err)
	}
	// Same kid, different key material: a forgery.
	impostor := signer(t, "old:"+keyB)
	if _, err := impostor.Parse(tok, t0); !errors.Is(err, token.ErrForged) {
		t.Fatalf("token under a different key with the same kid: %v, want ErrForged", err)
	}
}

func TestParseRefusesTampering(t *testing.T) {
	s := signer(t, "a:"+keyA)
	tok, _, _ := s.Issue("site-1", t0)
	body, sig, _ := strings.Cut(strings.TrimPrefix(tok, token.Prefix), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(body)
	swapped := token.Prefix + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), "site-1", "site-2", 1))) + "." + sig
	longer := token.Prefix + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"exp":`, `"exp":9`, 1))) + "." + sig
	flipped := []byte(tok)
	flipped[len(flipped)-5] ^= 0x01
	for name, bad := range map[string]string{"other sitekey": swapped, "later expiry": longer, "flipped MAC bit": string(flipped)} {
		if _, err := s.Parse(bad, t0); !errors.Is(err, token.ErrForged) && !errors.Is(err, token.ErrMalformed) {
			t.Errorf("%s: err %v, want refusal", name, err)
		} else if name != "flipped MAC bit" && !errors.Is(err, token.ErrForged) {
			t.Errorf("%s: err %v, want ErrForged", name, err)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	s := signer(t, "a:"+keyA)
	tok, _, _ := s.Issue("site-1", t0)
	body, sig, _ := strings.Cut(tok, ".")
	enc := func(js string) string {
		return token.Prefix + base64.RawURLEncoding.EncodeToString([]byte(js)) + "." + sig
	}
	cases := map[string]string{
		"empty":               "",
		"test token":          token.TestResponse,
		"prefix only":         token.Prefix,
		"no MAC":              body,
		"two dots":            tok + ".x",
		"other version":       "P2_" + strings.TrimPrefix(tok, token.Prefix),
		"padded base64":       body + "=." + sig,
		"std base64 chars":    strings.Replace(tok, "_", "/", 1) + "+",
		"short MAC":           body + "." + sig[:20],
		"over length cap":     tok + strings.Repeat("A", token.MaxLen),
		"not JSON":            enc("hello"),
		"JSON array":          enc(`[1,2]`),
		"unknown claim":       enc(`{"jti":"x","sk":"s","iat":1,"exp":2,"kid":"a","admin":true}`),
		"trailing JSON":       enc(`{"jti":"x","sk":"s","iat":1,"exp":2,"kid":"a"}{}`),
		"stray brace":         enc(`{"jti":"x","sk":"s","iat":1,"exp":2,"kid":"a"}}`),
		"wrong claim type":    enc(`{"jti":1,"sk":"s","iat":1,"exp":2,"kid":"a"}`),
		"empty payload":       token.Prefix + "." + sig,
		"non-base64 in MAC":   body + ".!!!!",
		"whitespace in token": " " + tok,
	}
	for name, bad := range cases {
		if _, err := s.Parse(bad, t0); !errors.Is(err, token.ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

func TestNewSignerRejectsBadKeys(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	for name, keys := range map[string]string{
		"empty":           "",
		"bare short key":  short,
		"bare not base64": "%%%%",
		"empty kid":       ":" + keyA,
		"bad kid":         "a b:" + keyA,
		"short key":       "a:" + short,
		"not base64":      "a:%%%%",
		"duplicate kid":   "a:" + keyA + ",a:" + keyB,
		"trailing comma":  "a:" + keyA + ",",
	} {
		if _, err := token.NewSigner(keys); err == nil {
			t.Errorf("%s: NewSigner(%q) accepted", name, keys)
		}
	}
	url := base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	if _, err := token.NewSigner("k1:" + url); err != nil {
		t.Errorf("unpadded URL base64 key refused: %v", err)
	}
}

func TestNewKeyMakesUsableDistinctKeys(t *testing.T) {
	k1, err := token.NewKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := token.NewKey("k2")
	s := signer(t, k1+","+k2)
	tok, _, _ := s.Issue("x", t0)
	if _, err := signer(t, k2).Parse(tok, t0); !errors.Is(err, token.ErrForged) {
		t.Fatal("a token signed with one generated key verified under another")
	}
	if _, err := token.NewKey("bad kid"); err == nil {
		t.Fatal("NewKey accepted an invalid kid")
	}
}

func TestSignRefusesIncompleteClaims(t *testing.T) {
	s := signer(t, "a:"+keyA)
	for name, c := range map[string]token.Claims{
		"no id":          {Sitekey: "s", IssuedAt: t0, ExpiresAt: t0.Add(time.Minute)},
		"no sitekey":     {ID: "i", IssuedAt: t0, ExpiresAt: t0.Add(time.Minute)},
		"exp before iat": {ID: "i", Sitekey: "s", IssuedAt: t0, ExpiresAt: t0},
		"too long":       {ID: strings.Repeat("i", token.MaxLen), Sitekey: "s", IssuedAt: t0, ExpiresAt: t0.Add(time.Minute)},
	} {
		if _, err := s.Sign(c); err == nil {
			t.Errorf("%s: Sign accepted %+v", name, c)
		}
	}
}

// FuzzParse: Parse never panics, and whatever it accepts is exactly what Sign produces for
// the claims it returns (so nothing but Sign's output verifies).
func FuzzParse(f *testing.F) {
	signers := map[string]*token.Signer{
		"a": signer(f, "a:"+keyA+",b:"+keyB),
		"b": signer(f, "b:"+keyB+",a:"+keyA),
	}
	verifier := signers["a"]
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := verifier.Parse(tok, t0)
		switch {
		case err == nil, errors.Is(err, token.ErrExpired):
		case errors.Is(err, token.ErrMalformed), errors.Is(err, token.ErrForged):
			return
		default:
			t.Fatalf("Parse(%q): unexpected error %v", tok, err)
		}
		again, serr := signers[c.KeyID].Sign(c)
		if serr != nil || again != tok {
			t.Fatalf("Parse accepted %q, which Sign does not produce (Sign gives %q, %v)", tok, again, serr)
		}
	})
}

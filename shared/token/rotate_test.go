package token_test

import (
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/token"
)

// bareKey is what Secrets Manager generates for the first signing key: 44 characters of
// [A-Za-z0-9] (GenerateSecretString without punctuation), valid base64 for 33 bytes.
func bareKey(r *rand.Rand) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 44)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func TestBareGeneratedKeySignsUnderItsDerivedKeyID(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		bare := bareKey(r)
		s := signer(t, bare)
		raw, _ := base64.StdEncoding.DecodeString(bare)
		if s.KeyID() != token.DerivedKeyID(raw) {
			t.Fatalf("bare key signs as %q, want derived %q", s.KeyID(), token.DerivedKeyID(raw))
		}
		// The same key written with its derived kid is the same key, not a second one.
		if _, err := token.NewSigner(bare + "," + token.DerivedKeyID(raw) + ":" + bare); err == nil {
			t.Fatal("a bare key and its kid:key form were accepted as two keys")
		}
	}
	a, b := signer(t, keyA), signer(t, keyB)
	if a.KeyID() == b.KeyID() || !strings.HasPrefix(a.KeyID(), "h") || len(a.KeyID()) > 32 {
		t.Fatalf("derived kids %q %q: want distinct short ids", a.KeyID(), b.KeyID())
	}
}

func TestRotateKeysPrependsANewKeyAndKeepsOldTokensValid(t *testing.T) {
	bare := bareKey(rand.New(rand.NewPCG(3, 4)))
	first := signer(t, bare)
	tokFirst, _, _ := first.Issue("site-1", t0)

	once, err := token.RotateKeys(bare)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := token.KeyIDs(once)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[1] != first.KeyID() || ids[0] == first.KeyID() {
		t.Fatalf("after one rotation kids %v, want [new %s]", ids, first.KeyID())
	}
	if strings.Contains(once, ","+bare) {
		t.Errorf("the bare key was not rewritten as kid:key: %s", once)
	}
	rotated := signer(t, once)
	if rotated.KeyID() != ids[0] {
		t.Errorf("rotated list signs with %q, want the new key %q", rotated.KeyID(), ids[0])
	}
	if _, err := rotated.Parse(tokFirst, t0); err != nil {
		t.Fatalf("a token signed before the first rotation fails after it: %v", err)
	}
	tokSecond, _, _ := rotated.Issue("site-1", t0)
	if _, err := first.Parse(tokSecond, t0); !errors.Is(err, token.ErrForged) {
		t.Fatalf("the new key's token verified under the old list only: %v", err)
	}

	// Two more rotations: the bare key (signing three rotations ago) is retired, the key
	// of one rotation ago still verifies.
	twice, _ := token.RotateKeys(once)
	thrice, err := token.RotateKeys(twice)
	if err != nil {
		t.Fatal(err)
	}
	ids3, _ := token.KeyIDs(thrice)
	if len(ids3) != token.MaxRotatedKeys {
		t.Fatalf("after three rotations %d keys, want %d", len(ids3), token.MaxRotatedKeys)
	}
	ids2, _ := token.KeyIDs(twice)
	if ids3[1] != ids2[0] || ids3[2] != ids2[1] {
		t.Errorf("kids %v after %v: the older keys must follow the new one in order", ids3, ids2)
	}
	latest := signer(t, thrice)
	if _, err := latest.Parse(tokSecond, t0); err != nil {
		t.Errorf("a token of two rotations ago fails: %v", err)
	}
	if _, err := latest.Parse(tokFirst, t0); !errors.Is(err, token.ErrForged) {
		t.Errorf("a token of the retired bare key: %v, want ErrForged", err)
	}
}

func TestRotateKeysRefusesAnInvalidList(t *testing.T) {
	for _, bad := range []string{"", "a:%%%%", "short"} {
		if out, err := token.RotateKeys(bad); err == nil {
			t.Errorf("RotateKeys(%q) = %q, want an error", bad, out)
		}
	}
}

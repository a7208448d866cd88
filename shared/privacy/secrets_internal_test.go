package privacy

import (
	"bytes"
	"crypto/rand"
	"testing"
)

func TestNewCode(t *testing.T) {
	// Leading zeros are kept, and values that would bias the modulo are redrawn:
	// 0xFFFFFFFF is above the largest multiple of 10^6 below 2^32, so it is skipped.
	r := bytes.NewReader([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 42})
	code, err := newCode(r)
	if err != nil || code != "000042" {
		t.Fatalf("newCode = %q, %v", code, err)
	}
	if _, err := newCode(bytes.NewReader([]byte{1, 2})); err == nil {
		t.Fatal("short randomness accepted")
	}
	for range 100 {
		c, err := newCode(rand.Reader)
		if err != nil || !IsCode(c) {
			t.Fatalf("code %q, %v", c, err)
		}
	}
}

func TestCodeHashBindsTheRequest(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	c := Code{RequestID: "pr_00000000000000000000000000000001", Hash: codeHash(key, "pr_00000000000000000000000000000001", "123456")}
	if !codeMatches(key, c, "123456") {
		t.Fatal("the right code does not match")
	}
	if codeMatches(key, c, "123457") {
		t.Fatal("a wrong code matches")
	}
	moved := c
	moved.RequestID = "pr_00000000000000000000000000000002"
	if codeMatches(key, moved, "123456") {
		t.Fatal("a code hash matches on another request")
	}
	if codeMatches(bytes.Repeat([]byte{2}, 32), c, "123456") {
		t.Fatal("a code hash matches under another key")
	}
}

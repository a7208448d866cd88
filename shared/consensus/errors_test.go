package consensus

import (
	"errors"
	"strings"
	"testing"
)

// Consumers log state errors; an error must not carry the answerer's pseudonym.
func TestStateErrorsNameNoPseudonym(t *testing.T) {
	const pseudonym = "2026-12-01/5f2b9c0e7d1a4b3c"
	w := NewAnswerer(pseudonym, 2)
	p := Params{Classes: 2}
	_, err := p.Reestimate(NewJob(2), nil, []AnswererState{w, w})
	if !errors.Is(err, ErrState) {
		t.Fatalf("answerer given twice: %v, want ErrState", err)
	}
	if strings.Contains(err.Error(), pseudonym) || strings.Contains(err.Error(), "5f2b9c0e") {
		t.Errorf("error names the pseudonym: %v", err)
	}
}

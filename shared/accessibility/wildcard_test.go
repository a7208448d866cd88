package accessibility_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/accessibility"
)

// "*" matches every language no other entry names (RFC 9110 §12.5.4), with its own weight.
func TestMatchLocaleWildcard(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"de;q=0.5, *", "en", true}, // any other language (English) at 1 beats German at 0.5
		{"en;q=0, *", "de", true},   // not English, anything else: German
		{"de, *;q=0.5", "de", true}, // German named first and higher
		{"fr, *;q=0.1", "", false},  // none of ours named: no preference among them (Locale: en)
		{"*", "", false},            // an hl of "*" leaves the choice to Accept-Language
		{"en;q=0, de;q=0, *", "", false},
		{"*;q=0", "", false},
		{"de;q=0.5, *;q=0", "de", true},
		{"de-DE, de;q=0.9, *;q=0.5", "de", true},
	} {
		if got, ok := accessibility.MatchLocale(c.in); got != c.want || ok != c.ok {
			t.Errorf("MatchLocale(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

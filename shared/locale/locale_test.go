package locale_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/locale"
)

// enDe is the accessibility texts' list; enDeFrEs the challenge texts'.
var (
	enDe     = []string{"en", "de"}
	enDeFrEs = []string{"en", "de", "fr", "es"}
)

// A supported hl wins; an unsupported one leaves the choice to the browser; English last.
func TestPickPrefersASupportedHLThenTheBrowser(t *testing.T) {
	for _, c := range []struct {
		hl, accept string
		supported  []string
		want       string
	}{
		{"de", "en-US,en;q=0.9", enDe, "de"},
		{"fr", "de-DE,de;q=0.9,en;q=0.8", enDe, "de"},     // no French texts: the browser's German
		{"fr", "de-DE,de;q=0.9,en;q=0.8", enDeFrEs, "fr"}, // French texts: the widget's choice
		{"it", "de;q=0.9,es", enDeFrEs, "es"},
		{"", "de", enDeFrEs, "de"},
		{"xx", "pt-BR", enDeFrEs, "en"},
		{"", "", enDe, "en"},
		{"*", "de", enDe, "de"}, // "*" as hl names nothing
		{"ES_mx", "", enDeFrEs, "es"},
		{"fr", "es, de;q=0.9", []string{"en", "de"}, "de"}, // a job with English and German only
	} {
		if got := locale.Pick(c.hl, c.accept, c.supported); got != c.want {
			t.Errorf("Pick(%q, %q, %v) = %q, want %q", c.hl, c.accept, c.supported, got, c.want)
		}
	}
}

func TestPickFromHLOrAcceptLanguage(t *testing.T) {
	for in, want := range map[string]string{"de": "de", "de-AT": "de", "DE_ch": "de", "fr-FR,de;q=0.8": "de", "en-US,en;q=0.9": "en", "": "en", "xx": "en"} {
		if got := locale.Pick(in, "", enDe); got != want {
			t.Errorf("Pick(%q) = %q, want %q", in, got, want)
		}
	}
}

// Accept-Language's weights decide: the best-weighted supported language wins, and q=0
// means "not this one".
func TestPickHonoursAcceptLanguageWeights(t *testing.T) {
	for in, want := range map[string]string{
		"en;q=0.1,de;q=0.9":              "de",
		"en-GB;q=0.2, de-AT;q=0.8":       "de",
		"de;q=0,en":                      "en",
		"de;q=0, fr":                     "en",
		"fr,de;q=0.5,en;q=0.4":           "de",
		"de ; q=0.7 , en ; q=0.6":        "de",
		"en;q=0.5,de;q=0.5":              "en",
		"de;q=0.000":                     "en",
		"de;q=bogus,en;q=0.1":            "en",
		"de-DE,de;q=0.9,en;q=0.8":        "de",
		"en-US;q=0.8,en;q=0.7,de;q=0.95": "de",
		"en-US,de;q=0.95":                "en",
	} {
		if got := locale.Pick("", in, enDe); got != want {
			t.Errorf("Pick(\"\", %q) = %q, want %q", in, got, want)
		}
	}
}

// "*" matches every language no other entry names (RFC 9110 §12.5.4), with its own weight.
func TestMatchWildcard(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"de;q=0.5, *", "en", true}, // any other language (English) at 1 beats German at 0.5
		{"en;q=0, *", "de", true},   // not English, anything else: German
		{"de, *;q=0.5", "de", true}, // German named first and higher
		{"fr, *;q=0.1", "", false},  // none of ours named: no preference among them (Pick: en)
		{"*", "", false},            // an hl of "*" leaves the choice to Accept-Language
		{"en;q=0, de;q=0, *", "", false},
		{"*;q=0", "", false},
		{"de;q=0.5, *;q=0", "de", true},
		{"de-DE, de;q=0.9, *;q=0.5", "de", true},
	} {
		if got, ok := locale.Match(c.in, enDe); got != c.want || ok != c.ok {
			t.Errorf("Match(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

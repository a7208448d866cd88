package accessibility_test

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/accessibility"
)

func TestNormalizeIgnoresCaseSpacesAndSurroundingPunctuation(t *testing.T) {
	for in, want := range map[string]string{
		" Eleven. ":      "eleven",
		"GREEN":          "green",
		"twenty one":     "twentyone",
		"twenty-one":     "twentyone",
		"1 1":            "11",
		"„Grün“":         "grün",
		"\"b\"":          "b",
		"\t\n":           "",
		"Löwe!":          "löwe",
		"fünfzehn\u00a0": "fünfzehn",
	} {
		if got := accessibility.Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

var numberWords = map[string]map[string]int{}

func init() {
	for loc, words := range map[string]string{
		"en": "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty",
		"de": "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn zwanzig",
	} {
		numberWords[loc] = map[string]int{}
		for i, w := range strings.Fields(words) {
			numberWords[loc][w] = i
		}
	}
}

// Every generated question is answerable from its text alone, and its accepted answers
// are what a person would type: checked by solving each question independently.
func TestQuestionsAreSolvableFromTheirText(t *testing.T) {
	arith := map[string]*regexp.Regexp{
		"en": regexp.MustCompile(`^What is (\S+) (plus|minus|times) (\S+)\? Answer with a number\.$`),
		"de": regexp.MustCompile(`^Was ist (\S+) (plus|minus|mal) (\S+)\? Antworten Sie mit einer Zahl\.$`),
	}
	pick := map[string]*regexp.Regexp{
		"en": regexp.MustCompile(`^Which word in this list is (a colour|an animal): (.+)\?$`),
		"de": regexp.MustCompile(`^Welches Wort in dieser Liste ist (eine Farbe|ein Tier): (.+)\?$`),
	}
	first := map[string]*regexp.Regexp{
		"en": regexp.MustCompile(`^Type the first letter of the word “(\S+)”\.$`),
		"de": regexp.MustCompile(`^Geben Sie den ersten Buchstaben des Wortes „(\S+)“ ein\.$`),
	}
	kinds := map[string]bool{"en colour": false, "en animal": false}
	colours := map[string][]string{"en": strings.Fields("red blue green yellow brown black white pink purple grey"), "de": strings.Fields("rot blau grün gelb braun schwarz rosa lila grau")}
	animals := map[string][]string{"en": strings.Fields("dog cat horse cow sheep mouse lion rabbit duck goat"), "de": strings.Fields("hund katze pferd kuh schaf maus löwe hase ente ziege")}
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for _, loc := range accessibility.Locales {
		for range 400 {
			q := accessibility.NewQuestion(loc, rng)
			seen[q.Text] = true
			var want string
			switch {
			case arith[loc].MatchString(q.Text):
				m := arith[loc].FindStringSubmatch(q.Text)
				a, okA := numberWords[loc][m[1]]
				b, okB := numberWords[loc][m[3]]
				if !okA || !okB {
					t.Fatalf("%s: operands not spelled as numbers 0-20", q.Text)
				}
				r := map[string]int{"plus": a + b, "minus": a - b, "times": a * b, "mal": a * b}[m[2]]
				if r < 0 {
					t.Fatalf("%s: negative result", q.Text)
				}
				want = strconv.Itoa(r)
				kinds[loc+" arithmetic"] = true
			case pick[loc].MatchString(q.Text):
				m := pick[loc].FindStringSubmatch(q.Text)
				set := colours[loc]
				kind := "colour"
				if strings.Contains(m[1], "animal") || strings.Contains(m[1], "Tier") {
					set, kind = animals[loc], "animal"
				}
				var hits []string
				for _, w := range strings.Split(m[2], ", ") {
					if slices.Contains(set, strings.ToLower(w)) {
						hits = append(hits, strings.ToLower(w))
					}
				}
				if len(hits) != 1 || len(strings.Split(m[2], ", ")) != 4 {
					t.Fatalf("%s: want exactly one %s among four words, found %v", q.Text, kind, hits)
				}
				want = hits[0]
				kinds[loc+" "+kind] = true
			case first[loc].MatchString(q.Text):
				want = strings.ToLower(string([]rune(first[loc].FindStringSubmatch(q.Text)[1])[:1]))
				kinds[loc+" first"] = true
			default:
				t.Fatalf("question matches no template: %q", q.Text)
			}
			if !slices.Contains(q.Answers, accessibility.Normalize(want)) {
				t.Fatalf("%s: accepted %v, want %q among them", q.Text, q.Answers, want)
			}
			for _, a := range q.Answers {
				if a != accessibility.Normalize(a) || a == "" {
					t.Fatalf("%s: answer %q is not in normal form", q.Text, a)
				}
			}
		}
	}
	for k, ok := range kinds {
		if !ok {
			t.Errorf("no %s question in 400 draws", k)
		}
	}
	if len(seen) < 300 {
		t.Errorf("only %d distinct questions in 800 draws", len(seen))
	}
}

// Arithmetic answers are accepted as digits and as words.
func TestArithmeticAcceptsDigitsAndWords(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		q := accessibility.NewQuestion("en", rng)
		if !strings.HasPrefix(q.Text, "What is ") {
			continue
		}
		if len(q.Answers) != 2 {
			t.Fatalf("%s: %v", q.Text, q.Answers)
		}
		if _, err := strconv.Atoi(q.Answers[0]); err != nil {
			t.Fatalf("%s: first answer %q is not digits", q.Text, q.Answers[0])
		}
		return
	}
	t.Fatal("no arithmetic question drawn")
}

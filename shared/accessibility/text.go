package accessibility

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Locales are the languages of questions, mails and pages (locale.Pick chooses one).
var Locales = []string{"en", "de"}

type mail struct{ subject, text string }

func mailText(locale, link string) mail {
	if locale == "de" {
		return mail{
			subject: "Bestätigen Sie Ihre crowdgate-Anmeldung für Barrierefreiheit",
			text: "Hallo,\n\njemand (hoffentlich Sie) möchte crowdgate-Prüfungen mit einer Textfrage statt einer Bildaufgabe lösen.\n\n" +
				"Öffnen Sie diesen Link und drücken Sie „Bestätigen“ (er gilt eine Stunde und nur einmal):\n\n" + link + "\n\n" +
				"Wenn Sie das nicht waren, ignorieren Sie diese E-Mail. Ihre Adresse wird nicht gespeichert.\n",
		}
	}
	return mail{
		subject: "Confirm your crowdgate accessibility sign-up",
		text: "Hello,\n\nsomeone (hopefully you) asked to pass crowdgate challenges with a text question instead of images.\n\n" +
			"Open this link and press \"Confirm\" (it works once, for one hour):\n\n" + link + "\n\n" +
			"If this was not you, ignore this e-mail. Your address is not stored.\n",
	}
}

// Normalize is the form answers are compared in: Unicode NFC (input methods may send "ü"
// as "u" and a combining diaeresis), lower case, without any white space or hyphen
// ("twenty one" = "twenty-one") and without punctuation around the answer (people type
// "Green." or " 11 ").
func Normalize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(norm.NFC.String(s)) {
		if !unicode.IsSpace(r) && r != '-' {
			b.WriteRune(r)
		}
	}
	return strings.TrimFunc(b.String(), func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSymbol(r) })
}

// Question is a generated question with its accepted answers (Normalize form).
type Question struct {
	Text    string
	Answers []string
}

// words of one locale.
type words struct {
	numbers  []string // 0..30 spelled out
	colours  []string
	animals  []string
	neutral  []string // neither a colour nor an animal
	plus     string
	minus    string
	times    string
	arith    string // "What is %s %s %s? Answer with a number."
	pick     string // "Which word in this list is %s: %s?"
	colour   string
	animal   string
	first    string // "Type the first letter of the word “%s”."
	listJoin string
}

var vocab = map[string]words{
	"en": {
		numbers: strings.Fields("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty twenty-one twenty-two twenty-three twenty-four twenty-five twenty-six twenty-seven twenty-eight twenty-nine thirty"),
		colours: strings.Fields("red blue green yellow brown black white pink purple grey"),
		animals: strings.Fields("dog cat horse cow sheep mouse lion rabbit duck goat"),
		neutral: strings.Fields("table chair spoon river window book bread cloud pencil door bottle garden"),
		plus:    "plus", minus: "minus", times: "times",
		arith:  "What is %s %s %s? Answer with a number.",
		pick:   "Which word in this list is %s: %s?",
		colour: "a colour", animal: "an animal",
		first:    "Type the first letter of the word “%s”.",
		listJoin: ", ",
	},
	"de": {
		numbers: strings.Fields("null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn zwanzig einundzwanzig zweiundzwanzig dreiundzwanzig vierundzwanzig fünfundzwanzig sechsundzwanzig siebenundzwanzig achtundzwanzig neunundzwanzig dreißig"),
		colours: strings.Fields("rot blau grün gelb braun schwarz rosa lila grau"),
		animals: strings.Fields("Hund Katze Pferd Kuh Schaf Maus Löwe Hase Ente Ziege"),
		neutral: strings.Fields("Tisch Stuhl Löffel Fluss Fenster Buch Brot Wolke Bleistift Tür Flasche Garten"),
		plus:    "plus", minus: "minus", times: "mal",
		arith:  "Was ist %s %s %s? Antworten Sie mit einer Zahl.",
		pick:   "Welches Wort in dieser Liste ist %s: %s?",
		colour: "eine Farbe", animal: "ein Tier",
		first:    "Geben Sie den ersten Buchstaben des Wortes „%s“ ein.",
		listJoin: ", ",
	},
}

// NewQuestion draws a question in locale from the templates: arithmetic in words, "which
// word is a colour/animal", "type the first letter of …".
func NewQuestion(locale string, rng *rand.Rand) Question {
	w, ok := vocab[locale]
	if !ok {
		w = vocab["en"]
	}
	switch rng.IntN(4) {
	case 0:
		return arithmetic(w, rng)
	case 1:
		return pick(w, w.colour, w.colours, rng)
	case 2:
		return pick(w, w.animal, w.animals, rng)
	}
	word := w.neutral[rng.IntN(len(w.neutral))]
	return Question{Text: fmt.Sprintf(w.first, word), Answers: []string{Normalize(string([]rune(word)[:1]))}}
}

func arithmetic(w words, rng *rand.Rand) Question {
	var a, b, r int
	var op string
	switch rng.IntN(3) {
	case 0:
		a, b = 1+rng.IntN(10), 1+rng.IntN(10)
		op, r = w.plus, a+b
	case 1:
		a = 2 + rng.IntN(19)
		b = 1 + rng.IntN(min(a-1, 10))
		op, r = w.minus, a-b
	default:
		a, b = 2+rng.IntN(4), 2+rng.IntN(4)
		op, r = w.times, a*b
	}
	return Question{
		Text:    fmt.Sprintf(w.arith, w.numbers[a], op, w.numbers[b]),
		Answers: []string{fmt.Sprint(r), Normalize(w.numbers[r])},
	}
}

func pick(w words, what string, targets []string, rng *rand.Rand) Question {
	target := targets[rng.IntN(len(targets))]
	list := []string{target}
	for _, i := range rng.Perm(len(w.neutral))[:3] {
		list = append(list, w.neutral[i])
	}
	rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
	return Question{Text: fmt.Sprintf(w.pick, what, strings.Join(list, w.listJoin)), Answers: []string{Normalize(target)}}
}

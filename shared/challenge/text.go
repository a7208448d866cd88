package challenge

import (
	"fmt"
	"strings"

	"github.com/crowdgate/crowdgate/shared/job"
)

// Locale returns the supported locale for an hl value ("de", "de-AT", "FR_ca" → de, de,
// fr); anything else is English.
func Locale(hl string) string {
	base, _, _ := strings.Cut(strings.ReplaceAll(hl, "_", "-"), "-")
	base = strings.ToLower(strings.TrimSpace(base))
	for _, l := range job.Locales {
		if l == base {
			return l
		}
	}
	return "en"
}

var prompts = map[string]string{
	"en": "Please answer %d questions",
	"de": "Bitte beantworten Sie %d Fragen",
	"fr": "Veuillez répondre à %d questions",
	"es": "Por favor, responda %d preguntas",
}

// Prompt is the challenge's heading in locale.
func Prompt(locale string, tasks int) string {
	p, ok := prompts[locale]
	if !ok {
		p = prompts["en"]
	}
	return fmt.Sprintf(p, tasks)
}

// yesNoFromGrid asks about one image of an image_grid job (whose own question is a grid
// instruction).
var yesNoFromGrid = map[string]string{
	"en": "Does this image show a {class}?",
	"de": "Zeigt dieses Bild: {class}?",
	"fr": "Cette image montre-t-elle : {class} ?",
	"es": "¿Esta imagen muestra: {class}?",
}

// question is the text of a task about class from job j in locale.
func question(j job.Job, kind TaskKind, locale, class string) string {
	if kind == TaskYesNo && j.Kind == job.KindImageGrid {
		q, ok := yesNoFromGrid[locale]
		if !ok {
			q = yesNoFromGrid["en"]
		}
		return strings.ReplaceAll(q, job.ClassPlaceholder, j.ClassName(locale, class))
	}
	return j.QuestionFor(locale, class)
}

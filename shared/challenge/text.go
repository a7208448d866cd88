package challenge

import (
	"fmt"
	"strings"

	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/locale"
)

// language decides the language of a challenge's texts: locale is the challenge's (a
// supported hl, else the best Accept-Language entry among job.Locales, else English: the
// prompt's), accept the browser's Accept-Language.
type language struct{ locale, accept string }

// of is the language of job j's own question: the challenge's when the job has a question in
// it, else — by the same rule over the job's own locales — the one the browser likes
// best, else English. So a French visitor whose browser also reads German sees a job
// written in English and German in German, not English.
func (l language) of(j job.Job) string {
	return locale.Pick(l.locale, l.accept, j.QuestionLocales())
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

// question is the text of a task about class from job j, and its language. Each text
// speaks the best of the languages it exists in: crowdgate's own yes/no sentence about an
// image of a grid job exists in every supported locale, so it speaks the challenge's (with
// the job's class name in it, when the job has one); a job's own question speaks
// lang.of(j).
func question(j job.Job, kind TaskKind, lang language, class string) (text, locale string) {
	if kind == TaskYesNo && j.Kind == job.KindImageGrid {
		q, ok := yesNoFromGrid[lang.locale]
		if !ok {
			q = yesNoFromGrid["en"]
		}
		return strings.ReplaceAll(q, job.ClassPlaceholder, j.ClassName(lang.locale, class)), lang.locale
	}
	l := lang.of(j)
	return j.QuestionFor(l, class), l
}

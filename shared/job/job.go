// Package job is the labeling-job model: a customer's job (what to ask, which classes) and
// its items (an image in the media bucket or a short text), some of them gold (with a
// known answer). Challenges draw their tasks from active jobs through a Pool; the customer
// jobs API, consensus and exports build on the same types. It imports no AWS SDK.
package job

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/language"
)

// Kind is how a job's items are asked about.
type Kind string

const (
	// KindImageGrid jobs show images in 3×3 grids: "select every image that shows a
	// {class}". Every item needs an image.
	KindImageGrid Kind = "image_grid"
	// KindBinary jobs ask one yes/no question per item ("Is this sentence positive?").
	// Their classes are always ["yes", "no"].
	KindBinary Kind = "binary"
	// KindMultipleChoice jobs ask, per item, whether it belongs to one of several classes
	// ("Does this image show a {class}?"); the answers add up to a class per item.
	KindMultipleChoice Kind = "multiple_choice"
)

// Status says whether a job's items are shown to visitors.
type Status string

const (
	StatusActive Status = "active"
	StatusPaused Status = "paused"
)

// ItemStatus says whether an item still collects answers.
type ItemStatus string

const (
	ItemOpen ItemStatus = "open"
	ItemDone ItemStatus = "done"
)

// Locales the service has texts for; English is the fallback.
var Locales = []string{"en", "de", "fr", "es"}

// ClassPlaceholder in a question is replaced by the class being asked about.
const ClassPlaceholder = "{class}"

// Limits keep records small and keys safe.
const (
	MaxIDLen       = 128
	MaxNameLen     = 200
	MaxQuestionLen = 300
	MaxClasses     = 10
	MaxClassLen    = 64
	MaxTextLen     = 1000
	MaxPriority    = 1000
)

// Job is one customer labeling job.
type Job struct {
	ID         string
	CustomerID string
	Name       string
	Kind       Kind
	// Question is the text shown to visitors per locale ("en" required, "de", "fr", "es"
	// optional). image_grid and multiple_choice questions contain {class}.
	Question map[string]string
	// Classes are the labels an item can get (2–10). Binary jobs: ["yes", "no"].
	Classes []string
	// ClassNames optionally translates Classes for display: locale → names in the order of
	// Classes. Without an entry the class itself is shown.
	ClassNames map[string][]string
	// ItemLang is the language of the job's text items (a BCP 47 tag in its canonical
	// form, "de", "pt-BR"), which can differ from the question's and from the visitor's:
	// the widget marks an item's text with it, so a screen reader reads it in that
	// language's voice. Empty: not given (the text takes the widget's language). Set at
	// create only, like Question.
	ItemLang string
	// Priority weighs the job when challenges draw items (1–1000; higher is drawn more).
	Priority int
	Status   Status
	// MinAnswers, MaxAnswers and Target are the completion rule consensus applies: an item
	// is done when its confidence reaches Target after MinAnswers, or at MaxAnswers.
	MinAnswers int
	MaxAnswers int
	Target     float64
	CreatedAt  time.Time
	// ExpiresAt, when set, is when the job and its items are deleted (their ttl; the
	// images by SweepExpired). Zero keeps them until the customer deletes the job.
	ExpiresAt time.Time
}

// Item is one thing to label.
type Item struct {
	JobID string
	ID    string
	// MediaKey is the object key of the item's image in the media bucket; Text is a short
	// text instead. Exactly one is set.
	MediaKey string
	Text     string
	// Gold items have a known label (GoldLabel, one of the job's classes); challenges grade
	// visitors on them.
	Gold        bool
	GoldLabel   string
	Status      ItemStatus
	AnswerCount int
}

// Key identifies an item across jobs.
func (it Item) Key() string { return it.JobID + "/" + it.ID }

// Errors.
var (
	// ErrInvalid wraps every validation failure.
	ErrInvalid = errors.New("job: invalid")
	// ErrNotFound: no such job or item (or it has expired).
	ErrNotFound = errors.New("job: not found")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Normalize fills defaults: binary classes, priority 1, active status, min/max answers.
func (j Job) Normalize() Job {
	if j.Kind == KindBinary && len(j.Classes) == 0 {
		j.Classes = []string{"yes", "no"}
	}
	if j.Priority == 0 {
		j.Priority = 1
	}
	if j.Status == "" {
		j.Status = StatusActive
	}
	if j.MinAnswers == 0 {
		j.MinAnswers = 1
	}
	if j.MaxAnswers == 0 {
		j.MaxAnswers = 10
	}
	return j
}

// Validate checks a job (after Normalize).
func (j Job) Validate() error {
	if err := ValidID(j.ID); err != nil {
		return fmt.Errorf("job id: %w", err)
	}
	switch j.Kind {
	case KindImageGrid, KindBinary, KindMultipleChoice:
	default:
		return invalid("kind %q (want image_grid, binary or multiple_choice)", j.Kind)
	}
	if len(j.Name) > MaxNameLen {
		return invalid("name longer than %d bytes", MaxNameLen)
	}
	if strings.TrimSpace(j.Question["en"]) == "" {
		return invalid("question needs an English (en) text")
	}
	for loc, q := range j.Question {
		if !knownLocale(loc) {
			return invalid("question locale %q (want en, de, fr or es)", loc)
		}
		if len(q) > MaxQuestionLen {
			return invalid("question (%s) longer than %d bytes", loc, MaxQuestionLen)
		}
		// Before the {class} check, so every type refuses it alike: a binary question has
		// no placeholder to miss, and an empty one would be stored and shown as it is.
		if strings.TrimSpace(q) == "" {
			return invalid("question (%s) is empty: give a text or leave the locale out", loc)
		}
		if j.Kind != KindBinary && !strings.Contains(q, ClassPlaceholder) {
			return invalid("question (%s) must contain %s for %s jobs", loc, ClassPlaceholder, j.Kind)
		}
	}
	if len(j.Classes) < 2 || len(j.Classes) > MaxClasses {
		return invalid("%d classes (want 2-%d)", len(j.Classes), MaxClasses)
	}
	if j.Kind == KindBinary && (len(j.Classes) != 2 || j.Classes[0] != "yes" || j.Classes[1] != "no") {
		return invalid(`binary jobs have the classes ["yes", "no"]`)
	}
	seen := map[string]bool{}
	for _, c := range j.Classes {
		if c == "" || len(c) > MaxClassLen {
			return invalid("class %q (want 1-%d bytes)", c, MaxClassLen)
		}
		if seen[c] {
			return invalid("class %q listed twice", c)
		}
		seen[c] = true
	}
	for loc, names := range j.ClassNames {
		if !knownLocale(loc) {
			return invalid("class names locale %q", loc)
		}
		if len(names) != len(j.Classes) {
			return invalid("class names (%s): %d names for %d classes", loc, len(names), len(j.Classes))
		}
	}
	if j.ItemLang != "" {
		// Stored canonical, so the widget gets one spelling per language; the API
		// canonicalizes what the customer sent before this check (newJob).
		c, err := canonicalLang(j.ItemLang)
		if err != nil {
			return err
		}
		if c != j.ItemLang {
			return invalid("item_lang %q is not in canonical form (%s)", j.ItemLang, c)
		}
	}
	if j.Priority < 1 || j.Priority > MaxPriority {
		return invalid("priority %d (want 1-%d)", j.Priority, MaxPriority)
	}
	if j.Status != StatusActive && j.Status != StatusPaused {
		return invalid("status %q (want active or paused)", j.Status)
	}
	if j.MinAnswers < 1 || j.MaxAnswers < j.MinAnswers || j.MaxAnswers > MaxAnswersLimit {
		// The limit holds for every writer, not only the customer API: each answer stays on
		// its item's consensus record, which must fit DynamoDB's 400 KB.
		return invalid("min %d / max %d answers (want 1 <= min <= max <= %d)", j.MinAnswers, j.MaxAnswers, MaxAnswersLimit)
	}
	if j.Target < 0 || j.Target > 1 {
		return invalid("target %v (want 0-1)", j.Target)
	}
	return nil
}

// HasClass reports whether c is one of the job's classes.
func (j Job) HasClass(c string) bool {
	for _, x := range j.Classes {
		if x == c {
			return true
		}
	}
	return false
}

// QuestionFor returns the job's question in locale (falling back to English) with
// {class} replaced by the class's display name in that locale.
func (j Job) QuestionFor(locale, class string) string {
	q, ok := j.Question[locale]
	if !ok || q == "" {
		q = j.Question["en"]
	}
	if !strings.Contains(q, ClassPlaceholder) {
		return q
	}
	return strings.ReplaceAll(q, ClassPlaceholder, j.ClassName(locale, class))
}

// QuestionLocales are the locales the job has a question in, in the order of Locales
// (English always, by Validate): the languages a visitor can see its tasks in.
func (j Job) QuestionLocales() []string {
	var out []string
	for _, l := range Locales {
		if strings.TrimSpace(j.Question[l]) != "" {
			out = append(out, l)
		}
	}
	return out
}

// ClassName is class's display name in locale (the class itself without a translation).
func (j Job) ClassName(locale, class string) string {
	names := j.ClassNames[locale]
	if len(names) != len(j.Classes) {
		names = j.ClassNames["en"]
	}
	if len(names) == len(j.Classes) {
		for i, c := range j.Classes {
			if c == class && names[i] != "" {
				return names[i]
			}
		}
	}
	return class
}

// ValidateItem checks an item of job j.
func (j Job) ValidateItem(it Item) error {
	if it.JobID != j.ID {
		return invalid("item %q belongs to job %q, not %q", it.ID, it.JobID, j.ID)
	}
	if err := ValidID(it.ID); err != nil {
		return fmt.Errorf("item id: %w", err)
	}
	if (it.MediaKey == "") == (it.Text == "") {
		return invalid("item %q needs exactly one of media key and text", it.ID)
	}
	if j.Kind == KindImageGrid && it.MediaKey == "" {
		return invalid("item %q: image_grid items need an image", it.ID)
	}
	if len(it.Text) > MaxTextLen || len(it.MediaKey) > 1024 {
		return invalid("item %q: text or media key too long", it.ID)
	}
	if it.Gold != (it.GoldLabel != "") {
		return invalid("item %q: gold items need a gold label and only they", it.ID)
	}
	if it.Gold && !j.HasClass(it.GoldLabel) {
		return invalid("item %q: gold label %q is not a class of the job", it.ID, it.GoldLabel)
	}
	if it.Status != ItemOpen && it.Status != ItemDone {
		return invalid("item %q: status %q (want open or done)", it.ID, it.Status)
	}
	if it.AnswerCount < 0 {
		return invalid("item %q: negative answer count", it.ID)
	}
	return nil
}

// ValidID accepts 1–128 letters, digits and - _ . : (ids become parts of storage keys).
func ValidID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return invalid("id %q (want 1-%d characters)", id, MaxIDLen)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return invalid("id %q: only letters, digits and - _ . : are allowed", id)
		}
	}
	return nil
}

// maxLangLen caps ItemLang: BCP 47 asks every implementation to handle tags of 35
// characters, which every language tag in use fits in.
const maxLangLen = 35

// canonicalLang returns tag's canonical BCP 47 form ("pt-br" → "pt-BR", "iw" → "he"), or
// ErrInvalid unless tag is a well-formed tag of a known language. Unlike a question's
// locale it is not limited to the languages crowdgate has texts in: it says what the
// customer's items are written in, which the widget only marks, never translates.
func canonicalLang(tag string) (string, error) {
	bad := invalid("item_lang %q is not a BCP 47 language tag (such as de, pt-BR or zh-Hant)", tag)
	if tag == "" || len(tag) > maxLangLen {
		return "", bad
	}
	// Letters, digits and hyphens only: language.Parse also reads "en_US" and would store
	// something other than what was sent for a tag that is not well-formed.
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "", bad
		}
	}
	t, err := language.Parse(tag)
	if err != nil {
		return "", bad
	}
	// "und" and private-use-only tags ("x-foo") name no language: leave item_lang out.
	if _, conf := t.Base(); conf != language.Exact {
		return "", bad
	}
	return t.String(), nil
}

func knownLocale(l string) bool {
	for _, x := range Locales {
		if x == l {
			return true
		}
	}
	return false
}

// Package locale chooses the language a visitor reads, by one rule for every
// visitor-facing route (the accessibility pages, mails and text questions, the challenge
// prompts and job questions; the widget applies it in api.js): a supported hl (the page's
// or the widget's choice) first, then the best supported Accept-Language entry, then
// English. An unsupported hl (a widget's "fr" where only English and German exist) says
// nothing about which of the supported languages the reader prefers, so it does not
// override the browser.
//
// What is supported depends on the texts: each caller passes the locales it has texts
// for (accessibility.Locales, job.Locales, the locales of one job's question), English
// among them.
package locale

import (
	"slices"
	"strconv"
	"strings"
)

// English is the fallback: every list of supported locales has English texts.
const English = "en"

// Pick is the language of a text among supported: a supported hl first, then the best
// supported Accept-Language entry (Match), then English.
func Pick(hl, acceptLanguage string, supported []string) string {
	if l, ok := Match(hl, supported); ok {
		return l
	}
	if l, ok := Match(acceptLanguage, supported); ok {
		return l
	}
	return English
}

// Match returns the supported locale of an hl value or an Accept-Language header ("de",
// "de-AT", "de-DE,de;q=0.9,en;q=0.8" → de): the entry with the highest weight (q, 1 when
// absent; the first of equal ones) whose language is supported. "*" stands for every
// supported language no other entry names (RFC 9110 §12.5.4: "de;q=0.5, *" prefers
// English to German). q=0 means "not this one"; an entry with a malformed weight counts as
// not acceptable. ok is false when no entry names a supported language: "*" alone (an hl
// of "*" too) says no more than nothing. Among equal weights the order of supported
// decides for "*", so callers pass a fixed order, never a map's.
func Match(header string, supported []string) (string, bool) {
	parts := strings.Split(header, ",")
	named := map[string]bool{}
	for _, part := range parts {
		named[baseOf(part)] = true
	}
	if !slices.ContainsFunc(supported, func(l string) bool { return named[l] }) {
		return "", false
	}
	best, bestQ := "", 0.0
	for _, part := range parts {
		tag, params, _ := strings.Cut(part, ";")
		cands := []string{baseOf(tag)}
		if strings.TrimSpace(tag) == "*" {
			cands = slices.DeleteFunc(slices.Clone(supported), func(l string) bool { return named[l] })
		}
		q := weight(params)
		for _, base := range cands {
			if slices.Contains(supported, base) && q > bestQ {
				best, bestQ = base, q
			}
		}
	}
	return best, best != ""
}

// baseOf is the lower-case primary language of an entry ("de-AT;q=0.5" → "de").
func baseOf(entry string) string {
	tag, _, _ := strings.Cut(entry, ";")
	base, _, _ := strings.Cut(strings.ReplaceAll(strings.TrimSpace(tag), "_", "-"), "-")
	return strings.ToLower(base)
}

// weight is the q parameter of an Accept-Language entry's parameters (after the first
// ";"): 1 when absent, 0 when malformed or out of range.
func weight(params string) float64 {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(q >= 0 && q <= 1) {
			return 0
		}
		return q
	}
	return 1
}

package handler

import (
	"bytes"
	"html"
	"maps"
	"net/http"
	"slices"
	"strconv"
)

// The pages are plain HTML forms: no script, no inline style (the CSP forbids both), so
// they work without JavaScript and with any assistive technology.

// pageCSP is the policy of every page: nothing loads, forms post only here, no framing.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

type text struct {
	Title, Lead, Button string
	Extra               string
}

// strings of one language.
type lang struct {
	signup, inbox, confirm, confirmed, revoked text
	emailLabel, privacy, removeButton          string
	holdsPass                                  string
	// emailHint replaces the validation reason, which is English, on pages in other
	// languages ("" keeps the reason).
	emailHint                                  string
	errTitle                                   string
	toSignup                                   string // the error pages' link onward
	badEmail, badCode, badLink, tooMany        string
	tooManyNetwork, mailDown, tooLarge, origin string
	badForm                                    string // a form body that cannot be read
	internal                                   string
	// units of a wait ("in 23 hours and 50 minutes"): written out, since screen readers
	// read "h" and "min" unreliably.
	hour, hours, minute, minutes, and string
}

var langs = map[string]lang{
	"en": {
		signup: text{Title: "Pass crowdgate with a text question",
			Lead:   "If you cannot solve the image challenges, enter your e-mail address. We send you a link; after you confirm it, crowdgate asks you a short text question instead of images, for 24 hours.",
			Button: "Send me the link"},
		emailLabel: "E-mail address",
		privacy:    "We use your address only to send the link. We keep a keyed hash of it while your sign-up or token lasts (at most 24 hours), so that a privacy request can find and delete it; your answers are never linked to it.",
		inbox: text{Title: "Check your inbox",
			Lead: "If the address can receive e-mail, a link is on its way. Open it and press Confirm. The link works once, for one hour."},
		confirm: text{Title: "Confirm your sign-up", Lead: "Press Confirm to pass crowdgate challenges with a text question on this browser.", Button: "Confirm"},
		confirmed: text{Title: "You are signed up",
			Lead:   "You can now pass crowdgate challenges with a text question for 24 hours on this browser.",
			Button: "Remove", Extra: "Remove stops this at once on this browser."},
		revoked:        text{Title: "Removed", Lead: "This browser no longer passes crowdgate challenges with a text question. You can sign up again at any time."},
		removeButton:   "Remove",
		holdsPass:      "This browser can already pass with a text question. Remove stops that at once.",
		errTitle:       "That did not work",
		toSignup:       "Back to the sign-up page",
		badEmail:       "The e-mail address was not accepted: ",
		badCode:        "This link has expired or was already used. Sign up again to get a new one.",
		badLink:        "This link is incomplete. Open the whole link from the e-mail.",
		tooMany:        "Too many links were sent to this address in the last 24 hours. Try again in %s.",
		tooManyNetwork: "Too many sign-ups came from your network in the last hour. Try again in %s.",
		mailDown:       "The e-mail could not be sent. Please try again later.",
		tooLarge:       "The form was too large.",
		badForm:        "The form could not be read. Please send it again.",
		origin:         "This form can only be sent from crowdgate's own pages.",
		internal:       "Something went wrong on our side. Please try again later.",
		hour:           "hour", hours: "hours", minute: "minute", minutes: "minutes", and: "and",
	},
	"de": {
		signup: text{Title: "crowdgate mit einer Textfrage bestehen",
			Lead:   "Wenn Sie die Bildaufgaben nicht lösen können, geben Sie Ihre E-Mail-Adresse ein. Wir senden Ihnen einen Link; nachdem Sie ihn bestätigt haben, stellt crowdgate Ihnen 24 Stunden lang eine kurze Textfrage statt Bildern.",
			Button: "Link senden"},
		emailLabel: "E-Mail-Adresse",
		privacy:    "Wir verwenden Ihre Adresse nur, um den Link zu senden. Wir speichern einen verschlüsselten Hashwert davon, solange Ihre Anmeldung oder Ihr Token gilt (höchstens 24 Stunden), damit eine Datenschutzanfrage sie finden und löschen kann; Ihre Antworten werden nie damit verknüpft.",
		inbox: text{Title: "Sehen Sie in Ihr Postfach",
			Lead: "Wenn die Adresse E-Mails empfangen kann, ist ein Link unterwegs. Öffnen Sie ihn und drücken Sie „Bestätigen“. Der Link gilt einmal, eine Stunde lang."},
		confirm: text{Title: "Anmeldung bestätigen", Lead: "Drücken Sie „Bestätigen“, um crowdgate-Prüfungen in diesem Browser mit einer Textfrage zu bestehen.", Button: "Bestätigen"},
		confirmed: text{Title: "Sie sind angemeldet",
			Lead:   "Sie können crowdgate-Prüfungen in diesem Browser jetzt 24 Stunden lang mit einer Textfrage bestehen.",
			Button: "Entfernen", Extra: "„Entfernen“ beendet das sofort für diesen Browser."},
		revoked:        text{Title: "Entfernt", Lead: "Dieser Browser besteht crowdgate-Prüfungen nicht mehr mit einer Textfrage. Sie können sich jederzeit erneut anmelden."},
		removeButton:   "Entfernen",
		holdsPass:      "Dieser Browser kann bereits mit einer Textfrage bestehen. „Entfernen“ beendet das sofort.",
		errTitle:       "Das hat nicht geklappt",
		toSignup:       "Zurück zur Anmeldeseite",
		badEmail:       "Die E-Mail-Adresse wurde nicht angenommen: ",
		emailHint:      "Bitte geben Sie eine einfache Adresse wie name@example.com ein.",
		badCode:        "Dieser Link ist abgelaufen oder wurde schon verwendet. Melden Sie sich erneut an, um einen neuen zu erhalten.",
		badLink:        "Dieser Link ist unvollständig. Öffnen Sie den ganzen Link aus der E-Mail.",
		tooMany:        "An diese Adresse wurden in den letzten 24 Stunden zu viele Links gesendet. Versuchen Sie es in %s erneut.",
		tooManyNetwork: "Aus Ihrem Netz kamen in der letzten Stunde zu viele Anmeldungen. Versuchen Sie es in %s erneut.",
		mailDown:       "Die E-Mail konnte nicht gesendet werden. Bitte versuchen Sie es später erneut.",
		tooLarge:       "Das Formular war zu groß.",
		badForm:        "Das Formular konnte nicht gelesen werden. Bitte senden Sie es erneut.",
		origin:         "Dieses Formular kann nur von crowdgates eigenen Seiten gesendet werden.",
		internal:       "Bei uns ist etwas schiefgegangen. Bitte versuchen Sie es später erneut.",
		hour:           "Stunde", hours: "Stunden", minute: "Minute", minutes: "Minuten", and: "und",
	},
}

// page is what render writes.
type page struct {
	Lang  string
	Title string
	Lead  string
	Extra string
	Error bool
	Form  *form
	// Then is a second form, after Extra, with an introducing line.
	Then      *form
	ThenIntro string
	Privacy   string
	// Link leads on to another page (the error pages' way back to the sign-up page).
	Link *link
}

type link struct {
	Href, Text string
}

type form struct {
	Action string
	// Get sends the form with GET: for a button that only leads to a page (the route
	// table has no POST there).
	Get    bool
	Button string
	// Email shows the address field with this label.
	Email  string
	Hidden map[string]string
}

// render writes the page. It is built by hand rather than with html/template: that package
// reflects on method values, which stops the linker from dropping unused methods and made
// this function's binary 10 MB larger than the others (the bootstrap size budget).
// Every value goes through html.EscapeString; attributes are double-quoted.
func render(p page) []byte {
	var b bytes.Buffer
	e := html.EscapeString
	b.WriteString("<!doctype html>\n<html lang=\"" + e(p.Lang) + "\">\n<head>\n<meta charset=\"utf-8\">\n" +
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n" +
		"<meta name=\"referrer\" content=\"same-origin\">\n<title>" + e(p.Title) + " – crowdgate</title>\n</head>\n<body>\n<main>\n" +
		"<h1>" + e(p.Title) + "</h1>\n")
	if p.Error {
		b.WriteString("<p role=\"alert\">" + e(p.Lead) + "</p>\n")
	} else {
		b.WriteString("<p>" + e(p.Lead) + "</p>\n")
	}
	if p.Form != nil {
		renderForm(&b, p.Form)
	}
	if p.Extra != "" {
		b.WriteString("<p>" + e(p.Extra) + "</p>\n")
	}
	if p.Then != nil {
		b.WriteString("<p>" + e(p.ThenIntro) + "</p>\n")
		renderForm(&b, p.Then)
	}
	if p.Link != nil {
		b.WriteString("<p><a href=\"" + e(p.Link.Href) + "\">" + e(p.Link.Text) + "</a></p>\n")
	}
	if p.Privacy != "" {
		b.WriteString("<p><small>" + e(p.Privacy) + "</small></p>\n")
	}
	b.WriteString("</main>\n</body>\n</html>\n")
	return b.Bytes()
}

func renderForm(b *bytes.Buffer, f *form) {
	e := html.EscapeString
	method := "post"
	if f.Get {
		method = "get"
	}
	b.WriteString("<form method=\"" + method + "\" action=\"" + e(f.Action) + "\">\n")
	for _, k := range slices.Sorted(maps.Keys(f.Hidden)) {
		b.WriteString("<input type=\"hidden\" name=\"" + e(k) + "\" value=\"" + e(f.Hidden[k]) + "\">\n")
	}
	if f.Email != "" {
		b.WriteString("<p><label for=\"email\">" + e(f.Email) + "</label><br>\n" +
			"<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" required maxlength=\"254\"></p>\n")
	}
	b.WriteString("<p><button type=\"submit\">" + e(f.Button) + "</button></p>\n</form>\n")
}

// writePage renders p with the page headers: strict CSP, no caching (pages carry codes),
// a referrer only to this origin (the confirm link's code must not leak elsewhere; with
// no-referrer, browsers would send "Origin: null" on the pages' own form posts, which the
// origin check refuses).
func writePage(w http.ResponseWriter, status int, p page) {
	body := render(p)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

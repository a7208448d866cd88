package privacy

import (
	"fmt"
	"strings"
)

// The e-mails the workflow sends. Plain text, English; they name the request id (not
// secret: the status secret is needed to read the status) and never contain the address.

var typeNames = map[Type]string{
	TypeAccess:          "access to your personal information",
	TypeDelete:          "deletion of your personal information",
	TypeCorrect:         "correction of your personal information",
	TypeOptOut:          "opt-out of the sale or sharing of your personal information",
	TypeLimit:           "limiting the use of your sensitive personal information",
	TypeWithdrawConsent: "withdrawal of your consent",
	TypeChildDelete:     "deletion of your child's personal information",
}

var regulationNames = map[Regulation]string{CCPA: "the CCPA", GDPR: "the GDPR"}

// DenyReasonText explains a deny reason to the subject.
var DenyReasonText = map[DenyReason]string{
	DenyInsufficientVerification: "we could not verify that the request comes from the person the data is about",
	DenyNoMatch:                  "we hold no account under this e-mail address",
	DenySuspectedFraud:           "the request appears not to have been made by the person the data is about",
	DenyOutsideJurisdiction:      "the law the request was made under does not apply to this data",
	DenyTooManyRequests:          "the same request was made too often in a short time",
	DenyOther:                    "see the note below",
}

const mailFooter = "\n\n-- \ncrowdgate privacy team. This message was sent because a privacy request named this address."

func codeMail(r Request, code string, duplicate bool) (subject, text string) {
	var b strings.Builder
	if duplicate {
		fmt.Fprintf(&b, "A privacy request was filed again for this address. You already have an open request for %s under %s (request %s, received %s UTC); no second request was created.\n\n",
			typeNames[r.Type], regulationNames[r.Regulation], r.ID, r.ReceivedAt.Format("2006-01-02"))
	} else {
		fmt.Fprintf(&b, "We received a request for %s under %s (request %s).\n\n", typeNames[r.Type], regulationNames[r.Regulation], r.ID)
	}
	fmt.Fprintf(&b, "Your verification code is %s\n\nEnter it where you filed the request. It is valid for %d minutes and can be tried %d times. After verifying you can follow the request's status.\n\n",
		code, int(CodeLifetime.Minutes()), MaxAttempts)
	b.WriteString("If you did not make this request, ignore this message: nothing is disclosed or changed unless the code is entered.")
	b.WriteString(mailFooter)
	return "Your privacy request: verification code " + code, b.String()
}

func denialMail(r Request) (subject, text string) {
	var b strings.Builder
	fmt.Fprintf(&b, "Your request %s for %s under %s was denied: %s.\n", r.ID, typeNames[r.Type], regulationNames[r.Regulation], DenyReasonText[r.DenyReason])
	if r.DenyNote != "" {
		fmt.Fprintf(&b, "\nNote from our privacy team: %s\n", r.DenyNote)
	}
	if r.DenyReason == DenyNoMatch {
		b.WriteString("\nIf you used a website protected by crowdgate without an account: we do not hold data that identifies you. " + EndUserSummary + "\n")
	}
	b.WriteString("\nYou may file a new request at any time; if you believe this decision is wrong, reply to this message or contact your supervisory authority.")
	b.WriteString(mailFooter)
	return "Your privacy request " + r.ID + " was denied", b.String()
}

func extensionMail(r Request) (subject, text string) {
	var b strings.Builder
	fmt.Fprintf(&b, "We need more time to answer your request %s for %s under %s. The new deadline is %s (it was %s).\n\nReason: %s\n",
		r.ID, typeNames[r.Type], regulationNames[r.Regulation], r.Deadlines.Extended, r.Deadlines.Response, r.Deadlines.ExtensionReason)
	b.WriteString(mailFooter)
	return "Your privacy request " + r.ID + ": more time needed", b.String()
}

func completionMail(r Request) (subject, text string) {
	var b strings.Builder
	fmt.Fprintf(&b, "Your request %s for %s under %s has been carried out.\n", r.ID, typeNames[r.Type], regulationNames[r.Regulation])
	if r.Type == TypeAccess {
		// The mail carries no link: the status secret, shown once when the address was
		// confirmed, is what proves the download is the requester's.
		fmt.Fprintf(&b, "\nYour copy of the data can be downloaded until %s (%d days): ask GET /v1/privacy/requests/%s/package "+
			"with the status secret you received when you confirmed your address (Authorization: Bearer <status secret>). "+
			"The answer holds two links, each valid for 15 minutes; ask again for fresh ones.\n",
			PackageUntil(r).UTC().Format("2 January 2006"), PackageKeepDays, r.ID)
	}
	b.WriteString(mailFooter)
	return "Your privacy request " + r.ID + " is complete", b.String()
}

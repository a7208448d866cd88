package privacy

import "fmt"

// EndUserSummary is the short form of the end-user answer (also in no_match denials).
const EndUserSummary = "What a crowdgate-protected page processes about you is kept pseudonymised and briefly: " +
	"network addresses only truncated or hashed with a daily salt that is destroyed after 48 hours, " +
	"behavioural signals not at all, and your answers to challenges only under a pseudonym that changes every day, " +
	"so they cannot be tied to you (GDPR Art. 11). Details: GET /v1/privacy/end-user."

// Holding is one kind of data crowdgate processes about website visitors.
type Holding struct {
	Data string `json:"data"`
	Form string `json:"form"`
	Kept string `json:"kept"`
}

// EndUserAnswer is the honest answer to a visitor without an account who asks what
// crowdgate holds about them (their address, their answers). It is the same for everyone,
// so giving it requires collecting nothing.
type EndUserAnswer struct {
	Audience  string    `json:"audience"`
	Collected string    `json:"collected_to_answer"`
	Holdings  []Holding `json:"we_hold"`
	Requests  string    `json:"your_requests"`
	Sale      string    `json:"sale_and_sharing"`
	Summary   string    `json:"summary"`
}

// EndUser returns the end-user answer. It describes the storage layout of DESIGN §3; the
// retention figures are those of the tables (risk counters and challenge risk ≤ 24 h, salts
// 48 h after their day, challenges 5 minutes, pass tokens 120 s, disclosure records
// DisclosureRetentionMonths).
func EndUser() EndUserAnswer {
	return EndUserAnswer{
		Audience:  "People who used a website protected by crowdgate and have no crowdgate account.",
		Collected: "Nothing: this answer is the same for everyone. We did not look up, store or log your address or anything else to give it.",
		Holdings: []Holding{
			{
				Data: "Your network (IP) address",
				Form: "Never stored whole: truncated to its /24 (IPv4) or /48 (IPv6) network, or hashed with a secret salt " +
					"that changes every day and is destroyed 48 hours after the day ends. A request for accessibility sign-up mail " +
					"is counted under a keyed hash of your address (IPv6: its /64 network) and the clock hour.",
				Kept: "Risk counters per truncated network or hash expire within 24 hours; the salt is destroyed after 48 hours; " +
					"the sign-up mail counter ends with its hour. A risk lookup by a site's operator keeps the truncated network longer (below).",
			},
			{
				Data: "Browser, device and behavioural signals (mouse, scroll, keys, touch, motion, timing)",
				Form: "Reduced to a risk score and reasons while your request is handled; the signals themselves are not stored.",
				Kept: "Not kept. The score and reasons stay with the challenge or pass token. Nothing is stored in your browser either: " +
					"the widget sets no cookies and uses no browser storage.",
			},
			{
				Data: "Challenges you were shown and pass tokens",
				Form: "Random ids, the questions, the site's sitekey, the page's hostname, the language and, for a pass, the risk score; no address or browser string.",
				Kept: "Minutes: a challenge 5 minutes, a pass token 120 seconds (records are deleted after they expire). " +
					"The challenge's risk assessment (its id, the sitekey, score, reasons and solving time; no address) is kept 24 hours, for the site's operator to look up.",
			},
			{
				Data: "Risk lookups about you by a site's operator",
				Form: "When the operator of a site you used asks crowdgate about the risk of your challenge or of your address, a record of what was disclosed: " +
					"the operator's account, the site, the time, and the challenge's random id or your address truncated to its /24 (IPv4) or /48 (IPv6) network.",
				Kept: fmt.Sprintf("%d months, so that we can tell to whom information went.", DisclosureRetentionMonths),
			},
			{
				Data: "Your answers to challenges (Labeled Data)",
				Form: "Labels for images or texts, attributed only to a pseudonym computed from the day's salt, your truncated " +
					"network and browser string. No address, browser string or account id is stored with them.",
				Kept: "As long as the labeling customer's dataset exists; the pseudonym becomes unlinkable when the day's salt is destroyed.",
			},
		},
		Requests: "We cannot identify you in this data, and the GDPR (Art. 11) does not require us to collect more " +
			"information to do so; the CCPA likewise does not require re-identifying de-identified or pseudonymous data. " +
			"Once a day's salt is destroyed, nobody, including us, can tie that day's answers to you or anyone else. " +
			"Before then, a pseudonym stands for a network and browser that many people share, so we could not verify " +
			"that answers under it are yours, and an access or deletion request cannot be carried out for you. " +
			"If you also hold a crowdgate account, or signed up with an e-mail address to pass with text questions " +
			"(accessibility; kept at most 24 hours, only as a keyed hash of the address), file a request with that " +
			"e-mail at POST /v1/privacy/requests.",
		Sale:    "crowdgate does not sell or share personal information, and honours the Global Privacy Control (Sec-GPC: 1) signal as an opt-out without asking for anything else.",
		Summary: EndUserSummary,
	}
}

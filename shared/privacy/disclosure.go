package privacy

import (
	"context"
	"time"
)

// Disclosure records that information which may relate to a person was handed to a third
// party: who received it, about what, and when. Integrator risk lookups disclose what
// crowdgate knows about a challenge or an address's traffic on the integrator's own site,
// and each answer is logged here, so an access request can be told to whom such
// information went. A disclosure holds no address: an address lookup names only its
// network (/24 IPv4, /48 IPv6). Nor does it hold the API request's id, which serves only
// the logs, kept 30 days: the log line of the request names the record's ID instead.
type Disclosure struct {
	// ID names the record (the log fills in a random one when it is empty).
	ID string
	At time.Time
	// Recipient is the integrator (account id) that received the information.
	Recipient string
	// Sitekey is the site whose traffic the answer covered.
	Sitekey string
	// Kind is what was looked up (DisclosureRiskChallenge, DisclosureRiskIP).
	Kind string
	// Subject is what it was about: a challenge id, or the network of a looked-up address.
	Subject string
}

// Disclosure kinds.
const (
	DisclosureRiskChallenge = "risk_challenge"
	DisclosureRiskIP        = "risk_ip"
)

// DisclosureRetentionMonths is how long a disclosure record is kept: 24 months, as the
// CCPA asks of records of consumer requests (11 CCR §7101).
const DisclosureRetentionMonths = 24

// ExpiresAt is when the record of d is deleted.
func (d Disclosure) ExpiresAt() time.Time { return d.At.AddDate(0, DisclosureRetentionMonths, 0) }

// DisclosureLog keeps disclosure records (shared/dynamo.Disclosures).
type DisclosureLog interface {
	// RecordDisclosures records all of ds or, when it returns an error, none: an answer
	// covering several sites is given whole or not at all, and its records with it.
	RecordDisclosures(ctx context.Context, ds ...Disclosure) error
}

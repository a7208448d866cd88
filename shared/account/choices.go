package account

// Choices are what an account holder told crowdgate not to do, through privacy requests
// (opt_out, limit). The privacy worker sets them on the integrator or customer and on
// every site of an integrator; a site created later inherits its integrator's (CreateSite).
type Choices struct {
	// OptOutSale: the holder opted out of the sale or sharing of personal information
	// (CCPA §1798.120).
	OptOutSale bool
	// LimitSensitive: the holder limited the use of sensitive personal information to what
	// the service needs (CCPA §1798.121).
	LimitSensitive bool
}

// Any reports whether any choice is set.
func (c Choices) Any() bool { return c.OptOutSale || c.LimitSensitive }

// PublishesAnswers reports whether the answers of the site's visitors may be published as
// labeled data (the answers queue, then customers' datasets). Handing a site's traffic to
// label customers is a sharing with third parties and a use the verification service does
// not need, so either choice of the site's integrator stops it: the challenge still
// verifies visitors with gold items, and only the labels of open items are withheld.
func (s Site) PublishesAnswers() bool { return !s.Choices.OptOutSale && !s.Choices.LimitSensitive }

// Profile fields a privacy correction may change (privacy.CorrectableFields).
const (
	FieldName    = "name"
	FieldEmail   = "email"
	FieldCountry = "country"
)

// NormalizeField validates a new value of a profile field (FieldName, FieldEmail,
// FieldCountry) with the rules account creation applies and returns its stored form.
func NormalizeField(field, value string) (string, error) {
	switch field {
	case FieldName:
		return validName(value)
	case FieldEmail:
		return validEmail(value)
	case FieldCountry:
		return validCountry(value)
	}
	return "", invalid("field", "%q is not a profile field", field)
}

package account

import (
	"net/mail"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on account input.
const (
	MaxNameRunes  = 100
	MaxEmailBytes = 254 // RFC 5321 path limit
	MaxHostnames  = 20
)

func validName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", invalid("name", "is required")
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxNameRunes {
		return "", invalid("name", "must be valid text of at most %d characters", MaxNameRunes)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", invalid("name", "must not contain control characters")
		}
	}
	return s, nil
}

// validEmail accepts a bare address (no display name, no comments) whose domain is a DNS
// name with at least two labels.
func validEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", invalid("email", "is required")
	}
	if len(s) > MaxEmailBytes {
		return "", invalid("email", "must be at most %d bytes", MaxEmailBytes)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", invalid("email", "must be a plain address like name@example.com")
	}
	at := strings.LastIndexByte(s, '@')
	domain := strings.ToLower(s[at+1:])
	if !isDNSName(domain) || !strings.Contains(domain, ".") {
		return "", invalid("email", "must have a domain like example.com")
	}
	return s[:at+1] + domain, nil
}

func validCountry(s string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(s))
	if len(c) != 2 || !strings.Contains(iso3166Alpha2, " "+c+" ") {
		return "", invalid("country", "must be an ISO 3166-1 alpha-2 code such as DE or US")
	}
	return c, nil
}

// ValidHostnames normalises a site's hostnames: trimmed, lower-cased, without a trailing
// dot, IPs in canonical form, duplicates dropped. Each must be a DNS name or an IP address
// (no scheme, port, path or wildcard: subdomains are allowed anyway); 1..MaxHostnames.
func ValidHostnames(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, invalid("hostnames", "at least one hostname is required")
	}
	if len(in) > MaxHostnames {
		return nil, invalid("hostnames", "at most %d hostnames", MaxHostnames)
	}
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for i, h := range in {
		h = CanonicalHost(h)
		if ip, err := netip.ParseAddr(h); (err != nil || ip.Zone() != "") && !isDNSName(h) {
			// Browsers report an internationalised name in its ASCII form, so that is the one
			// a site lists.
			return nil, invalid("hostnames", "entry %d is not a DNS name or IP address (write an internationalised name in its xn-- form)", i+1)
		}
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out, nil
}

// isDNSName checks a lower-case host name: labels of 1-63 letters, digits and inner
// hyphens, at most 253 bytes, and a last label that is not all digits (that would be a
// mistyped IP).
func isDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

func isIP(h string) bool {
	_, err := netip.ParseAddr(h)
	return err == nil
}

// iso3166Alpha2 lists the 249 officially assigned ISO 3166-1 alpha-2 codes.
const iso3166Alpha2 = " " +
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ " +
	"BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ " +
	"DE DJ DK DM DO DZ " +
	"EC EE EG EH ER ES ET " +
	"FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY " +
	"HK HM HN HR HT HU " +
	"ID IE IL IM IN IO IQ IR IS IT " +
	"JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ " +
	"LA LB LC LI LK LR LS LT LU LV LY " +
	"MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ " +
	"NA NC NE NF NG NI NL NO NP NR NU NZ " +
	"OM " +
	"PA PE PF PG PH PK PL PM PN PR PS PT PW PY " +
	"QA " +
	"RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ " +
	"TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ " +
	"UA UG UM US UY UZ " +
	"VA VC VE VG VI VN VU " +
	"WF WS " +
	"YE YT " +
	"ZA ZM ZW "

// validProfile checks and normalises the fields every account (integrator, customer) has.
func validProfile(name, email, country string) (string, string, string, error) {
	name, err := validName(name)
	if err != nil {
		return "", "", "", err
	}
	email, err = validEmail(email)
	if err != nil {
		return "", "", "", err
	}
	country, err = validCountry(country)
	if err != nil {
		return "", "", "", err
	}
	return name, email, country, nil
}

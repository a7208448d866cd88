package privacy

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The mail provider's suppression list (on AWS, SES's account-level suppression list): an
// address whose mail bounced or drew a complaint is kept there, outside every table, until
// it is removed. An erasure removes the subject's address from it; an access package says
// whether the address is on it.

// ExecSuppression is the executor of the suppression list.
const ExecSuppression = "mail_suppression"

// Kinds of record: an entry removed from the list (erasure report), and whether the
// address is listed (access package).
const (
	KindSuppressedAddress = "suppressed_address"
	KindMailSuppression   = "mail_suppression"
)

// storeSuppression is the suppression list as the access package names it.
const storeSuppression = "ses_suppression_list"

// Suppression is why and since when an address is on the suppression list.
type Suppression struct {
	Reason string    // the provider's reason (SES: "BOUNCE" or "COMPLAINT")
	Since  time.Time // when the provider last listed it
}

// SuppressionList is the mail provider's suppression list (shared/mail: SES, or the local
// stack's Outbox, which suppresses nothing).
type SuppressionList interface {
	// Suppressed reports whether address is on the list; listed is false if it is not.
	Suppressed(ctx context.Context, address string) (s Suppression, listed bool, err error)
	// Unsuppress removes address from the list; removed is false if it was not on it.
	Unsuppress(ctx context.Context, address string) (removed bool, err error)
}

// suppressionAddresses are the forms of the request's address the list is asked about:
// as the subject typed it (what notices were sent to) and normalised (lower case), since
// the provider may not fold case. None once the address is dropped.
func suppressionAddresses(r Request) []string {
	typed := strings.TrimSpace(r.Email)
	if typed == "" {
		return nil
	}
	out := []string{typed}
	if n, err := NormalizeEmail(typed); err == nil && n != typed {
		out = append(out, n)
	}
	return out
}

// eraseSuppression removes every form of the subject's address from the suppression list,
// counting the entries removed. Removing an address that is not listed changes nothing,
// so a rerun is harmless.
func (d ExecDeps) eraseSuppression(ctx context.Context, r Request, _ Holders, p *progress) (bool, error) {
	for _, a := range suppressionAddresses(r) {
		removed, err := d.Suppression.Unsuppress(ctx, a)
		if err != nil {
			return false, fmt.Errorf("remove the address from the suppression list: %w", err)
		}
		if removed {
			p.add(KindSuppressedAddress, 1)
		}
	}
	return true, nil
}

// accessSuppression writes one record: whether the subject's address is on the suppression
// list and, if so, why and since when (nothing once the address is dropped).
func (d ExecDeps) accessSuppression(ctx context.Context, r Request, _ Holders, p *progress) (bool, error) {
	addrs := suppressionAddresses(r)
	if len(addrs) == 0 {
		return true, d.writePart(ctx, r, ExecSuppression, nil, p)
	}
	fields := map[string]string{"suppressed": "no"}
	for _, a := range addrs {
		s, listed, err := d.Suppression.Suppressed(ctx, a)
		if err != nil {
			return false, fmt.Errorf("look the address up on the suppression list: %w", err)
		}
		if listed {
			fields = compact(map[string]string{"suppressed": "yes", "reason": strings.ToLower(s.Reason), "since": ts(s.Since)})
			break
		}
	}
	return true, d.writePart(ctx, r, ExecSuppression, []Record{{Store: storeSuppression, Kind: KindMailSuppression, ID: addrs[0], Fields: fields}}, p)
}

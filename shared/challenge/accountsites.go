package challenge

import (
	"context"
	"errors"
	"fmt"

	"github.com/crowdgate/crowdgate/shared/account"
)

// SiteStore is the part of the account store that site lookups read (shared/dynamo.Accounts).
type SiteStore interface {
	GetSite(ctx context.Context, sitekey string) (account.Site, error)
}

// AccountSites adapts the account store to Sites, for every function that checks a
// visitor's sitekey and page host (challenge, accessibility).
type AccountSites struct {
	Store SiteStore
}

var _ Sites = AccountSites{}

// Site implements Sites. Sitekeys are UUIDs: anything else is unknown without a read.
func (s AccountSites) Site(ctx context.Context, sitekey string) (SiteInfo, error) {
	if !account.IsUUID(sitekey) {
		return SiteInfo{}, ErrUnknownSite
	}
	site, err := s.Store.GetSite(ctx, sitekey)
	if errors.Is(err, account.ErrNotFound) {
		return SiteInfo{}, ErrUnknownSite
	}
	if err != nil {
		return SiteInfo{}, fmt.Errorf("get site: %w", err)
	}
	return SiteInfo{Sitekey: site.Sitekey, Hostnames: site.Hostnames, WithholdAnswers: !site.PublishesAnswers()}, nil
}

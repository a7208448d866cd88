package handler

import (
	"context"
	"net/http"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Wire builds the risk lookup from the function's environment: integrator keys, sites and
// site secrets from the accounts table, counters and salts in the risk table, disclosures in the privacy table.
func Wire(_ context.Context, env *platform.Env) (http.Handler, error) {
	tables := map[string]string{}
	for _, t := range []string{schema.TableAccounts, schema.TableRisk, schema.TablePrivacy} {
		name, err := env.Config.Table(t)
		if err != nil {
			return nil, err
		}
		tables[t] = name
	}
	now := env.Clock()
	db := env.DynamoDB()
	accounts := dynamo.NewAccounts(db, tables[schema.TableAccounts])
	return New(Deps{
		Keys:        account.NewIntegratorKeyService(accounts, now),
		Sites:       account.NewService(accounts, now),
		Store:       dynamo.NewRisk(db, tables[schema.TableRisk], now),
		Salts:       dynamo.NewSalts(db, tables[schema.TableRisk], dynamo.SaltPurposeRisk),
		Disclosures: dynamo.NewDisclosures(db, dynamo.DisclosureTables{Privacy: tables[schema.TablePrivacy], Accounts: tables[schema.TableAccounts]}, now),
		Analytics:   dynamo.NewAnalytics(db, tables[schema.TableRisk], now),
		Now:         now,
	}), nil
}

// WireConsumer builds the risk-events consumer: counters and daily aggregates in the risk
// table.
func WireConsumer(_ context.Context, env *platform.Env) (platform.SQSHandler, error) {
	table, err := env.Config.Table(schema.TableRisk)
	if err != nil {
		return nil, err
	}
	now := env.Clock()
	return NewConsumer(ConsumerDeps{
		Store:     dynamo.NewRisk(env.DynamoDB(), table, now),
		Analytics: dynamo.NewAnalytics(env.DynamoDB(), table, now),
	}), nil
}

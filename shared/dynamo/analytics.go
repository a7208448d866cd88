package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/analytics"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Analytics keeps the integrator analytics' daily aggregates in the risk table:
//
//	AD#<sitekey>     D#<YYYY-MM-DD>  one site's UTC day: c, p, f, b = challenges, passes,
//	                                 fails, blocked (ADD); kind "analytics-day";
//	                                 ttl = analytics.Expires(day), 13 months after the day
//	EVT#<event id>   AGG             the event was counted here; ttl = event + 24 h
//
// An aggregate holds counts only: no address, pseudonym, challenge id or time finer than
// the day. The marker (which names the event, so a challenge id, like the risk store's own
// EVT#…/EVENT marker) lives 24 hours like every other per-event record; events older than
// that are not counted, since a redelivery could then no longer be recognised. Nor are
// events of a day no longer analytics.Countable: a day's counts are published once final
// and must not change afterwards.
type Analytics struct {
	api   API
	table string
	now   func() time.Time
}

// NewAnalytics returns the aggregates on the deployed risk table; now (nil: time.Now)
// judges expiry.
func NewAnalytics(api API, table string, now func() time.Time) *Analytics {
	return &Analytics{api: api, table: table, now: clockOrTimeNow(now)}
}

const (
	analyticsDayPrefix = "D#"
	analyticsSKMarker  = "AGG"
	analyticsKind      = "analytics-day"
)

func analyticsPK(sitekey string) string { return "AD#" + sitekey }

// analyticsAttr is the attribute a cell is counted in.
var analyticsAttr = map[analytics.Cell]string{
	analytics.Challenges: "c", analytics.Passes: "p", analytics.Fails: "f", analytics.Blocked: "b",
}

// Count adds a risk event to its site's day, at most once per event id, in one
// transaction (the conditional marker put and the counter's ADD): counted is false for an
// event counted before, one older than challenge.RiskEventRetention, one whose day is no
// longer analytics.Countable (final, or about to be) and one that counts in no cell. A
// malformed event, or one dated ahead of the clock, is challenge.ErrBadRiskEvent.
func (a *Analytics) Count(ctx context.Context, ev challenge.RiskEvent) (counted bool, err error) {
	if err := ev.Validate(); err != nil {
		return false, err
	}
	cell, ok := analytics.CellOf(ev)
	if !ok {
		return false, nil
	}
	now := a.now()
	if stale, err := ev.Stale(now); stale || err != nil {
		return false, err
	}
	date := analytics.DayOf(ev)
	day, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return false, fmt.Errorf("%w: day %q", challenge.ErrBadRiskEvent, date)
	}
	if !analytics.Countable(day, now) {
		// Its day is (nearly) final and may be shown already: published counts never change.
		return false, nil
	}
	marker := Key(riskEventPK(ev.ID), analyticsSKMarker)
	marker["kind"] = &types.AttributeValueMemberS{Value: "analytics-event"}
	marker[schema.TTLAttribute] = TTL(ev.At.Add(challenge.RiskEventRetention))
	ops := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &a.table, Item: marker, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Update: &types.Update{
			TableName:                &a.table,
			Key:                      Key(analyticsPK(ev.Sitekey), analyticsDayPrefix+date),
			UpdateExpression:         aws.String("SET #ttl = :ttl, #kind = :kind ADD #c :one"),
			ExpressionAttributeNames: map[string]string{"#ttl": schema.TTLAttribute, "#kind": "kind", "#c": analyticsAttr[cell]},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":ttl":  TTL(analytics.Expires(day)),
				":kind": &types.AttributeValueMemberS{Value: analyticsKind},
				":one":  &types.AttributeValueMemberN{Value: "1"},
			},
		}},
	}
	// Events of the same site and day race for one counter: applyOnce retries the loser.
	return applyOnce(ctx, a.api, ops, "count analytics event")
}

// Daily returns a site's counts for the days of q (one query); days without traffic, and
// expired ones, are absent.
func (a *Analytics) Daily(ctx context.Context, sitekey string, q analytics.Query) (map[string]analytics.Counts, error) {
	out := map[string]analytics.Counts{}
	now := a.now()
	in := &dynamodb.QueryInput{
		TableName:              &a.table,
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":   &types.AttributeValueMemberS{Value: analyticsPK(sitekey)},
			":from": &types.AttributeValueMemberS{Value: analyticsDayPrefix + q.From.Format(time.DateOnly)},
			":to":   &types.AttributeValueMemberS{Value: analyticsDayPrefix + q.To.Format(time.DateOnly)},
		},
	}
	err := queryEach(ctx, a.api, now, in, 0, func(it map[string]types.AttributeValue) error {
		sk, _ := it[schema.SortKey].(*types.AttributeValueMemberS)
		if sk == nil || !strings.HasPrefix(sk.Value, analyticsDayPrefix) {
			return nil
		}
		c := analytics.Counts{}
		for cell, attr := range analyticsAttr {
			if n, ok := it[attr].(*types.AttributeValueMemberN); ok {
				c[cell], _ = strconv.Atoi(n.Value)
			}
		}
		out[strings.TrimPrefix(sk.Value, analyticsDayPrefix)] = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read analytics of %s: %w", sitekey, err)
	}
	return out, nil
}

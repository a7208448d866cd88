package dynamo

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// SaltPurposeRisk keys the risk function's IP and subnet pseudonyms (challenge.RiskPseudonyms):
// a purpose of its own, so they cannot be joined with answerer pseudonyms.
const SaltPurposeRisk = "risk"

// Risk is the risk function's store on the risk table: per-minute counters per IP
// pseudonym, subnet pseudonym and (for integrator lookups) per site and IP pseudonym, the
// risk of each challenge, and the idempotency markers of applied events. Layout (every
// record has a ttl; raw counters live at most 24 hours, DESIGN §3):
//
//	RW#IP#<pseudonym>                  H#<YYYY-MM-DDTHH>  one UTC hour of an IP pseudonym: i<MM> r<MM>
//	                                                      p<MM> f<MM> = issued, refused, passed, failed
//	                                                      in minute MM (ADD); s<NN> = solve times (ms)
//	                                                      in 64 slots picked by event id; ttl = hour + 24 h
//	RW#NET#<pseudonym>                 H#<hour>           the same for the /24 or /64 subnet (no solve times)
//	RW#SITE#<sitekey>#IP#<pseudonym>   H#<hour>           the IP's events on one site only; ss, sn =
//	                                                      sum of answer scores (millionths), answers
//	RC#<challenge id>                  RISK               the challenge's issue and answer risk;
//	                                                      ttl = event + 24 h
//	EVT#<event id>                     EVENT              the event was applied; ttl = event + 24 h
//
// An event's counters, challenge record and marker are written in one transaction whose
// marker put is conditional, so a redelivered event changes nothing. Pseudonyms are made
// with the salt of the event's UTC day (salts.go, SaltPurposeRisk), so readers ask for
// each hour under the pseudonyms of its day.
type Risk struct {
	api   BatchAPI
	table string
	now   func() time.Time
}

var _ challenge.RiskWindowReader = (*Risk)(nil)

// NewRisk returns the store on the deployed risk table; now (nil: time.Now) judges expiry.
func NewRisk(api BatchAPI, table string, now func() time.Time) *Risk {
	return &Risk{api: api, table: table, now: clockOrTimeNow(now)}
}

const (
	riskHourFormat  = "2006-01-02T15"
	riskHourPrefix  = "H#"
	riskSKChallenge = "RISK"
	riskSKEvent     = "EVENT"
	// riskSolveSlots is how many solve times an IP bucket keeps per hour: a sample when
	// there are more, and a few collisions lose one when there are fewer.
	riskSolveSlots = 64
	// riskTxAttempts bounds retries of a transaction that lost a race on a counter (risk
	// and analytics events alike, applyOnce).
	riskTxAttempts = 6
)

func riskIPPK(p string) string         { return "RW#IP#" + p }
func riskNetPK(p string) string        { return "RW#NET#" + p }
func riskSitePK(site, p string) string { return "RW#SITE#" + site + "#IP#" + p }
func riskHourSK(hour time.Time) string { return riskHourPrefix + hour.UTC().Format(riskHourFormat) }
func riskChallengePK(id string) string { return "RC#" + id }
func riskEventPK(id string) string     { return "EVT#" + id }
func riskCounterAttr(o challenge.Outcome) (string, bool) {
	switch o {
	case challenge.OutcomeIssued:
		return "i", true
	case challenge.OutcomeRefused:
		return "r", true
	case challenge.OutcomePassed:
		return "p", true
	case challenge.OutcomeFailed:
		return "f", true
	}
	return "", false
}

// hoursBetween lists the UTC hours that overlap [from, to].
func hoursBetween(from, to time.Time) []time.Time {
	var out []time.Time
	for h := from.UTC().Truncate(time.Hour); !h.After(to); h = h.Add(time.Hour) {
		out = append(out, h)
	}
	return out
}

// Windows implements challenge.RiskWindowReader with one BatchGetItem (eventually
// consistent: the counters are written asynchronously anyway).
func (r *Risk) Windows(ctx context.Context, q challenge.WindowQuery) (challenge.RiskWindows, error) {
	w := challenge.RiskWindows{IP: challenge.Minutes{}, Subnet: challenge.Minutes{}}
	var keys []map[string]types.AttributeValue
	for _, h := range hoursBetween(q.From, q.To) {
		p, ok := q.Keys[h.Format(time.DateOnly)]
		if !ok || p.IP == "" {
			continue
		}
		keys = append(keys, Key(riskIPPK(p.IP), riskHourSK(h)), Key(riskNetPK(p.Subnet), riskHourSK(h)))
	}
	items, err := r.batchGet(ctx, keys)
	if err != nil {
		return challenge.RiskWindows{}, err
	}
	now := r.now()
	lo, hi := challenge.MinuteOf(q.From), challenge.MinuteOf(q.To)
	for _, it := range items {
		if Expired(it, now) {
			continue
		}
		pk, hour, ok := riskBucket(it)
		if !ok {
			continue
		}
		dst := w.Subnet
		if strings.HasPrefix(pk, "RW#IP#") {
			dst = w.IP
			w.Solves = append(w.Solves, riskSolves(it)...)
		}
		for k, c := range riskMinutes(it, hour) {
			if k >= lo && k <= hi {
				dst[k] = dst[k].Add(c)
			}
		}
	}
	return w, nil
}

// batchGet reads the windows' keys, eventually consistent, failing fast: the challenge
// request waits on it.
func (r *Risk) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	return batchGetAll(ctx, r.api, keys, batchRead{
		table:    r.table,
		attempts: 5,
		pause:    func(attempt int) time.Duration { return time.Duration(attempt*attempt) * 10 * time.Millisecond },
		what:     "read risk windows",
	})
}

// riskBucket returns an hour bucket's pk and hour.
func riskBucket(it map[string]types.AttributeValue) (string, time.Time, bool) {
	pk, _ := it[schema.PartitionKey].(*types.AttributeValueMemberS)
	sk, _ := it[schema.SortKey].(*types.AttributeValueMemberS)
	if pk == nil || sk == nil || !strings.HasPrefix(sk.Value, riskHourPrefix) {
		return "", time.Time{}, false
	}
	h, err := time.Parse(riskHourFormat, strings.TrimPrefix(sk.Value, riskHourPrefix))
	if err != nil {
		return "", time.Time{}, false
	}
	return pk.Value, h, true
}

// riskMinutes decodes an hour bucket's per-minute counters (i05, f59, …).
func riskMinutes(it map[string]types.AttributeValue, hour time.Time) challenge.Minutes {
	m := challenge.Minutes{}
	base := challenge.MinuteOf(hour)
	for name, v := range it {
		if len(name) != 3 || strings.IndexByte("irpf", name[0]) < 0 {
			continue
		}
		mm, err := strconv.Atoi(name[1:])
		if err != nil || mm < 0 || mm > 59 {
			continue
		}
		n, ok := v.(*types.AttributeValueMemberN)
		if !ok {
			continue
		}
		count, err := strconv.Atoi(n.Value)
		if err != nil {
			continue
		}
		c := m[base+int64(mm)]
		switch name[0] {
		case 'i':
			c.Issued += count
		case 'r':
			c.Refused += count
		case 'p':
			c.Passed += count
		case 'f':
			c.Failed += count
		}
		m[base+int64(mm)] = c
	}
	return m
}

// riskSolves decodes the solve times of an IP bucket (slots s00…).
func riskSolves(it map[string]types.AttributeValue) []time.Duration {
	var out []time.Duration
	for name, v := range it {
		if len(name) != 3 || name[0] != 's' || name[1] < '0' || name[1] > '9' || name[2] < '0' || name[2] > '9' {
			continue
		}
		n, ok := v.(*types.AttributeValueMemberN)
		if !ok {
			continue
		}
		if ms, err := strconv.ParseInt(n.Value, 10, 64); err == nil && ms >= 0 {
			out = append(out, time.Duration(ms)*time.Millisecond)
		}
	}
	return out
}

// Apply counts one risk event, at most once per event id: applied is false for an event
// seen before and for one older than challenge.RiskEventRetention (its counters would be
// gone already). A malformed event, or one dated ahead of the clock, is
// challenge.ErrBadRiskEvent.
func (r *Risk) Apply(ctx context.Context, ev challenge.RiskEvent) (applied bool, err error) {
	if err := ev.Validate(); err != nil {
		return false, err
	}
	if stale, err := ev.Stale(r.now()); stale || err != nil {
		return false, err
	}
	at := ev.At.UTC()
	hour := at.Truncate(time.Hour)
	ops := r.eventOps(ev, hour, TTL(hour.Add(challenge.RiskEventRetention)))
	return applyOnce(ctx, r.api, ops, "apply risk event")
}

// applyOnce writes an event's transaction, whose conditional marker put makes it apply at
// most once: applied is false when the marker exists (the event was applied before). A
// transaction that lost a race with another event's on the same counter is tried again
// shortly, riskTxAttempts times in all.
func applyOnce(ctx context.Context, api API, ops []types.TransactWriteItem, what string) (applied bool, err error) {
	for attempt := 1; ; attempt++ {
		_, err = api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
		switch {
		case err == nil:
			return true, nil
		case IsConditionFailed(err):
			return false, nil
		case isTransactionConflict(err) && attempt < riskTxAttempts:
			if err := sleep(ctx, time.Duration(attempt*attempt)*5*time.Millisecond); err != nil {
				return false, err
			}
		default:
			return false, fmt.Errorf("%s: %w", what, err)
		}
	}
}

// eventOps are the writes of one event: the conditional marker, the three counters and
// the challenge record.
func (r *Risk) eventOps(ev challenge.RiskEvent, hour time.Time, bucketTTL types.AttributeValue) []types.TransactWriteItem {
	eventTTL := TTL(ev.At.Add(challenge.RiskEventRetention))
	marker := Key(riskEventPK(ev.ID), riskSKEvent)
	marker["kind"] = &types.AttributeValueMemberS{Value: "risk-event"}
	marker[schema.TTLAttribute] = eventTTL
	ops := []types.TransactWriteItem{{Put: &types.Put{
		TableName: &r.table, Item: marker, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}}}
	letter, _ := riskCounterAttr(ev.Outcome)
	counter := letter + fmt.Sprintf("%02d", ev.At.UTC().Minute())
	if ev.IP != "" {
		one := &types.AttributeValueMemberN{Value: "1"}
		update := func(pk, set, add string, names map[string]string, vals map[string]types.AttributeValue) types.TransactWriteItem {
			n := map[string]string{"#ttl": schema.TTLAttribute, "#c": counter}
			v := map[string]types.AttributeValue{":ttl": bucketTTL, ":one": one}
			maps.Copy(n, names)
			maps.Copy(v, vals)
			return types.TransactWriteItem{Update: &types.Update{
				TableName:                 &r.table,
				Key:                       Key(pk, riskHourSK(hour)),
				UpdateExpression:          aws.String("SET #ttl = :ttl" + set + " ADD #c :one" + add),
				ExpressionAttributeNames:  n,
				ExpressionAttributeValues: v,
			}}
		}
		ipSet, ipNames, ipVals := "", map[string]string(nil), map[string]types.AttributeValue(nil)
		if ev.Kind == challenge.RiskEventAnswer && ev.SolveMS > 0 {
			// A solve time goes into one of riskSolveSlots slots picked by the event id: a
			// redelivery writes the same slot, and a flood cannot grow the item.
			h := fnv.New32a()
			h.Write([]byte(ev.ID))
			ipSet = ", #s = :s"
			ipNames = map[string]string{"#s": fmt.Sprintf("s%02d", h.Sum32()%riskSolveSlots)}
			ipVals = map[string]types.AttributeValue{":s": &types.AttributeValueMemberN{Value: strconv.FormatInt(ev.SolveMS, 10)}}
		}
		ops = append(ops, update(riskIPPK(ev.IP), ipSet, "", ipNames, ipVals), update(riskNetPK(ev.Subnet), "", "", nil, nil))
		if ev.Kind == challenge.RiskEventAnswer {
			micro := strconv.FormatInt(int64(ev.Score*1e6+0.5), 10)
			ops = append(ops, update(riskSitePK(ev.Sitekey, ev.IP), "", ", ss :ss, sn :one", nil, map[string]types.AttributeValue{
				":ss": &types.AttributeValueMemberN{Value: micro},
			}))
		} else {
			ops = append(ops, update(riskSitePK(ev.Sitekey, ev.IP), "", "", nil, nil))
		}
	}
	if ev.Challenge != "" {
		ops = append(ops, types.TransactWriteItem{Update: r.challengeUpdate(ev, eventTTL)})
	}
	return ops
}

// challengeUpdate sets the issue or the answer side of a challenge's risk record; the
// two events may arrive in either order. Empty reason lists are left out (some DynamoDB
// stand-ins mangle empty lists).
func (r *Risk) challengeUpdate(ev challenge.RiskEvent, ttl types.AttributeValue) *types.Update {
	at := ev.At.UTC().Format(time.RFC3339Nano)
	vals := map[string]types.AttributeValue{
		":site":  &types.AttributeValueMemberS{Value: ev.Sitekey},
		":at":    &types.AttributeValueMemberS{Value: at},
		":score": &types.AttributeValueMemberN{Value: strconv.FormatFloat(ev.Score, 'g', -1, 64)},
		":ttl":   ttl,
	}
	var set []string
	reasons := "ir"
	if ev.Kind == challenge.RiskEventIssue {
		set = []string{"sitekey = :site", "issued_at = :at", "iscore = :score", "tasks = :tasks", "#ttl = :ttl"}
		vals[":tasks"] = &types.AttributeValueMemberN{Value: strconv.Itoa(ev.Tasks)}
	} else {
		reasons = "ar"
		set = []string{"sitekey = :site", "answered_at = :at", "ascore = :score", "outcome = :o", "solve_ms = :ms", "#ttl = :ttl"}
		vals[":o"] = &types.AttributeValueMemberS{Value: string(ev.Outcome)}
		vals[":ms"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(ev.SolveMS, 10)}
	}
	if len(ev.Reasons) > 0 {
		l := make([]types.AttributeValue, len(ev.Reasons))
		for i, s := range ev.Reasons {
			l[i] = &types.AttributeValueMemberS{Value: s}
		}
		set = append(set, reasons+" = :r")
		vals[":r"] = &types.AttributeValueMemberL{Value: l}
	}
	return &types.Update{
		TableName:                 &r.table,
		Key:                       Key(riskChallengePK(ev.Challenge), riskSKChallenge),
		UpdateExpression:          aws.String("SET " + strings.Join(set, ", ")),
		ExpressionAttributeNames:  map[string]string{"#ttl": schema.TTLAttribute},
		ExpressionAttributeValues: vals,
	}
}

// ChallengeRisk returns what the risk function knows about a challenge:
// challenge.ErrNotFound when no event about it arrived (yet), or it has expired.
func (r *Risk) ChallengeRisk(ctx context.Context, id string) (challenge.ChallengeRisk, error) {
	out, err := r.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &r.table, Key: Key(riskChallengePK(id), riskSKChallenge)})
	if err != nil {
		return challenge.ChallengeRisk{}, fmt.Errorf("get challenge risk: %w", err)
	}
	it := out.Item
	if len(it) == 0 || Expired(it, r.now()) {
		return challenge.ChallengeRisk{}, challenge.ErrNotFound
	}
	c := challenge.ChallengeRisk{ID: id, Sitekey: riskS(it, "sitekey")}
	if s := riskS(it, "issued_at"); s != "" {
		c.Issued = true
		c.IssuedAt, _ = time.Parse(time.RFC3339Nano, s)
		c.Tasks = int(riskN(it, "tasks"))
		c.IssueScore = riskN(it, "iscore")
		c.IssueReasons = riskL(it, "ir")
	}
	if o := riskS(it, "outcome"); o != "" {
		c.Outcome = challenge.Outcome(o)
		c.AnsweredAt, _ = time.Parse(time.RFC3339Nano, riskS(it, "answered_at"))
		c.SolveTime = time.Duration(riskN(it, "solve_ms")) * time.Millisecond
		c.AnswerScore = riskN(it, "ascore")
		c.AnswerReasons = riskL(it, "ar")
	}
	return c, nil
}

// SiteActivity returns an address's counters on one site between q.From and q.To (the
// IP pseudonyms of q.Keys; subnets are not kept per site): one query per day.
func (r *Risk) SiteActivity(ctx context.Context, sitekey string, q challenge.WindowQuery) (challenge.SiteActivity, error) {
	a := challenge.SiteActivity{Minutes: challenge.Minutes{}}
	now := r.now()
	lo, hi := challenge.MinuteOf(q.From), challenge.MinuteOf(q.To)
	for day, p := range q.Keys {
		if p.IP == "" {
			continue
		}
		d, err := time.Parse(time.DateOnly, day)
		if err != nil {
			return challenge.SiteActivity{}, fmt.Errorf("site activity: day %q: %w", day, err)
		}
		// Only the day's own hours carry its pseudonym.
		from, to := maxTime(q.From.UTC(), d), minTime(q.To.UTC(), d.Add(24*time.Hour-time.Nanosecond))
		if from.After(to) {
			continue
		}
		var start map[string]types.AttributeValue
		for {
			out, err := r.api.Query(ctx, &dynamodb.QueryInput{
				TableName:              &r.table,
				KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":pk":   &types.AttributeValueMemberS{Value: riskSitePK(sitekey, p.IP)},
					":from": &types.AttributeValueMemberS{Value: riskHourSK(from.Truncate(time.Hour))},
					":to":   &types.AttributeValueMemberS{Value: riskHourSK(to.Truncate(time.Hour))},
				},
				ExclusiveStartKey: start,
			})
			if err != nil {
				return challenge.SiteActivity{}, fmt.Errorf("site activity: %w", err)
			}
			for _, it := range out.Items {
				if Expired(it, now) {
					continue
				}
				_, hour, ok := riskBucket(it)
				if !ok {
					continue
				}
				for k, c := range riskMinutes(it, hour) {
					if k >= lo && k <= hi {
						a.Minutes[k] = a.Minutes[k].Add(c)
					}
				}
				a.ScoreSum += riskN(it, "ss") / 1e6
				a.Scores += int(riskN(it, "sn"))
			}
			if len(out.LastEvaluatedKey) == 0 {
				break
			}
			start = out.LastEvaluatedKey
		}
	}
	return a, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func riskS(it map[string]types.AttributeValue, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func riskN(it map[string]types.AttributeValue, name string) float64 {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		f, _ := strconv.ParseFloat(v.Value, 64)
		return f
	}
	return 0
}

func riskL(it map[string]types.AttributeValue, name string) []string {
	l, ok := it[name].(*types.AttributeValueMemberL)
	if !ok {
		return nil
	}
	var out []string
	for _, v := range l.Value {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			out = append(out, s.Value)
		}
	}
	return out
}

package challenge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/job"
)

var t0 = time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC)

func minutes(pairs ...any) challenge.Minutes {
	m := challenge.Minutes{}
	for i := 0; i < len(pairs); i += 2 {
		m[challenge.MinuteOf(pairs[i].(time.Time))] = pairs[i+1].(challenge.Counts)
	}
	return m
}

func TestWindowCountsWholeMinutesAndTheOverlapOfTheOldest(t *testing.T) {
	now := t0.Add(30 * time.Second) // half-way through 19:30
	m := minutes(
		t0, challenge.Counts{Issued: 3}, // current minute: all before now
		t0.Add(-time.Minute), challenge.Counts{Issued: 4}, // 19:29: half inside the 1-minute window
		t0.Add(-10*time.Minute), challenge.Counts{Failed: 5}, // inside 15 minutes only
		t0.Add(-15*time.Minute), challenge.Counts{Failed: 2}, // 19:15: half inside 15 minutes
		t0.Add(-20*time.Minute), challenge.Counts{Issued: 100}, // outside
		t0.Add(5*time.Minute), challenge.Counts{Refused: 1}, // ahead of the clock: counts
	)
	if got := m.Window(now, challenge.Window1m); got != (challenge.Counts{Issued: 5, Refused: 1}) {
		t.Errorf("1-minute window %+v, want 3 + half of 4 issued and the skewed refusal", got)
	}
	if got := m.Window(now, challenge.Window15m); got != (challenge.Counts{Issued: 7, Refused: 1, Failed: 6}) {
		t.Errorf("15-minute window %+v, want 7 issued, 1 refused, 5 + half of 2 failed", got)
	}
}

func TestDecideAddsGridsForScoreAndFailures(t *testing.T) {
	fails := func(n int) challenge.RiskWindows {
		return challenge.RiskWindows{IP: minutes(t0.Add(-5*time.Minute), challenge.Counts{Issued: n, Failed: n})}
	}
	cases := []struct {
		name      string
		score     float64
		w         challenge.RiskWindows
		failedNow bool
		extra     int
	}{
		{"clean", 0.1, challenge.RiskWindows{}, false, 0},
		{"medium score", 0.5, challenge.RiskWindows{}, false, 1},
		{"high score", 0.97, challenge.RiskWindows{}, false, 2},
		{"two failures", 0, fails(2), false, 0},
		{"third failure right now", 0, fails(2), true, 1},
		{"six failures", 0.1, fails(6), false, 2},
		{"capped", 0.99, fails(9), false, challenge.MaxExtraGrids},
	}
	for _, c := range cases {
		extra, retry := challenge.Decide(c.score, c.w, t0, c.failedNow)
		if extra != c.extra || retry != 0 {
			t.Errorf("%s: extra %d retry %s, want %d and no refusal", c.name, extra, retry, c.extra)
		}
	}
}

func TestDecideBlocksRepeatedFailuresUntilTheyAgeOut(t *testing.T) {
	// Nine failures: 5 of them 12 minutes ago, 4 a minute ago. The tenth blocks.
	w := challenge.RiskWindows{IP: minutes(
		t0.Add(-12*time.Minute), challenge.Counts{Issued: 5, Failed: 5},
		t0.Add(-time.Minute), challenge.Counts{Issued: 4, Failed: 4},
	)}
	if extra, retry := challenge.Decide(0, w, t0, false); retry != 0 || extra != 3 {
		t.Fatalf("nine failures: extra %d retry %s; want the maximum extra grids and no block yet", extra, retry)
	}
	extra, retry := challenge.Decide(0, w, t0, true)
	if extra != 0 || retry <= 0 {
		t.Fatalf("tenth failure: extra %d retry %s, want a refusal", extra, retry)
	}
	// The block lifts once the old failures leave the window: about 3 minutes later
	// (12 + 3 = 15), not after a full 15 minutes.
	if retry < 2*time.Minute || retry > 4*time.Minute {
		t.Fatalf("retry after %s, want about 3 minutes", retry)
	}
	if _, again := challenge.Decide(0, w, t0.Add(retry-10*time.Second), true); again == 0 {
		t.Error("not blocked any more just before retry_after")
	}
	if _, again := challenge.Decide(0, w, t0.Add(retry+time.Second), true); again != 0 {
		t.Errorf("still blocked after retry_after (%s)", again)
	}
}

func TestDecideSparesAddressesWherePeoplePass(t *testing.T) {
	// A carrier NAT: 12 failures but 30 passes in 15 minutes from one address.
	w := challenge.RiskWindows{IP: minutes(t0.Add(-3*time.Minute), challenge.Counts{Issued: 42, Failed: 12, Passed: 30})}
	if _, retry := challenge.Decide(0, w, t0, true); retry != 0 {
		t.Fatalf("an address where most answers pass was refused for %s", retry)
	}
}

func TestDecideBlocksRequestFloods(t *testing.T) {
	for name, w := range map[string]challenge.RiskWindows{
		"ip 1m":      {IP: minutes(t0, challenge.Counts{Issued: 20, Refused: challenge.BlockIP1m - 20})},
		"ip 15m":     {IP: minutes(t0.Add(-7*time.Minute), challenge.Counts{Issued: challenge.BlockIP15m})},
		"subnet 15m": {Subnet: minutes(t0.Add(-7*time.Minute), challenge.Counts{Issued: challenge.BlockSubnet15m})},
	} {
		_, retry := challenge.Decide(0, w, t0.Add(30*time.Second), false)
		if retry < challenge.MinRetryAfter || retry > challenge.Window15m {
			t.Errorf("%s: retry after %s", name, retry)
		}
	}
	_, retry := challenge.Decide(0, challenge.RiskWindows{IP: minutes(t0, challenge.Counts{Issued: challenge.BlockIP1m - 1})}, t0.Add(30*time.Second), false)
	if retry != 0 {
		t.Errorf("one request below the 1-minute threshold was refused")
	}
}

// scoringEnv is a Service with the real ScoringHook over an in-memory risk function.
func scoringEnv() (*challengetest.Env, *challengetest.RiskFunction, *challenge.Service) {
	e := challengetest.NewEnv()
	rf := challengetest.NewRiskFunction()
	e.Deps.Risk = &challenge.ScoringHook{Salts: challengetest.NewSalts(), Windows: rf, Events: rf.Publisher(), Now: e.Clock.Now}
	return e, rf, challenge.New(e.Deps)
}

// headless is an HTTP client without telemetry: the risk library sees a browser user
// agent and no headers (unknown), so its score stays low and only failures count.
var plainClient = challenge.Client{IP: net.ParseIP("198.51.100.23"), UserAgent: visitor.UserAgent}

func TestRandomClickerGetsHarderChallengesThenIsRefused(t *testing.T) {
	e, rf, svc := scoringEnv()
	res, err := svc.Issue(ctx, challenge.IssueRequest{Sitekey: e.Sitekey, Host: e.Hostname, Client: plainClient})
	if err != nil || res.Challenge == nil {
		t.Fatalf("first challenge: %+v %v", res, err)
	}
	var tasks []int
	var refused *challenge.TryLaterError
	for i := 1; i <= challenge.FailuresToBlock; i++ {
		tasks = append(tasks, len(res.Challenge.Tasks))
		rec, _ := e.Store.Record(res.Challenge.ID)
		// Irregular solve times: regular ones would be a risk signal of their own.
		e.Clock.Advance(10*time.Second + time.Duration(i)*1700*time.Millisecond)
		res, err = svc.Answer(ctx, challenge.AnswerRequest{ID: rec.ID, Sitekey: e.Sitekey, Answers: challengetest.Solve(rec, false), Client: plainClient})
		if errors.As(err, &refused) {
			if i != challenge.FailuresToBlock {
				t.Fatalf("refused after %d failures, want %d", i, challenge.FailuresToBlock)
			}
			break
		}
		if err != nil || res.Pass || res.Challenge == nil {
			t.Fatalf("failure %d: %+v %v", i, res, err)
		}
	}
	if refused == nil || refused.RetryAfter <= 0 || refused.RetryAfter > challenge.Window15m {
		t.Fatalf("no refusal after %d failures (tasks %v)", challenge.FailuresToBlock, tasks)
	}
	want := []int{3, 3, 3, 4, 4, 4, 5, 5, 5, 6}
	if len(tasks) != len(want) {
		t.Fatalf("tasks per challenge %v, want %v", tasks, want)
	}
	for i := range want {
		if tasks[i] != want[i] {
			t.Fatalf("tasks per challenge %v, want %v: every %d failures add a grid", tasks, want, challenge.FailuresPerExtraGrid)
		}
	}
	// Asking for a new challenge is refused too, until retry_after has passed.
	_, err = svc.Issue(ctx, challenge.IssueRequest{Sitekey: e.Sitekey, Host: e.Hostname, Client: plainClient})
	if !errors.Is(err, challenge.ErrTryLater) {
		t.Fatalf("issue while blocked: %v", err)
	}
	// Another address is not affected.
	other := plainClient
	other.IP = net.ParseIP("192.0.2.9")
	if _, err := svc.Issue(ctx, challenge.IssueRequest{Sitekey: e.Sitekey, Host: e.Hostname, Client: other}); err != nil {
		t.Fatalf("another address: %v", err)
	}
	e.Clock.Advance(refused.RetryAfter + 15*time.Minute)
	if _, err := svc.Issue(ctx, challenge.IssueRequest{Sitekey: e.Sitekey, Host: e.Hostname, Client: plainClient}); err != nil {
		t.Fatalf("after the failures aged out: %v", err)
	}
	// Every outcome reached the risk function: 10 fails, 1 + 9 + 1 + 1 issued, 1 refusal.
	counts := map[challenge.Outcome]int{}
	for _, ev := range rf.Events() {
		counts[ev.Outcome]++
	}
	if counts[challenge.OutcomeFailed] != 10 || counts[challenge.OutcomeIssued] != 12 || counts[challenge.OutcomeRefused] != 1 {
		t.Fatalf("events by outcome %v", counts)
	}
}

func TestRiskEventsCarryPseudonymsNotTheAddress(t *testing.T) {
	e, rf, svc := scoringEnv()
	pub, rec := issue(t, svc, e, "en")
	e.Clock.Advance(7 * time.Second)
	if res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true)); err != nil || !res.Pass {
		t.Fatalf("%+v %v", res, err)
	}
	evs := rf.Events()
	if len(evs) != 2 {
		t.Fatalf("%d events, want issue and answer", len(evs))
	}
	iss, ans := evs[0], evs[1]
	if iss.ID != pub.ID+":issue" || iss.Kind != "issue" || iss.Outcome != challenge.OutcomeIssued || iss.Tasks != len(pub.Tasks) ||
		ans.ID != pub.ID+":answer" || ans.Outcome != challenge.OutcomePassed || ans.SolveMS != 7000 || ans.Challenge != pub.ID {
		t.Fatalf("events %+v", evs)
	}
	if iss.IP == "" || iss.IP != ans.IP || iss.Subnet == "" || iss.Subnet == iss.IP || iss.Day != "2026-11-30" {
		t.Fatalf("pseudonyms %q %q day %q", iss.IP, iss.Subnet, iss.Day)
	}
	raw, _ := json.Marshal(evs)
	for _, leak := range []string{"203.0.113", visitor.UserAgent, "act"} {
		if strings.Contains(string(raw), leak) {
			t.Errorf("risk events contain %q: %s", leak, raw)
		}
	}
	// The token carries the answer's score.
	if recs := e.Tokens.All(); len(recs) != 1 || recs[0].Score != ans.Score {
		t.Fatalf("token score %+v, event score %v", recs, ans.Score)
	}
}

func TestRiskPseudonymsGroupSubnetsAndChangeDaily(t *testing.T) {
	salt := []byte("day-1-salt-0123456789abcdef01234")
	a := challenge.RiskPseudonyms(salt, net.ParseIP("203.0.113.7"))
	b := challenge.RiskPseudonyms(salt, net.ParseIP("203.0.113.200"))
	c := challenge.RiskPseudonyms(salt, net.ParseIP("203.0.114.7"))
	mapped := challenge.RiskPseudonyms(salt, net.ParseIP("::ffff:203.0.113.7"))
	if a.IP == b.IP || a.Subnet != b.Subnet || a.Subnet == c.Subnet || mapped != a {
		t.Fatalf("v4: %+v %+v %+v %+v", a, b, c, mapped)
	}
	v6a := challenge.RiskPseudonyms(salt, net.ParseIP("2001:db8:1:2::1"))
	v6b := challenge.RiskPseudonyms(salt, net.ParseIP("2001:db8:1:2:ffff::9"))
	v6c := challenge.RiskPseudonyms(salt, net.ParseIP("2001:db8:1:3::1"))
	if v6a.IP == v6b.IP || v6a.Subnet != v6b.Subnet || v6a.Subnet == v6c.Subnet {
		t.Fatalf("v6 /64: %+v %+v %+v", v6a, v6b, v6c)
	}
	if other := challenge.RiskPseudonyms([]byte("day-2-salt-0123456789abcdef01234"), net.ParseIP("203.0.113.7")); other.IP == a.IP || other.Subnet == a.Subnet {
		t.Fatal("the next day's salt gives the same pseudonyms")
	}
	if (challenge.RiskPseudonyms(salt, nil) != challenge.Pseudonyms{}) {
		t.Fatal("no address should give no pseudonyms")
	}
	if len(a.IP) != challenge.PseudonymLen || strings.Trim(a.IP, "0123456789abcdef") != "" {
		t.Fatalf("pseudonym %q", a.IP)
	}
}

func TestRiskEventValidation(t *testing.T) {
	good := challenge.RiskEvent{V: 1, ID: "c_0123456789abcdef0123456789abcdef:answer", Kind: "answer", Outcome: challenge.OutcomeFailed,
		Challenge: "c_0123456789abcdef0123456789abcdef", Sitekey: "s", Day: "2026-11-30",
		IP: strings.Repeat("a", 32), Subnet: strings.Repeat("b", 32), Score: 0.3, At: t0}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*challenge.RiskEvent){
		"version":          func(e *challenge.RiskEvent) { e.V = 2 },
		"raw address":      func(e *challenge.RiskEvent) { e.IP = "203.0.113.7" },
		"subnet alone":     func(e *challenge.RiskEvent) { e.IP = "" },
		"answer as issued": func(e *challenge.RiskEvent) { e.Outcome = challenge.OutcomeIssued },
		"refusal with id":  func(e *challenge.RiskEvent) { e.Kind, e.Outcome = "issue", challenge.OutcomeRefused },
		"score":            func(e *challenge.RiskEvent) { e.Score = 1.5 },
		"no time":          func(e *challenge.RiskEvent) { e.At = time.Time{} },
		"bad day":          func(e *challenge.RiskEvent) { e.Day = "yesterday" },
		// The day names the salt and the analytics day, whose aggregate is kept 13 months
		// after it: a day other than at's would count elsewhere and be kept longer.
		"day after at's":    func(e *challenge.RiskEvent) { e.Day = "2099-01-01" },
		"day before at's":   func(e *challenge.RiskEvent) { e.Day = "2026-11-29" },
		"bad challenge id":  func(e *challenge.RiskEvent) { e.Challenge = "c_x" },
		"answer without id": func(e *challenge.RiskEvent) { e.Challenge = "" },
	} {
		ev := good
		mut(&ev)
		if err := ev.Validate(); !errors.Is(err, challenge.ErrBadRiskEvent) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestExtraGridsAreAddedAsTheSiteCanSupplyThem(t *testing.T) {
	e := challengetest.NewEnv()
	e.Deps.Risk = &challengetest.Risk{AssessFunc: func(context.Context, challenge.RiskInput) (challenge.Assessment, error) {
		return challenge.Assessment{Score: 0.9, ExtraGrids: 2}, nil
	}}
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "en")
	kinds := []challenge.TaskKind{}
	for _, task := range pub.Tasks {
		kinds = append(kinds, task.Kind)
	}
	if len(pub.Tasks) != 5 || kinds[4] != challenge.TaskYesNo || pub.Prompt != "Please answer 5 questions" {
		t.Fatalf("tasks %v prompt %q", kinds, pub.Prompt)
	}
	items := map[string]bool{}
	for _, task := range rec.Tasks {
		for _, it := range task.Items {
			// Item ids are unique within a job, not across jobs.
			key := task.JobID + "/" + it.ItemID
			if items[key] {
				t.Fatalf("item %s shown twice", key)
			}
			items[key] = true
		}
	}
	if res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true)); err != nil || !res.Pass {
		t.Fatalf("the harder challenge is solvable: %+v %v", res, err)
	}

	// A pool that runs out after the standard composition still gives a valid challenge.
	draws := 0
	e.Deps.Pool = &challengetest.Pool{DrawFunc: func(ctx context.Context, req job.Request) (job.Draw, error) {
		if draws++; draws > 3 {
			return job.Draw{}, job.ErrNoMaterial
		}
		return e.Catalog.Draw(ctx, req)
	}}
	pub, _ = issue(t, challenge.New(e.Deps), e, "en")
	if len(pub.Tasks) != 3 {
		t.Fatalf("%d tasks from an exhausted pool, want the standard 3", len(pub.Tasks))
	}
}

func TestRefusalsAndScorerFailures(t *testing.T) {
	e := challengetest.NewEnv()
	e.Deps.Risk = &challengetest.Risk{AssessFunc: func(context.Context, challenge.RiskInput) (challenge.Assessment, error) {
		return challenge.Assessment{Score: 1, RetryAfter: 90 * time.Second}, nil
	}, RecordFunc: func(_ context.Context, r challenge.RiskRecord) error {
		if r.Outcome != challenge.OutcomeRefused || r.ChallengeID != "" {
			t.Errorf("record %+v", r)
		}
		return errors.New("queue down") // must not change the answer
	}}
	_, err := challenge.New(e.Deps).Issue(ctx, challenge.IssueRequest{Sitekey: e.Sitekey, Host: e.Hostname, Client: visitor})
	var tl *challenge.TryLaterError
	if !errors.As(err, &tl) || tl.RetryAfter != 90*time.Second || e.Store.Len() != 0 {
		t.Fatalf("err %v, stored %d", err, e.Store.Len())
	}

	// A failing scorer gives the standard challenge.
	e = challengetest.NewEnv()
	e.Deps.Risk = &challengetest.Risk{AssessFunc: func(context.Context, challenge.RiskInput) (challenge.Assessment, error) {
		return challenge.Assessment{}, errors.New("risk table throttled")
	}}
	if pub, _ := issue(t, challenge.New(e.Deps), e, "en"); len(pub.Tasks) != 3 {
		t.Fatalf("%d tasks", len(pub.Tasks))
	}
}

func TestMalformedTelemetryIsRefusedWithoutUsingTheChallenge(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	bad := json.RawMessage(`{"p":[[1,2,3,"x"]]}`)
	if _, err := svc.Issue(ctx, challenge.IssueRequest{Sitekey: e.Sitekey, Host: e.Hostname, Telemetry: bad}); !errors.Is(err, challenge.ErrBadTelemetry) || !strings.Contains(err.Error(), "p[0][3]") {
		t.Fatalf("issue: %v", err)
	}
	pub, rec := issue(t, svc, e, "en")
	_, err := svc.Answer(ctx, challenge.AnswerRequest{ID: pub.ID, Sitekey: e.Sitekey, Answers: challengetest.Solve(rec, true), Telemetry: bad})
	if !errors.Is(err, challenge.ErrBadTelemetry) {
		t.Fatalf("answer: %v", err)
	}
	if res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true)); err != nil || !res.Pass {
		t.Fatalf("the challenge was used up by a malformed request: %+v %v", res, err)
	}
	// null means none sent.
	if _, err := svc.Issue(ctx, challenge.IssueRequest{Sitekey: e.Sitekey, Host: e.Hostname, Telemetry: json.RawMessage(`null`)}); err != nil {
		t.Fatal(err)
	}
}

func TestRiskEventStaleAndAheadOfTheClock(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at          time.Time
		stale, fail bool
	}{
		{now, false, false},
		{now.Add(-challenge.RiskEventRetention + time.Second), false, false},
		{now.Add(-challenge.RiskEventRetention), true, false},
		{now.Add(challenge.MaxRiskEventSkew), false, false}, // clocks a little apart
		{now.Add(challenge.MaxRiskEventSkew + time.Second), false, true},
		{now.Add(24 * 365 * time.Hour), false, true},
	} {
		stale, err := challenge.RiskEvent{At: c.at}.Stale(now)
		if stale != c.stale || errors.Is(err, challenge.ErrBadRiskEvent) != c.fail {
			t.Errorf("at now%+v: stale %v, err %v; want stale %v, refused %v", c.at.Sub(now), stale, err, c.stale, c.fail)
		}
	}
}

// Ten failures in 15 minutes refuse the address also when midnight UTC falls between
// them: the failures before it are counted under the old day's pseudonyms (its salt),
// those after under the new day's, and the window reads both.
func TestFailuresAcrossMidnightCountInOneWindow(t *testing.T) {
	midnight := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := challengetest.NewClock(midnight.Add(-3 * time.Minute))
	rf := challengetest.NewRiskFunction()
	hook := &challenge.ScoringHook{Salts: challengetest.NewSalts(), Windows: rf, Events: rf.Publisher(), Now: clock.Now}
	ip := net.ParseIP("198.51.100.23")
	for i := range challenge.FailuresToBlock {
		id := fmt.Sprintf("c_%032x", i)
		if err := hook.Record(ctx, challenge.RiskRecord{Outcome: challenge.OutcomeFailed, ChallengeID: id, Sitekey: "s", IP: ip, At: clock.Now()}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(40 * time.Second) // 23:57:00 … 00:03:00
	}
	days := map[string]bool{}
	for _, ev := range rf.Events() {
		days[ev.Day+" "+ev.IP] = true
	}
	if len(days) != 2 {
		t.Fatalf("the failures were counted under %v, want two days' pseudonyms", days)
	}
	a, err := hook.Assess(ctx, challenge.RiskInput{Stage: challenge.RiskIssue, IP: ip, UserAgent: plainClient.UserAgent})
	if err != nil || a.RetryAfter <= 0 {
		t.Fatalf("after %d failures across midnight: %+v %v, want a refusal", challenge.FailuresToBlock, a, err)
	}
}

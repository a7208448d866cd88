package training

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"

	"github.com/crowdgate/crowdgate/shared/risk"
	"github.com/crowdgate/crowdgate/shared/risk/botgen"
	"github.com/crowdgate/crowdgate/shared/risk/sapimouse"
)

// Session is one scored unit: a pointer stream with at least the requested number of
// scorable movements, and (for humans) the click targets a bot replays.
type Session struct {
	ID      string
	User    string
	Family  string // "human" or a bot family
	Style   string // a bot's botgen.Style
	Events  []risk.PointerEvent
	Start   botgen.Point
	Targets []botgen.Target
}

// humanSessions cuts a recording into consecutive sessions that each contain exactly k
// scorable click movements (plus whatever else happened in between: drags, pauses,
// small corrections), starting where the first of them starts and ending with the
// release after the last click.
func humanSessions(rec sapimouse.Recording, k int) []Session {
	ev := rec.Events
	var clicks []risk.Movement
	for _, m := range risk.ScorableMovements(ev) {
		if m.Click {
			clicks = append(clicks, m)
		}
	}
	var out []Session
	for i := 0; i+k <= len(clicks); i += k {
		first, last := clicks[i], clicks[i+k-1]
		end := last.End
		// Through the down that ended the last movement and the up after it.
		for end < len(ev) && ev[end].Kind != risk.Up {
			end++
		}
		if end < len(ev) {
			end++
		}
		s := slices.Clone(ev[first.Start:end])
		t0 := s[0].T
		for j := range s {
			s[j].T -= t0
		}
		sess := Session{
			ID:     fmt.Sprintf("%s#%d", rec.Session, i/k),
			User:   rec.User,
			Family: "human",
			Events: s,
			Start:  botgen.Point{X: s[0].X, Y: s[0].Y},
		}
		for _, e := range s {
			if e.Kind == risk.Down {
				sess.Targets = append(sess.Targets, botgen.Target{Point: botgen.Point{X: e.X, Y: e.Y}})
			}
		}
		out = append(out, sess)
	}
	return out
}

// botSession replays a human session's targets with a bot. Target widths are not in the
// recordings; a plausible button size is drawn.
func botSession(r *rand.Rand, h Session, f botgen.Family, st botgen.Style) Session {
	targets := slices.Clone(h.Targets)
	for i := range targets {
		targets[i].W = 20 + r.Float64()*60
	}
	return Session{
		ID:     h.ID + "/" + string(f) + "/" + st.String(),
		User:   h.User,
		Family: string(f),
		Style:  st.String(),
		Events: botgen.Session(r, f, st, h.Start, targets),
	}
}

// splitUsers shuffles the distinct users with the seed and holds out testFrac of them.
func splitUsers(recs []sapimouse.Recording, seed uint64, testFrac float64) (train, test []string) {
	var users []string
	for _, r := range recs {
		if !slices.Contains(users, r.User) {
			users = append(users, r.User)
		}
	}
	slices.Sort(users)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	r.Shuffle(len(users), func(i, j int) { users[i], users[j] = users[j], users[i] })
	n := int(float64(len(users))*testFrac + 0.5)
	if testFrac > 0 && n == 0 && len(users) > 1 {
		n = 1
	}
	test, train = slices.Clone(users[:n]), slices.Clone(users[n:])
	slices.Sort(test)
	slices.Sort(train)
	return train, test
}

func byUsers(recs []sapimouse.Recording, users []string) []sapimouse.Recording {
	var out []sapimouse.Recording
	for _, r := range recs {
		if slices.Contains(users, r.User) {
			out = append(out, r)
		}
	}
	return out
}

// rngFor derives an independent, reproducible random source for one unit of work, so
// results do not depend on the order work is done in.
func rngFor(seed uint64, parts ...string) *rand.Rand {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

package handler

import (
	"encoding/json"
	"time"

	"github.com/crowdgate/crowdgate/shared/job"
)

// MessageVersion is the answers-queue message format version (docs/API.md).
const MessageVersion = 1

// Message kinds on the answers queue. The challenge function sends answers (no kind);
// the schedule sends re-estimation requests.
const (
	KindAnswers    = "answers"
	KindReestimate = "reestimate"
)

// message is an answers-queue message (docs/API.md): the answers of one task, or a
// re-estimation request (kind "reestimate": for job_id, or for every active job when
// job_id is empty).
type message struct {
	V          int          `json:"v"`
	Kind       string       `json:"kind,omitempty"`
	ID         string       `json:"id"`
	JobID      string       `json:"job_id"`
	Class      string       `json:"class"`
	Answerer   string       `json:"answerer"`
	Day        string       `json:"day"`
	Answers    []itemLabel  `json:"answers"`
	Gold       []goldAnswer `json:"gold"`
	AnsweredAt time.Time    `json:"answered_at"`
	SolveMS    int64        `json:"solve_ms"`
	// A re-estimation request's continuation (ReestimateMessage).
	After         string `json:"after"`
	AfterAnswerer string `json:"after_answerer"`
	Stalls        int    `json:"stalls"`
}

type itemLabel struct {
	ItemID string `json:"item_id"`
	Label  string `json:"label"`
}

type goldAnswer struct {
	ItemID string `json:"item_id"`
	Truth  string `json:"truth"`
	Label  string `json:"label"`
}

// ReestimateMessage is the body that asks for a re-estimation pass: of one job, or with an
// empty JobID of every active job. The schedule (EventBridge Scheduler on AWS, a timer in
// the local stack) sends it without a job; the pass fans out one message per job.
//
// A pass that runs out of invocation time sends itself again with a cursor: After is the
// last item it wrote (items are written in id order), AfterAnswerer the last answerer
// once every item is written, and Stalls counts the parts in a row that wrote nothing.
// A request without them (as sent before passes could continue) starts at the first item.
type ReestimateMessage struct {
	V             int    `json:"v"`
	Kind          string `json:"kind"`
	JobID         string `json:"job_id,omitempty"`
	After         string `json:"after,omitempty"`
	AfterAnswerer string `json:"after_answerer,omitempty"`
	Stalls        int    `json:"stalls,omitempty"`
}

// ScheduleBody is the fixed message body the schedule sends.
func ScheduleBody() string {
	b, _ := json.Marshal(ReestimateMessage{V: MessageVersion, Kind: KindReestimate})
	return string(b)
}

// Limits of an answers message (a task shows at most 9 items).
const (
	maxAnswers  = 50
	maxGold     = 50
	maxIDLen    = 256
	maxAnswerer = 128
)

// decode parses and validates a message body; every failure is poison.
func decode(body string) (message, error) {
	var m message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return message{}, poison("undecodable body")
	}
	if m.V != MessageVersion {
		return message{}, poison("version %d (want %d)", m.V, MessageVersion)
	}
	switch m.Kind {
	case "", KindAnswers:
		m.Kind = KindAnswers
	case KindReestimate:
		switch {
		case m.JobID != "" && job.ValidID(m.JobID) != nil:
			return message{}, poison("bad job id")
		case m.JobID == "" && (m.After != "" || m.AfterAnswerer != "" || m.Stalls != 0):
			return message{}, poison("a re-estimation cursor without a job")
		case m.After != "" && job.ValidID(m.After) != nil:
			return message{}, poison("bad item cursor")
		case m.AfterAnswerer != "" && !validAnswererID(m.AfterAnswerer):
			return message{}, poison("bad answerer cursor")
		case m.Stalls < 0 || m.Stalls > maxStalls:
			return message{}, poison("stalls %d (0-%d)", m.Stalls, maxStalls)
		}
		return m, nil
	default:
		return message{}, poison("unknown kind %q", m.Kind)
	}
	switch {
	case m.ID == "" || len(m.ID) > maxIDLen:
		return message{}, poison("missing or overlong id")
	case job.ValidID(m.JobID) != nil:
		return message{}, poison("bad job id")
	case m.Class == "" || len(m.Class) > job.MaxClassLen:
		return message{}, poison("bad class")
	case !isHex(m.Answerer) || len(m.Answerer) > maxAnswerer:
		// The answerer must be the daily keyed hash, never anything readable.
		return message{}, poison("answerer is not a hex pseudonym")
	case len(m.Answers) > maxAnswers || len(m.Gold) > maxGold:
		return message{}, poison("%d answers and %d gold answers (at most %d each)", len(m.Answers), len(m.Gold), maxAnswers)
	}
	if _, err := time.Parse(time.DateOnly, m.Day); err != nil {
		return message{}, poison("day %q is not YYYY-MM-DD", m.Day)
	}
	seen := map[string]bool{}
	for _, a := range m.Answers {
		if job.ValidID(a.ItemID) != nil {
			return message{}, poison("bad item id")
		}
		if seen[a.ItemID] {
			return message{}, poison("item answered twice in one message")
		}
		seen[a.ItemID] = true
		if _, ok := binaryLabel(a.Label); !ok {
			return message{}, poison("label %q (want yes or no)", a.Label)
		}
	}
	for _, g := range m.Gold {
		_, okT := binaryLabel(g.Truth)
		_, okL := binaryLabel(g.Label)
		if job.ValidID(g.ItemID) != nil || !okT || !okL {
			return message{}, poison("bad gold answer")
		}
	}
	return m, nil
}

// answererID is the answerer in consensus state: the pseudonym is only unique within its
// day, and the day finds the answerer's record.
func (m message) answererID() string { return m.Day + "/" + m.Answerer }

// validAnswererID reports whether id is an answerer as answererID makes it.
func validAnswererID(id string) bool {
	day := answererDay(id)
	if day == "" {
		return false
	}
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return false
	}
	pseudonym := id[len(day)+1:]
	return isHex(pseudonym) && len(pseudonym) <= maxAnswerer
}

func (m message) itemIDs() []string {
	ids := make([]string, len(m.Answers))
	for i, a := range m.Answers {
		ids[i] = a.ItemID
	}
	return ids
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}

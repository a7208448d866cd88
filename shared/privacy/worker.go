package privacy

import (
	"context"
	"errors"
	"fmt"

	"github.com/crowdgate/crowdgate/shared/strictjson"
)

// Message kinds of the privacy queue (docs/API.md): a Job (no kind, or KindRun) and the
// scheduled sweeps: the one that denies requests left unverified (KindCloseUnverified) and
// the one that removes what jobs past their expires_at or deleted, and uploads never
// committed, leave behind (KindExpireJobs, see job.SweepExpired). The worker enforces retention, so both sweeps are its own.
const (
	KindRun             = "run"
	KindCloseUnverified = "close_unverified"
	KindExpireJobs      = "expire_jobs"
)

// Message is any privacy-queue message.
type Message struct {
	Job
	Kind string `json:"kind,omitempty"`
}

// ErrBadMessage: a privacy-queue message that can never be carried out.
var ErrBadMessage = errors.New("privacy: malformed queue message")

// ParseMessage decodes and checks a privacy-queue message body.
func ParseMessage(body string) (Message, error) {
	var m Message
	if err := strictjson.Decode([]byte(body), &m); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if m.V != JobVersion {
		return Message{}, fmt.Errorf("%w: version %d (want %d)", ErrBadMessage, m.V, JobVersion)
	}
	switch m.Kind {
	case KindCloseUnverified, KindExpireJobs:
		if m.RequestID != "" || m.Type != "" {
			return Message{}, fmt.Errorf("%w: a sweep names no request", ErrBadMessage)
		}
		return m, nil
	case "", KindRun:
		m.Kind = KindRun
	default:
		return Message{}, fmt.Errorf("%w: unknown kind", ErrBadMessage)
	}
	if !IsRequestID(m.RequestID) {
		return Message{}, fmt.Errorf("%w: request_id is not a request id", ErrBadMessage)
	}
	if !m.Type.Valid() {
		return Message{}, fmt.Errorf("%w: unknown type", ErrBadMessage)
	}
	return m, nil
}

// RunJob carries out the request a job names with the executors build returns for the
// stored request (Run). A job whose type is not the request's is refused
// (ErrBadMessage): the queue carries approvals, and a mismatch means the message is not
// one.
func (s *Service) RunJob(ctx context.Context, j Job, build func(Request) ([]Executor, error)) (Request, error) {
	r, err := s.load(ctx, j.RequestID)
	if err != nil {
		return Request{}, err
	}
	if r.Type != j.Type {
		return Request{}, fmt.Errorf("%w: job type %s, request type %s", ErrBadMessage, j.Type, r.Type)
	}
	if r.Status != StatusInProgress {
		return s.Run(ctx, r.ID, nil) // completed: nothing to do; otherwise the transition error
	}
	execs, err := build(r)
	if err != nil {
		return Request{}, err
	}
	return s.Run(ctx, r.ID, execs)
}

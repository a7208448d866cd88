package privacy

import "testing"

// Compliance officers read these messages in 409 answers; they must be English.
func TestRefusalMessagesReadAsSentences(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&TransitionError{Action: ActionDenied, From: StatusDenied}, "privacy: cannot deny a denied request"},
		{&TransitionError{Action: ActionApproved, From: StatusCompleted}, "privacy: cannot approve a completed request"},
		{&TransitionError{Action: ActionExtended, From: StatusCompleted}, "privacy: cannot extend a completed request"},
		{&TransitionError{Action: ActionApproved, From: StatusReceived, Why: "the subject has not verified it"}, "privacy: cannot approve a received request: the subject has not verified it"},
		{&WrongCodeError{Left: 1}, "privacy: wrong verification code (1 attempt left)"},
		{&WrongCodeError{Left: 0}, "privacy: wrong verification code (0 attempts left)"},
		{&WrongCodeError{Left: 4}, "privacy: wrong verification code (4 attempts left)"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

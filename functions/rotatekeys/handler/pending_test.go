package handler_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/crowdgate/crowdgate/functions/rotatekeys/handler"
	"github.com/crowdgate/crowdgate/shared/token"
)

// putByHand is `aws secretsmanager put-secret-value` of a fresh one-key list (docs/DEPLOY.md,
// a leaked key): the new version becomes AWSCURRENT; other labels stay where they are.
func putByHand(t *testing.T, s *secret) string {
	t.Helper()
	fresh, err := token.NewDerivedKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.fake().PutSecretValueFunc(&secretsmanager.PutSecretValueInput{SecretId: aws.String(s.arn), ClientRequestToken: aws.String("by-hand"), SecretString: &fresh}); err != nil {
		t.Fatal(err)
	}
	return fresh
}

// A finished rotation takes AWSPENDING off its version, so a key list put by hand later
// does not leave it on a version that is no longer current.
func TestFinishedRotationLeavesNoPendingLabelBehind(t *testing.T) {
	s := newSecret(arn, initialKey)
	rotate(t, newHandler(s), s)
	putByHand(t, s)
	if !s.rotatable() {
		t.Fatalf("after a rotation and a list put by hand, AWSPENDING is on %s and AWSCURRENT on %s: the next rotate-secret is refused",
			s.stages["AWSPENDING"], s.stages["AWSCURRENT"])
	}
	rotate(t, newHandler(s), s)
}

// A rotation that failed after createSecret, then a list put by hand: Secrets Manager
// retries the old version, whose list was rotated from the replaced one and cannot
// change. The function takes AWSPENDING off it and fails, so the next rotation starts
// from the list put by hand, instead of failing on the stale version for ever.
func TestRotationDropsAPendingVersionMadeFromAReplacedList(t *testing.T) {
	ctx := context.Background()
	for _, failedAt := range []string{handler.StepCreate, handler.StepTest} {
		t.Run("retried at "+failedAt, func(t *testing.T) {
			s := newSecret(arn, initialKey)
			h := newHandler(s)
			stale := s.start()
			if err := h(ctx, step(handler.StepCreate, stale)); err != nil {
				t.Fatal(err)
			}
			staleList := *s.values[stale]
			handMade := putByHand(t, s)

			err := h(ctx, step(failedAt, stale))
			if !errors.Is(err, handler.ErrNotRotatable) {
				t.Fatalf("%s of the stale version: %v, want ErrNotRotatable", failedAt, err)
			}
			if s.current() != handMade || *s.values[stale] != staleList {
				t.Fatal("a stale retry changed a version")
			}
			if !s.rotatable() {
				t.Fatalf("AWSPENDING is still on the stale version %s: every rotation retries it", s.stages["AWSPENDING"])
			}

			rotate(t, h, s)
			ids, _ := token.KeyIDs(s.current())
			hand, _ := token.KeyIDs(handMade)
			if len(ids) != 2 || ids[1] != hand[0] {
				t.Errorf("the next rotation gave kids %v, want a new key and then the hand-made %s", ids, hand[0])
			}
			if old, _ := token.KeyIDs(staleList); slices.Contains(ids, old[0]) {
				t.Errorf("the stale list's key %s came back", old[0])
			}
		})
	}
}

// finishSecret moved AWSCURRENT but failed to take AWSPENDING off (a throttled call):
// Secrets Manager retries the step, and the retry must finish that work rather than skip
// the version as already current.
func TestRetriedFinishTakesOffThePendingLabelLeftByAFailedAttempt(t *testing.T) {
	ctx := context.Background()
	s := newSecret(arn, initialKey)
	f := s.fake()
	update := f.UpdateSecretVersionStageFunc
	failOnce := true
	f.UpdateSecretVersionStageFunc = func(in *secretsmanager.UpdateSecretVersionStageInput) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
		if in.MoveToVersionId == nil && failOnce {
			failOnce = false
			return nil, errors.New("throttled")
		}
		return update(in)
	}
	h := handler.New(handler.Deps{Secrets: f, SecretARN: s.arn, Now: func() time.Time { return now }})
	id := s.start()
	for _, name := range []string{handler.StepCreate, handler.StepSet, handler.StepTest} {
		if err := h(ctx, step(name, id)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := h(ctx, step(handler.StepFinish, id)); err == nil {
		t.Fatal("finishSecret hid the failed label removal")
	}
	if err := h(ctx, step(handler.StepFinish, id)); err != nil {
		t.Fatalf("retried finishSecret: %v", err)
	}
	putByHand(t, s)
	if !s.rotatable() {
		t.Fatalf("after a retried finishSecret and a list put by hand, AWSPENDING is on %s and AWSCURRENT on %s: the next rotate-secret is refused",
			s.stages["AWSPENDING"], s.stages["AWSCURRENT"])
	}
}

// Package handler is the rotatekeys function. It keeps the service's short-lived secrets
// short-lived:
//
//   - the token-signing key list (Secrets Manager secret SIGNING_SECRET_ARN), rotated
//     through Secrets Manager's rotation protocol: a new key in front signs, the previous
//     keys stay so tokens signed before the rotation still verify (token.RotateKeys);
//   - the daily salts of the risk table, destroyed explicitly once past retention by a
//     daily EventBridge Scheduler job ({"job":"destroy-salts"}), since DynamoDB's ttl
//     deletes lazily.
package handler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/token"
	"github.com/crowdgate/crowdgate/shared/web"
)

// Event is what the function is invoked with: a Secrets Manager rotation step, or a
// scheduled job.
type Event struct {
	// Secrets Manager rotation: Step is createSecret, setSecret, testSecret or finishSecret.
	Step               string `json:"Step,omitempty"`
	SecretID           string `json:"SecretId,omitempty"`
	ClientRequestToken string `json:"ClientRequestToken,omitempty"`
	RotationToken      string `json:"RotationToken,omitempty"`

	// Job names a scheduled job (the EventBridge Scheduler payload).
	Job string `json:"job,omitempty"`
}

// Rotation steps, in the order Secrets Manager calls them.
const (
	StepCreate = "createSecret"
	StepSet    = "setSecret"
	StepTest   = "testSecret"
	StepFinish = "finishSecret"
)

// Staging labels of the rotation protocol.
const (
	stageCurrent = "AWSCURRENT"
	stagePending = "AWSPENDING"
)

// JobDestroySalts destroys the daily salts past retention.
const JobDestroySalts = "destroy-salts"

// SaltLookbackDays is how many expired days each salt job destroys, newest first: a day
// missed by a failed run is caught by the next ones (deleting a gone salt is a no-op).
const SaltLookbackDays = 7

// Errors of an event the function cannot act on.
var (
	ErrUnknownEvent = errors.New("rotatekeys: event is neither a rotation step nor a known job")
	ErrOtherSecret  = errors.New("rotatekeys: not the signing-key secret this function rotates")
	ErrNotRotatable = errors.New("rotatekeys: secret version is not in a rotatable state")
)

// SecretsManager is the part of the Secrets Manager API the rotation uses
// (*secretsmanager.Client).
type SecretsManager interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

var _ SecretsManager = (*secretsmanager.Client)(nil)

// SaltDestroyer deletes the salts of one day (*dynamo.SaltSweeper).
type SaltDestroyer interface {
	Destroy(ctx context.Context, day string) error
}

var _ SaltDestroyer = (*dynamo.SaltSweeper)(nil)

// Deps are the function's ports.
type Deps struct {
	Secrets SecretsManager
	// SecretARN is the only secret the function rotates (SIGNING_SECRET_ARN).
	SecretARN string
	Salts     SaltDestroyer
	Now       func() time.Time
}

// New returns the function's handler.
func New(d Deps) func(ctx context.Context, ev Event) error {
	if d.Now == nil {
		d.Now = time.Now
	}
	return func(ctx context.Context, ev Event) error {
		switch {
		case ev.Step != "":
			return d.rotate(ctx, ev)
		case ev.Job == JobDestroySalts:
			return d.destroySalts(ctx)
		}
		return ErrUnknownEvent
	}
}

// rotate runs one step of the rotation protocol. Each step may be retried, so each one
// first checks whether its work is already done.
func (d Deps) rotate(ctx context.Context, ev Event) error {
	log := web.Logger(ctx).With("step", ev.Step, "version_id", ev.ClientRequestToken)
	if ev.SecretID == "" || ev.ClientRequestToken == "" {
		return fmt.Errorf("%w: rotation step without SecretId or ClientRequestToken", ErrUnknownEvent)
	}
	if d.Secrets == nil || d.SecretARN == "" {
		return fmt.Errorf("%w: no signing-key secret configured (SIGNING_SECRET_ARN)", ErrOtherSecret)
	}
	if ev.SecretID != d.SecretARN {
		return ErrOtherSecret
	}
	desc, err := d.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &ev.SecretID})
	if err != nil {
		return fmt.Errorf("describe secret: %w", err)
	}
	if !aws.ToBool(desc.RotationEnabled) {
		return fmt.Errorf("%w: rotation is not enabled on the secret", ErrNotRotatable)
	}
	stages, ok := desc.VersionIdsToStages[ev.ClientRequestToken]
	switch {
	case !ok:
		return fmt.Errorf("%w: version has no staging label", ErrNotRotatable)
	case slices.Contains(stages, stageCurrent):
		if ev.Step == StepFinish && slices.Contains(stages, stagePending) {
			// An earlier finishSecret made it current but failed to take AWSPENDING off.
			if err := d.dropPending(ctx, ev); err != nil {
				return fmt.Errorf("%s: %w", ev.Step, err)
			}
		}
		log.InfoContext(ctx, "rotation step skipped: version is already current")
		return nil
	case !slices.Contains(stages, stagePending):
		return fmt.Errorf("%w: version is not staged as %s", ErrNotRotatable, stagePending)
	}
	switch ev.Step {
	case StepCreate:
		err = d.createSecret(ctx, ev)
	case StepSet:
		// The keys are used only by crowdgate's own functions, which read the secret:
		// there is no other system to hand the new key to.
	case StepTest:
		err = d.testSecret(ctx, ev)
	case StepFinish:
		err = d.finishSecret(ctx, ev, desc.VersionIdsToStages)
	default:
		return fmt.Errorf("%w: unknown step %q", ErrUnknownEvent, ev.Step)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", ev.Step, err)
	}
	log.InfoContext(ctx, "rotation step done")
	return nil
}

// createSecret stores the rotated key list as the AWSPENDING version, unless an earlier
// attempt of this rotation already did.
func (d Deps) createSecret(ctx context.Context, ev Event) error {
	current, err := d.value(ctx, ev.SecretID, "", stageCurrent)
	if err != nil {
		return err
	}
	pending, err := d.value(ctx, ev.SecretID, ev.ClientRequestToken, stagePending)
	if err == nil {
		// Created by an earlier attempt, possibly from a list replaced since by hand.
		return d.usablePending(ctx, ev, current, pending)
	}
	if !isNotFound(err) {
		return err
	}
	next, err := token.RotateKeys(current)
	if err != nil {
		return fmt.Errorf("current key list: %w", err)
	}
	in := &secretsmanager.PutSecretValueInput{
		SecretId:           &ev.SecretID,
		ClientRequestToken: &ev.ClientRequestToken,
		SecretString:       &next,
		VersionStages:      []string{stagePending},
	}
	if ev.RotationToken != "" {
		in.RotationToken = &ev.RotationToken
	}
	if _, err := d.Secrets.PutSecretValue(ctx, in); err != nil {
		return fmt.Errorf("put pending key list: %w", err)
	}
	return nil
}

// testSecret checks the pending list before it becomes current: it parses, it signs with
// a key the current list does not have, and it still verifies tokens of the current
// signing key (they live token.TTL after the switch).
func (d Deps) testSecret(ctx context.Context, ev Event) error {
	current, err := d.value(ctx, ev.SecretID, "", stageCurrent)
	if err != nil {
		return err
	}
	pending, err := d.value(ctx, ev.SecretID, ev.ClientRequestToken, stagePending)
	if err != nil {
		return err
	}
	return d.usablePending(ctx, ev, current, pending)
}

// usablePending checks the pending list against the current one. A pending list that
// fails can never pass (a version's value cannot change): it was made from a list that has
// been replaced since (a half-failed rotation, then a put-secret-value by hand), or written
// by hand. Its AWSPENDING label is removed then, so that the next rotation starts a new
// version instead of Secrets Manager retrying this one for ever.
func (d Deps) usablePending(ctx context.Context, ev Event, current, pending string) error {
	cur, err := token.NewSigner(current)
	if err != nil {
		return fmt.Errorf("current key list: %w", err)
	}
	bad := checkPending(cur, pending, d.Now())
	if bad == nil {
		return nil
	}
	if err := d.dropPending(ctx, ev); err != nil {
		return fmt.Errorf("%w; %w", bad, err)
	}
	return fmt.Errorf("%w: %w; removed %s from the version, rotate again", ErrNotRotatable, bad, stagePending)
}

// checkPending says why the pending list cannot follow cur: it does not parse, it signs
// with cur's signing key, or it does not verify tokens of cur's signing key (they live
// token.TTL after the switch) or of its own.
func checkPending(cur *token.Signer, pending string, now time.Time) error {
	next, err := token.NewSigner(pending)
	if err != nil {
		return fmt.Errorf("pending key list: %w", err)
	}
	if next.KeyID() == cur.KeyID() {
		return errors.New("pending key list signs with the current key: nothing was rotated")
	}
	for _, c := range []struct {
		name   string
		signer *token.Signer
	}{{"current", cur}, {"pending", next}} {
		tok, _, err := c.signer.Issue("rotation-test", now)
		if err != nil {
			return fmt.Errorf("sign with the %s key: %w", c.name, err)
		}
		if _, err := next.Parse(tok, now); err != nil {
			return fmt.Errorf("pending key list does not verify a token of the %s key: %w", c.name, err)
		}
	}
	return nil
}

// dropPending removes the AWSPENDING label from the event's version.
func (d Deps) dropPending(ctx context.Context, ev Event) error {
	_, err := d.Secrets.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            &ev.SecretID,
		VersionStage:        aws.String(stagePending),
		RemoveFromVersionId: &ev.ClientRequestToken,
	})
	if err != nil {
		return fmt.Errorf("remove %s from the version: %w", stagePending, err)
	}
	return nil
}

// finishSecret moves AWSCURRENT to the new version and takes AWSPENDING off it. Functions
// pick it up at their next key-list read (token.RefreshEvery), or at once when a token of
// the new key reaches them (token.Keyring).
func (d Deps) finishSecret(ctx context.Context, ev Event, versions map[string][]string) error {
	var current string
	for id, stages := range versions {
		if slices.Contains(stages, stageCurrent) {
			current = id
		}
	}
	in := &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:        &ev.SecretID,
		VersionStage:    aws.String(stageCurrent),
		MoveToVersionId: &ev.ClientRequestToken,
	}
	if current != "" {
		in.RemoveFromVersionId = &current
	}
	if _, err := d.Secrets.UpdateSecretVersionStage(ctx, in); err != nil {
		return fmt.Errorf("make version current: %w", err)
	}
	// As AWS's rotation templates do: AWSPENDING left on this version would stay on it
	// when a list is later put by hand (put-secret-value moves only AWSCURRENT), and
	// Secrets Manager would take that for a rotation still in progress.
	return d.dropPending(ctx, ev)
}

// value reads one version of the secret by id and/or stage.
func (d Deps) value(ctx context.Context, secret, version, stage string) (string, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: &secret, VersionStage: &stage}
	if version != "" {
		in.VersionId = &version
	}
	out, err := d.Secrets.GetSecretValue(ctx, in)
	if err != nil {
		return "", fmt.Errorf("read %s key list: %w", stage, err)
	}
	return aws.ToString(out.SecretString), nil
}

func isNotFound(err error) bool {
	var nf *smtypes.ResourceNotFoundException
	return errors.As(err, &nf)
}

// destroySalts deletes the salts of the SaltLookbackDays newest days past retention.
func (d Deps) destroySalts(ctx context.Context) error {
	if d.Salts == nil {
		return errors.New("rotatekeys: no salt store configured")
	}
	last, err := time.Parse(time.DateOnly, dynamo.LastExpiredSaltDay(d.Now()))
	if err != nil {
		return err
	}
	var errs []error
	for i := range SaltLookbackDays {
		day := last.AddDate(0, 0, -i).Format(time.DateOnly)
		if err := d.Salts.Destroy(ctx, day); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy salts: %w", err)
	}
	web.Logger(ctx).InfoContext(ctx, "destroyed salts past retention", "through_day", last.Format(time.DateOnly), "days", SaltLookbackDays)
	return nil
}

// Wire builds the handler from the function's environment: Secrets Manager for the
// signing-key secret and the risk table for the salts.
func Wire(_ context.Context, env *platform.Env) (func(context.Context, Event) error, error) {
	// Without SIGNING_SECRET_ARN (the local stack, whose keys come from SIGNING_KEYS) only the
	// salt job runs; a rotation step is refused.
	arn := env.Config.SigningSecretARN
	var secrets SecretsManager
	if arn != "" {
		secrets = env.SecretsManager()
	}
	risk, err := env.Config.Table(schema.TableRisk)
	if err != nil {
		return nil, err
	}
	sweeper := dynamo.NewSaltSweeper(env.DynamoDB(), risk)
	sweeper.Now = env.Now
	return New(Deps{Secrets: secrets, SecretARN: arn, Salts: sweeper, Now: env.Now}), nil
}

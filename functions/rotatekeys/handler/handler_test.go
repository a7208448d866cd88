package handler_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/crowdgate/crowdgate/functions/rotatekeys/handler"
	"github.com/crowdgate/crowdgate/shared/token"
)

// fakeSecrets is a Secrets Manager whose calls are func fields.
type fakeSecrets struct {
	DescribeSecretFunc           func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error)
	GetSecretValueFunc           func(*secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValueFunc           func(*secretsmanager.PutSecretValueInput) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStageFunc func(*secretsmanager.UpdateSecretVersionStageInput) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

var _ handler.SecretsManager = (*fakeSecrets)(nil)

func (f *fakeSecrets) DescribeSecret(_ context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return f.DescribeSecretFunc(in)
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return f.GetSecretValueFunc(in)
}

func (f *fakeSecrets) PutSecretValue(_ context.Context, in *secretsmanager.PutSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	return f.PutSecretValueFunc(in)
}

func (f *fakeSecrets) UpdateSecretVersionStage(_ context.Context, in *secretsmanager.UpdateSecretVersionStageInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	return f.UpdateSecretVersionStageFunc(in)
}

// secret models one Secrets Manager secret: versions, staging labels and the rotation
// bookkeeping Secrets Manager does itself (a rotation creates an empty version labelled
// AWSPENDING under the ClientRequestToken, then calls the four steps).
type secret struct {
	arn      string
	enabled  bool
	values   map[string]*string // version id → value (nil until createSecret puts one)
	stages   map[string]string  // staging label → version id
	puts     int
	moves    int
	versions int
}

func newSecret(arn, initial string) *secret {
	s := &secret{arn: arn, enabled: true, values: map[string]*string{}, stages: map[string]string{}}
	s.values["v0"] = &initial
	s.stages["AWSCURRENT"] = "v0"
	return s
}

func notFound(msg string) error { return &smtypes.ResourceNotFoundException{Message: aws.String(msg)} }

func (s *secret) fake() *fakeSecrets {
	check := func(id *string) error {
		if aws.ToString(id) != s.arn {
			return notFound("no such secret")
		}
		return nil
	}
	return &fakeSecrets{
		DescribeSecretFunc: func(in *secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error) {
			if err := check(in.SecretId); err != nil {
				return nil, err
			}
			v := map[string][]string{}
			for id := range s.values {
				v[id] = []string{}
			}
			for stage, id := range s.stages {
				v[id] = append(v[id], stage)
			}
			return &secretsmanager.DescribeSecretOutput{ARN: &s.arn, RotationEnabled: aws.Bool(s.enabled), VersionIdsToStages: v}, nil
		},
		GetSecretValueFunc: func(in *secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error) {
			if err := check(in.SecretId); err != nil {
				return nil, err
			}
			id := aws.ToString(in.VersionId)
			if stage := aws.ToString(in.VersionStage); stage != "" {
				if id != "" && s.stages[stage] != id {
					return nil, notFound("version does not have that label")
				}
				id = s.stages[stage]
			}
			if v := s.values[id]; v != nil {
				return &secretsmanager.GetSecretValueOutput{SecretString: v, VersionId: &id}, nil
			}
			return nil, notFound("no value")
		},
		PutSecretValueFunc: func(in *secretsmanager.PutSecretValueInput) (*secretsmanager.PutSecretValueOutput, error) {
			if err := check(in.SecretId); err != nil {
				return nil, err
			}
			id := aws.ToString(in.ClientRequestToken)
			if v := s.values[id]; v != nil && *v != aws.ToString(in.SecretString) {
				return nil, &smtypes.ResourceExistsException{Message: aws.String("version exists with another value")}
			}
			s.puts++
			s.values[id] = in.SecretString
			for _, stage := range in.VersionStages {
				s.stages[stage] = id
			}
			if len(in.VersionStages) == 0 { // a value put by hand: it becomes current
				s.stages["AWSPREVIOUS"], s.stages["AWSCURRENT"] = s.stages["AWSCURRENT"], id
			}
			return &secretsmanager.PutSecretValueOutput{VersionId: &id}, nil
		},
		UpdateSecretVersionStageFunc: func(in *secretsmanager.UpdateSecretVersionStageInput) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
			if err := check(in.SecretId); err != nil {
				return nil, err
			}
			stage := aws.ToString(in.VersionStage)
			if in.MoveToVersionId == nil { // only RemoveFromVersionId: take the label off
				if s.stages[stage] != aws.ToString(in.RemoveFromVersionId) {
					return nil, &smtypes.InvalidParameterException{Message: aws.String("label is not on RemoveFromVersionId")}
				}
				delete(s.stages, stage)
				return &secretsmanager.UpdateSecretVersionStageOutput{}, nil
			}
			if cur, ok := s.stages[stage]; ok && cur != aws.ToString(in.MoveToVersionId) && cur != aws.ToString(in.RemoveFromVersionId) {
				return nil, &smtypes.InvalidParameterException{Message: aws.String("label is on another version than RemoveFromVersionId")}
			}
			s.moves++
			s.stages[stage] = aws.ToString(in.MoveToVersionId)
			return &secretsmanager.UpdateSecretVersionStageOutput{}, nil
		},
	}
}

// start begins a rotation as Secrets Manager does and returns its ClientRequestToken.
func (s *secret) start() string {
	s.versions++
	id := fmt.Sprintf("rotation-%d", s.versions)
	s.values[id] = nil
	s.stages["AWSPENDING"] = id
	return id
}

func (s *secret) current() string { return *s.values[s.stages["AWSCURRENT"]] }

// rotatable is RotateSecret's precondition: AWSPENDING is on no version, or on the
// AWSCURRENT one; otherwise Secrets Manager takes a rotation for still in progress.
func (s *secret) rotatable() bool {
	pending, ok := s.stages["AWSPENDING"]
	return !ok || pending == s.stages["AWSCURRENT"]
}

const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:SigningKeys-AbCdEf"

var now = time.Date(2026, 3, 10, 0, 5, 0, 0, time.UTC)

// initialKey is a key as CloudFormation generates it: 44 characters of [A-Za-z0-9].
const initialKey = "Zq3VtR8mKp2WxL9sDf4GhJ7nBc1YaE6uQo5IwT0rXyMe"

func newHandler(s *secret) func(context.Context, handler.Event) error {
	return handler.New(handler.Deps{Secrets: s.fake(), SecretARN: s.arn, Now: func() time.Time { return now }})
}

func step(name, version string) handler.Event {
	return handler.Event{Step: name, SecretID: arn, ClientRequestToken: version}
}

// rotate runs the four steps of one rotation.
func rotate(t *testing.T, h func(context.Context, handler.Event) error, s *secret) {
	t.Helper()
	id := s.start()
	for _, name := range []string{handler.StepCreate, handler.StepSet, handler.StepTest, handler.StepFinish} {
		if err := h(context.Background(), step(name, id)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if s.stages["AWSCURRENT"] != id {
		t.Fatalf("after finishSecret AWSCURRENT is on %s, want %s", s.stages["AWSCURRENT"], id)
	}
}

func signerOf(t *testing.T, keys string) *token.Signer {
	t.Helper()
	sg, err := token.NewSigner(keys)
	if err != nil {
		t.Fatalf("NewSigner(current): %v", err)
	}
	return sg
}

func TestRotationPrependsAKeyAndOldTokensKeepVerifying(t *testing.T) {
	s := newSecret(arn, initialKey)
	h := newHandler(s)
	first := signerOf(t, s.current())
	tokFirst, _, _ := first.Issue("site-1", now)

	rotate(t, h, s)
	second := signerOf(t, s.current())
	ids, _ := token.KeyIDs(s.current())
	if len(ids) != 2 || ids[1] != first.KeyID() || second.KeyID() == first.KeyID() {
		t.Fatalf("after the first rotation kids %v, want [new %s]", ids, first.KeyID())
	}
	if _, err := second.Parse(tokFirst, now); err != nil {
		t.Fatalf("a token signed with the generated first key fails after rotation: %v", err)
	}
	tokSecond, _, _ := second.Issue("site-1", now)

	rotate(t, h, s)
	rotate(t, h, s)
	latest := signerOf(t, s.current())
	ids, _ = token.KeyIDs(s.current())
	if len(ids) != token.MaxRotatedKeys || slices.Contains(ids, first.KeyID()) {
		t.Fatalf("after three rotations kids %v: want %d keys without the first", ids, token.MaxRotatedKeys)
	}
	if _, err := latest.Parse(tokSecond, now); err != nil {
		t.Errorf("a token of the key two rotations back fails: %v", err)
	}
	if _, err := latest.Parse(tokFirst, now); !errors.Is(err, token.ErrForged) {
		t.Errorf("the retired first key still verifies: %v", err)
	}
}

func TestRotationStepsAreIdempotentPerClientRequestToken(t *testing.T) {
	s := newSecret(arn, initialKey)
	h := newHandler(s)
	id := s.start()
	ctx := context.Background()
	for range 3 {
		if err := h(ctx, step(handler.StepCreate, id)); err != nil {
			t.Fatal(err)
		}
	}
	if s.puts != 1 {
		t.Fatalf("createSecret retried three times put %d versions, want 1", s.puts)
	}
	pending := *s.values[id]
	if s.current() != initialKey {
		t.Fatal("createSecret changed the current version")
	}
	for _, name := range []string{handler.StepSet, handler.StepTest, handler.StepFinish, handler.StepFinish, handler.StepTest, handler.StepCreate} {
		if err := h(ctx, step(name, id)); err != nil {
			t.Fatalf("%s (repeated after finish): %v", name, err)
		}
	}
	if s.moves != 1 || s.puts != 1 || s.current() != pending {
		t.Errorf("repeated steps: %d label moves, %d puts; current changed: %v", s.moves, s.puts, s.current() != pending)
	}
}

func TestRotationRefusesWhatItMustNotTouch(t *testing.T) {
	ctx := context.Background()
	t.Run("another secret", func(t *testing.T) {
		s := newSecret(arn, initialKey)
		calls := 0
		f := s.fake()
		describe := f.DescribeSecretFunc
		f.DescribeSecretFunc = func(in *secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error) {
			calls++
			return describe(in)
		}
		h := handler.New(handler.Deps{Secrets: f, SecretARN: arn})
		ev := step(handler.StepCreate, s.start())
		ev.SecretID = strings.Replace(arn, "SigningKeys", "PrivacyKey", 1)
		if err := h(ctx, ev); !errors.Is(err, handler.ErrOtherSecret) || calls != 0 {
			t.Fatalf("other secret: %v after %d calls, want ErrOtherSecret before any call", err, calls)
		}
	})
	t.Run("no secret configured", func(t *testing.T) {
		// The local stack wires the function without SIGNING_SECRET_ARN, for the salt job only.
		s := newSecret(arn, initialKey)
		h := handler.New(handler.Deps{})
		if err := h(ctx, step(handler.StepCreate, s.start())); !errors.Is(err, handler.ErrOtherSecret) {
			t.Fatalf("rotation without a configured secret: %v, want ErrOtherSecret", err)
		}
	})
	t.Run("version not pending", func(t *testing.T) {
		s := newSecret(arn, initialKey)
		h := newHandler(s)
		for _, version := range []string{"never-started", "v0-but-not-pending"} {
			if version == "v0-but-not-pending" {
				s.values[version] = aws.String(initialKey)
			}
			if err := h(ctx, step(handler.StepCreate, version)); !errors.Is(err, handler.ErrNotRotatable) {
				t.Errorf("%s: %v, want ErrNotRotatable", version, err)
			}
		}
		if s.puts != 0 {
			t.Error("a refused step wrote a version")
		}
	})
	t.Run("rotation disabled", func(t *testing.T) {
		s := newSecret(arn, initialKey)
		s.enabled = false
		if err := newHandler(s)(ctx, step(handler.StepCreate, s.start())); !errors.Is(err, handler.ErrNotRotatable) {
			t.Errorf("rotation disabled: %v, want ErrNotRotatable", err)
		}
	})
	t.Run("unknown step or event", func(t *testing.T) {
		s := newSecret(arn, initialKey)
		h := newHandler(s)
		if err := h(ctx, step("dropSecret", s.start())); !errors.Is(err, handler.ErrUnknownEvent) {
			t.Errorf("unknown step: %v", err)
		}
		for _, ev := range []handler.Event{{}, {Job: "rotate-everything"}, {Step: handler.StepCreate}} {
			if err := h(ctx, ev); !errors.Is(err, handler.ErrUnknownEvent) {
				t.Errorf("event %+v: %v, want ErrUnknownEvent", ev, err)
			}
		}
	})
	t.Run("current list unusable", func(t *testing.T) {
		s := newSecret(arn, "not a key list")
		if err := newHandler(s)(ctx, step(handler.StepCreate, s.start())); err == nil || s.puts != 0 {
			t.Errorf("invalid current list: %v, %d puts; want an error and no write", err, s.puts)
		}
	})
}

func TestTestSecretStopsAListThatWouldBreakTokens(t *testing.T) {
	ctx := context.Background()
	fresh := func() string {
		k, err := token.NewDerivedKey()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	cur := signerOf(t, initialKey)
	raw, _ := base64.StdEncoding.DecodeString(initialKey)
	for name, pending := range map[string]string{
		"drops the current key":  fresh(),
		"same signing key":       initialKey,
		"current key moved back": fresh() + "," + cur.KeyID() + ":" + base64.StdEncoding.EncodeToString(raw[:32]), // same kid, other key
		"not a key list":         "garbage",
	} {
		s := newSecret(arn, initialKey)
		h := newHandler(s)
		id := s.start()
		s.values[id] = aws.String(pending) // as if written by hand or by a broken createSecret
		if err := h(ctx, step(handler.StepTest, id)); err == nil {
			t.Errorf("%s: testSecret passed", name)
		}
		if s.current() != initialKey {
			t.Errorf("%s: current version changed", name)
		}
	}
}

// saltLog records the days a salt job destroys.
type saltLog struct {
	days []string
	fail map[string]error
}

func (l *saltLog) Destroy(_ context.Context, day string) error {
	l.days = append(l.days, day)
	return l.fail[day]
}

func TestDestroySaltsJobDeletesExpiredDaysOnly(t *testing.T) {
	log := &saltLog{}
	h := handler.New(handler.Deps{Salts: log, Now: func() time.Time { return now }})
	if err := h(context.Background(), handler.Event{Job: handler.JobDestroySalts}); err != nil {
		t.Fatal(err)
	}
	// At 2026-03-10 00:05 UTC the salt of 03-07 has been past retention for 5 minutes
	// (day end + 48 h); 03-08 is still in use for linking that day's pseudonyms.
	want := []string{"2026-03-07", "2026-03-06", "2026-03-05", "2026-03-04", "2026-03-03", "2026-03-02", "2026-03-01"}
	if fmt.Sprint(log.days) != fmt.Sprint(want) {
		t.Fatalf("destroyed %v, want %v", log.days, want)
	}

	failing := &saltLog{fail: map[string]error{"2026-03-05": errors.New("throttled")}}
	h = handler.New(handler.Deps{Salts: failing, Now: func() time.Time { return now }})
	if err := h(context.Background(), handler.Event{Job: handler.JobDestroySalts}); err == nil {
		t.Fatal("a failed delete was not reported (the scheduler would not retry)")
	}
	if len(failing.days) != len(want) {
		t.Errorf("after one failure %d days tried, want all %d", len(failing.days), len(want))
	}
}

// TestEventFiles replays events/rotatekeys: the four rotation steps in order against a
// secret whose rotation Secrets Manager has just started, and the scheduled salt job.
func TestEventFiles(t *testing.T) {
	load := func(name string) handler.Event {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", "rotatekeys", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var ev handler.Event
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return ev
	}
	steps := map[string]string{ // file → step: the names sort in protocol order
		"rotation-1-createSecret": handler.StepCreate, "rotation-2-setSecret": handler.StepSet,
		"rotation-3-testSecret": handler.StepTest, "rotation-4-finishSecret": handler.StepFinish,
	}
	create := load("rotation-1-createSecret")
	s := newSecret(create.SecretID, initialKey)
	s.values[create.ClientRequestToken] = nil
	s.stages["AWSPENDING"] = create.ClientRequestToken
	var rotationToken string
	f := s.fake()
	put := f.PutSecretValueFunc
	f.PutSecretValueFunc = func(in *secretsmanager.PutSecretValueInput) (*secretsmanager.PutSecretValueOutput, error) {
		rotationToken = aws.ToString(in.RotationToken)
		return put(in)
	}
	log := &saltLog{}
	h := handler.New(handler.Deps{Secrets: f, SecretARN: create.SecretID, Salts: log, Now: func() time.Time { return now }})
	for _, name := range []string{"rotation-1-createSecret", "rotation-2-setSecret", "rotation-3-testSecret", "rotation-4-finishSecret"} {
		ev := load(name)
		if ev.Step != steps[name] || ev.ClientRequestToken != create.ClientRequestToken {
			t.Fatalf("%s.json: step %q version %q", name, ev.Step, ev.ClientRequestToken)
		}
		if err := h(context.Background(), ev); err != nil {
			t.Fatalf("%s.json: %v", name, err)
		}
	}
	if s.stages["AWSCURRENT"] != create.ClientRequestToken || rotationToken != create.RotationToken {
		t.Errorf("after the event files: current %s, rotation token passed %q", s.stages["AWSCURRENT"], rotationToken)
	}
	if err := h(context.Background(), load("destroy-salts")); err != nil || len(log.days) != handler.SaltLookbackDays {
		t.Errorf("destroy-salts.json: %v, %d days", err, len(log.days))
	}
}

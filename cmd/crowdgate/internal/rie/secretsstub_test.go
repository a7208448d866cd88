package rie_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Staging labels of Secrets Manager's rotation protocol.
const (
	stageCurrent  = "AWSCURRENT"
	stagePending  = "AWSPENDING"
	stagePrevious = "AWSPREVIOUS"
)

// secretsStub is a tiny Secrets Manager endpoint (AWS JSON 1.1, as the Go SDK speaks it)
// with the calls a rotation function makes: DescribeSecret, GetSecretValue, PutSecretValue
// and UpdateSecretVersionStage, keeping staging labels as Secrets Manager does.
type secretsStub struct {
	srv     *httptest.Server
	mu      sync.Mutex
	secrets map[string]*stubSecret // by ARN
}

type stubSecret struct {
	arn      string
	versions map[string]*stubVersion
}

type stubVersion struct {
	value   *string
	stages  []string
	created time.Time
}

func newSecretsStub(t testing.TB) *secretsStub {
	s := &secretsStub{secrets: map[string]*stubSecret{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// create adds a secret with rotation on and value as its AWSCURRENT version.
func (s *secretsStub) create(arn, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[arn] = &stubSecret{arn: arn, versions: map[string]*stubVersion{
		"initial-version": {value: &value, stages: []string{stageCurrent}, created: time.Now()},
	}}
}

// stagePending does what Secrets Manager does before it calls a rotation function's
// createSecret step: the new version id exists, labelled AWSPENDING, without a value.
func (s *secretsStub) stagePending(arn, versionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[arn]
	if sec == nil || sec.versions[versionID] != nil {
		return
	}
	sec.moveStage(stagePending, versionID)
}

func (sec *stubSecret) moveStage(stage, to string) {
	for id, v := range sec.versions {
		if id != to {
			v.stages = slices.DeleteFunc(v.stages, func(x string) bool { return x == stage })
		}
	}
	v := sec.versions[to]
	if v == nil {
		v = &stubVersion{created: time.Now()}
		sec.versions[to] = v
	}
	if !slices.Contains(v.stages, stage) {
		v.stages = append(v.stages, stage)
	}
}

func (sec *stubSecret) name() string { return sec.arn[strings.LastIndex(sec.arn, ":")+1:] }

type smRequest struct {
	SecretID            string   `json:"SecretId"`
	VersionID           string   `json:"VersionId"`
	VersionStage        string   `json:"VersionStage"`
	ClientRequestToken  string   `json:"ClientRequestToken"`
	SecretString        *string  `json:"SecretString"`
	VersionStages       []string `json:"VersionStages"`
	MoveToVersionID     string   `json:"MoveToVersionId"`
	RemoveFromVersionID string   `json:"RemoveFromVersionId"`
}

func (s *secretsStub) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var in smRequest
	if err := json.Unmarshal(body, &in); err != nil {
		smError(w, "InvalidRequestException", "bad JSON")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[in.SecretID]
	if sec == nil {
		smError(w, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	switch op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager."); op {
	case "DescribeSecret":
		stages := map[string][]string{}
		for id, v := range sec.versions {
			if len(v.stages) > 0 {
				stages[id] = v.stages
			}
		}
		smJSON(w, map[string]any{"ARN": sec.arn, "Name": sec.name(), "RotationEnabled": true, "VersionIdsToStages": stages})
	case "GetSecretValue":
		stage := in.VersionStage
		if stage == "" && in.VersionID == "" {
			stage = stageCurrent
		}
		for id, v := range sec.versions {
			if (in.VersionID == "" || id == in.VersionID) && (stage == "" || slices.Contains(v.stages, stage)) && v.value != nil {
				smJSON(w, map[string]any{"ARN": sec.arn, "Name": sec.name(), "VersionId": id, "SecretString": *v.value,
					"VersionStages": v.stages, "CreatedDate": float64(v.created.Unix())})
				return
			}
		}
		smError(w, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: "+in.VersionID+" VersionStage: "+stage)
	case "PutSecretValue":
		if in.ClientRequestToken == "" || in.SecretString == nil {
			smError(w, "InvalidParameterException", "ClientRequestToken and SecretString are required")
			return
		}
		if v := sec.versions[in.ClientRequestToken]; v != nil && v.value != nil {
			if *v.value != *in.SecretString {
				smError(w, "ResourceExistsException", "a version with this ClientRequestToken already exists")
				return
			}
		} else {
			if v == nil {
				sec.versions[in.ClientRequestToken] = &stubVersion{created: time.Now()}
			}
			value := *in.SecretString
			sec.versions[in.ClientRequestToken].value = &value
		}
		stages := in.VersionStages
		if len(stages) == 0 {
			stages = []string{stageCurrent}
		}
		for _, st := range stages {
			sec.moveStage(st, in.ClientRequestToken)
		}
		smJSON(w, map[string]any{"ARN": sec.arn, "Name": sec.name(), "VersionId": in.ClientRequestToken, "VersionStages": sec.versions[in.ClientRequestToken].stages})
	case "UpdateSecretVersionStage":
		if in.VersionStage == "" {
			smError(w, "InvalidParameterException", "VersionStage is required")
			return
		}
		for id, v := range sec.versions {
			if slices.Contains(v.stages, in.VersionStage) && id != in.RemoveFromVersionID && id != in.MoveToVersionID {
				smError(w, "InvalidParameterException", "the stage is attached to "+id+", not to RemoveFromVersionId")
				return
			}
		}
		if in.MoveToVersionID != "" && sec.versions[in.MoveToVersionID] == nil {
			smError(w, "ResourceNotFoundException", "no version "+in.MoveToVersionID)
			return
		}
		if old := sec.versions[in.RemoveFromVersionID]; old != nil {
			old.stages = slices.DeleteFunc(old.stages, func(x string) bool { return x == in.VersionStage })
			if in.VersionStage == stageCurrent && in.MoveToVersionID != "" {
				sec.moveStage(stagePrevious, in.RemoveFromVersionID)
			}
		}
		if in.MoveToVersionID != "" {
			sec.moveStage(in.VersionStage, in.MoveToVersionID)
		}
		smJSON(w, map[string]any{"ARN": sec.arn, "Name": sec.name()})
	default:
		smError(w, "InvalidRequestException", "the test Secrets Manager stub does not implement "+op)
	}
}

func smJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func smError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "Message": msg})
}

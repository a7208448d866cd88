package rie_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// sqsStub is a tiny SQS endpoint (AWS JSON 1.0 protocol, as the Go SDK speaks it) that
// accepts SendMessage and SendMessageBatch and keeps the message bodies per queue URL.
type sqsStub struct {
	srv  *httptest.Server
	mu   sync.Mutex
	sent map[string][]string // queue URL → bodies
}

func newSQSStub(t testing.TB) *sqsStub {
	s := &sqsStub{sent: map[string][]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// QueueURL returns the URL of a queue served by the stub.
func (s *sqsStub) QueueURL(name string) string { return s.srv.URL + "/000000000000/" + name }

// Sent returns the bodies sent to a queue.
func (s *sqsStub) Sent(queueURL string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sent[queueURL]...)
}

func (s *sqsStub) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		sqsError(w, "InvalidParameterValue", err.Error())
		return
	}
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	switch op {
	case "SendMessage":
		var in struct{ QueueUrl, MessageBody string }
		if err := json.Unmarshal(body, &in); err != nil || in.QueueUrl == "" {
			sqsError(w, "InvalidParameterValue", "bad SendMessage")
			return
		}
		id := s.add(in.QueueUrl, in.MessageBody)
		writeSQS(w, map[string]string{"MessageId": id, "MD5OfMessageBody": md5Hex(in.MessageBody)})
	case "SendMessageBatch":
		var in struct {
			QueueUrl string
			Entries  []struct{ Id, MessageBody string }
		}
		if err := json.Unmarshal(body, &in); err != nil || in.QueueUrl == "" || len(in.Entries) == 0 || len(in.Entries) > 10 {
			sqsError(w, "InvalidParameterValue", "bad SendMessageBatch")
			return
		}
		var ok []map[string]string
		for _, e := range in.Entries {
			ok = append(ok, map[string]string{"Id": e.Id, "MessageId": s.add(in.QueueUrl, e.MessageBody), "MD5OfMessageBody": md5Hex(e.MessageBody)})
		}
		writeSQS(w, map[string]any{"Successful": ok, "Failed": []any{}})
	default:
		sqsError(w, "UnsupportedOperation", "the test SQS stub does not implement "+op)
	}
}

func (s *sqsStub) add(queue, body string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent[queue] = append(s.sent[queue], body)
	return fmt.Sprintf("m-%d", len(s.sent[queue]))
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func writeSQS(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(v)
}

func sqsError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Query-Error", "AWS.SimpleQueueService."+code+";Sender")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + code, "message": msg})
}

package dynamotest

import (
	"strings"
	"testing"
)

// Without a Java runtime the tests that need DynamoDB Local fail with what to do, once,
// not with exec's "executable file not found" for every start attempt.
func TestStartWithoutJavaSaysWhatToDo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := start()
	if err == nil || !strings.Contains(err.Error(), "make tools") || strings.Contains(err.Error(), "executable file not found") {
		t.Errorf("start without java: %v; want one error that says to run make tools", err)
	}
}

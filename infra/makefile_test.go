package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `make synth|deploy|invoke STACK=…` work on the stack they name: every cdk command gives
// the app that name as its stackName context, deploy names it, and invoke reads its
// template. Without the context the app builds `Crowdgate` whatever STACK says, and
// `cdk deploy CrowdgateStaging` finds no such stack.
func TestMakeTargetsBuildTheStackTheyName(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	const stack = "CrowdgateStaging"
	for target, want := range map[string]string{
		"synth":  "",
		"deploy": "cdk deploy --no-notices -c stackName=" + stack + " " + stack,
		"invoke": "sam local invoke -t cdk.out/" + stack + ".template.json VerifyFunction",
	} {
		cmd := exec.Command("make", "-n", "--always-make", target, "STACK="+stack,
			"FN=VerifyFunction", "EVENT=events/verify/verify-test-keys.json")
		cmd.Dir = filepath.Join("..")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %s: %v\n%s", target, err, out)
		}
		cdk := 0
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "node_modules/.bin/cdk ") {
				cdk++
				if !strings.Contains(line, " -c stackName="+stack) {
					t.Errorf("make %s STACK=%s: %q does not pass the stack name to the app", target, stack, line)
				}
			}
		}
		if cdk == 0 {
			t.Errorf("make %s runs no cdk command:\n%s", target, out)
		}
		if want != "" && !strings.Contains(string(out), want) {
			t.Errorf("make %s STACK=%s does not run %q:\n%s", target, stack, want, out)
		}
	}
}

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// The README's `make invoke` section lists the FN value of every function in the
// template (its construct id, which sam local invoke accepts), and each events/<fn>/ folder
// belongs to one of them.
func TestInvokeDocsNameEveryFunction(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "`FN` is the function's CDK construct id (")
	list, _, ok2 := strings.Cut(rest, ")")
	if !ok || !ok2 {
		t.Fatal("README.md does not list the construct ids `make invoke` takes")
	}
	documented := map[string]bool{}
	for _, id := range strings.Split(list, ",") {
		documented[strings.Trim(strings.TrimSpace(id), "`")] = true
	}
	inTemplate := map[string]bool{}
	for id, r := range resources("AWS::Lambda::Function") {
		p, _ := dig(r, "Metadata", "aws:cdk:path").(string)
		construct := strings.TrimSuffix(strings.TrimPrefix(p, *built.stack.Node().Path()+"/"), "/Resource")
		if construct == p || strings.Contains(construct, "/") {
			t.Errorf("function %s: path %q is not <stack>/<construct>/Resource", id, p)
		}
		inTemplate[construct] = true
		if !documented[construct] {
			t.Errorf("README.md's `make invoke` list leaves out %s", construct)
		}
	}
	for id := range documented {
		if !inTemplate[id] {
			t.Errorf("README.md's `make invoke` list names %s, which the template has no function for", id)
		}
	}
	dirs, err := os.ReadDir(filepath.Join("..", "events"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if d.IsDir() && !inTemplate[pascal(d.Name())+"Function"] {
			t.Errorf("events/%s/: no function %sFunction in the template to invoke with it", d.Name(), pascal(d.Name()))
		}
	}
}

// `make help` (the Makefile's first target, so plain `make` too) names every make target
// the README tells a developer to run.
func TestMakeHelpListsEveryTargetTheREADMENames(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "--no-print-directory", "help")
	cmd.Dir = ".."
	help, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, help)
	}
	targets := regexp.MustCompile("`make ([a-z-]+)").FindAllStringSubmatch(string(readme), -1)
	if len(targets) == 0 {
		t.Fatal("README.md names no make target")
	}
	for _, m := range targets {
		if !strings.Contains(string(help), "make "+m[1]+" ") {
			t.Errorf("make help does not list `make %s`, which README.md names:\n%s", m[1], help)
		}
	}
}

// Without the SAM CLI, `make invoke` says which target replays the events without it.
func TestMakeInvokeWithoutSAMNamesTheReplayTarget(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	if _, err := exec.LookPath("sam"); err == nil {
		t.Skip("the SAM CLI is installed here")
	}
	cmd := exec.Command("make", "--no-print-directory", "invoke", "FN=VerifyFunction", "EVENT=events/verify/verify-test-keys.json")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "make rie-test") {
		t.Errorf("make invoke without sam: %v\n%s; want it to name make rie-test", err, out)
	}
}

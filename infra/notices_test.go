package main

import (
	"fmt"
	"slices"
	"testing"

	"github.com/crowdgate/crowdgate/shared/routes"
)

// The privacy notices go through a configuration set whose suppression options list no
// reason, so a notice that bounces or draws a complaint does not put the address back on
// the account-level suppression list an erasure has just removed it from. The privacy
// function (denial, extension) and the worker (completion) get its name and may send
// through it; nothing else may.
func TestPrivacyNoticesGoThroughANoSuppressionConfigurationSet(t *testing.T) {
	sets := resources("AWS::SES::ConfigurationSet")
	if len(sets) != 1 {
		t.Fatalf("%d SES configuration sets, want the privacy notices' one", len(sets))
	}
	id := logicalID(t, "PrivacyNotices")
	opts, ok := dig(sets[id], "Properties", "SuppressionOptions").(map[string]any)
	if reasons, listed := opts["SuppressedReasons"].([]any); !ok || !listed || len(reasons) != 0 {
		t.Fatalf("SuppressionOptions %v: want an empty SuppressedReasons list (no bounce or complaint is added)", opts)
	}
	for _, name := range deployed() {
		vars, _ := dig(resources("")[logicalID(t, pascal(name)+"Function")], "Properties", "Environment", "Variables").(map[string]any)
		set, hasVar := vars["MAIL_NOTICE_CONFIGURATION_SET"]
		mayUse := false
		for _, s := range statementsOf(t, name) {
			if dig(s, "Effect") != "Allow" || !slices.Contains(list(dig(s, "Action")), any("ses:SendEmail")) {
				continue
			}
			for _, res := range list(dig(s, "Resource")) {
				if slices.Contains(refs(res), id) {
					mayUse = true
					if fmt.Sprint(res) == fmt.Sprint(map[string]any{"Ref": id}) {
						t.Errorf("%s: ses:SendEmail resource is the set's name, not its ARN", name)
					}
				}
			}
		}
		want := name == routes.FunctionPrivacy || name == functionPrivacyWorker
		if want != (hasVar && fmt.Sprint(refs(set)) == "["+id+"]") || want != mayUse || want != grants[name].SendNotices {
			t.Errorf("%s: MAIL_NOTICE_CONFIGURATION_SET %v, may send through the set %v, SendNotices %v; want all %v", name, set, mayUse, grants[name].SendNotices, want)
		}
	}
}

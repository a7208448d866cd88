package main

import (
	"fmt"
	"slices"
	"testing"

	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// The accessibility function may write only A11Y# items of the accounts table (the table
// of personal data): every write statement on that table carries the LeadingKeys
// condition, and no unconditioned write reaches it.
func TestAccessibilityWritesOnlyItsAccountsPrefix(t *testing.T) {
	accounts := logicalID(t, pascal(schema.TableAccounts)+"Table")
	conditioned := 0
	for _, s := range statementsOf(t, routes.FunctionAccessibility) {
		actions := fmt.Sprint(list(dig(s, "Action")))
		names := false
		for _, res := range list(dig(s, "Resource")) {
			if slices.Contains(refs(res), accounts) {
				names = true
			}
		}
		if !names {
			continue
		}
		for _, w := range tablePrefixWriteActions {
			if !slices.Contains(list(dig(s, "Action")), any(w)) {
				continue
			}
			cond := fmt.Sprint(dig(s, "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys"))
			if cond != "[A11Y#*]" {
				t.Errorf("write %s on the accounts table without the A11Y# condition: %v", actions, dig(s, "Condition"))
			}
			conditioned++
		}
	}
	if conditioned != len(tablePrefixWriteActions) {
		t.Fatalf("%d conditioned writes on the accounts table, want %d", conditioned, len(tablePrefixWriteActions))
	}
}

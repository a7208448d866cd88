package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/crowdgate/crowdgate/shared/config"
)

// prefixWrite is a WritePrefixTables entry: item writes allowed only on the items whose
// partition key starts with Prefix.
type prefixWrite struct {
	Prefix  string
	Actions []string // each in prefixableActions
}

// tablePrefixWriteActions are the single-item writes, the usual prefix grant.
var tablePrefixWriteActions = []string{putItem, updateItem, deleteItem}

// prefixableActions are the writes (and the condition check of a transaction) whose
// requests name every item's partition key, so dynamodb:LeadingKeys restricts them. A
// Scan names none, and ForAllValues holds for a request without keys: a Scan under the
// condition would read the whole table.
var prefixableActions = append(slices.Clone(tablePrefixWriteActions), batchWriteItem, conditionCheckItem)

// check refuses an entry the LeadingKeys condition would not confine.
func (p prefixWrite) check() error {
	if p.Prefix == "" {
		return errors.New("empty key prefix")
	}
	if len(p.Actions) == 0 {
		return fmt.Errorf("prefix %s: no actions", p.Prefix)
	}
	for _, a := range p.Actions {
		if !slices.Contains(prefixableActions, a) {
			return fmt.Errorf("prefix %s: %s cannot be confined to it", p.Prefix, a)
		}
	}
	return nil
}

// grantPrefixWrites applies a.WritePrefixTables and a.PublicURL.
func (s *crowdgate) grantPrefixWrites(a access, role awsiam.IRole, env map[string]*string) error {
	for _, name := range slices.Sorted(maps.Keys(a.WritePrefixTables)) {
		p := a.WritePrefixTables[name]
		t, ok := s.tables[name]
		if !ok {
			return fmt.Errorf("unknown table %q", name)
		}
		if err := p.check(); err != nil {
			return fmt.Errorf("table %s: %w", name, err)
		}
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee:      role,
			Actions:      jsii.Strings(p.Actions...),
			ResourceArns: jsii.Strings(*t.TableArn()),
			Conditions: &map[string]*map[string]any{
				"ForAllValues:StringLike": {"dynamodb:LeadingKeys": []string{p.Prefix + "*"}},
			},
		})
		if key := s.tableKeys[name]; key != nil {
			key.Grant(role, *jsii.Strings(kmsTableWriteActions...)...)
		}
		env[config.EnvName("table", name)] = t.TableName()
	}
	if a.PublicURL {
		if s.api == nil {
			return fmt.Errorf("PUBLIC_URL needs the API, which is created first")
		}
		env["PUBLIC_URL"] = s.api.ApiEndpoint()
	}
	return nil
}

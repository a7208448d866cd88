package main

import (
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/crowdgate/crowdgate/shared/config"
)

// tablePrefixWriteActions are the item writes a WritePrefixTables grant allows; each names
// its item's partition key, so dynamodb:LeadingKeys can restrict it (a Scan or batch write
// could not be).
var tablePrefixWriteActions = []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}

// grantPrefixWrites applies a.WritePrefixTables and a.PublicURL.
func (s *crowdgate) grantPrefixWrites(a access, role awsiam.IRole, env map[string]*string) error {
	for _, name := range slices.Sorted(maps.Keys(a.WritePrefixTables)) {
		prefix := a.WritePrefixTables[name]
		t, ok := s.tables[name]
		if !ok {
			return fmt.Errorf("unknown table %q", name)
		}
		if prefix == "" {
			return fmt.Errorf("table %s: empty key prefix", name)
		}
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee:      role,
			Actions:      jsii.Strings(tablePrefixWriteActions...),
			ResourceArns: jsii.Strings(*t.TableArn()),
			Conditions: &map[string]*map[string]any{
				"ForAllValues:StringLike": {"dynamodb:LeadingKeys": []string{prefix + "*"}},
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

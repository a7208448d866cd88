//go:build !unix

package stack

import "os"

// lockDataDir does not lock where flock is missing: two stacks on one data directory are
// then the user's to avoid.
func lockDataDir(string) (*os.File, error) { return nil, nil }

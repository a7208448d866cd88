package token

// hCaptcha's published test keys. They behave as on hCaptcha: a test sitekey passes at once
// and yields its test token, and the test secret verifies only the test tokens, any number
// of times, without any database.
const (
	TestSitekey  = "10000000-ffff-ffff-ffff-000000000001"
	TestSecret   = "0x0000000000000000000000000000000000000000"
	TestResponse = "10000000-aaaa-bbbb-cccc-000000000001"
)

// TestKey is one of hCaptcha's test key sets.
type TestKey struct {
	Sitekey  string
	Response string // the test token the sitekey yields
	// Score is the score siteverify reports for the enterprise sets (hCaptcha: 0 for the
	// "safe end user", 1 for "bot detected"); the publisher set has none (HasScore false).
	Score    float64
	HasScore bool
}

// testKeys are the publisher set and the two enterprise sets (which the official WordPress
// plugin offers as test modes); all verify with TestSecret.
var testKeys = [...]TestKey{
	{Sitekey: TestSitekey, Response: TestResponse},
	{Sitekey: "20000000-ffff-ffff-ffff-000000000002", Response: "20000000-aaaa-bbbb-cccc-000000000002", Score: 0, HasScore: true},
	{Sitekey: "30000000-ffff-ffff-ffff-000000000003", Response: "30000000-aaaa-bbbb-cccc-000000000003", Score: 1, HasScore: true},
}

// TestKeyBySitekey returns the test key set of a test sitekey.
func TestKeyBySitekey(sitekey string) (TestKey, bool) {
	for _, k := range testKeys {
		if k.Sitekey == sitekey {
			return k, true
		}
	}
	return TestKey{}, false
}

// TestKeyByResponse returns the test key set of a test token.
func TestKeyByResponse(response string) (TestKey, bool) {
	for _, k := range testKeys {
		if k.Response == response {
			return k, true
		}
	}
	return TestKey{}, false
}

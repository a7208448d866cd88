package token

// hCaptcha's published test keys. They behave as on hCaptcha: the test sitekey passes at
// once and yields TestResponse, and the test secret verifies only TestResponse, any number
// of times, without any database.
const (
	TestSitekey  = "10000000-ffff-ffff-ffff-000000000001"
	TestSecret   = "0x0000000000000000000000000000000000000000"
	TestResponse = "10000000-aaaa-bbbb-cccc-000000000001"
)

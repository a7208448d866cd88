// Package e2e holds crowdgate's browser end-to-end tests: headless Chromium (Debian's
// chromium, driven by npm playwright-core from node scripts in testdata/) against the
// widget, first with a small fake challenge API and then against the whole local stack
// (`crowdgate serve`). The tests skip, saying why, when chromium or node_modules is
// missing; `make test` installs both, and under it (CROWDGATE_ISOLATED_NET=1) a missing
// tool fails the test instead.
//
// Set CROWDGATE_E2E_ARTIFACTS to a directory to keep the screenshots the tests take.
package e2e

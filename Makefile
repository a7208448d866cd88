# crowdgate — developer commands. `make run` and `make test` need nothing but this repo:
# `make tools` installs what the tests use (npm dev tools pinned in package-lock.json,
# Debian's chromium and a Java runtime, aws-lambda-rie), idempotently. `make synth` and
# `make deploy` need only the pinned CDK CLI (`make cdk-cli`: npm ci into node_modules).

SHELL := /bin/bash
GO ?= go
# STACK is the CloudFormation stack synth, deploy and invoke build (the app's stackName
# context): `make deploy STACK=CrowdgateStaging` puts a second stack in the same account.
STACK ?= Crowdgate
CDK_CONTEXT = -c stackName=$(STACK)
FUNCTIONS := $(notdir $(wildcard functions/*))
LAMBDA_ARCH ?= arm64
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1

# Tests run in a network namespace of their own that has only loopback: nothing a test
# starts (DynamoDB Local binds every interface) can be reached from outside, and no test
# can send traffic anywhere but 127.0.0.1.
ISOLATE := unshare --map-root-user --net sh -c 'ip link set lo up && exec "$$0" "$$@"' env CROWDGATE_ISOLATED_NET=1
TEST_FLAGS ?= -race -timeout 15m
PKGS ?= ./...
# The CDK app's tests synthesize the stack through jsii; under -race its first build takes
# over ten minutes on two cores and finds nothing (infra has no concurrency of its own).
INFRA_PKG := ./infra/...

.PHONY: help run test tools cdk-cli build synth deploy invoke bench lint fuzz clean

help:
	@echo "make run     start crowdgate locally on http://127.0.0.1:8080 (demo at /demo)"
	@echo "make test    install test tools if needed, vet, run every test"
	@echo "make build   build every Lambda bootstrap into build/lambda/<fn>/"
	@echo "make cdk-cli install the pinned CDK CLI into node_modules/ (npm ci; nothing global)"
	@echo "make synth   synthesize the CDK app offline into cdk.out/ (cdk-nag checked)"
	@echo "make deploy  build and cdk deploy to the current AWS account"
	@echo "make invoke FN=<construct id, e.g. VerifyFunction> EVENT=events/<fn>/<case>.json   sam local invoke"
	@echo "make bench   run the Go benchmarks"
	@echo "make lint    gofmt and go vet"
	@echo "make fuzz    fuzz the token and siteverify parsers, every HTTP function's routes and every queue consumer"
	@echo "make rie-test  replay events/ into the built bootstraps under aws-lambda-rie (what sam local invoke does)"
	@echo "make coldstart per function: arm64 bootstrap size, init and first-invoke latency under aws-lambda-rie"
	@echo "make tools   install what the tests use (npm dev tools, chromium, a Java runtime, aws-lambda-rie)"
	@echo "make clean   remove build/, cdk.out/ and the local stack's data (.crowdgate/)"

run:
	$(GO) run ./cmd/crowdgate serve $(ARGS)

tools: node_modules/.installed rie-tool
	@$(GO) mod download
	@command -v java >/dev/null || $(call apt,default-jre-headless)
	@test -x /usr/bin/chromium || $(call apt,chromium)

cdk-cli: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@# A go.mod marks node_modules as another module, so ./... does not wander into the
	@# Go templates some npm packages ship.
	@printf 'module crowdgate.invalid/node_modules\n' > node_modules/go.mod
	@touch $@

# apt installs a Debian package (root, or sudo when available).
apt = { echo "installing Debian package $(1)"; SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(1) >/dev/null; }

test: tools lint
	$(ISOLATE) $(GO) test $(TEST_FLAGS) $$($(GO) list $(PKGS) | grep -v '/infra$$')
	$(ISOLATE) $(GO) test -timeout 15m $(INFRA_PKG)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

build:
	@for fn in $(FUNCTIONS); do \
	  echo "build $$fn"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build -tags lambda.norpc -trimpath \
	    -ldflags='-s -w' -o build/lambda/$$fn/bootstrap ./functions/$$fn || exit 1; \
	done

synth: cdk-cli
	node_modules/.bin/cdk synth --quiet --no-notices --no-version-reporting $(CDK_CONTEXT)

# Not `tools`: a deploy host needs no browser, Java runtime or Lambda emulator.
deploy: cdk-cli build
	node_modules/.bin/cdk deploy --no-notices $(CDK_CONTEXT) $(STACK) $(ARGS)

invoke:
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<function construct or logical id, e.g. VerifyFunction> EVENT=events/<fn>/<case>.json"; exit 2; }
	@command -v sam >/dev/null || { echo "sam local invoke needs the AWS SAM CLI (not installed); 'make rie-test' replays every events/ file as it would, without SAM or Docker"; exit 2; }
	@docker info >/dev/null 2>&1 || { echo "sam local invoke needs a running Docker engine (none found)"; exit 2; }
	$(MAKE) build synth
	sam local invoke -t cdk.out/$(STACK).template.json $(FN) -e $(EVENT)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# The HTTP functions' targets run a fixed number of inputs: Go 1.26's -fuzztime with a
# duration can fail with "context deadline exceeded" on a busy machine.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./shared/token/
	$(GO) test -run '^$$' -fuzz FuzzParseRequest -fuzztime 30s ./shared/verify/
	$(GO) test -run '^$$' -fuzz '^FuzzIssue$$' -fuzztime 20000x ./functions/challenge/handler/
	$(GO) test -run '^$$' -fuzz '^FuzzAnswer$$' -fuzztime 20000x ./functions/challenge/handler/
	$(GO) test -run '^$$' -fuzz '^FuzzSiteverify$$' -fuzztime 20000x ./functions/verify/handler/
	$(GO) test -run '^$$' -fuzz '^FuzzTextChallengeIssue$$' -fuzztime 20000x ./functions/accessibility/handler/
	$(GO) test -run '^$$' -fuzz '^FuzzTextChallengeAnswer$$' -fuzztime 20000x ./functions/accessibility/handler/
	$(GO) test -run '^$$' -fuzz '^FuzzPages$$' -fuzztime 20000x ./functions/accessibility/handler/
	$(GO) test -run '^$$' -fuzz '^FuzzRiskLookup$$' -fuzztime 20000x ./functions/risk/handler/
	$(GO) test -run '^$$' -fuzz '^FuzzAnalyticsDaily$$' -fuzztime 20000x ./functions/risk/handler/
	$(GO) test -run '^$$' -fuzz '^FuzzJobsAPI$$' -fuzztime 20000x ./functions/jobs/handler/
	$(GO) test -run '^$$' -fuzz '^FuzzExportAPI$$' -fuzztime 20000x ./functions/export/api/
	$(GO) test -run '^$$' -fuzz '^FuzzPrivacyAPI$$' -fuzztime 20000x ./functions/privacy/handler/
	$(GO) test -run '^$$' -fuzz '^FuzzAdminAPI$$' -fuzztime 20000x ./functions/admin/handler/
	$(GO) test -run '^$$' -fuzz '^FuzzConsensusBatch$$' -fuzztime 20000x ./functions/consensus/handler/
	$(GO) test -run '^$$' -fuzz '^FuzzExportBatch$$' -fuzztime 20000x ./functions/export/handler/
	$(GO) test -run '^$$' -fuzz '^FuzzPrivacyBatch$$' -fuzztime 20000x ./functions/privacyworker/handler/
	$(GO) test -run '^$$' -fuzz '^FuzzRiskEventsBatch$$' -fuzztime 20000x ./functions/risk/handler/

clean:
	rm -rf build cdk.out .crowdgate

# --- aws-lambda-rie: `sam local invoke` without Docker (cmd/crowdgate/internal/rie) ---
# rie-tool installs the pinned Lambda Runtime Interface Emulator into $(go env GOPATH)/bin,
# unless that version is already there. It fetches through the Go module proxy, so it runs
# outside the test namespace (make it a prerequisite of `tools`).
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
RIE_BIN = $(shell $(GO) env GOPATH)/bin/aws-lambda-rie

.PHONY: rie-tool rie-test coldstart

rie-tool:
	@if $(GO) version -m "$(RIE_BIN)" 2>/dev/null | grep -q "aws-lambda-runtime-interface-emulator[[:space:]]*$(RIE_VERSION)"; then :; else \
	  echo "installing aws-lambda-rie $(RIE_VERSION)"; \
	  $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION); \
	fi

# rie-test replays every events/<fn>/ file into the built bootstraps under aws-lambda-rie
# and compares with the in-process handlers; it also checks the arm64 size budget.
rie-test: rie-tool node_modules/.installed
	$(ISOLATE) $(GO) test -count=1 -timeout 15m ./cmd/crowdgate/internal/rie/

# coldstart reports per function: arm64 bootstrap size, init duration and first/warm invoke
# latency under aws-lambda-rie (targets: < 15 MB, init < 50 ms).
coldstart: rie-tool node_modules/.installed
	$(ISOLATE) $(GO) test -run '^$$' -bench ColdStart -benchtime 5x ./cmd/crowdgate/internal/rie/

# The two commands a new developer needs (see README.md):
#   make dev   serves the whole API locally on http://127.0.0.1:3000 (PORT to change)
#   make test  runs every test
CARGO ?= cargo
PYTHON ?= python3
VENV ?= .venv
# The venv's bin first: the local stack and the tests find localstripe there.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: dev test tools fmt lint check

# Python tools (localstripe, stripe-python, ...) in a project venv, reinstalled when the
# requirements change.
tools: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

dev: tools
	$(CARGO) run -p local-stack

# Every test: unit and integration tests against the emulators, a smoke run of the benchmark
# harness (not the benchmark), the offline deploy checks, and the deployed artifact: `sam build`
# (the arm64 release build of every Lambda bootstrap, with their sizes) run by SAM CLI in
# containers (`sam-local`).
test: tools
	$(CARGO) test --workspace
	$(MAKE) bench-smoke
	$(MAKE) fuzz
	$(MAKE) deploy-checks
	$(MAKE) sam-local

# Schemathesis against openapi.yaml and the running local stack (see tests/fuzz/run.sh).
# Records which DynamoDB tables and actions each function's handlers use across the
# integration tests into tests/deploy/dynamo_access.json, which tests/deploy compares with the
# template's grants (the integration tests fail on an access the file does not hold).
.PHONY: dynamo-access
dynamo-access: tools
	RECORD_DYNAMO_ACCESS=1 $(CARGO) test -p local-stack --test api

.PHONY: fuzz
fuzz: tools
	tests/fuzz/run.sh

# The deployable bootstraps, built by `sam build` as the README's deploy does (cargo-lambda:
# arm64, release profile, zig as the cross linker) into .aws-sam/build, and their sizes. Cargo
# builds in its own target dir, so it never waits on the debug build's lock; cargo-lambda also
# leaves each bootstrap in $(LAMBDA_TARGET_DIR)/lambda/<name>/ (where `make bench` reads them).
LAMBDA_TARGET_DIR ?= target/lambda
LAMBDA_FUNCTIONS := bookings create-intent webhook reconcile
# Issue 5's ceiling for a stripped arm64 bootstrap.
MAX_BOOTSTRAP_BYTES := 8388608

.PHONY: lambda-build
lambda-build: tools deploy-tools
	rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true
	CARGO_TARGET_DIR=$(abspath $(LAMBDA_TARGET_DIR)) $(DEPLOY_ENV) $(DEPLOY_VENV)/bin/sam build --template template.yaml
	@n=0; for b in .aws-sam/build/*/bootstrap; do \
	  test -x $$b || { echo "no bootstrap in .aws-sam/build"; exit 1; }; \
	  size=$$(stat -c %s $$b); n=$$((n + 1)); \
	  echo "$$(basename $$(dirname $$b)): bootstrap $$size bytes"; \
	  test $$size -le $(MAX_BOOTSTRAP_BYTES) || { echo "$$b: bootstrap over 8 MiB"; exit 1; }; \
	done; \
	test $$n -eq $(words $(LAMBDA_FUNCTIONS)) || { echo "$$n bootstraps in .aws-sam/build, expected $(words $(LAMBDA_FUNCTIONS))"; exit 1; }

# The deployed artifact run as SAM runs it (README, "With Docker"): scripts/sam-local.sh
# installs what is missing (Docker, qemu, debootstrap: needs root), runs `lambda-build`, then
# `sam local invoke` for every sample event and `sam local start-api` with the document's flow,
# against the local stack's emulators.
.PHONY: sam-local
sam-local: tools deploy-tools
	MAKE="$(MAKE)" SAM=$(DEPLOY_VENV)/bin/sam scripts/sam-local.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

check: lint test

# Deploy checks, offline (no AWS account or credentials): cfn-lint, the SAM translator
# (`sam validate`), `sam validate --lint`, and pytest on the translated CloudFormation
# (tests/deploy). SAM CLI and cfn-lint live in their own venv: their pins conflict with
# localstripe's.
DEPLOY_VENV ?= .venv-deploy
DEPLOY_ENV = AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0

.PHONY: deploy-tools deploy-checks

deploy-tools: $(DEPLOY_VENV)/.installed
$(DEPLOY_VENV)/.installed: requirements-deploy.txt
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-deploy.txt
	touch $@

deploy-checks: deploy-tools
	$(DEPLOY_ENV) $(DEPLOY_VENV)/bin/cfn-lint template.yaml
	$(DEPLOY_ENV) $(DEPLOY_VENV)/bin/sam validate --template template.yaml
	$(DEPLOY_ENV) $(DEPLOY_VENV)/bin/sam validate --lint --template template.yaml
	$(DEPLOY_ENV) $(DEPLOY_VENV)/bin/pytest -q tests/deploy

# Performance (issue 5, see bench/README.md): each release Lambda binary under a local Runtime
# API against the local emulators, next to a minimal lambda_runtime hello-world (the floor).
# Prints the table and writes target/bench/latest.json; BENCH_ARGS passes options, e.g.
# `make bench BENCH_ARGS="--out /tmp/run.json --cold 20"`. The arm64 bootstraps are built first
# (`lambda-build`) for their sizes: they cannot run here, the x86_64 build of the same code and
# profile is what runs. The harness itself is built
# optimised without LTO: quick to link, and the same whatever the release profile under test.
BENCH_ARGS ?=
BENCH_HARNESS_PROFILE = CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
	CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_RELEASE_PANIC=unwind

.PHONY: bench bench-smoke
bench: tools lambda-build
	$(CARGO) build --release $(addprefix -p ,$(LAMBDA_FUNCTIONS))
	$(CARGO) build --release -p hello-floor
	$(BENCH_HARNESS_PROFILE) $(CARGO) build --release -p bench
	target/release/bench $(BENCH_ARGS)

# The cheap version for the test suite: debug binaries, one cold start and 20 invocations per
# function; fails unless every response is 2xx.
bench-smoke: tools
	$(CARGO) build $(addprefix -p ,$(LAMBDA_FUNCTIONS)) -p hello-floor -p bench
	target/debug/bench --smoke

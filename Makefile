# The two commands a new developer needs (see README.md):
#   make dev   serves the whole API locally on http://127.0.0.1:3000 (PORT to change)
#   make test  runs every test
CARGO ?= cargo

.PHONY: dev test fmt lint check

dev:
	$(CARGO) run -p local-stack

test:
	$(CARGO) test --workspace

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

check: lint test

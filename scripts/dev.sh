#!/usr/bin/env bash
# `make dev`: the local stack (cargo run -p local-stack) and the reference checkout
# (examples/checkout, Node) beside it, on CHECKOUT_PORT (default 3001). Ctrl-C stops both.
# Without Node the stack still runs, and this says the checkout is not served.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOUT_PORT=${CHECKOUT_PORT:-3001}
CHECKOUT=
stop_checkout() { if [ -n "$CHECKOUT" ]; then kill "$CHECKOUT" 2>/dev/null || true; wait "$CHECKOUT" 2>/dev/null || true; fi; }
trap stop_checkout EXIT

if command -v node >/dev/null; then
    # The stack's own addresses, as the stack reads them (README, Configuration).
    API_BASE=${CHECKOUT_API_BASE:-http://${HOST:-127.0.0.1}:${PORT:-3000}} \
    API_KEY=${CHECKOUT_API_KEY:-$(echo "${LOCAL_API_KEYS:-test-api-key-123}" | cut -d, -f1)} \
    STRIPE_JS_URL=${STRIPE_JS_URL:-http://127.0.0.1:${LOCALSTRIPE_PORT:-8420}/v3/} \
    STRIPE_PUBLISHABLE_KEY=${STRIPE_PUBLISHABLE_KEY:-$(echo "${LOCALSTRIPE_PUBLISHABLE_KEYS:-pk_test_local_stack}" | cut -d, -f1)} \
    HOST=127.0.0.1 PORT=$CHECKOUT_PORT node examples/checkout/server.mjs &
    CHECKOUT=$!
else
    echo "make dev: no node on PATH, so the reference checkout (examples/checkout) is not served" >&2
fi
${CARGO:-cargo} run -p local-stack

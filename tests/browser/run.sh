#!/usr/bin/env bash
# The driver's step in a real browser (`make browser`, run by `make test`): headless Chromium
# from Debian (chromium, chromium-driver) driven by Selenium, paying through the reference
# checkout (examples/checkout) with the local Stripe layer's Stripe.js stand-in, against the
# local stack; then the document's JavaScript (Node) and Python examples as written (only the
# base URL and the booking id changed). See tests/browser/test_checkout.py for the cases.
#
# Installs chromium and chromium-driver with apt when they are missing, as root (CI runs as
# root); as another user it names what is missing and fails: never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "--- browser: $*"; }
die() {
    echo "browser: $*" >&2
    exit 1
}

# --- 1. Debian's chromium and its driver (their own downloads are not reachable here).
PACKAGES=(chromium chromium-driver)
command -v dpkg-query >/dev/null ||
    die "not a Debian-like system (no dpkg-query): install chromium and chromedriver yourself"
missing=()
for p in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] ||
        die "missing packages: ${missing[*]}, and installing them needs root: run as root (CI does), or apt-get install ${missing[*]} and rerun"
    say "installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 "${missing[@]}"
fi
command -v node >/dev/null || die "no node: the checkout's backend and the document's JavaScript example need Node 18+"
[ -x .venv/bin/python ] || die "no .venv: run make tools"

# --- 2. The local stack and the checkout, on free ports, with their own data.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
KEY=test-api-key-123
PORT=$(free_port)
STRIPE_PORT=$(free_port)
CHECKOUT_PORT=$(free_port)
DATA=$(mktemp -d)
STACK= CHECKOUT=
cleanup() {
    local rc=$?
    for pid in $CHECKOUT $STACK; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ]; then
        echo "--- local stack log:"; tail -50 "$DATA/local-stack.log" || true
        echo "--- checkout log:"; cat "$DATA/checkout.log" || true
    fi
    rm -rf "$DATA"
    exit "$rc"
}
trap cleanup EXIT

cargo build --quiet -p local-stack
PORT=$PORT LOCALSTRIPE_PORT=$STRIPE_PORT LOCAL_DATA_DIR="$DATA" LOCAL_API_KEYS=$KEY \
RECONCILE_INTERVAL_SECONDS=0 ./target/debug/local-stack >"$DATA/local-stack.log" 2>&1 &
STACK=$!
API=http://127.0.0.1:$PORT
code=
for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$API/v1/bookings" || true)
    [ "$code" = 401 ] && break
    kill -0 "$STACK" 2>/dev/null || die "the local stack exited"
    sleep 0.2
done
[ "$code" = 401 ] || die "the local stack did not come up"

API_BASE=$API API_KEY=$KEY PORT=$CHECKOUT_PORT \
STRIPE_JS_URL=http://127.0.0.1:$STRIPE_PORT/v3/ STRIPE_PUBLISHABLE_KEY=pk_test_local_stack \
    node examples/checkout/server.mjs >"$DATA/checkout.log" 2>&1 &
CHECKOUT=$!
for _ in $(seq 1 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$CHECKOUT_PORT/" && break
    kill -0 "$CHECKOUT" 2>/dev/null || die "the checkout exited"
    sleep 0.1
done

# --- 3. The tests.
say "Chromium $(/usr/bin/chromium --version 2>/dev/null | head -1), stack $API, checkout :$CHECKOUT_PORT"
CHECKOUT_URL=http://127.0.0.1:$CHECKOUT_PORT/ API_BASE=$API API_KEY=$KEY \
STRIPE_BASE=http://127.0.0.1:$STRIPE_PORT BROWSER_DATA="$DATA" \
    .venv/bin/python -m pytest -q -p no:cacheprovider tests/browser "$@"

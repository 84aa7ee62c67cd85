#!/usr/bin/env python3
"""Generate Stripe webhook-signature test vectors from stripe-python's own code.

Writes shared/tests/fixtures/stripe_signature_vectors.json, which
shared/tests/stripe_signature_vectors.rs replays against
shared::adapters::stripe::signature::{verify, sign}.

Regenerate (from the repository root, after `make tools` has built the venv):

    .venv/bin/python tools/gen_signature_vectors.py

The output is deterministic (fixed secrets, fixed `now`), so regenerating with the same
stripe-python version gives the same file; commit it together with any change here.

Both halves come from the library:
- signatures: `stripe.WebhookSignature.generate_signature_header` and its helper
  `WebhookSignature._compute_signature` (stripe/_webhook.py);
- expected outcomes: `stripe.WebhookSignature.verify_header(payload, header, secret, tolerance)`
  with `time.time` patched to the vector's fixed `now`. "ok" when it returns, otherwise
  "<ExceptionClass>: <message>" of what it raised.

Where our verifier deliberately differs from stripe-python (see the module doc of
shared/src/adapters/stripe/signature.rs), the vector carries `"rust_expected": "ok" | "error"` and a
`"deviation"` explaining why; the Rust test checks those vectors against `rust_expected` and all
others against `expected`. The one payload that is not UTF-8 cannot be signed by stripe-python
(it signs `str`), so its signature is plain HMAC-SHA256 over the raw bytes, which is what
Stripe computes; that vector says so in its `note`.
"""

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from unittest import mock

import stripe
import stripe._webhook as stripe_webhook
from stripe import WebhookSignature

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "shared" / "tests" / "fixtures" / "stripe_signature_vectors.json"

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z; fixed so the file is reproducible
TOLERANCE = 300
SECRET = "whsec_4eC39HqLyjWDarjtT1zdp7dcQmbH9bFcHJq7UZ1k"
OLD_SECRET = "whsec_0ldS3cretBeingRolledOut00000000000000"
OTHER_SECRET = "whsec_s0meOtherEndpointsSecret11111111111111"

SIMPLE = '{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}'

UNICODE = (
    '{"id":"evt_unicode","object":"event","data":{"object":{"description":'
    '"Café ⚡ charging 充电 🚗 Zürich – Ωμέγα","metadata":{"note":"naïve résumé"}}}}'
)

# Escapes stay escapes: the signature covers the JSON text exactly as sent.
ESCAPED = (
    '{"id":"evt_escaped","object":"event","data":{"object":{"description":'
    '"Caf\\u00e9 \\"quoted\\" back\\\\slash new\\nline tab\\t sl\\/ash \\ud83d\\ude97"}}}'
)

# What Stripe actually sends: pretty-printed with two-space indents and a trailing newline.
PAYMENT_INTENT_SUCCEEDED = (
    json.dumps(
        {
            "id": "evt_3QxYz2LkdIwHu7ix0aBcDeFg",
            "object": "event",
            "api_version": "2024-06-20",
            "created": NOW - 2,
            "data": {
                "object": {
                    "id": "pi_3QxYz2LkdIwHu7ix0HjKlMnO",
                    "object": "payment_intent",
                    "amount": 350,
                    "amount_capturable": 0,
                    "amount_received": 350,
                    "capture_method": "automatic",
                    "client_secret": "pi_3QxYz2LkdIwHu7ix0HjKlMnO_secret_AbCdEfGhIjKlMnOpQrStUvWxYz",
                    "confirmation_method": "automatic",
                    "created": NOW - 10,
                    "currency": "usd",
                    "customer": None,
                    "description": "Booking 80da32e5-22bb-418e-b51e-60960d708903",
                    "latest_charge": "ch_3QxYz2LkdIwHu7ix0PqRsTuV",
                    "livemode": False,
                    "metadata": {
                        "booking_id": "80da32e5-22bb-418e-b51e-60960d708903",
                        "asset_type": "charging_station",
                    },
                    "payment_method": "pm_1QxYz1LkdIwHu7ixWxYzAbCd",
                    "payment_method_types": ["card"],
                    "status": "succeeded",
                }
            },
            "livemode": False,
            "pending_webhooks": 1,
            "request": {
                "id": "req_AbCdEfGhIjKlMn",
                "idempotency_key": "3f1c2b7e-9a4d-4e8f-b6a1-0c2d3e4f5a6b",
            },
            "type": "payment_intent.succeeded",
        },
        indent=2,
        ensure_ascii=False,
    )
    + "\n"
)

NON_UTF8 = b'{"id":"evt_bin","object":"event","blob":"\xff\xfe\x80"}'


def v1(payload, secret, t):
    """The v1 signature exactly as stripe-python computes it."""
    return WebhookSignature._compute_signature("%d.%s" % (t, payload), secret)


def header(payload, secret, t):
    """The full header exactly as stripe-python produces it."""
    return WebhookSignature.generate_signature_header(payload, secret, timestamp=t)


def stripe_outcome(payload, hdr, secret, now, tolerance):
    """Run stripe-python's own verification with its clock fixed at `now`."""
    with mock.patch.object(stripe_webhook.time, "time", return_value=float(now)):
        try:
            WebhookSignature.verify_header(payload, hdr, secret, tolerance)
        except Exception as exc:  # noqa: BLE001 - the class is part of the record
            return "%s: %s" % (type(exc).__name__, exc)
    return "ok"


vectors = []


def case(
    name,
    description,
    payload,
    hdr,
    secret=SECRET,
    now=NOW,
    tolerance=TOLERANCE,
    signed_at=None,
    rust_expected=None,
    deviation=None,
    note=None,
):
    """Record one vector; `signed_at` (a timestamp) marks a case whose header stripe-python
    generates with (payload, secret, signed_at), so the Rust test can compare `sign()` too."""
    raw = payload if isinstance(payload, bytes) else payload.encode("utf-8")
    vector = {
        "name": name,
        "description": description,
        "payload": payload if isinstance(payload, str) else None,
        "payload_base64": base64.b64encode(raw).decode("ascii"),
        "header": hdr,
        "secret": secret,
        "now": now,
        "tolerance": tolerance,
        "expected": stripe_outcome(payload, hdr, secret, now, tolerance),
    }
    if signed_at is not None:
        vector["stripe_signature_header"] = header(payload, secret, signed_at)
    if rust_expected is not None:
        vector["rust_expected"] = rust_expected
        vector["deviation"] = deviation
    if note is not None:
        vector["note"] = note
    vectors.append(vector)


def build():
    good = v1(SIMPLE, SECRET, NOW)

    case("valid", "header exactly as Stripe sends it", SIMPLE,
         header(SIMPLE, SECRET, NOW), signed_at=NOW)
    case("valid_signed_10s_ago", "typical delivery delay", SIMPLE,
         header(SIMPLE, SECRET, NOW - 10), signed_at=NOW - 10)
    case("valid_with_v0", "test-mode deliveries carry an extra v0 entry, ignored", SIMPLE,
         "t=%d,v1=%s,v0=%s" % (NOW, good, v1(SIMPLE, "whsec_v0_legacy", NOW)),
         signed_at=NOW)
    case("secret_roll_second_v1_matches",
         "two v1 entries (old and new secret); only the second matches", SIMPLE,
         "t=%d,v1=%s,v1=%s" % (NOW, v1(SIMPLE, OLD_SECRET, NOW), good), signed_at=NOW)
    case("secret_roll_first_v1_matches",
         "two v1 entries; only the first matches", SIMPLE,
         "t=%d,v1=%s,v1=%s" % (NOW, good, v1(SIMPLE, OLD_SECRET, NOW)), signed_at=NOW)
    case("v1_from_other_secret", "signed with another endpoint's secret", SIMPLE,
         header(SIMPLE, OTHER_SECRET, NOW))
    case("secret_without_prefix",
         "signed with the secret minus its whsec_ prefix: the key is the whole string", SIMPLE,
         header(SIMPLE, SECRET[len("whsec_"):], NOW))
    tampered = SIMPLE.replace("succeeded", "succeedeD")
    case("payload_one_byte_changed", "body changed in one byte after signing", tampered,
         header(SIMPLE, SECRET, NOW))
    case("payload_trailing_newline_added", "body gained a trailing newline after signing",
         SIMPLE + "\n", header(SIMPLE, SECRET, NOW))
    case("timestamp_changed", "t changed after signing (replay with a fresh t)", SIMPLE,
         "t=%d,v1=%s" % (NOW + 1, good))
    case("unicode_payload", "non-ASCII UTF-8 in the body", UNICODE,
         header(UNICODE, SECRET, NOW), signed_at=NOW)
    case("escaped_json_payload", "JSON escapes signed as the literal text", ESCAPED,
         header(ESCAPED, SECRET, NOW), signed_at=NOW)
    case("escaped_json_payload_unescaped",
         "the same body with its escapes decoded no longer matches",
         json.dumps(json.loads(ESCAPED), ensure_ascii=False, separators=(",", ":")),
         header(ESCAPED, SECRET, NOW))
    case("payment_intent_succeeded", "a real-looking pretty-printed event body",
         PAYMENT_INTENT_SUCCEEDED, header(PAYMENT_INTENT_SUCCEEDED, SECRET, NOW - 3),
         signed_at=NOW - 3)
    case("payment_intent_succeeded_amount_tampered",
         "the same event with amount 350 changed to 950 after signing",
         PAYMENT_INTENT_SUCCEEDED.replace('"amount": 350', '"amount": 950'),
         header(PAYMENT_INTENT_SUCCEEDED, SECRET, NOW - 3))
    case("empty_payload", "an empty body, correctly signed", "",
         header("", SECRET, NOW), signed_at=NOW)
    case("stale_301s", "t is 301 s old, tolerance 300", SIMPLE,
         header(SIMPLE, SECRET, NOW - 301), signed_at=NOW - 301)
    case("stale_exactly_300s", "t is exactly now - tolerance: still accepted", SIMPLE,
         header(SIMPLE, SECRET, NOW - 300), signed_at=NOW - 300)
    case("stale_299s", "t is 299 s old", SIMPLE,
         header(SIMPLE, SECRET, NOW - 299), signed_at=NOW - 299)
    case("stale_one_day", "t is a day old", SIMPLE,
         header(SIMPLE, SECRET, NOW - 86_400), signed_at=NOW - 86_400)
    case("future_within_tolerance", "t is 60 s ahead of our clock", SIMPLE,
         header(SIMPLE, SECRET, NOW + 60), signed_at=NOW + 60)
    case("future_301s", "t is 301 s ahead of our clock", SIMPLE,
         header(SIMPLE, SECRET, NOW + 301), signed_at=NOW + 301,
         rust_expected="error",
         deviation="stripe-python only rejects stale timestamps; we also reject ones more "
                   "than the tolerance in the future")
    case("tolerance_zero", "tolerance 0 with a 10-minute-old t", SIMPLE,
         header(SIMPLE, SECRET, NOW - 600), tolerance=0, signed_at=NOW - 600,
         rust_expected="error",
         deviation="stripe-python treats tolerance 0 as 'no timestamp check'; for us 0 means "
                   "t must equal now")
    case("missing_t", "no t entry", SIMPLE, "v1=%s" % good)
    case("missing_v1", "no v1 entry", SIMPLE, "t=%d" % NOW)
    case("only_v0", "only a v0 entry", SIMPLE, "t=%d,v0=%s" % (NOW, good))
    case("empty_header", "empty header value", SIMPLE, "")
    case("no_header", "header absent (None)", SIMPLE, None)
    case("garbage_header", "not key=value pairs at all", SIMPLE, "garbage")
    case("garbage_header_commas", "only separators", SIMPLE, ",,,")
    case("non_integer_t", "t is not an integer", SIMPLE, "t=abc,v1=%s" % good)
    case("decimal_t", "t with a fraction", SIMPLE, "t=%d.0,v1=%s" % (NOW, good))
    case("garbage_entries_ignored", "unknown keys, empty and bare entries around a good v1",
         SIMPLE, "t=%d,foo=bar,,garbage,v2=xyz,v1=%s," % (NOW, good), signed_at=NOW)
    case("bare_v1_entry", "a v1 entry without '=' breaks stripe-python's parser", SIMPLE,
         "t=%d,v1=%s,v1" % (NOW, good))
    case("non_hex_v1", "v1 that is not hex", SIMPLE, "t=%d,v1=%s" % (NOW, "zz" * 32))
    case("non_hex_v1_then_good", "a non-hex v1 does not hide a good one", SIMPLE,
         "t=%d,v1=%s,v1=%s" % (NOW, "not-hex", good), signed_at=NOW)
    case("short_v1", "v1 truncated to 63 hex digits", SIMPLE,
         "t=%d,v1=%s" % (NOW, good[:63]))
    case("non_ascii_v1", "v1 of non-ASCII characters (stripe-python raises TypeError)",
         SIMPLE, "t=%d,v1=%s" % (NOW, "é" * 32))
    case("uppercase_hex_v1", "the right signature in uppercase hex", SIMPLE,
         "t=%d,v1=%s" % (NOW, good.upper()))
    case("space_after_comma", "whitespace before v1: the key becomes ' v1'", SIMPLE,
         "t=%d, v1=%s" % (NOW, good))
    case("space_before_t", "whitespace before t: the key becomes ' t'", SIMPLE,
         " t=%d,v1=%s" % (NOW, good))
    case("space_after_v1_value", "trailing whitespace in the v1 value", SIMPLE,
         "t=%d,v1=%s " % (NOW, good))
    case("space_in_t_value", "whitespace inside the t value", SIMPLE,
         "t= %d,v1=%s" % (NOW, good),
         rust_expected="error",
         deviation="stripe-python's int() strips whitespace; we require t to be a plain "
                   "integer")
    case("duplicate_t", "two t entries, the first being the signed one", SIMPLE,
         "t=%d,t=%d,v1=%s" % (NOW, NOW - 1000, good),
         rust_expected="error",
         deviation="stripe-python takes the first t (stripe-node the last); we refuse an "
                   "ambiguous header")
    case("v1_with_extra_equals", "v1=<good>=junk", SIMPLE,
         "t=%d,v1=%s=junk" % (NOW, good),
         rust_expected="error",
         deviation="stripe-python splits at every '=' and keeps the second piece; we split at "
                   "the first '=' so the value is '<hex>=junk', not a signature")
    bin_t = NOW
    bin_sig = hmac.new(SECRET.encode(), b"%d." % bin_t + NON_UTF8, hashlib.sha256).hexdigest()
    case("non_utf8_payload", "raw body bytes that are not UTF-8", NON_UTF8,
         "t=%d,v1=%s" % (bin_t, bin_sig),
         rust_expected="ok",
         deviation="stripe-python decodes the body as UTF-8 first and raises "
                   "UnicodeDecodeError; we verify the raw bytes Stripe signed",
         note="signature is HMAC-SHA256 over the raw bytes (stripe-python cannot sign bytes)")


def main():
    build()
    names = [v["name"] for v in vectors]
    assert len(names) == len(set(names)), "duplicate vector names"
    for v in vectors:
        # A recorded deviation must really be one: if stripe-python changes, look again.
        if "rust_expected" in v:
            assert (v["expected"] == "ok") != (v["rust_expected"] == "ok"), v["name"]
    doc = {
        "generator": "tools/gen_signature_vectors.py",
        "regenerate": ".venv/bin/python tools/gen_signature_vectors.py",
        "stripe_python_version": stripe.VERSION,
        "semantics": (
            "expected: the outcome of stripe-python's WebhookSignature.verify_header(payload, "
            "header, secret, tolerance) with time.time() == now ('ok' or 'ExceptionClass: "
            "message'). rust_expected, when present, overrides it for our verify() and "
            "deviation says why. stripe_signature_header, when present, is stripe-python's "
            "generate_signature_header(payload, secret, t) for the t that signed the payload."
        ),
        "vectors": vectors,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("wrote %d vectors to %s" % (len(vectors), OUT.relative_to(ROOT)))
    for v in vectors:
        print("  %-42s %s%s" % (v["name"], v["expected"][:60],
                                 "  [rust: %s]" % v["rust_expected"] if "rust_expected" in v
                                 else ""))


if __name__ == "__main__":
    main()

"""The document's integration examples, as written (doc_examples/, copied from the document), with
only the base URL, the booking id and the publishable key changed."""

import json
import pathlib
import subprocess
import sys

from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.common.by import By

from conftest import API, CHECKOUT, PUBLISHABLE_KEY, booking, new_booking, type_card, wait, wait_payment_status  # noqa: F401

HERE = pathlib.Path(__file__).parent / "doc_examples"
DOC_BASE = "https://api.rollyy.com"


def as_here(text, booking_id):
    assert DOC_BASE in text and "your-booking-id" in text
    return text.replace(DOC_BASE, API).replace("your-booking-id", booking_id).replace("pk_test_...", PUBLISHABLE_KEY)


def test_the_documents_python_example(tmp_path):
    booking_id = new_booking()
    script = tmp_path / "example.py"
    script.write_text(
        as_here((HERE / "integration_example.py").read_text(), booking_id)
        + "\nimport json\nprint(json.dumps({'client_secret': client_secret, 'payment_intent_id': payment_intent_id}))\n"
    )
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout.strip().splitlines()[-1])
    assert out["client_secret"].startswith(out["payment_intent_id"] + "_secret_")
    assert booking(booking_id)["payment_intent_id"] == out["payment_intent_id"]


def test_the_documents_javascript_example_in_node_then_its_stripe_js_part_in_the_browser(browser, tmp_path):
    booking_id = new_booking()
    source = as_here((HERE / "integration_example.js").read_text(), booking_id)
    server_part, browser_part = source.split("// Complete payment with Stripe.js")
    script = tmp_path / "example.mjs"
    script.write_text(server_part + "\nconsole.log(JSON.stringify({client_secret, payment_intent_id}));\n")
    ran = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout.strip().splitlines()[-1])
    assert out["client_secret"].startswith(out["payment_intent_id"] + "_secret_")

    # The Stripe.js part, in a page that loads Stripe.js (the checkout's), with a card Element.
    browser.get(CHECKOUT)
    browser.execute_script(
        "const div = document.createElement('div'); div.id = 'doc-card'; document.body.appendChild(div);"
        "window.docCard = Stripe(arguments[0]).elements().create('card'); window.docCard.mount('#doc-card');",
        PUBLISHABLE_KEY,
    )
    type_card(browser, "4242 4242 4242 4242", frame="#doc-card iframe")
    logged = browser.execute_async_script(
        "const done = arguments[arguments.length - 1]; const client_secret = arguments[0];"
        "const cardElement = window.docCard; const lines = [];"
        "const console = {log: (...a) => lines.push(a.join(' ')), error: (...a) => lines.push(a.join(' '))};"
        "(async () => {" + browser_part + "\n})().then(() => done(lines), (e) => done(['threw ' + e]));",
        out["client_secret"],
    )
    assert logged == [f"Payment succeeded: {out['payment_intent_id']}"], logged
    for _ in range(60):
        if booking(booking_id)["payment_status"] == "completed":
            break
        import time

        time.sleep(0.5)
    assert booking(booking_id)["payment_status"] == "completed"

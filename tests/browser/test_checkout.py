"""The reference checkout (examples/checkout) in headless Chromium: a driver picks a slot, types a
card into the card Element and pays with the document's Step 3; the page shows the booking's
payment_status as the webhook sets it. Stripe.js is the local Stripe layer's stand-in."""

import json

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from conftest import (
    API_KEY,
    SECRET_KEY,
    booking,
    open_checkout,
    pay,
    text_of,
    type_card,
    wait,
    wait_payment_status,
)


def test_4242_pays_and_the_booking_completes(browser):
    open_checkout(browser)
    type_card(browser, "4242 4242 4242 4242")
    pay(browser)
    booking_id = wait_payment_status(browser, "completed")
    assert "Paid" in text_of(browser, "message")
    got = booking(booking_id)
    assert got["payment_status"] == "completed"
    assert got["amount_received_minor"] == 350


def test_0002_declines_and_the_booking_fails_with_stripes_reason(browser):
    open_checkout(browser)
    type_card(browser, "4000 0000 0000 0002")
    pay(browser)
    booking_id = wait_payment_status(browser, "failed")
    assert "Your card was declined." in text_of(browser, "message")
    assert booking(booking_id)["payment_failure_reason"] == "Your card was declined."


def three_d_secure(browser, button):
    open_checkout(browser)
    type_card(browser, "4000 0025 0000 3155")
    pay(browser)
    wait(browser).until(EC.visibility_of_element_located((By.ID, "__stripeStandInChallenge")))
    browser.find_element(By.ID, button).click()


def test_3155_asks_for_3d_secure_and_completing_it_pays(browser):
    three_d_secure(browser, "test-source-authorize-3ds")
    booking_id = wait_payment_status(browser, "completed")
    assert booking(booking_id)["payment_status"] == "completed"
    assert not browser.find_elements(By.ID, "__stripeStandInChallenge")


def test_a_failed_3d_secure_fails_the_booking(browser):
    three_d_secure(browser, "test-source-fail-3ds")
    booking_id = wait_payment_status(browser, "failed")
    assert "failed authentication" in text_of(browser, "message")
    assert "failed authentication" in booking(booking_id)["payment_failure_reason"]


def test_insufficient_funds_then_4242_on_the_same_booking_and_intent(browser):
    open_checkout(browser)
    type_card(browser, "4000 0000 0000 9995")
    pay(browser)
    booking_id = wait_payment_status(browser, "failed")
    assert "Your card has insufficient funds." in text_of(browser, "message")
    declined = booking(booking_id)
    assert declined["payment_failure_reason"] == "Your card has insufficient funds."

    type_card(browser, "4242 4242 4242 4242")
    pay(browser)
    assert wait_payment_status(browser, "completed") == booking_id
    paid = booking(booking_id)
    assert paid["payment_status"] == "completed"
    assert paid["payment_intent_id"] == declined["payment_intent_id"]


def test_nothing_the_browser_loaded_holds_a_secret_key_or_the_api_key(browser):
    open_checkout(browser)
    type_card(browser, "4242 4242 4242 4242")
    pay(browser)
    wait_payment_status(browser, "completed")

    seen, bodies = [], 0
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            request = params["request"]
            seen.append(json.dumps(request))
        elif message["method"] == "Network.responseReceived":
            seen.append(json.dumps(params["response"].get("headers", {})))
            try:
                body = browser.execute_cdp_cmd("Network.getResponseBody", {"requestId": params["requestId"]})
            except Exception:  # a preflight or a redirect has no body
                continue
            seen.append(body.get("body", ""))
            bodies += 1
    seen.append(browser.page_source)
    everything = "\n".join(seen)
    # What was read: the page, Stripe.js, the card frame, the backend's and Stripe's answers.
    assert bodies >= 6, bodies
    for url in ["/v3/", "/v3/elements/card.html", "/api/book-and-pay", "/v1/payment_methods", "/confirm"]:
        assert url in everything, url
    assert "_secret_" in everything, "the client secret is expected in the browser"
    assert not SECRET_KEY.search(everything), SECRET_KEY.search(everything).group(0)
    assert API_KEY not in everything

"""Shared by the browser tests (run by tests/browser/run.sh, which starts the local stack and the
reference checkout and sets the variables read here)."""

import os
import re
import tempfile
import time

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

CHECKOUT = os.environ["CHECKOUT_URL"]
API = os.environ["API_BASE"]
API_KEY = os.environ["API_KEY"]
STRIPE = os.environ["STRIPE_BASE"]
PUBLISHABLE_KEY = "pk_test_local_stack"

# The flags every run uses: headless, no sandbox (root in CI), nothing reaching out on its own.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,900",
]


@pytest.fixture
def browser():
    profile = tempfile.mkdtemp(prefix="chromium-", dir=os.environ.get("BROWSER_DATA"))
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    # Every request and response the browser makes, for the secrets check.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver, timeout=20):
    return WebDriverWait(driver, timeout)


def open_checkout(driver):
    """The checkout page, a free slot picked."""
    driver.get(CHECKOUT)
    slot = wait(driver).until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#slots button.slot")))
    slot.click()


def type_card(driver, number, exp="12 / 34", cvc="123", postal="42424", frame="#card-element iframe"):
    """Types a card into the card Element's iframe, by Stripe's input names."""
    iframe = wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, frame)))
    driver.switch_to.frame(iframe)
    try:
        for name, value in [("cardnumber", number), ("exp-date", exp), ("cvc", cvc), ("postal", postal)]:
            field = wait(driver).until(EC.presence_of_element_located((By.NAME, name)))
            field.send_keys(Keys.CONTROL, "a")
            field.send_keys(Keys.DELETE)
            field.send_keys(value)
    finally:
        driver.switch_to.default_content()


def pay(driver):
    wait(driver).until(EC.element_to_be_clickable((By.ID, "pay"))).click()


def text_of(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def wait_payment_status(driver, want, timeout=30):
    """Waits until the page shows the booking's payment_status `want` (it polls the backend)."""
    wait(driver, timeout).until(lambda d: text_of(d, "payment-status") == want)
    return text_of(driver, "booking-id")


def booking(booking_id):
    got = requests.get(f"{API}/v1/bookings/{booking_id}", headers={"X-API-Key": API_KEY}, timeout=10)
    assert got.status_code == 200, got.text
    return got.json()


def new_booking():
    """A booking made through the API (for the document's examples), on a slot no page offers."""
    start = int(time.time() * 1000) % 10_000_000 * 60
    begin = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_900_000_000 + start))
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_900_000_000 + start + 1800))
    made = requests.post(
        f"{API}/v1/bookings",
        headers={"X-API-Key": API_KEY},
        json={
            "asset_id": "550e8400-e29b-41d4-a716-446655440077",
            "asset_type": "parking_spot",
            "user_id": "650e8400-e29b-41d4-a716-446655440001",
            "start_time": begin,
            "end_time": end,
        },
        timeout=10,
    )
    assert made.status_code == 201, made.text
    return made.json()["id"]


SECRET_KEY = re.compile(r"[sr]k_(test|live)_[A-Za-z0-9_]+")

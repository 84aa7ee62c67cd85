//! The Stripe.js stand-in, served at `/v3/` as Stripe serves Stripe.js at
//! `https://js.stripe.com/v3/`, so that a page moves between the local stack and Stripe by its
//! script URL and publishable key alone. It implements the part of Stripe.js's public API
//! (<https://docs.stripe.com/js>) a card checkout uses: `Stripe(pk)`, `elements()`,
//! `elements.create('card')` (an iframe with Stripe's input names `cardnumber`, `exp-date`,
//! `cvc`, `postal`; `mount`, `on`, `off`, `update`, `clear`, `focus`, `blur`, `unmount`,
//! `destroy`), `confirmCardPayment`, `retrievePaymentIntent`, `handleNextAction`,
//! `handleCardAction`, `createPaymentMethod`, with Stripe.js's result shapes (`{paymentIntent}`
//! or `{error}`). 3-D Secure opens a modal like Stripe's test authentication page ("Complete",
//! "Fail"). The card's number never reaches the page: the iframe (this origin) makes the
//! PaymentMethod with the publishable key, as Stripe's Element does.
//!
//! Not there (the README says so): the Payment Element and other Elements, wallets, Radar,
//! redirects (`return_url` flows), Stripe.js's telemetry.

use super::server::Call;
use super::Answer;

const STRIPE_JS: &str = include_str!("js/stripe-v3.js");
const CARD_FRAME: &str = include_str!("js/card-element.html");

/// The stand-in's files (`GET /v3/`, `/v3/elements/card.html`), or `None` for any other path.
pub(super) fn serve(call: &Call) -> Option<Answer> {
    if call.method != "GET" && call.method != "HEAD" {
        return None;
    }
    let (kind, text) = match call.path.as_str() {
        "/v3" | "/v3/" => ("application/javascript; charset=utf-8", STRIPE_JS),
        "/v3/elements/card.html" => ("text/html; charset=utf-8", CARD_FRAME),
        _ => return None,
    };
    Some(Answer {
        status: 200,
        headers: vec![
            ("content-type".into(), kind.into()),
            ("cache-control".into(), "no-store".into()),
            ("access-control-allow-origin".into(), "*".into()),
        ],
        body: bytes::Bytes::from_static(text.as_bytes()),
    })
}

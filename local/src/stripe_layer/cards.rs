//! Stripe's test cards for card payments, as Stripe's testing page lists them
//! (<https://docs.stripe.com/testing#declined-payments>,
//! <https://docs.stripe.com/testing#regulatory-cards>), with the error codes of
//! <https://docs.stripe.com/error-codes> and the decline codes of
//! <https://docs.stripe.com/declines/codes>. localstripe declines other numbers (only
//! 4000000000000341, without a `decline_code`), pays 4000000000000002, and asks 4000002500003155
//! for authentication on every confirm; the layer decides with this table instead (`confirm`).
//!
//! Pure: no I/O, so every card is checked exhaustively by the tests below.

/// A card decline as Stripe's API answers it: the error's `code`, its `decline_code` (only for
/// `card_declined`, as the testing page lists it: "n/a" for the others) and `message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decline {
    pub code: &'static str,
    pub decline_code: Option<&'static str>,
    pub message: &'static str,
}

/// What a test card does when a PaymentIntent is confirmed with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    /// Pays (4242 4242 4242 4242 and every number the table does not list).
    Pays,
    /// The confirm fails with this decline; the intent goes back to `requires_payment_method`.
    Declines(Decline),
    /// 4000 0000 0000 0341: "Attaching this card to a Customer object succeeds, but attempts to
    /// charge the customer fail."
    AttachesThenDeclines,
    /// 4000 0025 0000 3155: "This card requires authentication for one-time payments. However,
    /// if you set up this card and use the saved card for subsequent off-session payments, no
    /// further authentication is needed."
    AuthenticatesOnce,
    /// 4000 0027 6000 3184: "This card requires authentication on all transactions, regardless
    /// of how the card is set up."
    AlwaysAuthenticates,
}

const DECLINED: &str = "Your card was declined.";

pub const GENERIC_DECLINE: Decline = Decline {
    code: "card_declined",
    decline_code: Some("generic_decline"),
    message: DECLINED,
};

/// An off-session payment on a card that needs authentication: "The card was declined because
/// the transaction requires authentication" (decline code `authentication_required`); the
/// intent goes back to `requires_payment_method`
/// (<https://docs.stripe.com/payments/save-during-payment#charge-saved-payment-method>).
pub const AUTHENTICATION_REQUIRED: Decline = Decline {
    code: "authentication_required",
    decline_code: Some("authentication_required"),
    message: "Your card was declined. This transaction requires authentication.",
};

impl Card {
    /// The card a number is, by the testing page's table.
    pub fn of(number: &str) -> Self {
        let decline = |code, decline_code, message| {
            Card::Declines(Decline {
                code,
                decline_code,
                message,
            })
        };
        match number {
            "4000000000000002" => Card::Declines(GENERIC_DECLINE),
            "4000000000009995" => decline(
                "card_declined",
                Some("insufficient_funds"),
                "Your card has insufficient funds.",
            ),
            "4000000000009987" => decline("card_declined", Some("lost_card"), DECLINED),
            "4000000000009979" => decline("card_declined", Some("stolen_card"), DECLINED),
            "4000000000006975" => decline(
                "card_declined",
                Some("card_velocity_exceeded"),
                "Your card has exceeded its velocity limit.",
            ),
            "4000000000000069" => decline("expired_card", None, "Your card has expired."),
            "4000000000000127" => decline(
                "incorrect_cvc",
                None,
                "Your card's security code is incorrect.",
            ),
            "4000000000000119" => decline(
                "processing_error",
                None,
                "An error occurred while processing your card. Try again in a little bit.",
            ),
            "4242424242424241" => {
                decline("incorrect_number", None, "Your card number is incorrect.")
            }
            "4000000000000341" => Card::AttachesThenDeclines,
            "4000002500003155" => Card::AuthenticatesOnce,
            "4000002760003184" => Card::AlwaysAuthenticates,
            _ => Card::Pays,
        }
    }

    /// What a confirm with this card does: pay, decline, or ask for authentication
    /// (`requires_action`). `off_session`: the customer is not there to authenticate;
    /// `set_up`: the card was authenticated before (saved for later payments).
    pub fn on_confirm(self, off_session: bool, set_up: bool) -> Outcome {
        match self {
            Card::Pays => Outcome::Pays,
            Card::Declines(decline) => Outcome::Declines(decline),
            Card::AttachesThenDeclines => Outcome::Declines(GENERIC_DECLINE),
            Card::AuthenticatesOnce if off_session && set_up => Outcome::Pays,
            Card::AuthenticatesOnce | Card::AlwaysAuthenticates if off_session => {
                Outcome::Declines(AUTHENTICATION_REQUIRED)
            }
            Card::AuthenticatesOnce | Card::AlwaysAuthenticates => Outcome::Authenticates,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pays,
    Declines(Decline),
    /// `requires_action` with a 3-D Secure `next_action`.
    Authenticates,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decline_card_has_stripes_code_decline_code_and_message() {
        let table = [
            ("4000000000000002", "card_declined", Some("generic_decline")),
            (
                "4000000000009995",
                "card_declined",
                Some("insufficient_funds"),
            ),
            ("4000000000009987", "card_declined", Some("lost_card")),
            ("4000000000009979", "card_declined", Some("stolen_card")),
            (
                "4000000000006975",
                "card_declined",
                Some("card_velocity_exceeded"),
            ),
            ("4000000000000069", "expired_card", None),
            ("4000000000000127", "incorrect_cvc", None),
            ("4000000000000119", "processing_error", None),
            ("4242424242424241", "incorrect_number", None),
            ("4000000000000341", "card_declined", Some("generic_decline")),
        ];
        for (number, code, decline_code) in table {
            for off_session in [false, true] {
                let Outcome::Declines(d) = Card::of(number).on_confirm(off_session, false) else {
                    panic!("{number} does not decline");
                };
                assert_eq!((d.code, d.decline_code), (code, decline_code), "{number}");
                assert!(d.message.ends_with('.'), "{number}: {}", d.message);
            }
        }
        assert_eq!(
            Card::of("4000000000009995").on_confirm(false, false),
            Outcome::Declines(Decline {
                code: "card_declined",
                decline_code: Some("insufficient_funds"),
                message: "Your card has insufficient funds.",
            })
        );
    }

    #[test]
    fn cards_that_pay() {
        for number in ["4242424242424242", "4000000000005126", "4000000000000259"] {
            assert_eq!(Card::of(number), Card::Pays);
            assert_eq!(Card::of(number).on_confirm(true, false), Outcome::Pays);
        }
    }

    #[test]
    fn card_3155_authenticates_once_then_pays_off_session() {
        let card = Card::of("4000002500003155");
        assert_eq!(card.on_confirm(false, false), Outcome::Authenticates);
        assert_eq!(card.on_confirm(false, true), Outcome::Authenticates);
        assert_eq!(
            card.on_confirm(true, false),
            Outcome::Declines(AUTHENTICATION_REQUIRED)
        );
        assert_eq!(card.on_confirm(true, true), Outcome::Pays);
    }

    #[test]
    fn card_3184_always_authenticates() {
        let card = Card::of("4000002760003184");
        for set_up in [false, true] {
            assert_eq!(card.on_confirm(false, set_up), Outcome::Authenticates);
            assert_eq!(
                card.on_confirm(true, set_up),
                Outcome::Declines(AUTHENTICATION_REQUIRED)
            );
        }
    }
}

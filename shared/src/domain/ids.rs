//! Identifiers. Each is a newtype whose `parse` is the only way in from text (a request, a
//! stored item, a Stripe object), so a value of the type is always well formed.

use std::fmt;

use uuid::Uuid;

use super::error::DomainError;

/// Defines a UUID identifier. `parse` accepts only the canonical hyphenated form: braces, URNs
/// and simple hex are ambiguous in URLs. `field` names the value in the error (`asset_id`,
/// `booking id`, ...), so a client's 400 says what was wrong.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            pub fn parse(field: &str, text: &str) -> Result<Self, DomainError> {
                parse_uuid(field, text).map(Self)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A booking: made by [`BookingId::generate`] when a booking is created.
    BookingId
);
uuid_id!(
    /// A charging station or parking spot, named by the client.
    AssetId
);
uuid_id!(
    /// A driver, named by the client.
    UserId
);

impl BookingId {
    /// A fresh random (v4) id for a new booking.
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }
}

fn parse_uuid(field: &str, text: &str) -> Result<Uuid, DomainError> {
    if text.len() != 36 {
        return Err(DomainError::invalid(format!("{field} must be a UUID")));
    }
    Uuid::parse_str(text).map_err(|_| DomainError::invalid(format!("{field} must be a UUID")))
}

/// A Stripe PaymentIntent id (`pi_...`). Stripe ids are `[A-Za-z0-9_]`; anything else must
/// never be spliced into a URL path, so it is refused here, once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IntentId(String);

impl IntentId {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let ok = !text.is_empty()
            && text.len() <= 255
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(DomainError::invalid("malformed PaymentIntent id"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IntentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_only_in_canonical_form() {
        let id = "550e8400-e29b-41d4-a716-446655440000";
        assert_eq!(AssetId::parse("asset_id", id).unwrap().to_string(), id);
        for bad in [
            "",
            "nope",
            "550e8400e29b41d4a716446655440000",
            "{550e8400-e29b-41d4-a716-446655440000}",
            "urn:uuid:550e8400-e29b-41d4-a716-446655440000",
            "550e8400-e29b-41d4-a716-44665544000g",
        ] {
            let err = UserId::parse("user_id", bad).unwrap_err();
            assert_eq!(err.to_string(), "user_id must be a UUID", "{bad}");
        }
    }

    #[test]
    fn intent_ids_are_checked_before_reaching_a_path() {
        assert!(IntentId::parse("pi_3SxbzLQ1qtFrV1Tp16Yftm36").is_ok());
        for bad in ["", "pi_1/../refunds", "pi 1", "pi_1?x=1", &"a".repeat(256)] {
            assert!(IntentId::parse(bad).is_err(), "{bad}");
        }
    }
}

//! Tariff use cases on the in-memory store: versions, assignments, which tariff applies, the
//! quote, and the bound on reads.

use chrono::{Duration, TimeZone, Utc};

use crate::adapters::memory::InMemoryStore;
use crate::app::tariffs::{assign_tariff, get_tariff, put_tariff, quote, tariff_for, Put};
use crate::app::AppError;
use crate::domain::slot::Slot;
use crate::domain::tariff::{LineType, Tariff, TariffId, TariffInput, TariffTarget};
use crate::domain::{AssetId, AssetType};

fn tariff(per_hour: &str) -> Tariff {
    Tariff::parse(&TariffInput {
        currency: "usd",
        prices: vec![("per_hour", per_hour), ("flat", "0.50")],
        minutes: vec![("step_minutes", 15)],
    })
    .unwrap()
}

fn id(text: &str) -> TariffId {
    TariffId::parse(text).unwrap()
}

fn asset() -> AssetId {
    AssetId::parse("asset_id", "550e8400-e29b-41d4-a716-446655440000").unwrap()
}

fn hour() -> Slot {
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 18, 0, 0).unwrap();
    Slot::new(start, start + Duration::minutes(60)).unwrap()
}

fn version(put: Put) -> (bool, u64) {
    match put {
        Put::Created(t) => (true, t.version),
        Put::Replaced(t) => (false, t.version),
    }
}

#[tokio::test]
async fn a_new_tariff_is_version_1_and_only_a_change_makes_a_new_version() {
    let store = InMemoryStore::new();
    let put = |t| put_tariff(&store, id("ev"), t);
    assert_eq!(version(put(tariff("3.00")).await.unwrap()), (true, 1));
    // The same content again: replaced (200), same version.
    assert_eq!(version(put(tariff("3.00")).await.unwrap()), (false, 1));
    assert_eq!(version(put(tariff("3.50")).await.unwrap()), (false, 2));
    assert_eq!(version(put(tariff("3.50")).await.unwrap()), (false, 2));
    assert_eq!(version(put(tariff("3.00")).await.unwrap()), (false, 3));
    let stored = get_tariff(&store, &id("ev")).await.unwrap();
    assert_eq!((stored.version, stored.tariff), (3, tariff("3.00")));
}

#[tokio::test]
async fn concurrent_changes_each_get_their_own_version() {
    let store = InMemoryStore::new();
    let prices: Vec<String> = (1..=20).map(|i| format!("{i}.00")).collect();
    let puts = prices
        .iter()
        .map(|p| put_tariff(&store, id("ev"), tariff(p)));
    let mut versions: Vec<u64> = futures::future::join_all(puts)
        .await
        .into_iter()
        .map(|p| version(p.unwrap()).1)
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=20).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_unknown_tariff_is_not_found_and_cannot_be_assigned() {
    let store = InMemoryStore::new();
    let missing = AppError::NotFound("Tariff not found".into());
    assert_eq!(get_tariff(&store, &id("nope")).await.unwrap_err(), missing);
    let target = TariffTarget::Asset(asset());
    assert_eq!(
        assign_tariff(&store, target, &id("nope"))
            .await
            .unwrap_err(),
        missing
    );
    assert_eq!(tariff_for(&store, asset(), None).await.unwrap(), None);
}

#[tokio::test]
async fn an_asset_s_own_tariff_wins_over_its_type_s() {
    let store = InMemoryStore::new();
    put_tariff(&store, id("own"), tariff("1.00")).await.unwrap();
    put_tariff(&store, id("typed"), tariff("2.00"))
        .await
        .unwrap();
    let typed = TariffTarget::AssetType(AssetType::ChargingStation);
    assign_tariff(&store, typed, &id("typed")).await.unwrap();

    // The type's applies only when the type is given.
    assert_eq!(tariff_for(&store, asset(), None).await.unwrap(), None);
    let found = |t| tariff_for(&store, asset(), Some(t));
    let by_type = found(AssetType::ChargingStation).await.unwrap().unwrap();
    assert_eq!(by_type.id, id("typed"));
    assert_eq!(found(AssetType::ParkingSpot).await.unwrap(), None);

    assign_tariff(&store, TariffTarget::Asset(asset()), &id("own"))
        .await
        .unwrap();
    let own = found(AssetType::ChargingStation).await.unwrap().unwrap();
    assert_eq!(own.id, id("own"));
}

#[tokio::test]
async fn finding_the_tariff_takes_at_most_three_reads() {
    let store = InMemoryStore::new();
    put_tariff(&store, id("typed"), tariff("2.00"))
        .await
        .unwrap();
    let typed = TariffTarget::AssetType(AssetType::ParkingSpot);
    assign_tariff(&store, typed, &id("typed")).await.unwrap();
    let before = store.tariff_reads();
    tariff_for(&store, asset(), Some(AssetType::ParkingSpot))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.tariff_reads() - before, 3);
    // No tariff at all: the two assignments only.
    let before = store.tariff_reads();
    tariff_for(&store, asset(), Some(AssetType::ChargingStation))
        .await
        .unwrap();
    assert_eq!(store.tariff_reads() - before, 2);
}

#[tokio::test]
async fn a_quote_prices_the_window_with_the_current_version() {
    let store = InMemoryStore::new();
    put_tariff(&store, id("ev"), tariff("3.00")).await.unwrap();
    let none = quote(&store, asset(), None, &hour()).await.unwrap_err();
    assert_eq!(
        none,
        AppError::NotFound("No tariff applies to this asset".into())
    );
    assign_tariff(&store, TariffTarget::Asset(asset()), &id("ev"))
        .await
        .unwrap();
    let q = quote(&store, asset(), None, &hour()).await.unwrap();
    assert_eq!((q.tariff.version, q.total_minor()), (1, 350));
    let kinds: Vec<_> = q.lines.iter().map(|l| (l.kind, l.minor)).collect();
    assert_eq!(kinds, [(LineType::Flat, 50), (LineType::Time, 300)]);
    put_tariff(&store, id("ev"), tariff("4.00")).await.unwrap();
    let q = quote(&store, asset(), None, &hour()).await.unwrap();
    assert_eq!((q.tariff.version, q.total_minor()), (2, 450));
}

mod bookings_carry_their_price {
    use super::*;
    use crate::adapters::memory::FakeStripe;
    use crate::app::bookings::{get_booking, Created};
    use crate::app::tariffs::create_booking_at_tariff;
    use crate::domain::{Booking, HoldRules, NewBooking, UserId};

    async fn book(store: &InMemoryStore, asset_type: AssetType, minutes: i64) -> Booking {
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 18, 0, 0).unwrap() + Duration::days(minutes); // a fresh slot per call
        let new = NewBooking {
            asset_id: asset(),
            asset_type,
            user_id: UserId::parse("user_id", "650e8400-e29b-41d4-a716-446655440001").unwrap(),
            slot: Slot::new(start, start + Duration::minutes(minutes)).unwrap(),
        };
        let stripe = FakeStripe::new();
        let rules = HoldRules::default();
        let created = create_booking_at_tariff(
            store,
            &stripe,
            new,
            None,
            Utc::now(),
            (None, &rules),
            |_| String::new(),
        )
        .await
        .unwrap();
        let Created::New { booking, .. } = created else {
            panic!("not created: {created:?}");
        };
        assert_eq!(get_booking(store, booking.id).await.unwrap(), *booking);
        *booking
    }

    #[tokio::test]
    async fn without_a_tariff_a_booking_has_no_price() {
        let store = InMemoryStore::new();
        assert_eq!(
            book(&store, AssetType::ChargingStation, 60).await.price,
            None
        );
    }

    #[tokio::test]
    async fn a_booking_keeps_the_price_of_its_creation_when_the_tariff_changes() {
        let store = InMemoryStore::new();
        put_tariff(&store, id("typed"), tariff("3.00"))
            .await
            .unwrap();
        let typed = TariffTarget::AssetType(AssetType::ChargingStation);
        assign_tariff(&store, typed, &id("typed")).await.unwrap();

        let before = store.tariff_reads();
        let first = book(&store, AssetType::ChargingStation, 60).await;
        // The asset's assignment (none), the type's, the tariff.
        assert_eq!(store.tariff_reads() - before, 3);
        let price = first.price.clone().unwrap();
        assert_eq!((price.tariff.version, price.total_minor()), (1, 350));

        put_tariff(&store, id("typed"), tariff("5.00"))
            .await
            .unwrap();
        let again = get_booking(&store, first.id).await.unwrap();
        assert_eq!(again.price, Some(price));
        let second = book(&store, AssetType::ChargingStation, 30).await;
        let price = second.price.unwrap();
        // 30 min at 5.00/h = 2.50, + 0.50.
        assert_eq!((price.tariff.version, price.total_minor()), (2, 300));
        // Another type has no tariff.
        assert_eq!(book(&store, AssetType::ParkingSpot, 45).await.price, None);
    }
}

mod intents_at_the_booking_s_price {
    use std::sync::Arc;

    use super::*;
    use crate::adapters::memory::FakeStripe;
    use crate::app::intents::{create_intent, Asked, Terms};
    use crate::domain::money::currency;
    use crate::domain::tariff::{Quote, StoredTariff};
    use crate::domain::{Booking, BookingId, CaptureMethod, HoldRules, Money, NewBooking, UserId};
    use crate::ports::{BookingStore, Intent};

    /// A booking priced by the example tariff: 50 minutes, 3.50 usd; max_price 40.00.
    fn priced_booking(store: &InMemoryStore) -> BookingId {
        let t = Tariff::parse(&TariffInput {
            currency: "usd",
            prices: vec![
                ("flat", "0.50"),
                ("per_hour", "3.00"),
                ("per_kwh", "0.35"),
                ("max_price", "40.00"),
            ],
            minutes: vec![("step_minutes", 15)],
        })
        .unwrap();
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 18, 0, 0).unwrap();
        let slot = Slot::new(start, start + Duration::minutes(50)).unwrap();
        let stored = StoredTariff {
            id: id("ev"),
            version: 1,
            tariff: t,
        };
        let new = NewBooking {
            asset_id: asset(),
            asset_type: AssetType::ChargingStation,
            user_id: UserId::parse("user_id", "650e8400-e29b-41d4-a716-446655440001").unwrap(),
            slot,
        };
        let booking = Booking::new(new, BookingId::generate(), Utc::now())
            .with_price(Some(Quote::of(stored, &slot)));
        let id = booking.id;
        store.insert(booking);
        id
    }

    fn usd(minor: i64) -> Money {
        Money {
            minor,
            currency: currency("usd").unwrap(),
        }
    }

    async fn ask(
        store: &InMemoryStore,
        stripe: &Arc<FakeStripe>,
        id: BookingId,
        asked: Asked,
    ) -> Result<Intent, AppError> {
        create_intent(store, &**stripe, id, asked, &HoldRules::default(), Utc::now).await
    }

    fn price(capture_method: CaptureMethod) -> Asked {
        Asked::Price {
            currency: None,
            capture_method,
        }
    }

    #[tokio::test]
    async fn no_amount_charges_the_price_and_a_hold_authorizes_max_price() {
        let (store, stripe) = (InMemoryStore::new(), Arc::new(FakeStripe::new()));
        let id = priced_booking(&store);
        let intent = ask(&store, &stripe, id, price(CaptureMethod::Automatic))
            .await
            .unwrap();
        assert_eq!(stripe.intent(&intent.id).unwrap().amount_minor, 350);
        // The same terms given explicitly are the same intent.
        let again = ask(&store, &stripe, id, usd(350).into()).await.unwrap();
        assert_eq!(again.id, intent.id);
        let held = ask(&store, &stripe, id, price(CaptureMethod::Manual))
            .await
            .unwrap();
        assert_eq!(stripe.intent(&held.id).unwrap().amount_minor, 4000);
        let payment = store
            .get_booking(id)
            .await
            .unwrap()
            .unwrap()
            .payment
            .unwrap();
        assert_eq!(payment.amount, usd(4000));
    }

    #[tokio::test]
    async fn another_amount_is_refused_and_changes_nothing() {
        let (store, stripe) = (InMemoryStore::new(), Arc::new(FakeStripe::new()));
        let id = priced_booking(&store);
        let wrong = ask(&store, &stripe, id, usd(400).into()).await.unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "amount must be 3.50 usd, the booking's price"
        );
        let held = Terms {
            amount: usd(350),
            capture_method: CaptureMethod::Manual,
        };
        let wrong = ask(&store, &stripe, id, held.into()).await.unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "amount must be 40.00 usd, the booking's authorization (its tariff's max_price)"
        );
        assert!(stripe.intents().is_empty());
        assert_eq!(store.get_booking(id).await.unwrap().unwrap().payment, None);
    }

    #[tokio::test]
    async fn without_a_price_the_amount_is_required_as_before() {
        let (store, stripe) = (InMemoryStore::new(), Arc::new(FakeStripe::new()));
        let id = priced_booking(&store);
        let mut booking = store.get_booking(id).await.unwrap().unwrap();
        booking.price = None;
        store.insert(booking);
        let missing = ask(&store, &stripe, id, price(CaptureMethod::Automatic))
            .await
            .unwrap_err();
        assert_eq!(missing.to_string(), "amount is required");
        let any = ask(&store, &stripe, id, usd(123).into()).await.unwrap();
        assert_eq!(stripe.intent(&any.id).unwrap().amount_minor, 123);
    }
}

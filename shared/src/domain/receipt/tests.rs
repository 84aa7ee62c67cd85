use super::*;
use crate::domain::money::currency;
use crate::domain::refund_log::{RefundEntry, RequestMark};
use crate::domain::slot::parse_time;
use crate::domain::tariff::{Line, Quote, StoredTariff, Tariff, TariffId};
use crate::domain::{
    AssetId, AssetType, BookingId, Money, NewBooking, Payment, PaymentStatus, RefundStatus, Slot,
    UserId,
};

fn booking() -> Booking {
    let new = NewBooking {
        asset_id: AssetId::parse("a", "550e8400-e29b-41d4-a716-446655440000").unwrap(),
        asset_type: AssetType::ChargingStation,
        user_id: UserId::parse("u", "650e8400-e29b-41d4-a716-446655440001").unwrap(),
        slot: Slot::new(
            parse_time("s", "2026-02-05T23:00:00Z").unwrap(),
            parse_time("e", "2026-02-05T23:30:00Z").unwrap(),
        )
        .unwrap(),
    };
    Booking::new(new, BookingId::generate(), chrono::Utc::now())
}

fn quote(code: &str, lines: &[(LineType, i64)]) -> Quote {
    Quote {
        tariff: StoredTariff {
            id: TariffId::parse("t").unwrap(),
            version: 1,
            tariff: Tariff {
                currency: currency(code).unwrap(),
                flat: None,
                per_hour: None,
                step_minutes: 1,
                per_kwh: None,
                min_price: None,
                max_price: None,
                free_cancel_minutes: None,
                late_cancel_fee: None,
                no_show_fee: None,
                no_show_after_minutes: None,
            },
        },
        lines: lines.iter().map(|&(k, m)| Line::new(k, m)).collect(),
    }
}

fn paid(code: &str, amount: i64, received: i64, status: PaymentStatus) -> Booking {
    let mut b = booking();
    let mut p = Payment::new(
        IntentId::parse("pi_1").unwrap(),
        Money::parse_minor(amount, code).unwrap(),
    );
    p.amount_received_minor = Some(received);
    b.payment = Some(p);
    b.payment_status = status;
    b
}

fn sum_of(r: &Receipt) -> i64 {
    r.charges.iter().map(|c| c.minor).sum::<i64>() + r.refunds.iter().map(|l| l.minor).sum::<i64>()
}

#[test]
fn no_receipt_before_money_moved() {
    assert_eq!(receipt(&booking(), &[]), None);
    for status in PaymentStatus::ALL {
        let b = paid("usd", 350, 350, status);
        assert_eq!(receipt(&b, &[]).is_some(), status.is_paid(), "{status:?}");
    }
}

#[test]
fn a_booking_without_a_price_is_one_line() {
    let r = receipt(&paid("usd", 450, 450, PaymentStatus::Completed), &[]).unwrap();
    assert_eq!(
        r.charges,
        [ChargeLine {
            kind: ChargeKind::Booking,
            minor: 450
        }]
    );
    assert_eq!((r.total_charged, r.total_refunded, r.total), (450, 0, 450));
    assert_eq!(r.payments[0].minor, 450);
}

#[test]
fn a_priced_booking_shows_its_lines_and_an_adjustment_when_the_capture_differs() {
    let lines = [(LineType::Flat, 50), (LineType::Time, 300)];
    let mut b = paid("usd", 4000, 782, PaymentStatus::Completed);
    b.price = Some(quote("usd", &lines));
    let r = receipt(&b, &[]).unwrap();
    let kinds: Vec<_> = r
        .charges
        .iter()
        .map(|c| (c.kind.as_str(), c.minor))
        .collect();
    assert_eq!(kinds, [("flat", 50), ("time", 300), ("adjustment", 432)]);
    assert_eq!(r.total, 782);
    // Received exactly the price: no adjustment.
    let mut b = paid("usd", 350, 350, PaymentStatus::Completed);
    b.price = Some(quote("usd", &lines));
    assert_eq!(receipt(&b, &[]).unwrap().charges.len(), 2);
    // A price in another currency than the payment's is not the payment's line.
    let mut b = paid("eur", 350, 350, PaymentStatus::Completed);
    b.price = Some(quote("usd", &lines));
    assert_eq!(
        receipt(&b, &[]).unwrap().charges[0].kind,
        ChargeKind::Booking
    );
}

#[test]
fn refunds_are_negative_lines_reserved_and_failed_ones_are_not() {
    let mut b = paid("usd", 1000, 1000, PaymentStatus::PartiallyRefunded);
    let p = b.payment.as_mut().unwrap();
    p.refunds = vec![
        RefundEntry::of_stripe("re_1".into(), 200, RefundStatus::Succeeded, None, None),
        RefundEntry::of_stripe("re_2".into(), 100, RefundStatus::Failed, None, None),
        RefundEntry::of_stripe("re_3".into(), 50, RefundStatus::Pending, None, None),
        RefundEntry {
            refund_id: None,
            amount_minor: 300,
            status: EntryStatus::Reserved,
            reason: None,
            created_at: None,
            request: Some(RequestMark {
                key: "k".into(),
                hash: "h".into(),
            }),
        },
    ];
    // Stripe reports re_1, re_3 and a Dashboard refund not listed: 200 + 50 + 100.
    p.after.amount_refunded_minor = 350;
    let r = receipt(&b, &[]).unwrap();
    let lines: Vec<_> = r
        .refunds
        .iter()
        .map(|l| (l.refund_id.as_deref(), l.minor))
        .collect();
    assert_eq!(
        lines,
        [(Some("re_1"), -200), (Some("re_3"), -50), (None, -100)]
    );
    assert_eq!(
        (r.total_charged, r.total_refunded, r.total),
        (1000, 350, 650)
    );
}

/// Every shape: no price or a price of 0 to 3 lines (each 0 to 700), received below, at or
/// above it, 0 to 2 fees, listed refunds of every status and amount_refunded at, below and
/// beyond them, in usd, jpy and kwd: the lines add up to the totals in minor units, the
/// charges to what was received, the refunds to minus what was refunded.
#[test]
fn the_lines_always_add_up() {
    let prices: Vec<Vec<(LineType, i64)>> = vec![
        vec![],
        vec![(LineType::Flat, 0)],
        vec![(LineType::Flat, 50), (LineType::Time, 700)],
        vec![
            (LineType::Flat, 50),
            (LineType::Time, 300),
            (LineType::MaxPrice, -100),
        ],
    ];
    let fee_sets: [&[Fee]; 3] = [
        &[],
        &[Fee {
            kind: FeeKind::CancellationFee,
            minor: 100,
        }],
        &[
            Fee {
                kind: FeeKind::CancellationFee,
                minor: 100,
            },
            Fee {
                kind: FeeKind::NoShowFee,
                minor: 250,
            },
        ],
    ];
    let mut checked = 0;
    for code in ["usd", "jpy", "kwd"] {
        for price in &prices {
            for received in [50, 250, 650, 1000] {
                for fees in fee_sets {
                    for statuses in [0usize, 1, 2, 3, 4] {
                        for extra in [0, 30] {
                            let status = PaymentStatus::PartiallyRefunded;
                            let mut b = paid(code, 1000, received, status);
                            if !price.is_empty() {
                                b.price = Some(quote(code, price));
                            }
                            let p = b.payment.as_mut().unwrap();
                            p.refunds = RefundStatus::ALL
                                .iter()
                                .take(statuses)
                                .enumerate()
                                .map(|(i, s)| {
                                    RefundEntry::of_stripe(format!("re_{i}"), 10, *s, None, None)
                                })
                                .collect();
                            let listed = refund_log::committed_minor(&p.refunds);
                            p.after.amount_refunded_minor = listed + extra;
                            let r = receipt(&b, fees).unwrap();
                            let charged: i64 = r.charges.iter().map(|c| c.minor).sum();
                            let refunded: i64 = r.refunds.iter().map(|l| l.minor).sum();
                            assert_eq!(charged, received);
                            assert_eq!(r.total_charged, received);
                            assert_eq!(refunded, -r.total_refunded);
                            assert_eq!(r.total_refunded, listed + extra);
                            assert_eq!(sum_of(&r), r.total);
                            assert_eq!(r.total, r.total_charged - r.total_refunded);
                            assert_eq!(r.payments.iter().map(|p| p.minor).sum::<i64>(), received);
                            assert!(r.refunds.iter().all(|l| l.minor < 0));
                            let fee_lines = r
                                .charges
                                .iter()
                                .filter(|c| matches!(c.kind, ChargeKind::Fee(_)))
                                .count();
                            assert_eq!(fee_lines, fees.len());
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 3 * 4 * 4 * 3 * 5 * 2);
}

/// Only a charged fee is on the receipt: every combination of the two fees (none, waived, to
/// take) and every payment status.
#[test]
fn only_the_fees_the_terms_charged_are_taken() {
    use crate::domain::terms::{Fee as TermsFee, Waiver};
    let options = [
        None,
        Some(TermsFee {
            minor: 100,
            waived: None,
        }),
        Some(TermsFee {
            minor: 20,
            waived: Some(Waiver::BelowMinimum { min_minor: 50 }),
        }),
    ];
    for status in PaymentStatus::ALL {
        for cancellation in options {
            for no_show in options {
                let mut b = paid("usd", 350, 350, status);
                let p = b.payment.as_mut().unwrap();
                p.cancellation_fee = cancellation;
                p.no_show_fee = no_show;
                let want: Vec<Fee> = [
                    (FeeKind::CancellationFee, cancellation),
                    (FeeKind::NoShowFee, no_show),
                ]
                .into_iter()
                .filter_map(|(kind, f)| {
                    let f = f?;
                    // Charged: not waived, and the payment was taken (paid).
                    (f.waived.is_none() && status.is_paid()).then_some(Fee {
                        kind,
                        minor: f.minor,
                    })
                })
                .collect();
                assert_eq!(
                    taken_fees(&b),
                    want,
                    "{status:?} {cancellation:?} {no_show:?}"
                );
                if status.is_paid() {
                    assert!(want.iter().all(|f| f.minor == 100));
                } else {
                    assert!(want.is_empty(), "{status:?}: nothing taken");
                }
            }
        }
    }
    let mut unpaid = booking();
    unpaid.payment = None;
    assert!(taken_fees(&unpaid).is_empty());
}

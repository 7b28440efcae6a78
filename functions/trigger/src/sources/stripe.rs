//! Stripe events: `checkout.session.completed`, `payment_intent.succeeded`, `charge.succeeded`,
//! `invoice.paid`.
//!
//! `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` (several `v1`
//! may be present while a secret rolls), with a 5-minute tolerance. The transaction is the payment
//! intent when there is one, so a checkout session and its payment intent make one survey.

use hmac::Mac;
use nps_domain::Timestamp;
use nps_domain::crypto::hmac_sha256;
use nps_domain::intake::{EventError, TriggerEvent};
use serde_json::Value;

use super::{
    Incoming, SignatureError, first_str, parse_json, scalar_text, signature_pairs, vendor_properties, within_window,
};

pub const HEADER: &str = "stripe-signature";
const TYPES: &[&str] = &["checkout.session.completed", "payment_intent.succeeded", "charge.succeeded", "invoice.paid"];

pub fn verify(req: &Incoming, secret: &[u8], now: Timestamp) -> Result<(), SignatureError> {
    let header = req.header(HEADER).ok_or(SignatureError::Missing("Stripe-Signature"))?;
    let pairs = signature_pairs(header);
    let t =
        pairs.iter().find(|(k, _)| *k == "t").map(|(_, v)| *v).ok_or(SignatureError::Malformed("Stripe-Signature"))?;
    let signed_at: i64 = t.parse().map_err(|_| SignatureError::Malformed("Stripe-Signature"))?;
    let candidates: Vec<Vec<u8>> =
        pairs.iter().filter(|(k, _)| *k == "v1").filter_map(|(_, v)| hex::decode(v).ok()).collect();
    if candidates.is_empty() {
        return Err(SignatureError::Malformed("Stripe-Signature"));
    }
    if !within_window(signed_at, now) {
        return Err(SignatureError::Expired);
    }
    let mut mac = hmac_sha256(secret);
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(req.body);
    let ok = candidates.iter().any(|candidate| mac.clone().verify_slice(candidate).is_ok());
    if ok { Ok(()) } else { Err(SignatureError::Mismatch) }
}

pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = hmac_sha256(secret);
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Minor units (cents) as a decimal amount; Stripe's zero-decimal currencies are rare for
/// segmenting and are shown as minor units divided by 100 all the same.
fn amount(object: &Value) -> Option<String> {
    let minor =
        ["amount_total", "amount_paid", "amount_received", "amount"].iter().find_map(|k| object.get(*k)?.as_i64())?;
    Some(format!("{}.{:02}", minor / 100, (minor % 100).abs()))
}

pub fn normalise(req: &Incoming) -> Result<TriggerEvent, EventError> {
    let event = parse_json(req.body)?;
    let kind = event.get("type").and_then(Value::as_str).ok_or_else(|| EventError::invalid("type", "is required"))?;
    if !TYPES.contains(&kind) {
        return Err(EventError::not_a_purchase("type", kind.chars().take(64).collect::<String>()));
    }
    let object = event.pointer("/data/object").ok_or_else(|| EventError::invalid("data.object", "is required"))?;
    let event_id = event.get("id").and_then(Value::as_str).ok_or_else(|| EventError::invalid("id", "is required"))?;
    let metadata = object.get("metadata").and_then(Value::as_object);
    let mut properties: Vec<(&str, Option<String>)> = vec![
        ("amount", amount(object)),
        ("currency", object.get("currency").and_then(scalar_text)),
        (
            "region",
            first_str(
                object,
                &[&["customer_details", "address", "country"], &["billing_details", "address", "country"]],
            )
            .map(str::to_owned),
        ),
        ("type", Some(kind.to_owned())),
    ];
    if let Some(metadata) = metadata {
        properties.extend(metadata.iter().map(|(k, v)| (k.as_str(), scalar_text(v))));
    }
    Ok(TriggerEvent {
        event_id: super::event_id(event_id)?,
        email: super::email(first_str(
            object,
            &[&["customer_details", "email"], &["receipt_email"], &["customer_email"], &["billing_details", "email"]],
        ))?,
        name: super::name(first_str(
            object,
            &[&["customer_details", "name"], &["billing_details", "name"], &["customer_name"]],
        ))?,
        locale: super::locale(first_str(object, &[&["locale"]])),
        survey: None,
        transaction_id: super::transaction_id(
            first_str(object, &[&["payment_intent"]]).or_else(|| first_str(object, &[&["id"]])).map(str::to_owned),
        )?,
        occurred_at: event.get("created").and_then(Value::as_i64).map(Timestamp::from_unix),
        send_at: None,
        delay: None,
        properties: vendor_properties(properties),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::test_support::{fixture, headers};

    fn incoming<'a>(h: &'a lambda_http::http::HeaderMap, body: &'a [u8]) -> Incoming<'a> {
        crate::sources::test_support::incoming("stripe", h, body)
    }

    const SECRET: &[u8] = b"whsec_test_secret";

    #[test]
    fn verifies_any_v1_inside_the_tolerance() {
        let body = fixture("stripe-checkout-session-completed.json");
        let now = Timestamp::from_unix(1_800_000_000);
        let signed = sign(SECRET, now.unix(), &body);
        let h = headers(&[(HEADER, &signed)]);
        assert_eq!(verify(&incoming(&h, &body), SECRET, now), Ok(()));
        // A rolled secret: the old signature first, the new one second.
        let rolled = format!("{},v1={}", sign(b"old", now.unix(), &body), signed.split("v1=").nth(1).unwrap());
        let h = headers(&[(HEADER, &rolled)]);
        assert_eq!(verify(&incoming(&h, &body), SECRET, now), Ok(()));
        let h = headers(&[(HEADER, &sign(SECRET, now.unix() - 400, &body))]);
        assert_eq!(verify(&incoming(&h, &body), SECRET, now), Err(SignatureError::Expired));
        let h = headers(&[(HEADER, &signed)]);
        assert_eq!(verify(&incoming(&h, b"{}"), SECRET, now), Err(SignatureError::Mismatch));
        let h = headers(&[(HEADER, "t=1800000000,v0=abc")]);
        assert_eq!(verify(&incoming(&h, &body), SECRET, now), Err(SignatureError::Malformed("Stripe-Signature")));
    }

    #[test]
    fn a_checkout_session_normalises_with_its_payment_intent_as_transaction() {
        let body = fixture("stripe-checkout-session-completed.json");
        let h = headers(&[]);
        let e = normalise(&incoming(&h, &body)).unwrap();
        assert_eq!(e.event_id, "evt_1QxYzAbCdEfGhIjK");
        assert_eq!(e.email.as_str(), "marie@example.com");
        assert_eq!(e.name.as_deref(), Some("Marie Curie"));
        assert_eq!(e.locale, Some(nps_domain::survey::Locale::Fr));
        assert_eq!(e.transaction_id.as_deref(), Some("pi_3QxYzAbCdEfGhIjK"));
        assert_eq!(e.occurred_at, Some(Timestamp::from_unix(1_795_000_000)));
        let p = |k: &str| e.properties.get(k).map(String::as_str);
        assert_eq!((p("amount"), p("currency"), p("region")), (Some("49.00"), Some("eur"), Some("FR")));
        assert_eq!((p("plan"), p("product")), (Some("pro"), Some("Analytics Suite")));
    }

    #[test]
    fn other_event_types_are_refused() {
        let h = headers(&[]);
        let body = br#"{"id":"evt_1","type":"customer.created","data":{"object":{}}}"#;
        assert!(matches!(normalise(&incoming(&h, body)), Err(EventError::NotAPurchase { field: "type", .. })));
    }
}

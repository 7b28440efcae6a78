//! Shopify order webhooks: the topics of a purchase (`orders/create`, `orders/paid`,
//! `orders/fulfilled`, `orders/partially_fulfilled`) start a survey; any other topic (a cancelled,
//! edited or deleted order) is skipped as `not_a_purchase`, answered 200 so Shopify does not retry.
//!
//! `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body with the app's secret;
//! `X-Shopify-Webhook-Id` identifies the delivery for idempotency. Shopify signs no timestamp:
//! replays are answered by idempotency on the webhook id.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use nps_domain::Timestamp;
use nps_domain::crypto::hmac_sha256;
use nps_domain::intake::{EventError, TriggerEvent};

use super::{Incoming, SignatureError, first_str, parse_json, scalar_text, vendor_properties};

pub const HMAC_HEADER: &str = "x-shopify-hmac-sha256";
pub const WEBHOOK_ID_HEADER: &str = "x-shopify-webhook-id";
pub const TOPIC_HEADER: &str = "x-shopify-topic";
const PURCHASE_TOPICS: &[&str] = &["orders/create", "orders/paid", "orders/fulfilled", "orders/partially_fulfilled"];

pub fn verify(req: &Incoming, secret: &[u8]) -> Result<(), SignatureError> {
    let header = req.header(HMAC_HEADER).ok_or(SignatureError::Missing("X-Shopify-Hmac-Sha256"))?;
    let signature = STANDARD.decode(header).map_err(|_| SignatureError::Malformed("X-Shopify-Hmac-Sha256"))?;
    let mut mac = hmac_sha256(secret);
    mac.update(req.body);
    mac.verify_slice(&signature).map_err(|_| SignatureError::Mismatch)
}

pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = hmac_sha256(secret);
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

pub fn normalise(req: &Incoming) -> Result<TriggerEvent, EventError> {
    let topic = req.header(TOPIC_HEADER).ok_or_else(|| EventError::invalid("X-Shopify-Topic", "is required"))?;
    if !PURCHASE_TOPICS.contains(&topic) {
        return Err(EventError::not_a_purchase("X-Shopify-Topic", topic.chars().take(64).collect::<String>()));
    }
    let event_id =
        req.header(WEBHOOK_ID_HEADER).ok_or_else(|| EventError::invalid("X-Shopify-Webhook-Id", "is required"))?;
    let order = parse_json(req.body)?;
    let line = order.get("line_items").and_then(|l| l.get(0));
    let line_field = |key: &str| line.and_then(|l| l.get(key)).and_then(scalar_text);
    let occurred = first_str(&order, &[&["processed_at"], &["created_at"]]).and_then(Timestamp::parse_rfc3339);
    Ok(TriggerEvent {
        event_id: super::event_id(event_id)?,
        email: super::email(first_str(&order, &[&["email"], &["contact_email"], &["customer", "email"]]))?,
        name: super::name(first_str(&order, &[&["customer", "first_name"], &["billing_address", "first_name"]]))?,
        locale: super::locale(first_str(&order, &[&["customer_locale"]])),
        survey: None,
        transaction_id: super::transaction_id(order.get("id").and_then(scalar_text))?,
        occurred_at: occurred,
        send_at: None,
        delay: None,
        properties: vendor_properties([
            ("product", line_field("title")),
            ("variant", line_field("variant_title")),
            ("sku", line_field("sku")),
            ("channel", order.get("source_name").and_then(scalar_text)),
            (
                "region",
                first_str(&order, &[&["shipping_address", "country_code"], &["billing_address", "country_code"]])
                    .map(str::to_owned),
            ),
            ("amount", order.get("total_price").and_then(scalar_text)),
            ("currency", order.get("currency").and_then(scalar_text)),
            ("topic", Some(topic.to_owned())),
        ]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::test_support::{fixture, headers};

    fn incoming<'a>(h: &'a lambda_http::http::HeaderMap, body: &'a [u8]) -> Incoming<'a> {
        crate::sources::test_support::incoming("shopify", h, body)
    }

    const SECRET: &[u8] = b"shpss_test_secret";

    #[test]
    fn verifies_the_body_hmac_and_refuses_changes() {
        let body = fixture("shopify-orders-paid.json");
        let h = headers(&[(HMAC_HEADER, &sign(SECRET, &body))]);
        assert_eq!(verify(&incoming(&h, &body), SECRET), Ok(()));
        assert_eq!(verify(&incoming(&h, &body), b"wrong"), Err(SignatureError::Mismatch));
        let mut changed = body.clone();
        changed.push(b' ');
        assert_eq!(verify(&incoming(&h, &changed), SECRET), Err(SignatureError::Mismatch));
        let bad = headers(&[(HMAC_HEADER, "***")]);
        assert_eq!(verify(&incoming(&bad, &body), SECRET), Err(SignatureError::Malformed("X-Shopify-Hmac-Sha256")));
    }

    #[test]
    fn an_order_normalises_to_one_event() {
        let body = fixture("shopify-orders-paid.json");
        let h = headers(&[(TOPIC_HEADER, "orders/paid"), (WEBHOOK_ID_HEADER, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")]);
        let e = normalise(&incoming(&h, &body)).unwrap();
        assert_eq!(e.event_id, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
        assert_eq!(e.email.as_str(), "jon@example.com");
        assert_eq!(e.name.as_deref(), Some("Jon"));
        assert_eq!(e.locale, Some(nps_domain::survey::Locale::De));
        assert_eq!(e.transaction_id.as_deref(), Some("820982911946154508"));
        assert_eq!(e.occurred_at, Timestamp::parse_rfc3339("2026-11-23T16:00:05Z"));
        let p = |k: &str| e.properties.get(k).map(String::as_str);
        assert_eq!(
            (p("product"), p("variant"), p("channel"), p("region")),
            (Some("IPod Nano - 8GB"), Some("green"), Some("web"), Some("DE"))
        );
        assert_eq!((p("amount"), p("currency"), p("topic")), (Some("403.00"), Some("USD"), Some("orders/paid")));
    }

    #[test]
    fn other_topics_and_missing_ids_are_refused() {
        let body = fixture("shopify-orders-paid.json");
        for topic in ["customers/create", "orders/cancelled", "orders/delete", "orders/edited", "refunds/create"] {
            let h = headers(&[(TOPIC_HEADER, topic), (WEBHOOK_ID_HEADER, "x")]);
            let skipped = normalise(&incoming(&h, &body)).unwrap_err();
            assert!(matches!(skipped, EventError::NotAPurchase { .. }), "{topic}: {skipped:?}");
        }
        let h = headers(&[(WEBHOOK_ID_HEADER, "x")]);
        assert!(matches!(normalise(&incoming(&h, &body)), Err(EventError::Invalid { field: "X-Shopify-Topic", .. })));
        let h = headers(&[(TOPIC_HEADER, "orders/paid")]);
        assert_eq!(normalise(&incoming(&h, &body)).unwrap_err().field(), "X-Shopify-Webhook-Id");
        let h = headers(&[(TOPIC_HEADER, "orders/paid"), (WEBHOOK_ID_HEADER, "x")]);
        assert_eq!(normalise(&incoming(&h, br#"{"id": 1}"#)).unwrap_err().field(), "email");
    }
}

//! HubSpot workflow webhooks ("Send a webhook" action), signed with the v3 scheme:
//! `X-HubSpot-Signature-v3` = base64 HMAC-SHA256(app secret, method + URL + body + timestamp),
//! `X-HubSpot-Request-Timestamp` in milliseconds, refused outside 5 minutes.
//!
//! The body is the enrolled object: `{"objectId", "properties": {"email": {"value": …}, …}}`, or
//! the same properties given flat. A workflow webhook carries no event id, so the id is the body's
//! SHA-256: HubSpot's retries resend the same body.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use nps_domain::Timestamp;
use nps_domain::crypto::hmac_sha256;
use nps_domain::intake::{EventError, TriggerEvent};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Incoming, SignatureError, parse_json, scalar_text, vendor_properties, within_window};

pub const SIGNATURE_HEADER: &str = "x-hubspot-signature-v3";
pub const TIMESTAMP_HEADER: &str = "x-hubspot-request-timestamp";

pub fn verify(req: &Incoming, secret: &[u8], now: Timestamp) -> Result<(), SignatureError> {
    let signature = req.header(SIGNATURE_HEADER).ok_or(SignatureError::Missing("X-HubSpot-Signature-v3"))?;
    let timestamp = req.header(TIMESTAMP_HEADER).ok_or(SignatureError::Missing("X-HubSpot-Request-Timestamp"))?;
    let millis: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed("X-HubSpot-Request-Timestamp"))?;
    let signature = STANDARD.decode(signature).map_err(|_| SignatureError::Malformed("X-HubSpot-Signature-v3"))?;
    if !within_window(millis.div_euclid(1000), now) {
        return Err(SignatureError::Expired);
    }
    let mut mac = hmac_sha256(secret);
    for part in [req.method.as_bytes(), req.url.as_bytes(), req.body, timestamp.as_bytes()] {
        mac.update(part);
    }
    mac.verify_slice(&signature).map_err(|_| SignatureError::Mismatch)
}

pub fn sign(secret: &[u8], method: &str, url: &str, body: &[u8], millis: i64) -> String {
    let mut mac = hmac_sha256(secret);
    for part in [method.as_bytes(), url.as_bytes(), body, millis.to_string().as_bytes()] {
        mac.update(part);
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// A property's value, whether given as `{"value": …}` (HubSpot's shape) or directly.
fn value_of(v: &Value) -> Option<String> {
    scalar_text(v.get("value").unwrap_or(v))
}

pub fn normalise(req: &Incoming) -> Result<TriggerEvent, EventError> {
    let body = parse_json(req.body)?;
    let properties = body.get("properties").and_then(Value::as_object);
    let field = |name: &str| properties.and_then(|p| p.get(name)).or_else(|| body.get(name)).and_then(value_of);
    let event_id = match body.get("eventId").and_then(scalar_text) {
        Some(id) => id,
        None => format!("body-sha256-{}", &hex::encode(Sha256::digest(req.body))[..40]),
    };
    let email = field("email");
    let transaction = ["dealId", "objectId"]
        .iter()
        .find_map(|k| body.get(*k).and_then(scalar_text))
        .or_else(|| field("hs_object_id"));
    let pairs = properties.into_iter().flatten().map(|(k, v)| (k.as_str(), value_of(v)));
    Ok(TriggerEvent {
        event_id: super::event_id(&event_id)?,
        email: super::email(email.as_deref())?,
        name: super::name(field("firstname").as_deref())?,
        locale: super::locale(field("hs_language").as_deref()),
        survey: None,
        transaction_id: super::transaction_id(transaction)?,
        occurred_at: None,
        send_at: None,
        delay: None,
        properties: vendor_properties(
            pairs.filter(|(k, _)| !matches!(*k, "email" | "firstname" | "lastname" | "phone")),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::test_support::{fixture, headers};

    fn incoming<'a>(h: &'a lambda_http::http::HeaderMap, body: &'a [u8]) -> Incoming<'a> {
        crate::sources::test_support::incoming("hubspot", h, body)
    }

    const SECRET: &[u8] = b"hubspot-app-secret";
    const URL: &str = "https://nps.example/v1/triggers/hubspot";

    #[test]
    fn verifies_method_url_body_and_timestamp() {
        let body = fixture("hubspot-workflow.json");
        let now = Timestamp::from_unix(1_800_000_000);
        let millis = now.unix() * 1000 - 1000;
        let sig = sign(SECRET, "POST", URL, &body, millis);
        let h = headers(&[(SIGNATURE_HEADER, &sig), (TIMESTAMP_HEADER, &millis.to_string())]);
        assert_eq!(verify(&incoming(&h, &body), SECRET, now), Ok(()));
        // Another URL (a different endpoint) does not verify.
        let other = Incoming { url: "https://evil.example/v1/triggers/hubspot", ..incoming(&h, &body) };
        assert_eq!(verify(&other, SECRET, now), Err(SignatureError::Mismatch));
        let stale = (now.unix() - 301) * 1000;
        let h = headers(&[
            (SIGNATURE_HEADER, &sign(SECRET, "POST", URL, &body, stale)),
            (TIMESTAMP_HEADER, &stale.to_string()),
        ]);
        assert_eq!(verify(&incoming(&h, &body), SECRET, now), Err(SignatureError::Expired));
        let h = headers(&[(SIGNATURE_HEADER, &sig)]);
        assert_eq!(
            verify(&incoming(&h, &body), SECRET, now),
            Err(SignatureError::Missing("X-HubSpot-Request-Timestamp"))
        );
    }

    #[test]
    fn a_workflow_payload_normalises_and_retries_share_an_id() {
        let body = fixture("hubspot-workflow.json");
        let h = headers(&[]);
        let e = normalise(&incoming(&h, &body)).unwrap();
        assert_eq!(e.email.as_str(), "lee@example.com");
        assert_eq!(e.name.as_deref(), Some("Lee"));
        assert_eq!(e.locale, Some(nps_domain::survey::Locale::En));
        assert_eq!(e.transaction_id.as_deref(), Some("5101"));
        assert_eq!(e.properties.get("product").map(String::as_str), Some("Platform"));
        assert!(!e.properties.contains_key("email"), "identity is not a segment");
        assert_eq!(normalise(&incoming(&h, &body)).unwrap().event_id, e.event_id);
        let flat = br#"{"email":"lee@example.com","objectId":7}"#;
        assert_eq!(normalise(&incoming(&h, flat)).unwrap().transaction_id.as_deref(), Some("7"));
    }
}

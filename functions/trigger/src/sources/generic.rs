//! Our own documented format, for any system that can POST signed JSON (docs/webhooks.md).
//!
//! Header `X-Nps-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.

use std::time::Duration;

use hmac::Mac;
use nps_domain::Timestamp;
use nps_domain::crypto::hmac_sha256;
use nps_domain::intake::{EventError, TriggerEvent};
use nps_domain::survey::SurveyId;
use serde::Deserialize;
use serde_json::Value;

use super::{Incoming, SignatureError, signature_pairs, within_window};

pub const HEADER: &str = "x-nps-signature";
const MAX_DELAY: Duration = Duration::from_secs(90 * 86_400);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    event_id: String,
    email: String,
    name: Option<String>,
    locale: Option<String>,
    survey: Option<String>,
    transaction_id: Option<String>,
    occurred_at: Option<String>,
    send_at: Option<String>,
    delay: Option<Value>,
    properties: Option<serde_json::Map<String, Value>>,
}

pub fn verify(req: &Incoming, secret: &[u8], now: Timestamp) -> Result<(), SignatureError> {
    let header = req.header(HEADER).ok_or(SignatureError::Missing("X-Nps-Signature"))?;
    let pairs = signature_pairs(header);
    let t =
        pairs.iter().find(|(k, _)| *k == "t").map(|(_, v)| *v).ok_or(SignatureError::Malformed("X-Nps-Signature"))?;
    let signed_at: i64 = t.parse().map_err(|_| SignatureError::Malformed("X-Nps-Signature"))?;
    let v1 =
        pairs.iter().find(|(k, _)| *k == "v1").map(|(_, v)| *v).ok_or(SignatureError::Malformed("X-Nps-Signature"))?;
    let signature = hex::decode(v1).map_err(|_| SignatureError::Malformed("X-Nps-Signature"))?;
    if !within_window(signed_at, now) {
        return Err(SignatureError::Expired);
    }
    let mut mac = hmac_sha256(secret);
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(req.body);
    mac.verify_slice(&signature).map_err(|_| SignatureError::Mismatch)
}

/// Signs `body` as a sender must (used by the README's example and the tests).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    nps_domain::crypto::sign_timestamped(secret, t, body)
}

/// `3600` (seconds), or `"45s"`, `"30m"`, `"12h"`, `"7d"`; at most 90 days.
fn delay(value: &Value) -> Result<Duration, EventError> {
    let invalid = || EventError::invalid("delay", "seconds, or a number followed by s, m, h or d (at most 90 days)");
    let seconds = match value {
        Value::Number(n) => n.as_u64().ok_or_else(invalid)?,
        Value::String(s) if s.len() <= 12 => {
            let (digits, unit) = s.split_at(s.len().saturating_sub(1));
            let n: u64 = digits.parse().map_err(|_| invalid())?;
            let unit = match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                _ => return Err(invalid()),
            };
            n.checked_mul(unit).ok_or_else(invalid)?
        }
        _ => return Err(invalid()),
    };
    let d = Duration::from_secs(seconds);
    if d > MAX_DELAY {
        return Err(invalid());
    }
    Ok(d)
}

fn time(field: &'static str, value: Option<&str>) -> Result<Option<Timestamp>, EventError> {
    value
        .map(|v| Timestamp::parse_rfc3339(v).ok_or_else(|| EventError::invalid(field, "must be an RFC 3339 date-time")))
        .transpose()
}

pub fn normalise(req: &Incoming) -> Result<TriggerEvent, EventError> {
    let p: Payload = serde_json::from_slice(req.body).map_err(|e| EventError::invalid("body", e.to_string()))?;
    let event_id = super::event_id(&p.event_id)?;
    let survey = p
        .survey
        .as_deref()
        .map(|s| SurveyId::parse(s).map_err(|e| EventError::invalid("survey", e.to_string())))
        .transpose()?;
    let locale = super::strict_locale(p.locale.as_deref())?;
    let properties = super::strict_properties(p.properties)?;
    Ok(TriggerEvent {
        event_id,
        email: super::email(Some(&p.email))?,
        name: super::name(p.name.as_deref())?,
        locale,
        survey,
        transaction_id: super::transaction_id(p.transaction_id)?,
        occurred_at: time("occurred_at", p.occurred_at.as_deref())?,
        send_at: time("send_at", p.send_at.as_deref())?,
        delay: p.delay.as_ref().map(delay).transpose()?,
        properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::test_support::{fixture, headers};

    fn incoming<'a>(h: &'a lambda_http::http::HeaderMap, body: &'a [u8]) -> Incoming<'a> {
        crate::sources::test_support::incoming("generic", h, body)
    }

    const SECRET: &[u8] = b"generic-test-secret";

    #[test]
    fn a_correct_signature_inside_the_window_verifies() {
        let body = fixture("generic.json");
        let now = Timestamp::from_unix(1_800_000_000);
        let h = headers(&[(HEADER, &sign(SECRET, now.unix() - 299, &body))]);
        assert_eq!(verify(&incoming(&h, &body), SECRET, now), Ok(()));
    }

    #[test]
    fn wrong_secret_old_timestamp_changed_body_and_bad_headers_fail() {
        let body = fixture("generic.json");
        let now = Timestamp::from_unix(1_800_000_000);
        let good = sign(SECRET, now.unix(), &body);
        let h = headers(&[(HEADER, &sign(b"other", now.unix(), &body))]);
        assert_eq!(verify(&incoming(&h, &body), SECRET, now), Err(SignatureError::Mismatch));
        let h = headers(&[(HEADER, &sign(SECRET, now.unix() - 301, &body))]);
        assert_eq!(verify(&incoming(&h, &body), SECRET, now), Err(SignatureError::Expired));
        let h = headers(&[(HEADER, &good)]);
        let mut changed = body.clone();
        changed[10] ^= 1;
        assert_eq!(verify(&incoming(&h, &changed), SECRET, now), Err(SignatureError::Mismatch));
        let none = headers(&[]);
        assert_eq!(verify(&incoming(&none, &body), SECRET, now), Err(SignatureError::Missing("X-Nps-Signature")));
        for bad in ["v1=abc", "t=1", "t=x,v1=00", "t=1800000000,v1=zz"] {
            let h = headers(&[(HEADER, bad)]);
            assert_eq!(
                verify(&incoming(&h, &body), SECRET, now),
                Err(SignatureError::Malformed("X-Nps-Signature")),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_documented_payload_normalises() {
        let body = fixture("generic.json");
        let h = headers(&[]);
        let e = normalise(&incoming(&h, &body)).unwrap();
        assert_eq!(e.event_id, "evt_2026_11_23_0001");
        assert_eq!(e.email.as_str(), "ana.garcia@example.com");
        assert_eq!(e.name.as_deref(), Some("Ana"));
        assert_eq!(e.locale, Some(nps_domain::survey::Locale::Es));
        assert_eq!(e.transaction_id.as_deref(), Some("order-10023"));
        assert_eq!(e.delay, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(e.occurred_at, Timestamp::parse_rfc3339("2026-11-23T10:15:00Z"));
        assert_eq!(e.properties.get("product").map(String::as_str), Some("Trail Boots"));
        assert_eq!(e.properties.get("amount").map(String::as_str), Some("129.9"));
    }

    #[test]
    fn bad_fields_are_named() {
        let h = headers(&[]);
        let cases: &[(&str, &str)] = &[
            (r#"{"email":"a@example.com"}"#, "body"),
            (r#"{"event_id":"e","email":"not-an-email"}"#, "email"),
            (r#"{"event_id":"e","email":"a@example.com","delay":"7w"}"#, "delay"),
            (r#"{"event_id":"e","email":"a@example.com","delay":99999999}"#, "delay"),
            (r#"{"event_id":"e","email":"a@example.com","locale":"pt"}"#, "locale"),
            (r#"{"event_id":"e","email":"a@example.com","survey":"Bad Id"}"#, "survey"),
            (r#"{"event_id":"e","email":"a@example.com","send_at":"tomorrow"}"#, "send_at"),
            (r#"{"event_id":"e","email":"a@example.com","properties":{"a":{"b":1}}}"#, "properties"),
            (r#"{"event_id":"e","email":"a@example.com","surprise":1}"#, "body"),
            (r#"{"event_id":"a b","email":"a@example.com"}"#, "event_id"),
            ("[1,2", "body"),
        ];
        for (body, field) in cases {
            let err = normalise(&incoming(&h, body.as_bytes())).unwrap_err();
            assert_eq!(err.field(), *field, "{body}: {err}");
        }
    }
}

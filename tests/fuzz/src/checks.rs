//! What each fuzz target checks, on any input: nothing panics, and what the input claims holds.
//! The fuzz targets (`tests/fuzz`, nightly-only libFuzzer, `make fuzz`) and the regression test
//! (`tests/fuzz_regressions.rs`, every `make test`) both run these.

use lambda_http::http::{HeaderMap, HeaderName, HeaderValue};
use nps_domain::Timestamp;
use nps_domain::request::RequestId;
use nps_domain::token::{self, TokenKeys};
use trigger::sources::{Incoming, Source, generic, hubspot, shopify, stripe};

const NOW: i64 = 1_795_392_000;
const SECRET: &[u8] = b"fuzz-webhook-secret-0123456789";

/// The first byte picks a source; the rest is `<header value>\n<body>`. Any signature header the
/// input carries is checked and refused or accepted without a panic; the body, signed properly,
/// always verifies; and normalising never panics.
pub fn webhooks(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let source = Source::ALL[usize::from(selector) % Source::ALL.len()];
    let split = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let (header, body) = (&rest[..split], rest.get(split + 1..).unwrap_or_default());
    let now = Timestamp::from_unix(NOW);
    let url = "https://nps.example/v1/triggers/hubspot";
    let name = match source {
        Source::Generic => generic::HEADER,
        Source::Shopify => shopify::HMAC_HEADER,
        Source::Stripe => stripe::HEADER,
        Source::Hubspot => hubspot::SIGNATURE_HEADER,
    };
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(header) {
        headers.insert(HeaderName::from_static(name), value.clone());
        // Shopify's topic and id, HubSpot's timestamp: the same text, so their parsers see it too.
        for other in [shopify::TOPIC_HEADER, shopify::WEBHOOK_ID_HEADER, hubspot::TIMESTAMP_HEADER] {
            headers.insert(HeaderName::from_static(other), value.clone());
        }
    }
    let incoming = Incoming { method: "POST", url, headers: &headers, body };
    let _ = source.verify(&incoming, SECRET, now);
    let _ = source.normalise(&incoming);

    let mut signed = HeaderMap::new();
    let pairs: Vec<(&'static str, String)> = match source {
        Source::Generic => vec![(generic::HEADER, generic::sign(SECRET, NOW, body))],
        Source::Shopify => vec![(shopify::HMAC_HEADER, shopify::sign(SECRET, body))],
        Source::Stripe => vec![(stripe::HEADER, stripe::sign(SECRET, NOW, body))],
        Source::Hubspot => vec![
            (hubspot::SIGNATURE_HEADER, hubspot::sign(SECRET, "POST", url, body, NOW * 1000)),
            (hubspot::TIMESTAMP_HEADER, (NOW * 1000).to_string()),
        ],
    };
    for (name, value) in pairs {
        signed.insert(HeaderName::from_static(name), HeaderValue::from_str(&value).expect("our signatures are ASCII"));
    }
    let incoming = Incoming { method: "POST", url, headers: &signed, body };
    assert_eq!(source.verify(&incoming, SECRET, now), Ok(()), "{} refused its own signature", source.name());
    let _ = source.normalise(&incoming);
}

/// Any text as a link token: refused or verified without a panic; and a token we sign for the
/// input's request time always verifies to that request.
pub fn tokens(data: &[u8]) {
    let keys = TokenKeys::parse("2:fuzz-token-key-that-is-long-enough-0123,1:the-older-key-that-is-long-enough-01")
        .expect("valid keys");
    let now = Timestamp::from_unix(NOW);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = token::verify(&keys, text, now);
    }
    let at = data.iter().take(5).fold(0i64, |acc, b| acc * 256 + i64::from(*b));
    let id = RequestId::new(Timestamp::from_unix(at));
    let signed = token::sign(&keys, id, Timestamp::from_unix(NOW + 86_400));
    let claims = token::verify(&keys, &signed, now).expect("our own token verifies");
    assert_eq!(claims.request_id, id);
}

/// Any text as the query of `/v1/metrics`, `/v1/responses` and `/dashboard`: parsed or refused
/// with a 400 naming a parameter, never a panic.
pub fn queries(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        api::check_queries(text);
    }
}

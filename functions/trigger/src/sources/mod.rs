//! Webhook sources. Each verifies its sender's signature over the raw body (constant time) and
//! normalises its payload to one [`TriggerEvent`].

pub mod generic;
pub mod hubspot;
pub mod shopify;
pub mod stripe;

use std::collections::BTreeMap;

use lambda_http::http::HeaderMap;
use nps_domain::intake::{
    EventError, MAX_NAME_LEN, MAX_PROPERTIES, MAX_TRANSACTION_ID_LEN, TriggerEvent, bounded_text, property,
};
use nps_domain::survey::Locale;
use nps_domain::{EmailAddress, Timestamp};
use serde_json::Value;

/// A signed timestamp may be this far from now, either way.
pub const SIGNATURE_WINDOW_SECS: i64 = 300;

/// What a source sees of a request.
pub struct Incoming<'a> {
    pub method: &'a str,
    /// The URL the sender called, as it signed it (HubSpot signs it).
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl Incoming<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Generic,
    Shopify,
    Stripe,
    Hubspot,
}

/// Why a signature was refused (answered 401, nothing written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    #[error("the signed timestamp is outside the 5-minute window")]
    Expired,
    #[error("the signature does not match the body")]
    Mismatch,
}

impl Source {
    pub const ALL: [Source; 4] = [Source::Generic, Source::Shopify, Source::Stripe, Source::Hubspot];

    pub fn name(self) -> &'static str {
        match self {
            Source::Generic => "generic",
            Source::Shopify => "shopify",
            Source::Stripe => "stripe",
            Source::Hubspot => "hubspot",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Source::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn verify(self, req: &Incoming, secret: &[u8], now: Timestamp) -> Result<(), SignatureError> {
        match self {
            Source::Generic => generic::verify(req, secret, now),
            Source::Shopify => shopify::verify(req, secret),
            Source::Stripe => stripe::verify(req, secret, now),
            Source::Hubspot => hubspot::verify(req, secret, now),
        }
    }

    pub fn normalise(self, req: &Incoming) -> Result<TriggerEvent, EventError> {
        match self {
            Source::Generic => generic::normalise(req),
            Source::Shopify => shopify::normalise(req),
            Source::Stripe => stripe::normalise(req),
            Source::Hubspot => hubspot::normalise(req),
        }
    }
}

/// `t=…,v1=…` pairs (Stripe's and our generic header), in order.
pub(crate) fn signature_pairs(header: &str) -> Vec<(&str, &str)> {
    header.split(',').filter_map(|pair| pair.trim().split_once('=')).collect()
}

pub(crate) fn within_window(signed_at: i64, now: Timestamp) -> bool {
    (now.unix() - signed_at).abs() <= SIGNATURE_WINDOW_SECS
}

pub(crate) fn parse_json(body: &[u8]) -> Result<Value, EventError> {
    serde_json::from_slice(body).map_err(|e| EventError::invalid("body", format!("not valid JSON: {e}")))
}

/// The first string found at any of `paths` (each a list of object keys).
pub(crate) fn first_str<'a>(value: &'a Value, paths: &[&[&str]]) -> Option<&'a str> {
    paths.iter().find_map(|path| {
        path.iter().try_fold(value, |v, key| v.get(key)).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
    })
}

/// A scalar as text: strings as they are, numbers and booleans written out.
pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The sender's event id: 1 to 256 visible ASCII characters (the idempotency key's rule).
pub(crate) fn event_id(raw: &str) -> Result<String, EventError> {
    let id = raw.trim();
    if (1..=256).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(id.to_owned())
    } else {
        Err(EventError::invalid("event_id", "must be 1 to 256 visible ASCII characters"))
    }
}

pub(crate) fn email(raw: Option<&str>) -> Result<EmailAddress, EventError> {
    let raw = raw.ok_or_else(|| EventError::invalid("email", "is required"))?;
    EmailAddress::parse(raw).map_err(|e| EventError::invalid("email", e.to_string()))
}

pub(crate) fn name(raw: Option<&str>) -> Result<Option<String>, EventError> {
    raw.map(|n| bounded_text("name", n, MAX_NAME_LEN)).transpose().map(|n| n.filter(|n| !n.is_empty()))
}

pub(crate) fn transaction_id(raw: Option<String>) -> Result<Option<String>, EventError> {
    raw.map(|t| bounded_text("transaction_id", &t, MAX_TRANSACTION_ID_LEN))
        .transpose()
        .map(|t| t.filter(|t| !t.is_empty()))
}

/// A locale from a language tag; a language we do not have falls back to the survey's.
pub(crate) fn locale(raw: Option<&str>) -> Option<Locale> {
    raw.and_then(Locale::from_tag)
}

/// Properties in our own formats (the generic webhook, the people API) are strict: at most
/// [`MAX_PROPERTIES`] flat values, each one checked.
pub(crate) fn strict_properties(
    raw: Option<serde_json::Map<String, Value>>,
) -> Result<BTreeMap<String, String>, EventError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_PROPERTIES {
        return Err(EventError::invalid("properties", format!("at most {MAX_PROPERTIES} properties")));
    }
    raw.iter()
        .map(|(k, v)| {
            let text = scalar_text(v)
                .ok_or_else(|| EventError::invalid("properties", "values must be strings, numbers or booleans"))?;
            property(k, &text)
        })
        .collect()
}

/// A locale in our own formats: a language we do not have is an error, not a fallback.
pub(crate) fn strict_locale(tag: Option<&str>) -> Result<Option<Locale>, EventError> {
    tag.map(|t| Locale::from_tag(t).ok_or_else(|| EventError::invalid("locale", "must be one of en, de, fr, es")))
        .transpose()
}

/// Properties from a vendor payload: what does not fit (too long, nested) is left out rather
/// than refusing the whole webhook, and at most [`MAX_PROPERTIES`] are kept.
pub(crate) fn vendor_properties<'a>(
    pairs: impl IntoIterator<Item = (&'a str, Option<String>)>,
) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| property(k, &v?).ok())
        .filter(|(_, v)| !v.is_empty())
        .take(MAX_PROPERTIES)
        .collect()
}

#[cfg(test)]
pub(crate) mod test_support {
    use lambda_http::http::{HeaderMap, HeaderName, HeaderValue};

    pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    pub fn incoming<'a>(source: &str, h: &'a HeaderMap, body: &'a [u8]) -> super::Incoming<'a> {
        let url: &'static str = match source {
            "generic" => "https://nps.example/v1/triggers/generic",
            "shopify" => "https://nps.example/v1/triggers/shopify",
            "stripe" => "https://nps.example/v1/triggers/stripe",
            _ => "https://nps.example/v1/triggers/hubspot",
        };
        super::Incoming { method: "POST", url, headers: h, body }
    }

    pub fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

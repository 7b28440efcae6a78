use hmac::{Hmac, KeyInit};
use sha2::Sha256;

/// HMAC-SHA256 keyed with `key`, of any length (as the vendors' schemes require).
pub fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of every length (longer ones are hashed), so this cannot fail.
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: how our inbound generic webhooks are
/// signed, and how our outbound ones (alerts, response events) sign theirs.
pub fn sign_timestamped(secret: &[u8], t: i64, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac_sha256(secret);
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

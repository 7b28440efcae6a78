use hmac::{Hmac, KeyInit};
use sha2::Sha256;

/// HMAC-SHA256 keyed with `key`, of any length (as the vendors' schemes require).
pub fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of every length (longer ones are hashed), so this cannot fail.
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
}

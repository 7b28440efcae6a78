//! The survey token in every link of a survey email (`/r/{token}`, `/u/{token}`).
//!
//! Layout, before base64url (no padding): version (1 byte, = 1) · key id (1) · request id (16) ·
//! expiry (4, big-endian Unix seconds) · tag (16: HMAC-SHA256 over "nps-survey-token" and the
//! 22 bytes before it, truncated). 38 bytes, 51 characters. It names a survey request and nothing
//! else: no address, no name, no score. Keys rotate by id: the first key signs, all verify.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Timestamp;
use crate::request::RequestId;

const VERSION: u8 = 1;
const BODY_LEN: usize = 22;
const TAG_LEN: usize = 16;
const TOKEN_LEN: usize = BODY_LEN + TAG_LEN;
/// Length of the encoded token.
pub const ENCODED_LEN: usize = 51;
const CONTEXT: &[u8] = b"nps-survey-token";

#[derive(Clone)]
pub struct TokenKey {
    pub id: u8,
    secret: Vec<u8>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKey({}, <secret>)", self.id)
    }
}

/// The signing key first, then older keys still accepted.
#[derive(Debug, Clone)]
pub struct TokenKeys(Vec<TokenKey>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenKeysError {
    #[error("token keys are `id:secret` pairs separated by commas, id 0-255, secret at least 32 characters")]
    Format,
    #[error("token key ids must be unique")]
    Duplicate,
}

impl TokenKeys {
    /// Parses `NPS_TOKEN_KEYS`: `2:<secret>,1:<older secret>` (the first signs, all verify). A
    /// bare secret alone is key 1: the form Secrets Manager generates at the first deploy, so the
    /// secret itself holds the list and rotating it needs no change to the template.
    pub fn parse(spec: &str) -> Result<Self, TokenKeysError> {
        let mut keys: Vec<TokenKey> = Vec::new();
        let spec = spec.trim();
        let bare = format!("1:{spec}");
        let spec = if spec.contains([':', ',']) { spec } else { bare.as_str() };
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, secret) = pair.split_once(':').ok_or(TokenKeysError::Format)?;
            let id: u8 = id.parse().map_err(|_| TokenKeysError::Format)?;
            if secret.len() < 32 {
                return Err(TokenKeysError::Format);
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(TokenKeysError::Duplicate);
            }
            keys.push(TokenKey { id, secret: secret.as_bytes().to_vec() });
        }
        if keys.is_empty() {
            return Err(TokenKeysError::Format);
        }
        Ok(TokenKeys(keys))
    }

    fn signing(&self) -> &TokenKey {
        &self.0[0]
    }

    fn find(&self, id: u8) -> Option<&TokenKey> {
        self.0.iter().find(|k| k.id == id)
    }
}

fn mac(key: &TokenKey, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = crate::crypto::hmac_sha256(&key.secret);
    mac.update(CONTEXT);
    mac.update(body);
    mac
}

/// What a valid token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenClaims {
    pub request_id: RequestId,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token was signed with a key that is no longer accepted")]
    UnknownKey,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token has expired")]
    Expired,
}

pub fn sign(keys: &TokenKeys, request_id: RequestId, expires_at: Timestamp) -> String {
    let key = keys.signing();
    let expiry = u32::try_from(expires_at.unix().max(0)).unwrap_or(u32::MAX);
    let mut bytes = Vec::with_capacity(TOKEN_LEN);
    bytes.push(VERSION);
    bytes.push(key.id);
    bytes.extend_from_slice(&request_id.to_bytes());
    bytes.extend_from_slice(&expiry.to_be_bytes());
    let tag = mac(key, &bytes).finalize().into_bytes();
    bytes.extend_from_slice(&tag[..TAG_LEN]);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn verify(keys: &TokenKeys, token: &str, now: Timestamp) -> Result<TokenClaims, TokenError> {
    if token.len() != ENCODED_LEN {
        return Err(TokenError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| TokenError::Malformed)?;
    if bytes.len() != TOKEN_LEN || bytes[0] != VERSION {
        return Err(TokenError::Malformed);
    }
    let (body, tag) = bytes.split_at(BODY_LEN);
    let key = keys.find(body[1]).ok_or(TokenError::UnknownKey)?;
    mac(key, body).verify_truncated_left(tag).map_err(|_| TokenError::BadSignature)?;
    let request_id = RequestId::from_bytes(body[2..18].try_into().map_err(|_| TokenError::Malformed)?);
    let expiry = u32::from_be_bytes(body[18..22].try_into().map_err(|_| TokenError::Malformed)?);
    let expires_at = Timestamp::from_unix(i64::from(expiry));
    if now > expires_at {
        return Err(TokenError::Expired);
    }
    Ok(TokenClaims { request_id, expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_A: &str = "a-test-secret-that-is-long-enough-0001";
    const SECRET_B: &str = "b-test-secret-that-is-long-enough-0002";

    fn setup() -> (TokenKeys, RequestId, Timestamp) {
        let keys = TokenKeys::parse(&format!("1:{SECRET_A}")).unwrap();
        let now = Timestamp::from_unix(1_800_000_000);
        (keys, RequestId::new(now), now)
    }

    #[test]
    fn a_token_names_its_request_until_it_expires() {
        let (keys, id, now) = setup();
        let expires = now.plus(std::time::Duration::from_secs(86_400));
        let token = sign(&keys, id, expires);
        assert_eq!(token.len(), ENCODED_LEN);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "URL-safe");
        assert_eq!(verify(&keys, &token, now), Ok(TokenClaims { request_id: id, expires_at: expires }));
        assert_eq!(verify(&keys, &token, expires), Ok(TokenClaims { request_id: id, expires_at: expires }));
        assert_eq!(verify(&keys, &token, expires.plus(std::time::Duration::from_secs(1))), Err(TokenError::Expired));
    }

    #[test]
    fn any_changed_character_fails() {
        let (keys, id, now) = setup();
        let token = sign(&keys, id, now.plus(std::time::Duration::from_secs(60)));
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for i in 0..token.len() {
            for replacement in alphabet.chars().filter(|&c| Some(c) != token.chars().nth(i)).take(3) {
                let mut forged: Vec<char> = token.chars().collect();
                forged[i] = replacement;
                let forged: String = forged.into_iter().collect();
                assert!(verify(&keys, &forged, now).is_err(), "position {i} -> {replacement} verified");
            }
        }
        assert_eq!(verify(&keys, "", now), Err(TokenError::Malformed));
        assert_eq!(verify(&keys, &token[1..], now), Err(TokenError::Malformed));
        assert_eq!(verify(&keys, &format!("{token}A"), now), Err(TokenError::Malformed));
    }

    #[test]
    fn keys_rotate_old_tokens_still_verify_until_their_key_is_dropped() {
        let (old_keys, id, now) = setup();
        let expires = now.plus(std::time::Duration::from_secs(60));
        let old_token = sign(&old_keys, id, expires);
        let rotated = TokenKeys::parse(&format!("2:{SECRET_B},1:{SECRET_A}")).unwrap();
        assert!(verify(&rotated, &old_token, now).is_ok());
        let new_token = sign(&rotated, id, expires);
        assert_ne!(new_token, old_token);
        assert!(verify(&rotated, &new_token, now).is_ok());
        let dropped = TokenKeys::parse(&format!("2:{SECRET_B}")).unwrap();
        assert_eq!(verify(&dropped, &old_token, now), Err(TokenError::UnknownKey));
        // Same id, different secret: a key cannot be swapped silently.
        let swapped = TokenKeys::parse(&format!("1:{SECRET_B}")).unwrap();
        assert_eq!(verify(&swapped, &old_token, now), Err(TokenError::BadSignature));
    }

    #[test]
    fn key_specs_are_validated() {
        assert!(TokenKeys::parse("").is_err());
        assert!(TokenKeys::parse("1:short").is_err());
        assert!(TokenKeys::parse(&format!("x:{SECRET_A}")).is_err());
        assert_eq!(TokenKeys::parse(&format!("1:{SECRET_A},1:{SECRET_B}")).unwrap_err(), TokenKeysError::Duplicate);
        assert!(TokenKeys::parse("short-and-bare").is_err());
    }

    #[test]
    fn a_bare_secret_is_key_1_and_the_secret_can_grow_into_a_list() {
        // As Secrets Manager generates it at the first deploy; rotating writes a list into it.
        let (keys, id, now) = setup();
        let token = sign(&keys, id, now.plus(std::time::Duration::from_secs(60)));
        let generated = TokenKeys::parse(SECRET_A).unwrap();
        assert!(verify(&generated, &token, now).is_ok());
        assert_eq!(sign(&generated, id, now.plus(std::time::Duration::from_secs(60))), token);
        let rotated = TokenKeys::parse(&format!("2:{SECRET_B},1:{SECRET_A}")).unwrap();
        assert!(verify(&rotated, &token, now).is_ok());
    }
}

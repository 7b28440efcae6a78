//! A person is known by a keyed hash of their address: table keys and logs carry the hash, and
//! nobody can look an address up without the deployment's key.

use std::fmt;

use hmac::Mac;

use crate::EmailAddress;

#[derive(Clone)]
pub struct PersonKey(Vec<u8>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the person key must be at least 32 characters")]
pub struct PersonKeyError;

impl PersonKey {
    pub fn new(secret: &str) -> Result<Self, PersonKeyError> {
        (secret.len() >= 32).then(|| PersonKey(secret.as_bytes().to_vec())).ok_or(PersonKeyError)
    }
}

impl fmt::Debug for PersonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonKey(<secret>)")
    }
}

/// 32 hex characters (128 bits of HMAC-SHA256 over the lower-cased address).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId(String);

impl PersonId {
    pub fn derive(key: &PersonKey, email: &EmailAddress) -> Self {
        let mut mac = crate::crypto::hmac_sha256(&key.0);
        mac.update(b"nps-person:");
        mac.update(email.identity().as_bytes());
        PersonId(hex::encode(&mac.finalize().into_bytes()[..16]))
    }

    /// For ids read back from storage.
    pub fn from_stored(s: &str) -> Option<Self> {
        (s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| PersonId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_person_whatever_the_case_and_nothing_of_the_address_shows() {
        let key = PersonKey::new("a-person-key-that-is-long-enough-123").unwrap();
        let a = PersonId::derive(&key, &EmailAddress::parse("Jane@Example.com").unwrap());
        let b = PersonId::derive(&key, &EmailAddress::parse("jane@example.com").unwrap());
        assert_eq!(a, b);
        assert!(!a.as_str().contains("jane"));
        let other_key = PersonKey::new("another-person-key-long-enough-4567").unwrap();
        assert_ne!(a, PersonId::derive(&other_key, &EmailAddress::parse("jane@example.com").unwrap()));
        assert_eq!(PersonId::from_stored(a.as_str()), Some(a));
        assert!(PersonKey::new("short").is_err());
    }
}

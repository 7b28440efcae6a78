//! API keys: `APIKEY` / `<key id>`. The key is shown once, as `nps_<key id>_<secret>` (43
//! characters: 16 hex digits, then 128 random bits in 22 base64url characters, short enough that
//! a Basic credential `<key>:` fits the 45 bytes Ruby's `pack('m')` encodes without a line break;
//! keys made before that have a 32-hex-digit secret and keep working); only the SHA-256 of the
//! secret is stored, and a presented key is compared in constant time.
//!
//! A dashboard session is `<key id>.<expires, unix>.<hex HMAC-SHA256>`, the HMAC keyed with the
//! stored hash of the key's secret: it proves the key was presented, ends on its own, ends with
//! the key's revocation, and needs no secret of its own nor a write per sign-in.

use hmac::Mac;
use nps_domain::crypto::hmac_sha256;
use nps_domain::{StoreError, Timestamp};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Table;
use super::item::{Attrs, key_item, n, s};
use super::keys::{ItemKey, attr};

const SECRET_SHA256: &str = "secret_sha256";
const SCOPE: &str = "scope";
const NAME: &str = "name";
const CREATED_AT: &str = "created_at";
const REVOKED_AT: &str = "revoked_at";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    /// Read and write (write includes read).
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Scope::Read, Scope::Write].into_iter().find(|scope| scope.as_str() == s)
    }

    pub fn allows(self, needed: Scope) -> bool {
        self == Scope::Write || needed == Scope::Read
    }
}

/// A key that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    /// What the operator called it: who made a change, in a follow-up's history.
    pub name: String,
    pub scope: Scope,
}

/// A key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub scope: Scope,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct DynamoApiKeys {
    table: Table,
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Splits `nps_<16 hex>_<22 base64url>` (or an older key's `_<32 hex>`); anything else is not a key.
fn parse_presented(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix("nps_")?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let base64url = |s: &str| s.len() == 22 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (hex(id, 16) && (hex(secret, 32) || base64url(secret))).then_some((id, secret))
}

/// 128 random bits as 22 base64url characters (no padding).
fn new_secret() -> Result<String, StoreError> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits = random_u128()?;
    // 22 six-bit digits hold 132 bits: the last digit carries the 2 remaining bits.
    Ok((0..22).map(|i| char::from(ALPHABET[((bits >> (6 * i)) & 63) as usize])).collect())
}

/// What a signed token opens: a dashboard session (the cookie), or a sign-in link that trades
/// itself for one. Each is signed for its purpose, so neither passes for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Session,
    Link,
}

/// The HMAC of a token of key `id` ending at `expires`, keyed with the key's stored secret hash.
fn session_mac(purpose: Purpose, secret_sha256: &str, id: &str, expires: i64) -> String {
    let label = match purpose {
        Purpose::Session => "dashboard-session",
        Purpose::Link => "dashboard-link",
    };
    let mut mac = hmac_sha256(secret_sha256.as_bytes());
    mac.update(format!("{label}|{id}|{expires}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `<key id>.<expiry>.<mac>`.
fn signed(purpose: Purpose, secret_sha256: &str, id: &str, expires: Timestamp) -> String {
    format!("{id}.{}.{}", expires.unix(), session_mac(purpose, secret_sha256, id, expires.unix()))
}

/// Splits `<16 hex>.<digits>.<64 hex>`; anything else is not a session.
fn parse_session(token: &str) -> Option<(&str, i64, &str)> {
    let mut parts = token.split('.');
    let (id, expires, mac) = (parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let expires_ok = (1..=12).contains(&expires.len()) && expires.bytes().all(|b| b.is_ascii_digit());
    if parts.next().is_some() || !hex(id, 16) || !hex(mac, 64) || !expires_ok {
        return None;
    }
    Some((id, expires.parse().ok()?, mac))
}

impl DynamoApiKeys {
    pub fn new(table: Table) -> Self {
        DynamoApiKeys { table }
    }

    /// Creates a key and returns it whole: the only time it can be seen.
    pub async fn create(&self, scope: Scope, name: &str, now: Timestamp) -> Result<(ApiKey, String), StoreError> {
        let id = format!("{:016x}", fastrand::u64(..));
        let secret = new_secret()?;
        let mut item = key_item(ItemKey::api_key(&id));
        item.extend([
            (SECRET_SHA256.to_owned(), s(secret_hash(&secret))),
            (SCOPE.to_owned(), s(scope.as_str())),
            (NAME.to_owned(), s(name)),
            (CREATED_AT.to_owned(), n(now.unix())),
        ]);
        if !self.table.put_new(item).await? {
            return Err(StoreError::Malformed(format!("API key id {id} exists already")));
        }
        Ok((ApiKey { id: id.clone(), name: name.to_owned(), scope }, format!("nps_{id}_{secret}")))
    }

    /// The key, if `presented` is a live key; `None` for anything else.
    pub async fn verify(&self, presented: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(self.live(presented).await?.map(|(key, _)| key))
    }

    /// The key and its stored secret hash, if `presented` is a live key.
    async fn live(&self, presented: &str) -> Result<Option<(ApiKey, String)>, StoreError> {
        let Some((id, secret)) = parse_presented(presented) else { return Ok(None) };
        let Some(item) = self.table.get(ItemKey::api_key(id), false).await? else { return Ok(None) };
        let a = Attrs(&item);
        let stored = a.s(SECRET_SHA256)?;
        let matches: bool = secret_hash(secret).as_bytes().ct_eq(stored.as_bytes()).into();
        if !matches || a.opt_n(REVOKED_AT)?.is_some() {
            return Ok(None);
        }
        let scope = Scope::parse(a.s(SCOPE)?).ok_or_else(|| StoreError::Malformed("unknown API key scope".into()))?;
        let name = a.opt_s(NAME).unwrap_or_default().to_owned();
        Ok(Some((ApiKey { id: id.to_owned(), name, scope }, stored.to_owned())))
    }

    /// A session token for `presented`, valid until `expires`, if it is a live key.
    pub async fn open_session(
        &self,
        presented: &str,
        expires: Timestamp,
    ) -> Result<Option<(ApiKey, String)>, StoreError> {
        let Some((key, secret_sha256)) = self.live(presented).await? else { return Ok(None) };
        let token = signed(Purpose::Session, &secret_sha256, &key.id, expires);
        Ok(Some((key, token)))
    }

    /// A sign-in link token for `presented`, valid until `expires`, if it is a live key: it opens a
    /// session once presented to the dashboard, and nothing else.
    pub async fn open_link(&self, presented: &str, expires: Timestamp) -> Result<Option<String>, StoreError> {
        let Some((key, secret_sha256)) = self.live(presented).await? else { return Ok(None) };
        Ok(Some(signed(Purpose::Link, &secret_sha256, &key.id, expires)))
    }

    /// The key behind a session token, if the token is ours, has not ended and its key is live.
    pub async fn verify_session(&self, token: &str, now: Timestamp) -> Result<Option<ApiKey>, StoreError> {
        Ok(self.verified(Purpose::Session, token, now).await?.map(|(key, _)| key))
    }

    /// A session token ending at `expires` for the key behind a sign-in `link`, if the link is
    /// ours, has not ended, its key is live, and it was never used: a link works once (one
    /// conditional write, kept until the link would have ended), so a link seen later in a
    /// browser's history, a log or a forwarded message opens nothing.
    pub async fn session_from_link(
        &self,
        link: &str,
        now: Timestamp,
        expires: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        let Some((key, secret_sha256)) = self.verified(Purpose::Link, link, now).await? else { return Ok(None) };
        let link_ends = parse_session(link).map_or(now.unix(), |(_, ends, _)| ends);
        let mut used = key_item(ItemKey::used_link(&hex::encode(Sha256::digest(link.as_bytes()))));
        used.insert(attr::EXPIRES_AT.to_owned(), n(link_ends));
        if !self.table.put_new(used).await? {
            return Ok(None);
        }
        Ok(Some(signed(Purpose::Session, &secret_sha256, &key.id, expires)))
    }

    async fn verified(
        &self,
        purpose: Purpose,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<(ApiKey, String)>, StoreError> {
        let Some((id, expires, mac)) = parse_session(token) else { return Ok(None) };
        if expires <= now.unix() {
            return Ok(None);
        }
        let Some(item) = self.table.get(ItemKey::api_key(id), false).await? else { return Ok(None) };
        let a = Attrs(&item);
        let stored = a.s(SECRET_SHA256)?;
        let expected = session_mac(purpose, stored, id, expires);
        let matches: bool = expected.as_bytes().ct_eq(mac.to_ascii_lowercase().as_bytes()).into();
        if !matches || a.opt_n(REVOKED_AT)?.is_some() {
            return Ok(None);
        }
        let scope = Scope::parse(a.s(SCOPE)?).ok_or_else(|| StoreError::Malformed("unknown API key scope".into()))?;
        let name = a.opt_s(NAME).unwrap_or_default().to_owned();
        Ok(Some((ApiKey { id: id.to_owned(), name, scope }, stored.to_owned())))
    }

    /// Every key, live or revoked, without its secret (only a hash of it is stored).
    pub async fn list(&self) -> Result<Vec<KeyInfo>, StoreError> {
        let out = self.table.query(self.table.partition(ItemKey::api_key("").pk)).await?;
        out.items()
            .iter()
            .map(|item| {
                let a = Attrs(item);
                Ok(KeyInfo {
                    id: a.s(attr::SK)?.to_owned(),
                    name: a.s(NAME)?.to_owned(),
                    scope: Scope::parse(a.s(SCOPE)?)
                        .ok_or_else(|| StoreError::Malformed("unknown API key scope".into()))?,
                    created_at: a.time(CREATED_AT)?,
                    revoked_at: a.opt_time(REVOKED_AT)?,
                })
            })
            .collect()
    }

    /// Revokes a key at once (`false`: no key has that id).
    pub async fn revoke(&self, id: &str, now: Timestamp) -> Result<bool, StoreError> {
        let out = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(key_item(ItemKey::api_key(id))))
            .update_expression("SET #revoked = :now")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#revoked", REVOKED_AT)
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_values(":now", n(now.unix()))
            .set_return_consumed_capacity(self.table.capacity())
            .send()
            .await;
        Ok(self.table.conditional(out, |o| o.consumed_capacity())?.is_some())
    }
}

/// 128 random bits from the operating system's generator: keys must be unguessable.
fn random_u128() -> Result<u128, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Rejected(format!("no secure random source: {e}").into()))?;
    Ok(u128::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_keys_are_looked_up() {
        assert_eq!(
            parse_presented("nps_0123456789abcdef_0123456789abcdef0123456789abcdef"),
            Some(("0123456789abcdef", "0123456789abcdef0123456789abcdef"))
        );
        for bad in ["", "nps_", "Bearer x", "nps_0123_4567", "nps_0123456789abcdeg_0123456789abcdef0123456789abcdef"] {
            assert_eq!(parse_presented(bad), None, "{bad}");
        }
        assert_eq!(parse_presented("nps_0123456789abcdef_AZaz09-_AZaz09-_AZaz09x"), None, "23 characters");
    }

    #[test]
    fn new_keys_are_short_enough_for_a_basic_credential() {
        for _ in 0..200 {
            let secret = new_secret().unwrap();
            let key = format!("nps_0123456789abcdef_{secret}");
            // Ruby's pack('m') breaks its output after 45 bytes of input: `<key>:` must fit.
            assert!(key.len() < 45, "{key}");
            assert_eq!(parse_presented(&key), Some(("0123456789abcdef", secret.as_str())));
        }
    }

    #[test]
    fn write_includes_read() {
        assert!(Scope::Write.allows(Scope::Read) && Scope::Write.allows(Scope::Write));
        assert!(Scope::Read.allows(Scope::Read) && !Scope::Read.allows(Scope::Write));
    }
}

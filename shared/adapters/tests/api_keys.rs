//! API keys and dashboard sessions against DynamoDB Local.

use nps_adapters::dynamo::{DynamoApiKeys, Scope, Table};
use nps_domain::Timestamp;
use nps_local_stack::testing::{dynamodb, fresh_table};

#[tokio::test]
async fn a_session_holds_until_it_ends_or_its_key_is_revoked() {
    let client = dynamodb().await;
    let keys = DynamoApiKeys::new(Table::new(client.clone(), fresh_table(&client, "api-keys").await));
    let now = Timestamp::from_unix(1_795_000_000);
    let ends = Timestamp::from_unix(now.unix() + 3600);
    let (key, presented) = keys.create(Scope::Read, "dashboard", now).await.unwrap();
    let (_, other) = keys.create(Scope::Write, "other", now).await.unwrap();

    let (opened, token) = keys.open_session(&presented, ends).await.unwrap().expect("a live key opens a session");
    assert_eq!(opened, key);
    assert!(!token.contains(&presented[21..]), "the token does not carry the secret");
    assert_eq!(keys.verify_session(&token, now).await.unwrap(), Some(key.clone()));
    assert_eq!(keys.verify_session(&token, ends).await.unwrap(), None, "ended");

    // Forged: another expiry, another key's id, a flipped digit, a key instead of a token.
    let (id, rest) = token.split_once('.').unwrap();
    let mac = rest.split_once('.').unwrap().1;
    let other_id = &other[4..20];
    let flipped = format!("{}{}", &token[..token.len() - 1], if token.ends_with('0') { '1' } else { '0' });
    for forged in [
        format!("{id}.{}.{mac}", ends.unix() + 86_400),
        format!("{other_id}.{}.{mac}", ends.unix()),
        flipped,
        presented.clone(),
        String::new(),
        format!("{id}.{}.{mac}.x", ends.unix()),
    ] {
        assert_eq!(keys.verify_session(&forged, now).await.unwrap(), None, "{forged}");
    }
    assert_eq!(keys.open_session("nps_0000000000000000_00000000000000000000000000000000", ends).await.unwrap(), None);

    assert!(keys.revoke(&key.id, now).await.unwrap());
    assert_eq!(keys.verify_session(&token, now).await.unwrap(), None, "revoking the key ends its sessions");
    assert_eq!(keys.open_session(&presented, ends).await.unwrap(), None);
}

//! The local table is the template's table: the one `make dev` and `make test` create must match
//! `template.yaml`, and so must every key and index name the adapters use.

use nps_adapters::dynamo::keys::{attr, index};
use nps_local_stack::testing::{dynamodb, local_endpoint};
use nps_local_stack::{TABLE_RESOURCE, describe_table, repo_template, table_from_template};

#[tokio::test]
async fn the_local_table_matches_the_template() {
    let name = std::env::var("NPS_TABLE").unwrap_or_else(|_| panic!("NPS_TABLE is not set: run through make test"));
    local_endpoint("AWS_ENDPOINT_URL_DYNAMODB");
    let template = table_from_template(&repo_template(), TABLE_RESOURCE).unwrap();
    let live = describe_table(&dynamodb().await, &name).await.unwrap();
    assert_eq!(live, template);
}

#[test]
fn the_adapters_use_the_template_names() {
    let template = table_from_template(&repo_template(), TABLE_RESOURCE).unwrap();
    let keys = |pairs: &[(String, String)]| pairs.iter().map(|(a, k)| (a.clone(), k.clone())).collect::<Vec<_>>();
    let pair = |a: &str, k: &str| (a.to_owned(), k.to_owned());

    assert_eq!(keys(&template.key_schema), vec![pair(attr::PK, "HASH"), pair(attr::SK, "RANGE")]);
    assert_eq!(
        keys(&template.global_indexes[index::OUTBOX].key_schema),
        vec![pair(attr::OUTBOX_PK, "HASH"), pair(attr::OUTBOX_SK, "RANGE")]
    );
    assert_eq!(
        keys(&template.global_indexes[index::LISTING].key_schema),
        vec![pair(attr::LISTING_PK, "HASH"), pair(attr::LISTING_SK, "RANGE")]
    );
    assert_eq!(template.global_indexes.len(), 2, "an index the adapters do not know of");
    assert_eq!(template.ttl_attribute.as_deref(), Some(attr::EXPIRES_AT));
}

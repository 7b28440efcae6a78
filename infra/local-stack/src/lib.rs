//! The local stack's DynamoDB tables come from `template.yaml`, never from a second copy:
//! [`table_from_template`] reads a table resource, [`create_table`] makes it in DynamoDB Local, and
//! [`describe_table`] reads a live table back into the same shape so the two can be compared.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification, TimeToLiveStatus,
};
use serde_norway::Value;

pub mod gateway;
pub mod pump;
pub mod testing;

/// The logical id of the one table in `template.yaml`.
pub const TABLE_RESOURCE: &str = "NpsTable";

/// Properties the local table is created with.
const LOCAL_PROPERTIES: &[&str] = &[
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "BillingMode",
    "StreamSpecification",
    "TimeToLiveSpecification",
];

/// Properties that matter only when deployed; DynamoDB Local does not support or need them.
const DEPLOY_ONLY_PROPERTIES: &[&str] =
    &["PointInTimeRecoverySpecification", "SSESpecification", "Tags", "DeletionProtectionEnabled", "TableName"];

/// What a table is, as far as the code that uses it can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    /// Attribute name → type (`S`, `N` or `B`).
    pub attributes: BTreeMap<String, String>,
    /// `(attribute, HASH|RANGE)` in order.
    pub key_schema: Vec<(String, String)>,
    pub global_indexes: BTreeMap<String, IndexDefinition>,
    pub billing_mode: String,
    pub stream_view_type: Option<String>,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDefinition {
    pub key_schema: Vec<(String, String)>,
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

/// The repository's `template.yaml`.
pub fn repo_template() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

/// Reads the `AWS::DynamoDB::Table` resource `logical_id` from a SAM/CloudFormation template.
pub fn table_from_template(template: &Path, logical_id: &str) -> Result<TableDefinition> {
    let text = std::fs::read_to_string(template).with_context(|| format!("reading {}", template.display()))?;
    table_from_template_text(&text, logical_id).with_context(|| format!("in {}", template.display()))
}

pub fn table_from_template_text(text: &str, logical_id: &str) -> Result<TableDefinition> {
    let doc: Value = serde_norway::from_str(text).context("template is not YAML")?;
    let resource = field(&doc, "Resources").and_then(|r| field(r, logical_id))?;
    ensure!(string(field(resource, "Type")?)? == "AWS::DynamoDB::Table", "{logical_id} is not a DynamoDB table");
    let props = field(resource, "Properties")?;
    let Value::Mapping(map) = props else { bail!("{logical_id}.Properties is not a mapping") };
    for key in map.keys() {
        let key = string(key)?;
        // A property this tool does not know would be silently missing locally: refuse instead.
        ensure!(
            LOCAL_PROPERTIES.contains(&key) || DEPLOY_ONLY_PROPERTIES.contains(&key),
            "table property {key} is not supported by the local stack yet"
        );
    }

    let mut attributes = BTreeMap::new();
    for def in sequence(field(props, "AttributeDefinitions")?)? {
        let name = string(field(def, "AttributeName")?)?;
        attributes.insert(name.to_owned(), string(field(def, "AttributeType")?)?.to_owned());
    }
    let billing_mode = string(field(props, "BillingMode")?)?.to_owned();
    ensure!(billing_mode == "PAY_PER_REQUEST", "only on-demand (PAY_PER_REQUEST) tables are supported");

    let mut global_indexes = BTreeMap::new();
    if let Some(indexes) = optional(props, "GlobalSecondaryIndexes") {
        for index in sequence(indexes)? {
            let projection = field(index, "Projection")?;
            let non_key_attributes = match optional(projection, "NonKeyAttributes") {
                Some(v) => sequence(v)?.iter().map(|a| string(a).map(str::to_owned)).collect::<Result<_>>()?,
                None => Vec::new(),
            };
            global_indexes.insert(
                string(field(index, "IndexName")?)?.to_owned(),
                IndexDefinition {
                    key_schema: key_schema(field(index, "KeySchema")?)?,
                    projection_type: string(field(projection, "ProjectionType")?)?.to_owned(),
                    non_key_attributes,
                },
            );
        }
    }

    let stream_view_type = optional(props, "StreamSpecification")
        .map(|s| field(s, "StreamViewType").and_then(string).map(str::to_owned))
        .transpose()?;
    let ttl_attribute = match optional(props, "TimeToLiveSpecification") {
        Some(ttl) if boolean(field(ttl, "Enabled")?)? => Some(string(field(ttl, "AttributeName")?)?.to_owned()),
        _ => None,
    };

    Ok(TableDefinition {
        attributes,
        key_schema: key_schema(field(props, "KeySchema")?)?,
        global_indexes,
        billing_mode,
        stream_view_type,
        ttl_attribute,
    })
}

fn key_schema(v: &Value) -> Result<Vec<(String, String)>> {
    sequence(v)?
        .iter()
        .map(|k| Ok((string(field(k, "AttributeName")?)?.to_owned(), string(field(k, "KeyType")?)?.to_owned())))
        .collect()
}

fn optional<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(key))
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value> {
    optional(v, key).ok_or_else(|| anyhow!("missing {key}"))
}

fn string(v: &Value) -> Result<&str> {
    match v {
        Value::String(s) => Ok(s),
        Value::Tagged(t) => bail!("intrinsic function {} is not supported in a locally created table", t.tag),
        other => bail!("expected a string, found {other:?}"),
    }
}

fn boolean(v: &Value) -> Result<bool> {
    v.as_bool().ok_or_else(|| anyhow!("expected true or false, found {v:?}"))
}

fn sequence(v: &Value) -> Result<&Vec<Value>> {
    v.as_sequence().ok_or_else(|| anyhow!("expected a list, found {v:?}"))
}

fn key_elements(keys: &[(String, String)]) -> Result<Vec<KeySchemaElement>> {
    keys.iter()
        .map(|(name, kind)| {
            Ok(KeySchemaElement::builder().attribute_name(name).key_type(KeyType::from(kind.as_str())).build()?)
        })
        .collect()
}

/// Creates `name` as defined, then turns its TTL on. DynamoDB Local makes tables active at once.
pub async fn create_table(client: &Client, name: &str, def: &TableDefinition) -> Result<()> {
    let mut create = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(def.billing_mode.as_str()))
        .set_key_schema(Some(key_elements(&def.key_schema)?));
    for (attribute, kind) in &def.attributes {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()?,
        );
    }
    for (index_name, index) in &def.global_indexes {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(index.projection_type.as_str()))
            .set_non_key_attributes((!index.non_key_attributes.is_empty()).then(|| index.non_key_attributes.clone()))
            .build();
        create = create.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index_name)
                .set_key_schema(Some(key_elements(&index.key_schema)?))
                .projection(projection)
                .build()?,
        );
    }
    if let Some(view) = &def.stream_view_type {
        create = create.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view.as_str()))
                .build()?,
        );
    }
    create.send().await.with_context(|| format!("creating table {name}"))?;

    if let Some(attribute) = &def.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().attribute_name(attribute).enabled(true).build()?,
            )
            .send()
            .await
            .with_context(|| format!("enabling TTL on {name}"))?;
    }
    Ok(())
}

/// Reads a live table back as a [`TableDefinition`].
pub async fn describe_table(client: &Client, name: &str) -> Result<TableDefinition> {
    let described =
        client.describe_table().table_name(name).send().await.with_context(|| format!("describing {name}"))?;
    let table = described.table().ok_or_else(|| anyhow!("no description for {name}"))?;
    let keys = |schema: &[KeySchemaElement]| -> Vec<(String, String)> {
        schema.iter().map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned())).collect()
    };
    let global_indexes = table
        .global_secondary_indexes()
        .iter()
        .map(|index| {
            let projection = index.projection();
            (
                index.index_name().unwrap_or_default().to_owned(),
                IndexDefinition {
                    key_schema: keys(index.key_schema()),
                    projection_type: projection
                        .and_then(|p| p.projection_type())
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                    non_key_attributes: projection.map(|p| p.non_key_attributes().to_vec()).unwrap_or_default(),
                },
            )
        })
        .collect();
    let stream = table.stream_specification().filter(|s| s.stream_enabled());

    let ttl = client.describe_time_to_live().table_name(name).send().await.with_context(|| format!("TTL of {name}"))?;
    let ttl_attribute = ttl
        .time_to_live_description()
        .filter(|d| matches!(d.time_to_live_status(), Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)))
        .and_then(|d| d.attribute_name().map(str::to_owned));

    Ok(TableDefinition {
        attributes: table
            .attribute_definitions()
            .iter()
            .map(|a| (a.attribute_name().to_owned(), a.attribute_type().as_str().to_owned()))
            .collect(),
        key_schema: keys(table.key_schema()),
        global_indexes,
        billing_mode: table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|m| m.as_str().to_owned())
            .unwrap_or_else(|| "PROVISIONED".to_owned()),
        stream_view_type: stream.and_then(|s| s.stream_view_type()).map(|v| v.as_str().to_owned()),
        ttl_attribute,
    })
}

/// Creates the table unless it exists; an existing table must match the template.
pub async fn ensure_table(client: &Client, name: &str, def: &TableDefinition) -> Result<&'static str> {
    let exists = client.describe_table().table_name(name).send().await.is_ok();
    if !exists {
        create_table(client, name, def).await?;
        return Ok("created");
    }
    let live = describe_table(client, name).await?;
    ensure!(
        &live == def,
        "table {name} exists but differs from template.yaml; remove the local data (make dev-reset) to recreate it.\n\
         template: {def:#?}\nlive: {live:#?}"
    );
    Ok("up to date")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_repository_table() {
        let def = table_from_template(&repo_template(), TABLE_RESOURCE).unwrap();
        assert_eq!(def.key_schema, vec![("pk".into(), "HASH".into()), ("sk".into(), "RANGE".into())]);
        assert_eq!(def.ttl_attribute.as_deref(), Some("expires_at"));
        assert_eq!(def.stream_view_type.as_deref(), Some("NEW_AND_OLD_IMAGES"));
        assert!(def.global_indexes.contains_key("outbox") && def.global_indexes.contains_key("listing"));
        // Every key attribute is defined, and nothing else is (DynamoDB refuses unused definitions).
        let mut used: Vec<&String> = def.key_schema.iter().map(|(a, _)| a).collect();
        used.extend(def.global_indexes.values().flat_map(|i| i.key_schema.iter().map(|(a, _)| a)));
        used.sort();
        used.dedup();
        assert_eq!(used, def.attributes.keys().collect::<Vec<_>>());
    }

    #[test]
    fn refuses_what_it_would_silently_drop() {
        let with = |extra: &str| {
            format!(
                "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      BillingMode: PAY_PER_REQUEST\n      \
                 AttributeDefinitions: [{{AttributeName: pk, AttributeType: S}}]\n      \
                 KeySchema: [{{AttributeName: pk, KeyType: HASH}}]\n{extra}"
            )
        };
        assert!(table_from_template_text(&with(""), "T").is_ok());
        let lsi = with("      LocalSecondaryIndexes: []\n");
        assert!(table_from_template_text(&lsi, "T").unwrap_err().to_string().contains("LocalSecondaryIndexes"));
        let intrinsic = with("      StreamSpecification: {StreamViewType: !Ref View}\n");
        assert!(table_from_template_text(&intrinsic, "T").is_err());
        assert!(table_from_template_text(&with(""), "Missing").is_err());
    }
}

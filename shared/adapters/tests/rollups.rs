//! Rollups against DynamoDB Local: a dimension with thousands of long values (a SKU, an amount, a
//! free-text field) folds and rebuilds like any other. With the values kept in one item per
//! survey, that item passed DynamoDB's 400 KB limit and every later fold failed for good.

use std::collections::BTreeSet;

use nps_adapters::dynamo::{DynamoRollups, Folded, MAX_WRITES_PER_FOLD, ShardFolded, Table};
use nps_domain::Timestamp;
use nps_domain::rollup::{Counts, Deltas, RollupKey};
use nps_domain::survey::SurveyId;
use nps_local_stack::testing::{dynamodb, fresh_table};

/// 1,200 values of 100 characters, most of 4 bytes: 465 KB of values, over DynamoDB's 400 KB
/// item limit.
const VALUES: usize = 1_200;

fn value(i: usize) -> String {
    format!("{i:04}{}", "\u{1F97E}".repeat(96))
}

fn deltas(survey: &SurveyId, values: std::ops::Range<usize>) -> Deltas {
    let mut deltas = Deltas::default();
    let mut counts = Counts::default();
    counts.scores[9] = 1;
    for i in values {
        let key = |dimension: &str, value: String| RollupKey {
            survey: survey.clone(),
            dimension: dimension.into(),
            value,
            day: "2026-11-20".into(),
        };
        deltas.add_to(&[key("all", "all".into()), key("sku", value(i))], &counts, 1);
    }
    deltas
}

#[tokio::test]
async fn a_dimension_with_thousands_of_values_folds_lists_and_rebuilds() {
    let client = dynamodb().await;
    let rollups = DynamoRollups::new(Table::new(client.clone(), fresh_table(&client, "rollups-values").await));
    let survey = SurveyId::parse("shop").unwrap();
    // Each value touches its rollup and its value item, beside the survey's `all`.
    let per_fold = (MAX_WRITES_PER_FOLD - 1) / 2;
    let seen = rollups.checkpoint().await.unwrap();
    let mut folded: Option<ShardFolded> = None;
    for start in (0..VALUES).step_by(per_fold) {
        let batch = deltas(&survey, start..(start + per_fold).min(VALUES));
        // Sequence numbers of one shard: increasing.
        let upto = format!("{}", 1000 + start);
        let done = rollups.fold(&seen, "shard-1", folded.as_ref(), &upto, &batch, Timestamp::now()).await.unwrap();
        assert_eq!(done, Folded::Done, "the fold from value {start}");
        folded = Some(ShardFolded { generation: seen.generation, sequence: upto });
    }
    let listed = rollups.segment_values(seen.generation, &survey, None).await.unwrap();
    let want: BTreeSet<String> = (0..VALUES).map(value).collect();
    assert_eq!(listed.get("sku"), Some(&want));
    let november = rollups.segment_values(seen.generation, &survey, Some(("2026-11", "2026-11"))).await.unwrap();
    assert_eq!(november.get("sku").map(BTreeSet::len), Some(VALUES));
    let october = rollups.segment_values(seen.generation, &survey, Some(("2026-10", "2026-10"))).await.unwrap();
    assert!(october.is_empty(), "no value has rollups in October");

    // A rebuild writes the same values into its new generation.
    let generation = rollups.claim_generation(seen.generation, Timestamp::now()).await.unwrap();
    rollups.write_generation(generation, &deltas(&survey, 0..VALUES)).await.unwrap();
    let rebuilt = rollups.segment_values(generation, &survey, None).await.unwrap();
    assert_eq!(rebuilt.get("sku"), Some(&want));
}

//! Surveys and their cache against DynamoDB Local.

use std::time::Duration;

use nps_adapters::dynamo::{CachedSurveys, DynamoSurveys, Table};
use nps_domain::survey::{Locale, Survey, SurveyId, SurveyKind};
use nps_local_stack::testing::{dynamodb, fresh_table};

fn survey(product_name: &str) -> Survey {
    Survey {
        id: SurveyId::parse("default").unwrap(),
        kind: SurveyKind::Transactional,
        product_name: product_name.into(),
        sender: "Shop <surveys@shop.example>".into(),
        default_locale: Locale::En,
        throttle_days: 90,
        delay_seconds: 0,
        reminder_after_days: Some(3),
        segment_properties: vec!["plan".into()],
        weight_properties: vec![],
        cadence: None,
    }
}

#[tokio::test]
async fn the_cache_serves_a_survey_until_its_time_is_up() {
    let client = dynamodb().await;
    let surveys = DynamoSurveys::new(Table::new(client.clone(), fresh_table(&client, "surveys-cache").await));
    let id = SurveyId::parse("default").unwrap();
    let cached = CachedSurveys::new(surveys.clone(), Duration::from_secs(3600));
    let fresh = CachedSurveys::new(surveys.clone(), Duration::ZERO);
    assert_eq!(cached.get(&id).await.unwrap(), None, "not there yet");

    surveys.put(&survey("Before")).await.unwrap();
    assert_eq!(cached.get(&id).await.unwrap(), None, "an absent survey is cached too");
    assert_eq!(fresh.get(&id).await.unwrap(), Some(survey("Before")));

    surveys.put(&survey("After")).await.unwrap();
    assert_eq!(fresh.get(&id).await.unwrap(), Some(survey("After")), "read again once the time is up");
    assert_eq!(surveys.get(&id).await.unwrap(), Some(survey("After")));
}

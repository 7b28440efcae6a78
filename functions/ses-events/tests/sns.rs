//! SES notifications in their SNS envelope, against DynamoDB Local.

use nps_adapters::dynamo::{DynamoPeople, SuppressionReason, Table};
use nps_domain::person::{PersonId, PersonKey};
use nps_domain::survey::SurveyId;
use nps_domain::{EmailAddress, Timestamp};
use nps_local_stack::testing::{dynamodb, fresh_table};
use serde_json::Value;
use ses_events::{App, Report};

const KEY: &str = "ses-events-person-key-long-enough-1234";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn suppression(people: &DynamoPeople, address: &str) -> Option<SuppressionReason> {
    let key = PersonKey::new(KEY).unwrap();
    let person = PersonId::derive(&key, &EmailAddress::parse(address).unwrap());
    people.eligibility(&person, &SurveyId::parse("default").unwrap(), None, None).await.unwrap().suppression
}

#[tokio::test]
async fn permanent_bounces_and_complaints_suppress_and_nothing_else_does() {
    let client = dynamodb().await;
    let table = Table::new(client.clone(), fresh_table(&client, "ses-events").await);
    let app = App::new(table.clone(), PersonKey::new(KEY).unwrap());
    let people = DynamoPeople::new(table);
    let now = Timestamp::now();

    let cases = [
        ("sns-permanent-bounce.json", "bounced@example.com", Some(SuppressionReason::Bounced)),
        ("sns-complaint.json", "complained@example.com", Some(SuppressionReason::Complained)),
        ("sns-event-publishing-complaint.json", "published@example.com", Some(SuppressionReason::Complained)),
        ("sns-transient-bounce.json", "full@example.com", None),
        ("sns-delivery.json", "delivered@example.com", None),
    ];
    for (file, address, expected) in cases {
        let report = app.handle(fixture(file), now).await.unwrap();
        assert_eq!(report.suppressed, usize::from(expected.is_some()), "{file}");
        assert_eq!(suppression(&people, address).await, expected, "{file}");
    }
    // SNS delivers at least once: a repeat is harmless.
    let again = app.handle(fixture("sns-permanent-bounce.json"), now).await.unwrap();
    assert_eq!(again, Report { suppressed: 1, ignored: 0, malformed: 0 });
    assert!(app.handle(serde_json::json!({"not": "sns"}), now).await.is_err());
}

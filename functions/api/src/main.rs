//! Wiring only: logs, config (a bad variable stops init with its name), clients, the loop.

use std::sync::Arc;

use api::App;
use lambda_http::{Error, service_fn};
use nps_adapters::aws::load_sdk_config;
use nps_adapters::dynamo::Table;
use nps_domain::person::PersonKey;
use nps_domain::survey::SurveyId;
use nps_sending::config::{ConfigError, Env, Lookup};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let table = Env.required("NPS_TABLE")?;
    let person_key = PersonKey::new(&Env.required("NPS_PERSON_KEY")?)
        .map_err(|e| ConfigError::new("NPS_PERSON_KEY", e.to_string()))?;
    let change_window = Env.days_or(
        "NPS_CHANGE_WINDOW_DAYS",
        std::time::Duration::from_secs(api::DEFAULT_CHANGE_WINDOW_DAYS.unsigned_abs() * 86_400),
    )?;
    let sdk = load_sdk_config().await;
    let mut app = App::new(Table::new(aws_sdk_dynamodb::Client::new(&sdk), table))
        .with_person_key(person_key)
        .with_change_window_days(i64::try_from(change_window.as_secs() / 86_400).unwrap_or(i64::MAX));
    if let Some(survey) = Env.var("NPS_DEFAULT_SURVEY").filter(|s| !s.is_empty()) {
        let survey = SurveyId::parse(&survey).map_err(|e| ConfigError::new("NPS_DEFAULT_SURVEY", e.to_string()))?;
        app = app.with_default_survey(survey);
    }
    if let Some(survey) = Env.var("NPS_AUTOPILOT_SURVEY").filter(|s| !s.is_empty()) {
        let survey = SurveyId::parse(&survey).map_err(|e| ConfigError::new("NPS_AUTOPILOT_SURVEY", e.to_string()))?;
        app = app.with_autopilot_survey(survey);
    }
    app = app.with_cadence_day(Env.cadence_day()?);
    app = app.with_retention(Env.days_or("NPS_RETENTION_DAYS", std::time::Duration::from_secs(730 * 86_400))?);
    if let Some(domain) = Env.var("NPS_SENDER_DOMAIN").filter(|d| !d.trim().is_empty()) {
        app = app.with_sender_domain(domain);
    }
    let app = Arc::new(app);
    lambda_http::run(service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, Error>(nps_http::access_logged(req, |req| async move { app.handle(req).await }).await) }
    }))
    .await
}

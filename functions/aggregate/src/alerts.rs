//! Alerts, raised and delivered by the aggregate run: a detractor's answer (found in the changes
//! a run folds) and a significant drop of a segment's NPS (checked at most hourly from the day
//! rollups). Delivered by email (SES) and/or a signed webhook with a Slack-compatible body.
//!
//! A detractor alert is raised before the fold that counts its change: a crash in between, or a
//! run that loses the race to fold, raises it again and the conditional put keeps one.

use std::time::Duration;

use nps_adapters::dynamo::{Claimed, Delivery, DynamoAlerts, DynamoRollups, DynamoSurveys};
use nps_adapters::ses::SesMailer;
use nps_domain::alert::{self, Alert, BASELINE_DAYS, RECENT_DAYS};
use nps_domain::crypto::sign_timestamped;
use nps_domain::mail::{MailError, Mailer};
use nps_domain::rollup::{ALL, Counts, day};
use nps_domain::{EmailAddress, StoreError, Timestamp};

/// Alerts delivered per run at most (the rest wait for the next run).
const DELIVERIES_PER_RUN: i32 = 25;
/// Attempts before an alert is given up as failed.
const MAX_ATTEMPTS: u32 = 10;
/// The header of the webhook's signature: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub const SIGNATURE_HEADER: &str = "x-nps-signature";
/// The header with the alert's id (kind, subject and day), for receivers that deduplicate.
pub const EVENT_ID_HEADER: &str = "x-nps-event-id";

pub struct EmailChannel {
    pub mailer: SesMailer,
    pub from: String,
    pub to: Vec<EmailAddress>,
}

pub struct WebhookChannel {
    pub client: reqwest::Client,
    pub url: String,
    pub secret: String,
}

impl WebhookChannel {
    pub fn new(url: String, secret: String) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        Ok(WebhookChannel { client, url, secret })
    }
}

pub struct Alerting {
    pub store: DynamoAlerts,
    pub surveys: DynamoSurveys,
    pub email: Option<EmailChannel>,
    pub webhook: Option<WebhookChannel>,
    /// Fewest answers in each window before a drop is called.
    pub drop_min_n: u64,
}

/// What one channel did with one alert.
enum Sent {
    Delivered,
    Later,
    Refused,
}

impl Alerting {
    /// Raises alerts (each kept once per subject and day); the count of new ones.
    pub async fn raise(&self, alerts: &[Alert], now: Timestamp) -> Result<usize, StoreError> {
        let mut raised = 0;
        for alert in alerts {
            raised += usize::from(self.store.raise(alert, now).await?);
        }
        Ok(raised)
    }

    /// Delivers the alerts that are due; the count delivered.
    pub async fn deliver(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut delivered = 0;
        for key in self.store.due(now, DELIVERIES_PER_RUN).await? {
            let Some(claimed) = self.store.claim(&key, now).await? else { continue };
            let delivery = self.send(&claimed, now).await;
            delivered += usize::from(delivery == Delivery::Done);
            self.store.finish(&claimed, &delivery, now).await?;
        }
        Ok(delivered)
    }

    async fn send(&self, claimed: &Claimed, now: Timestamp) -> Delivery {
        let mut channels: Vec<(String, Sent)> = Vec::new();
        if let Some(email) = &self.email {
            for to in &email.to {
                let name = format!("email:{to}");
                if !claimed.delivered.contains(&name) {
                    let sent = match email.mailer.send(&claimed.alert.email(&email.from, to)).await {
                        Ok(_) => Sent::Delivered,
                        Err(MailError::Unavailable(e)) => {
                            tracing::warn!(error = %e, "alert email not sent; retrying later");
                            Sent::Later
                        }
                        // Maybe sent: never twice.
                        Err(MailError::Uncertain(e)) => {
                            tracing::warn!(error = %e, "alert email may not have been sent; not sent again");
                            Sent::Delivered
                        }
                        Err(MailError::Rejected(e)) => {
                            tracing::error!(error = %e, "alert email refused");
                            Sent::Refused
                        }
                    };
                    channels.push((name, sent));
                }
            }
        }
        if let Some(webhook) = &self.webhook
            && !claimed.delivered.iter().any(|c| c == "webhook")
        {
            channels.push(("webhook".to_owned(), post(webhook, claimed, now).await));
        }
        let mut delivered = claimed.delivered.clone();
        delivered.extend(channels.iter().filter(|(_, s)| matches!(s, Sent::Delivered)).map(|(c, _)| c.clone()));
        if channels.iter().any(|(_, s)| matches!(s, Sent::Later)) && claimed.attempts + 1 < MAX_ATTEMPTS {
            // 1, 2, 4 … minutes, at most an hour.
            let wait = Duration::from_secs(60 << claimed.attempts.min(6)).min(Duration::from_secs(3600));
            return Delivery::Retry { at: now.plus(wait), delivered };
        }
        if channels.iter().all(|(_, s)| matches!(s, Sent::Refused)) && !channels.is_empty() {
            return Delivery::Failed;
        }
        Delivery::Done
    }

    /// Checks every survey's segments (and the survey as a whole) for a drop: the last 7 days
    /// significantly below the 28 before. Raises one alert per segment per day; the count raised.
    pub async fn check_drops(&self, rollups: &DynamoRollups, now: Timestamp) -> Result<usize, StoreError> {
        let generation = rollups.checkpoint().await?.generation;
        let at = |days_back: i64| day(Timestamp::from_unix(now.unix() - days_back * 86_400));
        let (recent_since, recent_until) = (at(RECENT_DAYS - 1), at(0));
        let (baseline_since, baseline_until) = (at(RECENT_DAYS + BASELINE_DAYS - 1), at(RECENT_DAYS));
        let mut raised = 0;
        for survey in self.surveys.list().await? {
            let mut rollup_values = vec![(ALL.to_owned(), ALL.to_owned())];
            for (dimension, values) in rollups.segment_values(generation, &survey.id).await? {
                rollup_values.extend(values.into_iter().map(|v| (dimension.clone(), v)));
            }
            for (dimension, value) in rollup_values {
                let days =
                    rollups.days(generation, &survey.id, &dimension, &value, &baseline_since, &recent_until).await?;
                let (mut recent, mut baseline) = (Counts::default(), Counts::default());
                for (day, counts) in &days {
                    let window = if *day >= recent_since { &mut recent } else { &mut baseline };
                    window.add(counts, 1);
                }
                let (Some(recent), Some(baseline)) = (recent.histogram(), baseline.histogram()) else { continue };
                if let Some(alert) = alert::drop(
                    &survey.id,
                    (&dimension, &value),
                    (&recent, &recent_since, &recent_until),
                    (&baseline, &baseline_since, &baseline_until),
                    self.drop_min_n,
                ) {
                    raised += self.raise(&[alert], now).await?;
                }
            }
        }
        Ok(raised)
    }
}

async fn post(webhook: &WebhookChannel, claimed: &Claimed, now: Timestamp) -> Sent {
    let body = claimed.alert.webhook_body().to_string();
    let signature = sign_timestamped(webhook.secret.as_bytes(), now.unix(), body.as_bytes());
    let sent = webhook
        .client
        .post(&webhook.url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header(EVENT_ID_HEADER, format!("{}#{}", claimed.key.pk, claimed.key.sk))
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => Sent::Delivered,
        Ok(response) if response.status().as_u16() == 429 || response.status().is_server_error() => {
            tracing::warn!(status = %response.status(), "alert webhook answered; retrying later");
            Sent::Later
        }
        Ok(response) => {
            tracing::error!(status = %response.status(), "alert webhook refused the alert");
            Sent::Refused
        }
        // The receiver may have it: never twice.
        Err(e) if e.is_timeout() => {
            tracing::warn!(error = %e, "alert webhook timed out; not sent again");
            Sent::Delivered
        }
        Err(e) => {
            tracing::warn!(error = %e, "alert webhook unreachable; retrying later");
            Sent::Later
        }
    }
}

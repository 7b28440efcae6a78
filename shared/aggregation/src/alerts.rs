//! Alerts, raised and delivered by the aggregate run: a detractor's answer (found in the changes
//! a run folds) and a significant drop of a segment's NPS (checked at most hourly from the day
//! rollups). Delivered by email (SES) and/or a signed webhook with a Slack-compatible body.
//!
//! A detractor alert is raised before the fold that counts its change: a crash in between, or a
//! run that loses the race to fold, raises it again and the conditional put keeps one.

use nps_adapters::dynamo::keys::ItemKey;
use nps_adapters::dynamo::{Claimed, Delivery, DynamoOutbound, DynamoResponses, DynamoRollups, DynamoSurveys};
use nps_adapters::ses::SesMailer;
use nps_domain::alert::{self, Alert, BASELINE_DAYS, RECENT_DAYS};
use nps_domain::mail::{MailError, Mailer};
use nps_domain::rollup::{ALL, Counts, day};
use nps_domain::survey::SurveyKind;
use nps_domain::{EmailAddress, StoreError, Timestamp};

use crate::erased::person_erased;
use crate::webhook::{Posted, WebhookChannel, backoff};

/// Alerts delivered per run at most (the rest wait for the next run).
const DELIVERIES_PER_RUN: i32 = 25;
/// Attempts before an alert is given up as failed.
const MAX_ATTEMPTS: u32 = 10;

pub struct EmailChannel {
    pub mailer: SesMailer,
    pub from: String,
    pub to: Vec<EmailAddress>,
}

pub struct Alerting {
    /// The `Alerts` queue.
    pub store: DynamoOutbound,
    pub surveys: DynamoSurveys,
    /// Read again before a comment is quoted (`erased`).
    pub responses: DynamoResponses,
    pub email: Option<EmailChannel>,
    pub webhook: Option<WebhookChannel>,
    /// Fewest answers in each window before a drop is called.
    pub drop_min_n: u64,
    /// The dashboard (`NPS_DASHBOARD_URL`): a detractor's alert links to the answer's page there.
    pub dashboard: Option<String>,
}

impl Alerting {
    /// Raises alerts (each kept once per subject and day); the count of new ones.
    pub async fn raise(&self, alerts: &[Alert], now: Timestamp) -> Result<usize, StoreError> {
        let mut raised = 0;
        for alert in alerts {
            let mut alert = alert.clone();
            if let Alert::Detractor(d) = &mut alert
                && d.comment.is_some()
                && person_erased(&self.responses, &d.response).await?
            {
                d.comment = None;
            }
            let key = ItemKey::alert(alert.kind(), &alert.subject(), &alert.day());
            let body = serde_json::to_string(&alert).map_err(|e| StoreError::Malformed(e.to_string()))?;
            raised += usize::from(self.store.raise(key, body, now).await?);
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
        let alert: Alert = match serde_json::from_str(&claimed.body) {
            Ok(alert) => alert,
            Err(e) => {
                tracing::error!(error = %e, alert = %claimed.key.pk, "an alert that does not parse is dropped");
                return Delivery::Failed;
            }
        };
        let mut channels: Vec<(String, Posted)> = Vec::new();
        if let Some(email) = &self.email {
            for to in &email.to {
                let name = format!("email:{to}");
                if !claimed.delivered.contains(&name) {
                    let sent = match email.mailer.send(&alert.email(&email.from, to, self.dashboard.as_deref())).await {
                        Ok(_) => Posted::Delivered,
                        Err(MailError::Unavailable(e)) => {
                            tracing::warn!(error = %e, "alert email not sent; retrying later");
                            Posted::Later
                        }
                        // Maybe sent: never twice.
                        Err(MailError::Uncertain(e)) => {
                            tracing::warn!(error = %e, "alert email may not have been sent; not sent again");
                            Posted::Delivered
                        }
                        Err(MailError::Rejected(e)) => {
                            tracing::error!(error = %e, "alert email refused");
                            Posted::Refused
                        }
                    };
                    channels.push((name, sent));
                }
            }
        }
        if let Some(webhook) = &self.webhook
            && !claimed.delivered.iter().any(|c| c == "webhook")
        {
            let event_id = format!("{}#{}", claimed.key.pk, claimed.key.sk);
            let posted =
                match webhook.post(alert.webhook_body(self.dashboard.as_deref()).to_string(), &event_id, now).await {
                    // The receiver may have it: an alert is never sent twice.
                    Posted::Unknown => Posted::Delivered,
                    posted => posted,
                };
            channels.push(("webhook".to_owned(), posted));
        }
        let mut delivered = claimed.delivered.clone();
        delivered.extend(channels.iter().filter(|(_, s)| matches!(s, Posted::Delivered)).map(|(c, _)| c.clone()));
        if channels.iter().any(|(_, s)| matches!(s, Posted::Later)) && claimed.attempts + 1 < MAX_ATTEMPTS {
            return Delivery::Retry { at: now.plus(backoff(claimed.attempts)), delivered };
        }
        if channels.iter().all(|(_, s)| matches!(s, Posted::Refused)) && !channels.is_empty() {
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
        // Not eNPS: windows that slide a day at a time would subtract to one day's answers
        // (docs/enps.md); eNPS is read by settled month.
        for survey in self.surveys.list().await?.into_iter().filter(|s| s.kind != SurveyKind::Enps) {
            let mut rollup_values = vec![(ALL.to_owned(), ALL.to_owned())];
            // Only values with rollups in the months of the recent window can have answers in it.
            let months = Some((&recent_since[..7], &recent_until[..7]));
            for (dimension, values) in rollups.segment_values(generation, &survey.id, months).await? {
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

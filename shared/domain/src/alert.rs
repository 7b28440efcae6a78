//! Alerts for the people who act on answers: a detractor's answer, and a significant drop of a
//! segment's NPS. Each has a subject and a day; at most one alert is raised per subject per day
//! (the day is part of its storage key).

use std::collections::BTreeMap;

use nps_scoring::{Histogram, Summary, compare};
use serde::{Deserialize, Serialize};

use crate::mail::OutgoingEmail;
use crate::response::Response;
use crate::rollup::day;
use crate::survey::{SurveyId, SurveyKind};
use crate::{EmailAddress, Timestamp, escape_html};

/// NPS of the last this many days …
pub const RECENT_DAYS: i64 = 7;
/// … against the this many days before them.
pub const BASELINE_DAYS: i64 = 28;
/// Fewest answers in each window before a drop is called (methodology.md's minimum n).
pub const DEFAULT_DROP_MIN_N: u64 = 30;
/// Answers confirmed longer ago than this do not raise a detractor alert.
pub const DETRACTOR_MAX_AGE_HOURS: i64 = 48;
/// |z| beyond this is significant at 95%.
const Z_SIGNIFICANT: f64 = 1.96;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Alert {
    Detractor(Detractor),
    Drop(Drop),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detractor {
    pub survey: SurveyId,
    /// The response's id (its survey request's).
    pub response: String,
    pub score: u8,
    pub comment: Option<String>,
    /// The response's segment properties.
    pub segment: BTreeMap<String, String>,
    pub confirmed_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drop {
    pub survey: SurveyId,
    /// `all` for the whole survey, else a segment dimension and its value.
    pub dimension: String,
    pub value: String,
    /// The last day of the recent window.
    pub day: String,
    pub recent: Window,
    pub baseline: Window,
    /// NPS points, recent minus baseline.
    pub delta: f64,
    /// `None` when neither window has any spread (every answer in one category): then any fall
    /// is a drop.
    pub z: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub since: String,
    pub until: String,
    pub n: u64,
    pub nps: f64,
}

/// The alert for a change to a response that makes it a detractor's answer: a first confirmed
/// score of 0–6, or a change into 0–6, confirmed within `DETRACTOR_MAX_AGE_HOURS` of `now` (older
/// answers, replayed after a long outage or written by an import, are in the figures and the drop
/// check, not worth a call to the customer any more). None for eNPS: an alert quoting a team
/// member's comment would undo the anonymity of the answers.
pub fn detractor(old: Option<&Response>, new: &Response, now: Timestamp) -> Option<Alert> {
    let is_detractor = |r: &Response| r.score.is_some_and(|s| s.value() <= 6);
    let stale = new.updated_at.unix() < now.unix() - DETRACTOR_MAX_AGE_HOURS * 3600;
    if new.kind == SurveyKind::Enps || !is_detractor(new) || old.is_some_and(is_detractor) || stale {
        return None;
    }
    Some(Alert::Detractor(Detractor {
        survey: new.survey_id.clone(),
        response: new.request_id.to_string(),
        score: new.score?.value(),
        comment: new.comment.as_ref().map(|c| c.as_str().to_owned()),
        segment: new.properties.clone(),
        confirmed_at: new.updated_at,
    }))
}

/// A drop alert when the recent window's NPS is significantly below the baseline's, both with at
/// least `min_n` answers.
pub fn drop(
    survey: &SurveyId,
    (dimension, value): (&str, &str),
    recent: (&Histogram, &str, &str),
    baseline: (&Histogram, &str, &str),
    min_n: u64,
) -> Option<Alert> {
    let (now, before) = (Summary::of(recent.0), Summary::of(baseline.0));
    if now.n < min_n || before.n < min_n {
        return None;
    }
    let c = compare(&now, &before)?;
    let dropped = match c.z {
        Some(z) => z < -Z_SIGNIFICANT,
        None => c.delta < 0.0,
    };
    if !dropped {
        return None;
    }
    let window = |s: &Summary, since: &str, until: &str| {
        Some(Window { since: since.to_owned(), until: until.to_owned(), n: s.n, nps: s.nps? })
    };
    Some(Alert::Drop(Drop {
        survey: survey.clone(),
        dimension: dimension.to_owned(),
        value: value.to_owned(),
        day: recent.2.to_owned(),
        recent: window(&now, recent.1, recent.2)?,
        baseline: window(&before, baseline.1, baseline.2)?,
        delta: c.delta,
        z: c.z,
    }))
}

impl Alert {
    pub fn kind(&self) -> &'static str {
        match self {
            Alert::Detractor(_) => "detractor",
            Alert::Drop(_) => "drop",
        }
    }

    /// What the alert is about: one alert per subject per day.
    pub fn subject(&self) -> String {
        match self {
            Alert::Detractor(d) => d.response.clone(),
            Alert::Drop(d) => format!("{}#{}={}", d.survey, d.dimension, d.value),
        }
    }

    pub fn day(&self) -> String {
        match self {
            Alert::Detractor(d) => day(d.confirmed_at),
            Alert::Drop(d) => d.day.clone(),
        }
    }

    /// One line.
    pub fn title(&self) -> String {
        match self {
            Alert::Detractor(d) => format!("Detractor on {}: {}/10{}", d.survey, d.score, segment_text(&d.segment)),
            Alert::Drop(d) => format!("NPS drop on {}{}", d.survey, segment_name(&d.dimension, &d.value)),
        }
    }

    /// Where a detractor is followed up: the dashboard's page of the answer, with `dashboard` the
    /// dashboard's address (`https://…/dashboard`).
    pub fn follow_up_url(&self, dashboard: Option<&str>) -> Option<String> {
        match self {
            Alert::Detractor(d) => dashboard.map(|url| format!("{url}?response={}", d.response)),
            Alert::Drop(_) => None,
        }
    }

    /// The title and the details, as plain text; a detractor's with where to follow it up.
    pub fn text(&self, dashboard: Option<&str>) -> String {
        match self {
            Alert::Detractor(d) => {
                let comment = d.comment.as_deref().map_or("(no comment)".to_owned(), |c| format!("“{c}”"));
                let follow_up =
                    self.follow_up_url(dashboard).map(|url| format!("\nFollow it up: {url}")).unwrap_or_default();
                format!(
                    "{}\n{comment}\nResponse {} at {}{follow_up}",
                    self.title(),
                    d.response,
                    d.confirmed_at.to_rfc3339()
                )
            }
            Alert::Drop(d) => format!(
                "{}\nNPS {:.1} from {} to {} (n = {}), against {:.1} from {} to {} (n = {}): {:+.1} points, z = {}",
                self.title(),
                d.recent.nps,
                d.recent.since,
                d.recent.until,
                d.recent.n,
                d.baseline.nps,
                d.baseline.since,
                d.baseline.until,
                d.baseline.n,
                d.delta,
                d.z.map_or("undefined (no spread)".to_owned(), |z| format!("{z:.2}"))
            ),
        }
    }

    pub fn email(&self, from: &str, to: &EmailAddress, dashboard: Option<&str>) -> OutgoingEmail {
        let text = self.text(dashboard);
        let paragraphs: String = text.lines().map(|line| format!("<p>{}</p>", escape_html(line))).collect();
        OutgoingEmail {
            from: from.to_owned(),
            to: to.clone(),
            subject: self.title(),
            html: format!("<!doctype html><html><body>{paragraphs}</body></html>"),
            text,
            headers: Vec::new(),
        }
    }

    /// A Slack-compatible body (`text`, escaped as Slack asks) with the alert's fields beside it.
    pub fn webhook_body(&self, dashboard: Option<&str>) -> serde_json::Value {
        let text = self.text(dashboard).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        serde_json::json!({ "text": text, "alert": self, "follow_up_url": self.follow_up_url(dashboard) })
    }
}

fn segment_text(segment: &BTreeMap<String, String>) -> String {
    if segment.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = segment.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(" ({})", pairs.join(", "))
}

fn segment_name(dimension: &str, value: &str) -> String {
    if dimension == crate::rollup::ALL { String::new() } else { format!(", {dimension}={value}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::response::Comment;

    fn response(kind: SurveyKind, score: Option<u8>) -> Response {
        let request =
            fixtures::sent_request(1, "default", &[("product", "boots")], Timestamp::from_unix(1_795_392_000));
        let mut r = fixtures::response(&request, kind, score, 1);
        r.comment = Comment::parse("<b>late</b> & broken").unwrap();
        r
    }

    #[test]
    fn a_detractor_answer_alerts_once_not_on_every_change() {
        let three = response(SurveyKind::Transactional, Some(3));
        let now = three.updated_at;
        let detractor = |old: Option<&Response>, new: &Response| detractor(old, new, now);
        let alert = detractor(None, &three).expect("a first answer of 3");
        assert_eq!((alert.kind(), alert.day().as_str()), ("detractor", "2026-11-23"));
        assert_eq!(alert.title(), "Detractor on default: 3/10 (product=boots)");
        assert!(detractor(Some(&three), &response(SurveyKind::Transactional, Some(2))).is_none(), "3 → 2");
        assert!(detractor(Some(&response(SurveyKind::Transactional, Some(9))), &three).is_some(), "9 → 3");
        assert!(detractor(None, &response(SurveyKind::Transactional, Some(7))).is_none(), "a passive");
        assert!(detractor(None, &response(SurveyKind::Transactional, None)).is_none(), "a click");
        assert!(detractor(None, &response(SurveyKind::Enps, Some(0))).is_none(), "eNPS stays anonymous");
    }

    #[test]
    fn answers_older_than_two_days_do_not_alert() {
        let three = response(SurveyKind::Transactional, Some(3));
        let at = |hours: i64| Timestamp::from_unix(three.updated_at.unix() + hours * 3600);
        assert!(super::detractor(None, &three, at(48)).is_some());
        assert!(super::detractor(None, &three, at(49)).is_none(), "replayed after a long outage");
    }

    #[test]
    fn comments_are_escaped_where_markup_is_read() {
        let three = response(SurveyKind::Transactional, Some(3));
        let alert = detractor(None, &three, three.updated_at).unwrap();
        let dashboard = Some("https://nps.example/Prod/dashboard");
        let email = alert.email("alerts@shop.example", &EmailAddress::parse("cx@shop.example").unwrap(), dashboard);
        let page = format!("https://nps.example/Prod/dashboard?response={}", three.request_id);
        assert!(email.text.ends_with(&format!("Follow it up: {page}")), "{}", email.text);
        assert_eq!(alert.webhook_body(dashboard)["follow_up_url"], page.as_str());
        assert!(email.html.contains("&lt;b&gt;late&lt;/b&gt; &amp; broken") && !email.html.contains("<b>"));
        assert!(email.text.contains("“<b>late</b> & broken”"), "plain text stays as written");
        let body = alert.webhook_body(None);
        assert!(body["text"].as_str().unwrap().contains("&lt;b&gt;late&lt;/b&gt; &amp; broken"));
        assert_eq!(body["alert"]["kind"], "detractor");
        assert_eq!(body["alert"]["score"], 3);
    }

    #[test]
    fn a_drop_needs_significance_and_enough_answers() {
        let survey = SurveyId::parse("default").unwrap();
        let mixed = |promoters: u64, detractors: u64| {
            Histogram::from_counts([detractors, 0, 0, 0, 0, 0, 0, 0, 0, 0, promoters])
        };
        let (good, bad) = (mixed(120, 20), mixed(15, 25));
        let recent = (&bad, "2026-11-17", "2026-11-23");
        let baseline = (&good, "2026-10-20", "2026-11-16");
        let alert = drop(&survey, ("product", "boots"), recent, baseline, 30).expect("a clear drop");
        assert_eq!(alert.subject(), "default#product=boots");
        assert_eq!(alert.day(), "2026-11-23");
        assert!(alert.text(None).contains("product=boots"));
        let Alert::Drop(d) = &alert else { panic!() };
        assert!(d.z.unwrap() < -1.96 && d.delta < -50.0, "{d:?}");
        assert!(drop(&survey, ("product", "boots"), recent, baseline, 41).is_none(), "too few recent answers");
        let same = (&good, "2026-11-17", "2026-11-23");
        assert!(drop(&survey, ("all", "all"), same, baseline, 30).is_none(), "no change");
        assert!(drop(&survey, ("all", "all"), baseline, recent, 30).is_none(), "a rise is not a drop");
        let (all_promoters, all_detractors) = (mixed(40, 0), mixed(0, 40));
        let fell = drop(&survey, ("all", "all"), (&all_detractors, "a", "b"), (&all_promoters, "c", "d"), 30);
        assert!(fell.is_some_and(|a| a.text(None).contains("z = undefined")), "no spread, yet a fall from 100 to -100");
        assert!(drop(&survey, ("all", "all"), (&all_promoters, "a", "b"), (&all_promoters, "c", "d"), 30).is_none());
    }
}

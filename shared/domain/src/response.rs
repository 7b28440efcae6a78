//! A response to one survey request, and the evidence that tells a person from a machine.
//!
//! A click on an emailed score link is not a response: mail security scanners and link previews
//! fetch links too. A click is kept as evidence; a score counts once a person confirms it on the
//! page (`confirm`). Clicks that look automated mark the response `suspected_bot`, with reasons;
//! a later human confirmation still counts.

use std::collections::BTreeMap;
use std::time::Duration;

use nps_scoring::Score;
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::person::PersonId;
use crate::request::{RequestId, SurveyRequest};
use crate::survey::{SurveyId, SurveyKind};
use crate::weight::Weights;

pub const MAX_COMMENT_CHARS: usize = 2000;
/// Clicks kept as evidence per response: once this many are kept, only a click that adds a reason
/// to suspect a machine is kept (the oldest then goes), so a link clicked a thousand times is
/// written at most this many times plus once per reason.
pub const MAX_CLICKS_KEPT: usize = 20;
/// Confirmed versions per response: a person changes their mind a few times, a script alternating
/// answers in the change window does not make a new version (and an outbound event) each time.
pub const MAX_VERSIONS: u32 = 10;
/// Longest user agent kept.
pub const MAX_AGENT_CHARS: usize = 200;
/// Different scores fetched within this span are a sweep, not a person.
pub const BURST_WINDOW: Duration = Duration::from_secs(10);
/// A person does not open, read and click within this long of the email being sent.
pub const TOO_SOON_AFTER_SEND: Duration = Duration::from_secs(10);

/// A comment as a person typed it: kept verbatim (escaped wherever it is shown), bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommentError {
    #[error("the comment is longer than 2,000 characters")]
    TooLong,
    #[error("the comment contains control characters")]
    Control,
}

impl Comment {
    /// `None` for a comment that is empty once trimmed.
    pub fn parse(text: &str) -> Result<Option<Self>, CommentError> {
        let text = text.trim();
        if text.chars().count() > MAX_COMMENT_CHARS {
            return Err(CommentError::TooLong);
        }
        if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err(CommentError::Control);
        }
        Ok((!text.is_empty()).then(|| Comment(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One fetch of a score link (`GET /r/{token}?score=N`). `HEAD` requests are never recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Click {
    pub at: Timestamp,
    pub score: Score,
    /// The `User-Agent` header, cut to [`MAX_AGENT_CHARS`].
    pub agent: String,
    /// Seconds between the email being sent and this click, when the send time is known.
    pub seconds_since_sent: Option<i64>,
}

impl Click {
    pub fn new(at: Timestamp, score: Score, agent: &str, sent_at: Option<Timestamp>) -> Self {
        Click {
            at,
            score,
            agent: agent.chars().filter(|c| !c.is_control()).take(MAX_AGENT_CHARS).collect(),
            seconds_since_sent: sent_at.map(|sent| at.unix() - sent.unix()),
        }
    }
}

/// Why clicks look automated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotReason {
    /// The user agent is a known link scanner, previewer or HTTP library.
    KnownScanner,
    /// Several different scores were fetched within seconds (a sweep of every link).
    ScoreBurst,
    /// A click came within seconds of the email being sent.
    TooSoonAfterSend,
}

/// Fragments of user agents that are never a person clicking (lower case). A browser's agent never
/// contains them; scanners that pose as browsers are caught by the burst and timing rules instead.
const SCANNER_AGENTS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "preview",
    "scanner",
    "barracuda",
    "mimecast",
    "proofpoint",
    "safelinks",
    "bingpreview",
    "google-safety",
    "facebookexternalhit",
    "slack",
    "whatsapp",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww",
    "httpclient",
];

impl BotReason {
    pub const ALL: [BotReason; 3] = [BotReason::KnownScanner, BotReason::ScoreBurst, BotReason::TooSoonAfterSend];

    pub fn as_str(self) -> &'static str {
        match self {
            BotReason::KnownScanner => "known_scanner",
            BotReason::ScoreBurst => "score_burst",
            BotReason::TooSoonAfterSend => "too_soon_after_send",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        BotReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

pub fn is_scanner_agent(agent: &str) -> bool {
    let agent = agent.to_ascii_lowercase();
    agent.trim().is_empty() || SCANNER_AGENTS.iter().any(|fragment| agent.contains(fragment))
}

/// Every reason the clicks give, sorted, without repeats.
pub fn bot_reasons(clicks: &[Click]) -> Vec<BotReason> {
    let mut reasons = Vec::new();
    if clicks.iter().any(|c| is_scanner_agent(&c.agent)) {
        reasons.push(BotReason::KnownScanner);
    }
    let too_soon = i64::try_from(TOO_SOON_AFTER_SEND.as_secs()).unwrap_or(i64::MAX);
    if clicks.iter().any(|c| c.seconds_since_sent.is_some_and(|s| (0..too_soon).contains(&s))) {
        reasons.push(BotReason::TooSoonAfterSend);
    }
    let window = i64::try_from(BURST_WINDOW.as_secs()).unwrap_or(i64::MAX);
    let burst = clicks.iter().any(|first| {
        let mut scores: Vec<Score> =
            clicks.iter().filter(|c| (0..window).contains(&(c.at.unix() - first.at.unix()))).map(|c| c.score).collect();
        scores.sort();
        scores.dedup();
        scores.len() >= 3
    });
    if burst {
        reasons.push(BotReason::ScoreBurst);
    }
    reasons
}

/// Adds `click` to the evidence, keeping the newest [`MAX_CLICKS_KEPT`].
pub fn remember(clicks: &mut Vec<Click>, click: Click) {
    clicks.push(click);
    if clicks.len() > MAX_CLICKS_KEPT {
        let excess = clicks.len() - MAX_CLICKS_KEPT;
        clicks.drain(..excess);
    }
}

/// The one response to a survey request: clicks as evidence, and the confirmed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub request_id: RequestId,
    pub survey_id: SurveyId,
    pub kind: SurveyKind,
    /// The confirmed score; `None` until a person confirms one.
    pub score: Option<Score>,
    pub comment: Option<Comment>,
    /// How many times the answer was confirmed with a change (0: clicks only).
    pub version: u32,
    /// Storage revision, for optimistic locking: every save increments it.
    pub revision: u32,
    pub clicks: Vec<Click>,
    pub bot_reasons: Vec<BotReason>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub first_confirmed_at: Option<Timestamp>,
    pub properties: BTreeMap<String, String>,
    /// The request's other properties; never for eNPS (they could name the person), and removed
    /// by an erasure.
    pub person_properties: BTreeMap<String, String>,
    /// The request's weights (never for eNPS); kept by an erasure, like the score, so that the
    /// figures do not change.
    pub weights: Weights,
    /// Never kept for eNPS: those answers are anonymous.
    pub person_id: Option<PersonId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmError {
    #[error("the time to change this answer has passed")]
    WindowClosed,
    #[error("this answer has been changed as often as it may be")]
    TooManyChanges,
}

impl Response {
    pub fn new(request: &SurveyRequest, kind: SurveyKind, now: Timestamp) -> Self {
        Response {
            request_id: request.id,
            survey_id: request.survey_id.clone(),
            kind,
            score: None,
            comment: None,
            version: 0,
            revision: 0,
            clicks: Vec::new(),
            bot_reasons: Vec::new(),
            created_at: now,
            updated_at: now,
            first_confirmed_at: None,
            properties: request.properties.clone(),
            person_properties: if kind == SurveyKind::Enps {
                BTreeMap::new()
            } else {
                request.person_properties.clone()
            },
            weights: if kind == SurveyKind::Enps { Weights::default() } else { request.weights.clone() },
            person_id: (kind != SurveyKind::Enps).then(|| request.person_id.clone()),
        }
    }

    pub fn confirmed(&self) -> bool {
        self.score.is_some()
    }

    pub fn suspected_bot(&self) -> bool {
        !self.bot_reasons.is_empty()
    }

    /// Keeps `click` as evidence if it adds any: a score and user agent not seen together yet
    /// (while fewer than [`MAX_CLICKS_KEPT`] are kept), or a reason to suspect a machine. Returns
    /// whether it was kept: a click that adds nothing need not be written. Reasons are never lost.
    pub fn record_click(&mut self, click: Click) -> bool {
        let seen = self.clicks.iter().any(|c| c.score == click.score && c.agent == click.agent);
        let mut clicks = self.clicks.clone();
        remember(&mut clicks, click.clone());
        let found = bot_reasons(&clicks);
        let new_reason = found.iter().any(|r| !self.bot_reasons.contains(r));
        if !new_reason && (seen || self.clicks.len() >= MAX_CLICKS_KEPT) {
            return false;
        }
        // In the order `bot_reasons` gives them.
        let reasons = [BotReason::KnownScanner, BotReason::TooSoonAfterSend, BotReason::ScoreBurst]
            .into_iter()
            .filter(|r| found.contains(r) || self.bot_reasons.contains(r))
            .collect();
        (self.updated_at, self.clicks, self.bot_reasons) = (click.at, clicks, reasons);
        true
    }

    /// A person's answer. The last confirmed answer wins until `window` after the first one;
    /// confirming the same answer again changes nothing (a double submit is not a new version).
    /// An eNPS answer closes `window` after its first click (the day it counts on), so a month's
    /// figures are final once it is that long past (docs/enps.md). Returns whether anything changed.
    pub fn confirm(
        &mut self,
        score: Score,
        comment: Option<Comment>,
        now: Timestamp,
        window: Duration,
    ) -> Result<bool, ConfirmError> {
        let opened = if self.kind == SurveyKind::Enps { Some(self.created_at) } else { self.first_confirmed_at };
        if opened.is_some_and(|first| now > first.plus(window)) {
            return Err(ConfirmError::WindowClosed);
        }
        if self.score == Some(score) && self.comment == comment {
            return Ok(false);
        }
        if self.version >= MAX_VERSIONS {
            return Err(ConfirmError::TooManyChanges);
        }
        self.score = Some(score);
        self.comment = comment;
        self.version += 1;
        self.updated_at = now;
        self.first_confirmed_at.get_or_insert(now);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROWSER: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1";

    fn score(v: u8) -> Score {
        Score::try_from(v).unwrap()
    }

    fn click(at: i64, s: u8, agent: &str, sent: Option<i64>) -> Click {
        Click::new(Timestamp::from_unix(at), score(s), agent, sent.map(Timestamp::from_unix))
    }

    #[test]
    fn a_person_clicking_once_is_not_a_bot() {
        assert_eq!(bot_reasons(&[click(1_000, 9, BROWSER, Some(400))]), vec![]);
        // Changing their mind a minute later is still a person.
        assert_eq!(bot_reasons(&[click(1_000, 9, BROWSER, Some(400)), click(1_060, 10, BROWSER, Some(400))]), vec![]);
    }

    #[test]
    fn a_sweep_of_every_score_within_seconds_is_a_burst() {
        let sweep: Vec<Click> = (0..=10).map(|s| click(1_000, s, BROWSER, Some(400))).collect();
        assert_eq!(bot_reasons(&sweep), vec![BotReason::ScoreBurst]);
        // Two different scores within seconds is a person correcting a mis-tap; three is not.
        let two = [click(1_000, 8, BROWSER, None), click(1_002, 9, BROWSER, None)];
        assert_eq!(bot_reasons(&two), vec![]);
        let three = [click(1_000, 8, BROWSER, None), click(1_002, 9, BROWSER, None), click(1_009, 1, BROWSER, None)];
        assert_eq!(bot_reasons(&three), vec![BotReason::ScoreBurst]);
        let spread = [click(1_000, 8, BROWSER, None), click(1_020, 9, BROWSER, None), click(1_040, 1, BROWSER, None)];
        assert_eq!(bot_reasons(&spread), vec![]);
    }

    #[test]
    fn scanner_agents_and_instant_clicks_are_flagged() {
        for agent in [
            "Mozilla/5.0 (compatible; Barracuda Sentinel)",
            "python-requests/2.32",
            "Slackbot-LinkExpanding 1.0",
            "Mozilla/5.0 (compatible; bingbot/2.0)",
            "",
        ] {
            assert_eq!(bot_reasons(&[click(1_000, 9, agent, Some(100))]), vec![BotReason::KnownScanner], "{agent:?}");
        }
        assert!(!is_scanner_agent(BROWSER));
        assert_eq!(bot_reasons(&[click(1_003, 9, BROWSER, Some(1_000))]), vec![BotReason::TooSoonAfterSend]);
    }

    #[test]
    fn evidence_is_bounded_to_the_newest_clicks() {
        let mut clicks = Vec::new();
        for i in 0..(MAX_CLICKS_KEPT as i64 + 5) {
            remember(&mut clicks, click(i, 5, BROWSER, None));
        }
        assert_eq!(clicks.len(), MAX_CLICKS_KEPT);
        assert_eq!(clicks[0].at, Timestamp::from_unix(5));
        let long_agent = "x".repeat(1000) + "\u{0}";
        assert_eq!(click(1, 1, &long_agent, None).agent.len(), MAX_AGENT_CHARS);
    }

    fn request(now: Timestamp) -> SurveyRequest {
        SurveyRequest {
            id: RequestId::new(now),
            survey_id: SurveyId::parse("default").unwrap(),
            person_id: PersonId::from_stored("0123456789abcdef0123456789abcdef").unwrap(),
            email: crate::EmailAddress::parse("a@example.com").unwrap(),
            name: None,
            locale: crate::survey::Locale::En,
            properties: BTreeMap::from([("product".into(), "boots".into())]),
            person_properties: BTreeMap::from([("plan".into(), "pro".into())]),
            weights: Weights::default(),
            source: "generic".into(),
            event_id: "e".into(),
            transaction_id: None,
            created_at: now,
            due_at: now,
            state: crate::request::RequestState::Sent,
            attempts: 0,
            lease_until: None,
            sent_at: Some(now),
        }
    }

    #[test]
    fn clicks_are_evidence_and_a_confirmation_is_the_answer() {
        let now = Timestamp::from_unix(1_800_000_000);
        let mut r = Response::new(&request(now), SurveyKind::Transactional, now);
        r.record_click(click(now.unix() + 60, 9, BROWSER, Some(now.unix())));
        assert!(!r.confirmed() && r.version == 0 && !r.suspected_bot());

        let day = Duration::from_secs(86_400);
        let later = now.plus(Duration::from_secs(120));
        assert_eq!(r.confirm(score(9), None, later, 7 * day), Ok(true));
        assert_eq!((r.score, r.version), (Some(score(9)), 1));
        assert_eq!(r.confirm(score(9), None, later, 7 * day), Ok(false), "a double submit is not a new version");

        let comment = Comment::parse("Fast delivery").unwrap();
        assert_eq!(r.confirm(score(10), comment.clone(), later.plus(day), 7 * day), Ok(true));
        assert_eq!((r.score, r.version, r.comment.clone()), (Some(score(10)), 2, comment));
        assert_eq!(r.confirm(score(3), None, later.plus(8 * day), 7 * day), Err(ConfirmError::WindowClosed));
        assert_eq!(r.score, Some(score(10)));
    }

    #[test]
    fn a_click_that_adds_nothing_is_not_kept_and_the_evidence_is_bounded() {
        let now = Timestamp::from_unix(1_800_000_000);
        let mut r = Response::new(&request(now), SurveyKind::Transactional, now);
        let at = |minutes: i64| now.unix() + 3600 + minutes * 60;
        assert!(r.record_click(click(at(0), 9, BROWSER, Some(now.unix()))));
        assert!(!r.record_click(click(at(1), 9, BROWSER, Some(now.unix()))), "the same score and agent again");
        assert!(r.record_click(click(at(2), 8, BROWSER, Some(now.unix()))), "another score");
        // A thousand clicks with new agents: kept until the evidence is full, then not.
        let kept = (0..1000).filter(|i| r.record_click(click(at(3 + i), 7, &format!("Agent {i}"), None))).count();
        assert_eq!((kept, r.clicks.len()), (MAX_CLICKS_KEPT - 2, MAX_CLICKS_KEPT));
        // A reason to suspect a machine is still kept when full, and reasons are never lost.
        assert!(r.record_click(click(at(2000), 1, "python-requests/2.32", None)));
        assert_eq!(r.bot_reasons, vec![BotReason::KnownScanner]);
        for i in 0..MAX_CLICKS_KEPT as i64 {
            r.record_click(click(at(3000 + i), 2, BROWSER, None));
        }
        assert_eq!(r.bot_reasons, vec![BotReason::KnownScanner], "the scanner's click may be gone, its reason stays");
    }

    #[test]
    fn versions_are_capped() {
        let now = Timestamp::from_unix(1_800_000_000);
        let mut r = Response::new(&request(now), SurveyKind::Transactional, now);
        let day = Duration::from_secs(86_400);
        for i in 0..MAX_VERSIONS {
            assert_eq!(r.confirm(score(9 + (i % 2) as u8), None, now, day), Ok(true));
        }
        assert_eq!(r.confirm(score(9 + (MAX_VERSIONS % 2) as u8), None, now, day), Err(ConfirmError::TooManyChanges));
        let last = r.score;
        assert_eq!(r.confirm(last.unwrap(), None, now, day), Ok(false), "the same answer again is no change");
        assert_eq!(r.version, MAX_VERSIONS);
    }

    #[test]
    fn a_sweep_flags_the_response_and_a_person_can_still_answer() {
        let now = Timestamp::from_unix(1_800_000_000);
        let mut r = Response::new(&request(now), SurveyKind::Transactional, now);
        for s in 0..=10 {
            r.record_click(click(now.unix() + 2, s, "Mozilla/5.0", Some(now.unix())));
        }
        assert!(r.suspected_bot());
        assert_eq!(r.bot_reasons, vec![BotReason::TooSoonAfterSend, BotReason::ScoreBurst]);
        assert_eq!(
            r.confirm(score(7), None, now.plus(Duration::from_secs(3600)), Duration::from_secs(86_400)),
            Ok(true)
        );
        assert!(r.confirmed() && r.suspected_bot(), "counted, and still reported with its evidence");
    }

    #[test]
    fn an_enps_answer_closes_a_window_after_its_first_click() {
        let now = Timestamp::from_unix(1_795_392_000);
        let day = Duration::from_secs(86_400);
        let mut r = Response::new(&request(now), SurveyKind::Enps, now);
        let late = now.plus(Duration::from_secs(86_400 + 1));
        assert_eq!(r.confirm(score(9), None, late, day), Err(ConfirmError::WindowClosed), "even a first answer");
        assert_eq!(r.confirm(score(9), None, now.plus(Duration::from_secs(3600)), day), Ok(true));
        let mut t = Response::new(&request(now), SurveyKind::Transactional, now);
        assert_eq!(t.confirm(score(9), None, late, day), Ok(true), "other kinds: from the first answer");
    }

    #[test]
    fn enps_responses_keep_no_identity() {
        let now = Timestamp::from_unix(1_800_000_000);
        assert!(Response::new(&request(now), SurveyKind::Enps, now).person_id.is_none());
        assert!(Response::new(&request(now), SurveyKind::Relationship, now).person_id.is_some());
        assert_eq!(Response::new(&request(now), SurveyKind::Enps, now).properties["product"], "boots");
        assert!(Response::new(&request(now), SurveyKind::Enps, now).person_properties.is_empty(), "never for eNPS");
        assert_eq!(Response::new(&request(now), SurveyKind::Transactional, now).person_properties["plan"], "pro");
    }

    #[test]
    fn comments_are_kept_verbatim_but_bounded() {
        let markup = "<script>alert(1)</script> =HYPERLINK(\"x\")";
        assert_eq!(Comment::parse(markup).unwrap().unwrap().as_str(), markup);
        assert_eq!(Comment::parse("  \n ").unwrap(), None);
        assert_eq!(Comment::parse("line one\nline two").unwrap().unwrap().as_str(), "line one\nline two");
        assert_eq!(Comment::parse(&"é".repeat(MAX_COMMENT_CHARS)).map(|c| c.is_some()), Ok(true));
        assert_eq!(Comment::parse(&"é".repeat(MAX_COMMENT_CHARS + 1)), Err(CommentError::TooLong));
        assert_eq!(Comment::parse("a\u{7}b"), Err(CommentError::Control));
    }
}

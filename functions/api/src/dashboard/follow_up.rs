//! The dashboard's follow-up screens (docs/dashboard.md, "Following up"): the detractors to follow
//! up, filtered by status, owner and tag (`?view=follow-up`), and one answer with its follow-up,
//! notes and history, and a form to change it (`?response=<id>`, posted as `action=follow-up`).
//! A change made here is recorded as `dashboard (<key name>)`; it needs a write key's session.

use std::collections::BTreeMap;

use lambda_http::Body;
use lambda_http::Response as HttpResponse;
use lambda_http::http::StatusCode;
use maud::{Markup, html};
use nps_adapters::dynamo::{ApiKey, Order, Scope};
use nps_domain::Timestamp;
use nps_domain::follow_up::{Edit, FollowUp, MAX_OWNER_CHARS, Status};
use nps_domain::request::RequestId;
use nps_domain::response::Response;
use nps_domain::survey::{Survey, SurveyKind};
use nps_http::ApiError;
use nps_read::params::format_day;
use time::{Date, Duration, OffsetDateTime};

use super::page::{document, header};
use super::{PAGE, refused};
use crate::App;

/// The newest responses of the range read at most for the list, and the answers it shows at most.
const EXAMINED: usize = 500;
const SHOWN: usize = 100;

/// The list's filters: a status (`None`: any), an owner, a tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub status: Option<Status>,
    pub owner: Option<String>,
    pub tag: Option<String>,
}

impl Filters {
    /// Open ones unless the query says otherwise.
    pub fn new() -> Self {
        Filters { status: Some(Status::Open), owner: None, tag: None }
    }

    fn keeps(&self, f: &FollowUp) -> bool {
        self.status.is_none_or(|s| s == f.status)
            && self.owner.as_deref().is_none_or(|o| f.owner.as_deref().is_some_and(|mine| mine.eq_ignore_ascii_case(o)))
            && self.tag.as_deref().is_none_or(|t| f.tags.iter().any(|mine| mine == t))
    }
}

/// `status`: `open`, `contacted`, `resolved` or `any`.
pub fn status_filter(value: &str) -> Result<Option<Status>, ApiError> {
    match value {
        "any" => Ok(None),
        v => Status::parse(v).map(Some).ok_or_else(|| refused("status", "must be open, contacted, resolved or any")),
    }
}

/// An owner or tag to filter by: at most 100 characters.
pub fn text_filter(parameter: &str, value: &str) -> Result<String, ApiError> {
    if value.chars().count() > MAX_OWNER_CHARS || value.chars().any(char::is_control) {
        return Err(refused(parameter, "must be at most 100 characters"));
    }
    Ok(value.trim().to_lowercase())
}

fn day_of(t: Timestamp) -> Date {
    OffsetDateTime::from_unix_timestamp(t.unix()).map_or(Date::MIN, |t| t.date())
}

/// A form's edit: the status and owner as shown (unchanged ones record nothing), the tags as one
/// comma-separated field, a note when one was written.
pub fn edit_of(form: &BTreeMap<String, String>) -> Edit {
    let text = |name: &str| form.get(name).cloned();
    Edit {
        status: text("status").and_then(|s| Status::parse(&s)),
        owner: text("owner"),
        tags: text("tags").map(|t| t.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()),
        note: text("note").filter(|n| !n.trim().is_empty()),
    }
}

impl App {
    /// The detractors of `survey` in the range (newest first) whose follow-up `filters` keeps.
    pub(super) async fn to_follow_up(
        &self,
        survey: &Survey,
        (since, until): (Date, Date),
        filters: &Filters,
    ) -> Result<Vec<(Response, FollowUp)>, ApiError> {
        if survey.kind == SurveyKind::Enps {
            return Ok(Vec::new());
        }
        let day_start = |d: Date| d.midnight().assume_utc().unix_timestamp();
        let lower = nps_adapters::dynamo::keys::sort_from(day_start(since));
        let upper = nps_adapters::dynamo::keys::sort_through(day_start(until + Duration::days(1)) - 1);
        let first_month = since.replace_day(1).unwrap_or(since);
        let mut month = until.replace_day(1).unwrap_or(until);
        let (mut detractors, mut examined) = (Vec::new(), 0);
        while month >= first_month && examined < EXAMINED {
            let key = &format_day(month)[..7];
            let mut before = upper.clone();
            loop {
                let page = self.responses.listed(&survey.id, key, (&lower, &before), 100, Order::NewestFirst).await?;
                examined += page.responses.len();
                detractors.extend(page.responses.into_iter().filter(|r| r.score.is_some_and(|s| s.value() <= 6)));
                match page.last {
                    Some(last) if !page.exhausted && examined < EXAMINED => before = last,
                    _ => break,
                }
            }
            month = (month - Duration::days(1)).replace_day(1).unwrap_or(Date::MIN);
        }
        let ids: Vec<RequestId> = detractors.iter().map(|r| r.request_id).collect();
        let follow_ups: BTreeMap<RequestId, FollowUp> = self.follow_ups.get_many(&ids).await?.into_iter().collect();
        Ok(detractors
            .into_iter()
            .filter_map(|r| {
                let f = follow_ups.get(&r.request_id).cloned().unwrap_or_default();
                filters.keeps(&f).then_some((r, f))
            })
            .take(SHOWN)
            .collect())
    }

    /// A change posted from an answer's page, by a write key's session; back to the page.
    pub(super) async fn dashboard_follow_up(
        &self,
        key: &ApiKey,
        form: &BTreeMap<String, String>,
        now: Timestamp,
    ) -> Result<HttpResponse<Body>, ApiError> {
        if !key.scope.allows(Scope::Write) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "sign in with a write key to follow up"));
        }
        let id = form.get("response").ok_or_else(|| refused("response", "is required"))?;
        self.follow_up(id, edit_of(form), &format!("dashboard ({})", key.name), now).await?;
        Ok(super::see_other(&format!("{PAGE}?response={id}"), ""))
    }
}

fn status_badge(status: Status) -> Markup {
    html! { span.status.(status.as_str()) { (status.as_str()) } }
}

/// The list: the filters, then a row per detractor with its follow-up and a link to its page.
pub fn list(
    surveys: &[Survey],
    survey: &Survey,
    range_days: i64,
    filters: &Filters,
    rows: &[(Response, FollowUp)],
) -> String {
    let chosen = |s: Option<Status>| filters.status == s;
    document(
        "To follow up: NPS dashboard",
        html! {
            (header())
            main {
                nav.wide { a href=(PAGE) { "Overview" } " · " strong { "To follow up" } }
                section.wide {
                    form.filters method="get" action=(PAGE) {
                        input type="hidden" name="view" value="follow-up";
                        label {
                            "Survey"
                            select name="survey" {
                                @for s in surveys.iter().filter(|s| s.kind != SurveyKind::Enps) {
                                    option value=(s.id) selected[s.id == survey.id] { (s.id) " (" (s.product_name) ")" }
                                }
                            }
                        }
                        label {
                            "Range"
                            select name="range" {
                                @for (days, label, _) in super::RANGES {
                                    option value=(days) selected[*days == range_days] { (label) }
                                }
                            }
                        }
                        label {
                            "Status"
                            select name="status" {
                                @for (value, s) in [("open", Some(Status::Open)), ("contacted", Some(Status::Contacted)), ("resolved", Some(Status::Resolved)), ("any", None)] {
                                    option value=(value) selected[chosen(s)] { (value) }
                                }
                            }
                        }
                        label { "Owner" input type="text" name="owner" maxlength="100" value=(filters.owner.clone().unwrap_or_default()); }
                        label { "Tag" input type="text" name="tag" maxlength="40" value=(filters.tag.clone().unwrap_or_default()); }
                        button type="submit" { "Apply" }
                    }
                }
                section.wide.follow-up {
                    h2 { "Detractors to follow up" }
                    @if survey.kind == SurveyKind::Enps {
                        p { "eNPS answers are anonymous: nobody is followed up." }
                    } @else if rows.is_empty() {
                        p { "No detractor of this range matches." }
                    } @else {
                        div.table tabindex="0" role="region" aria-label="Detractors to follow up" {
                            table {
                                thead { tr { th { "Day" } th.num { "Score" } th { "Comment" } th { "Status" } th { "Owner" } th { "Tags" } th { "" } } }
                                tbody {
                                    @for (r, f) in rows {
                                        tr {
                                            td { (format_day(day_of(r.created_at))) }
                                            td.num { (r.score.map_or(0, |s| s.value())) }
                                            td.comment { (r.comment.as_ref().map_or("", |c| c.as_str())) }
                                            td { (status_badge(f.status)) }
                                            td { (f.owner.clone().unwrap_or_default()) }
                                            td { (f.tags.join(", ")) }
                                            td { a.open href={ (PAGE) "?response=" (r.request_id) } { "Open" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// One answer: what was said, its follow-up, notes and history, and the form to change it.
pub fn answer(r: &Response, f: &FollowUp, can_change: bool) -> String {
    let at = |t: Timestamp| t.to_rfc3339().replace('T', " ").chars().take(16).collect::<String>() + " UTC";
    document(
        "An answer: NPS dashboard",
        html! {
            (header())
            main {
                nav.wide { a href=(PAGE) { "Overview" } " · " a href={ (PAGE) "?view=follow-up&survey=" (r.survey_id) } { "To follow up" } }
                section.wide.answer {
                    h2 { "Score " (r.score.map_or("–".to_owned(), |s| s.value().to_string())) " · " (r.survey_id) " · " (format_day(day_of(r.created_at))) }
                    @if let Some(c) = &r.comment {
                        blockquote.example { (c.as_str()) }
                    }
                    @if !r.properties.is_empty() || !r.person_properties.is_empty() {
                        p.muted {
                            @for (k, v) in r.properties.iter().chain(&r.person_properties) { (k) ": " (v) " " }
                        }
                    }
                    p { "Status " (status_badge(f.status)) " · owner " strong.owner { (f.owner.clone().unwrap_or_else(|| "nobody".into())) } " · tags " span.tags { (if f.tags.is_empty() { "none".to_owned() } else { f.tags.join(", ") }) } }
                }
                @if can_change {
                    section.wide {
                        h2 { "Follow up" }
                        form.follow-up method="post" action=(PAGE) {
                            input type="hidden" name="action" value="follow-up";
                            input type="hidden" name="response" value=(r.request_id);
                            label {
                                "Status"
                                select name="status" {
                                    @for s in [Status::Open, Status::Contacted, Status::Resolved] {
                                        option value=(s.as_str()) selected[s == f.status] { (s.as_str()) }
                                    }
                                }
                            }
                            label { "Owner" input type="text" name="owner" maxlength="100" value=(f.owner.clone().unwrap_or_default()); }
                            label { "Tags, comma-separated" input type="text" name="tags" maxlength="900" value=(f.tags.join(", ")); }
                            label { "Note" textarea name="note" maxlength="2000" rows="3" {} }
                            button type="submit" { "Save" }
                        }
                    }
                } @else {
                    p.note.wide { "Signed in with a read key: sign in with a write key to follow up." }
                }
                section.wide.notes {
                    h2 { "Notes" }
                    @if f.notes.is_empty() { p { "No notes yet." } }
                    ul.comments {
                        @for n in &f.notes {
                            li { p.comment { (n.text) } p.muted { (n.by) " · " (at(n.at)) } }
                        }
                    }
                }
                section.wide.history {
                    h2 { "History" }
                    @if f.history.is_empty() { p { "No change yet." } }
                    ol {
                        @for c in &f.history {
                            li { (c.what) span.muted { " · " (c.by) " · " (at(c.at)) } }
                        }
                    }
                }
            }
        },
    )
}

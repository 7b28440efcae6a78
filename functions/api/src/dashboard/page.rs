//! The dashboard's HTML: one stylesheet in the page (allowed by its hash in the CSP), no script,
//! no external asset. The markup is maud templates, checked when compiled; everything spliced into
//! them (comments, segment values, survey names) is escaped unless wrapped in `PreEscaped`, which
//! only the stylesheet is.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use nps_domain::survey::Survey;
use sha2::{Digest, Sha256};

use super::chart;
use super::{Comments, PAGE, RANGES};
use nps_read::metrics::figures::{Figures, Weighted};
use nps_read::metrics::{Group, Metrics};
use nps_read::themes::Themes;

/// The colours are custom properties so that a test can check their contrast (WCAG AA).
pub const CSS: &str = r#"
:root{--text:#1b1b1f;--muted:#4a4f57;--bg:#ffffff;--panel:#f3f4f6;--line:#c4c9d1;--accent:#1d4ed8;--on-accent:#ffffff;--promoter:#146c2e;--passive:#8a5a00;--detractor:#b3261e;--band:#c7d7f4;--error:#b3261e}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--text);background:var(--bg)}
header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:.5rem 1rem;padding:.75rem 1rem;border-bottom:1px solid var(--line)}
h1{font-size:1.25rem;margin:0}
h2{font-size:1.05rem;margin:0 0 .5rem}
h3{font-size:.95rem;margin:.75rem 0 .25rem}
.status{display:inline-block;border:1px solid var(--muted);border-radius:.25rem;padding:0 .4rem;font-size:.85rem}
form.follow-up{display:grid;gap:.5rem;max-width:32rem}
.sides{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(16rem,1fr))}
ol.reasons{margin:0;padding-left:1.25rem;display:grid;gap:.5rem}
blockquote.example{margin:.25rem 0 0;padding-left:.5rem;border-left:3px solid var(--muted);color:var(--muted);overflow-wrap:anywhere}
p{margin:.25rem 0}
main{max-width:64rem;margin:0 auto;padding:1rem;display:grid;gap:1rem}
section{background:var(--panel);border-radius:.5rem;padding:1rem;min-width:0}
form.filters{display:grid;gap:.5rem}
@media (min-width:44rem){form.filters{grid-template-columns:repeat(4,minmax(0,1fr)) auto;align-items:end}main{grid-template-columns:minmax(0,1fr) minmax(0,2fr)}.wide{grid-column:1/-1}}
label{display:grid;gap:.25rem;font-size:.9rem;color:var(--muted)}
select,input{font:inherit;color:var(--text);background:var(--bg);border:1px solid var(--muted);border-radius:.375rem;padding:.5rem;min-height:2.75rem;width:100%;min-width:0}
button{font:inherit;font-weight:600;color:var(--on-accent);background:var(--accent);border:1px solid var(--accent);border-radius:.375rem;padding:.5rem 1rem;min-height:2.75rem;cursor:pointer}
button.quiet{color:var(--accent);background:var(--bg)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.score{font-size:3.5rem;font-weight:700;line-height:1.1}
.muted{color:var(--muted)}
.note{color:var(--muted);font-size:.9rem}
.error{color:var(--error);font-weight:600}
svg{display:block;width:100%;height:auto}
svg.categories{height:1.5rem;margin:.5rem 0}
td svg.interval{width:8rem}
.axis{stroke:var(--line);stroke-width:1}
.axis.zero{stroke:var(--muted)}
.label{fill:var(--muted);font-size:13px}
.band{fill:var(--band)}
.line{fill:none;stroke:var(--accent);stroke-width:2}
.point{fill:var(--accent)}
.empty{stroke:var(--muted);stroke-width:2}
.wave{stroke:var(--muted);stroke-width:1;stroke-dasharray:4 3}
.whisker{stroke:var(--text);stroke-width:2}
rect.promoter{fill:var(--promoter)}rect.passive{fill:var(--passive)}rect.detractor{fill:var(--detractor)}rect.none{fill:var(--line)}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:.15em;margin-right:.35em}
.badge{display:inline-block;color:var(--on-accent);border-radius:.25rem;padding:0 .4rem;font-size:.85rem;font-weight:600}
.promoter.swatch,.promoter.badge{background:var(--promoter)}.passive.swatch,.passive.badge{background:var(--passive)}.detractor.swatch,.detractor.badge{background:var(--detractor)}
ul.legend{display:flex;flex-wrap:wrap;gap:.25rem 1rem;margin:0;padding:0;list-style:none}
.table{overflow-x:auto}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.4rem .3rem;border-bottom:1px solid var(--line);vertical-align:middle}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr[aria-current]{font-weight:700}
ul.comments{list-style:none;margin:0;padding:0;display:grid;gap:.75rem}
ul.comments li{background:var(--bg);border-radius:.375rem;padding:.5rem .75rem}
.comment{margin:.25rem 0 0;white-space:pre-wrap;overflow-wrap:anywhere}
.signin{max-width:26rem;margin:8vh auto;padding:1rem;display:grid;gap:.75rem}
"#;

/// `Content-Security-Policy`: nothing but this page's own stylesheet, forms back to itself.
pub static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = STANDARD.encode(Sha256::digest(CSS.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
});

pub(super) fn document(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light";
                meta name="referrer" content="no-referrer";
                title { (title) }
                // Exactly the text the CSP's hash names.
                style { (PreEscaped(CSS)) }
            }
            body { (body) }
        }
    }
    .into_string()
}

/// The sign-in form; it posts back to `action` (the dashboard with its filters).
pub fn sign_in(action: &str, message: Option<&str>) -> String {
    document(
        "Sign in: NPS dashboard",
        html! {
            main {
                form.signin method="post" action=(action) {
                    h1 { "NPS dashboard" }
                    @if let Some(message) = message {
                        p.error role="alert" { (message) }
                    }
                    label {
                        "API key"
                        input type="password" name="key" autocomplete="current-password" required maxlength="200" spellcheck="false";
                    }
                    input type="hidden" name="action" value="sign-in";
                    button type="submit" { "Sign in" }
                    p.note {
                        "A read or write key, from " code { "nps-cli keys create" }
                        ". The session lasts 12 hours and ends when the key is revoked."
                    }
                }
            }
        },
    )
}

/// A page that only says what went wrong, with a way back.
pub fn problem(message: &str) -> String {
    document(
        "NPS dashboard",
        html! {
            main {
                section.signin {
                    h1 { "NPS dashboard" }
                    p.error role="alert" { (message) }
                    p { a href=(PAGE) { "Back to the dashboard" } }
                }
            }
        },
    )
}

pub(super) fn header() -> Markup {
    html! {
        header {
            h1 { "Net Promoter Score" }
            form method="post" action=(PAGE) {
                input type="hidden" name="action" value="sign-out";
                button.quiet type="submit" { "Sign out" }
            }
        }
    }
}

/// The page for a deployment without surveys.
pub fn no_surveys() -> String {
    document(
        "NPS dashboard",
        html! {
            (header())
            main {
                section.wide {
                    h2 { "No surveys yet" }
                    p { "Create one with " code { "POST /v1/surveys" } " (docs/surveys.md); its answers show here." }
                }
            }
        },
    )
}

fn number(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

/// What the data behind a page is: every part, already read.
pub struct View<'a> {
    pub surveys: &'a [Survey],
    pub survey: &'a Survey,
    pub range_days: i64,
    pub segment: Option<&'a (String, String)>,
    pub group_by: Option<&'a str>,
    pub segment_values: &'a BTreeMap<String, BTreeSet<String>>,
    pub metrics: &'a Metrics,
    pub breakdown: Breakdown<'a>,
    pub comments: &'a Comments,
    /// Why promoters recommend and why detractors don't (`/v1/themes`).
    pub themes: &'a Themes,
    /// Filters that did not apply to this survey, said on the page.
    pub notes: &'a [String],
    /// Where the survey's list's waves begin in the range: `(number, first day)`.
    pub waves: &'a [(i64, String)],
}

pub enum Breakdown<'a> {
    Groups(&'a [Group]),
    /// The survey keeps no segment properties.
    NoDimension,
    /// More values than one page breaks down into.
    TooMany(usize),
}

pub fn dashboard(v: &View) -> String {
    document(
        &format!("NPS: {}", v.survey.id),
        html! {
            (header())
            main {
                @if v.survey.kind != nps_domain::survey::SurveyKind::Enps {
                    nav.wide { strong { "Overview" } " · " a href={ (PAGE) "?view=follow-up&survey=" (v.survey.id) } { "To follow up" } }
                }
                (filters(v))
                @for note in v.notes {
                    p.note.wide role="status" { (note) }
                }
                (headline(v))
                (trend(v))
                (breakdown(v))
                (reasons(v))
                (comments(v))
            }
        },
    )
}

fn filters(v: &View) -> Markup {
    let chosen = |dimension: &str, value: &str| v.segment.is_some_and(|(d, s)| d == dimension && s == value);
    html! {
        section.wide {
            form.filters method="get" action=(PAGE) {
                label {
                    "Survey"
                    select name="survey" {
                        @for s in v.surveys {
                            option value=(s.id) selected[s.id == v.survey.id] {
                                (s.id) " (" (s.product_name) ", " (s.kind.as_str()) ")"
                            }
                        }
                    }
                }
                label {
                    "Range"
                    select name="range" {
                        @for (days, label, _) in RANGES {
                            option value=(days) selected[*days == v.range_days] { (label) }
                        }
                    }
                }
                label {
                    "Segment"
                    select name="segment" {
                        option value="" { "All answers" }
                        @for (dimension, values) in v.segment_values {
                            optgroup label=(dimension) {
                                @for value in values.iter().take(super::MAX_SEGMENT_OPTIONS) {
                                    option value={ (dimension) ":" (value) } selected[chosen(dimension, value)] {
                                        (dimension) ": " (value)
                                    }
                                }
                            }
                        }
                    }
                }
                label {
                    "Breakdown by"
                    select name="group_by" {
                        @if v.survey.segment_properties.is_empty() {
                            option value="" { "No segments" }
                        }
                        @for dimension in &v.survey.segment_properties {
                            option value=(dimension) selected[v.group_by == Some(dimension.as_str())] { (dimension) }
                        }
                    }
                }
                button type="submit" { "Apply" }
            }
        }
    }
}

/// The change against the previous period, and whether it is more than chance.
fn change(v: &View) -> Option<String> {
    let (f, c) = (&v.metrics.figures, v.metrics.comparison.as_ref()?);
    // The z test needs enough answers on both sides: one answer has no spread and any change
    // would look significant.
    let judged = f.min_n_met == Some(true) && c.previous.min_n_met == Some(true);
    let verdict = match (judged, c.significant) {
        (false, _) => "too few answers to judge the change",
        (true, true) => "a significant change",
        (true, false) => "within chance",
    };
    Some(match c.delta {
        Some(d) => format!("{d:+.0} points against {} to {} ({verdict})", c.previous_since, c.previous_until),
        None => format!("no comparison with {} to {} (no answers there)", c.previous_since, c.previous_until),
    })
}

fn headline(v: &View) -> Markup {
    let m = v.metrics;
    let f = &m.figures;
    let scope = match v.segment {
        Some((d, value)) => format!("{d}: {value}"),
        None => "all answers".to_owned(),
    };
    let rate = f.response_rate.map(|r| format!(", {:.0}% answered", r * 100.0)).unwrap_or_default();
    let categories = [
        ("promoter", "Promoters", f.promoter_count, f.promoter_percent),
        ("passive", "Passives", f.passive_count, f.passive_percent),
        ("detractor", "Detractors", f.detractor_count, f.detractor_percent),
    ];
    html! {
        section.headline aria-labelledby="nps-title" {
            h2 #nps-title { "NPS, " (m.since) " to " (m.until) }
            p.muted { (scope) }
            @if f.withheld {
                p.score { "–" }
                p { "Withheld: eNPS figures count settled months with at least 5 answers only (docs/enps.md)." }
            } @else {
                @if let (Some(nps), Some(rounded)) = (f.nps, f.nps_rounded) {
                    p.score data-nps=(nps) { (rounded) }
                    p {
                        "95% interval "
                        span.interval-text { (number(f.ci_low, 0)) " to " (number(f.ci_high, 0)) }
                        " (±" (number(f.margin, 1)) ")"
                    }
                } @else {
                    p.score { "–" }
                    p { "No answers in this period." }
                }
                p { span.answers { (f.n.unwrap_or(0)) } " answers, " (f.sent_count.unwrap_or(0)) " surveys sent" (rate) }
                @if f.min_n_met == Some(false) && f.n.is_some_and(|n| n > 0) {
                    p.note { "Under 30 answers: the interval is wide, read it before the score." }
                }
                @if let Some(change) = change(v) {
                    p.muted { (change) }
                }
                (chart::categories(f))
                ul.legend {
                    @for (class, label, count, percent) in categories {
                        li {
                            span.swatch.(class) {}
                            (label) " " span.num { (number(percent, 0)) "%" } " " span.muted { "(" (count.unwrap_or(0)) ")" }
                        }
                    }
                }
                (worth(f))
            }
        }
    }
}

/// What the answers are worth, per currency: the NPS weighted by it, and the detractors' and
/// promoters' share of it (docs/metrics.md, "Weighted by revenue").
fn worth(f: &Figures) -> Markup {
    let Some(weighted) = f.weighted.as_deref().filter(|w| !w.is_empty()) else { return html! {} };
    html! {
        div.worth {
            h3 { "Weighted by " (weighted[0].property) }
            div.table tabindex="0" role="region" aria-label="Weighted figures" {
                table {
                    thead {
                        tr {
                            th { "Currency" }
                            th.num { "Weighted NPS" }
                            th.num { "95% interval" }
                            th.num { "At risk (detractors)" }
                            th.num { "Promoting" }
                            th.num { "All" }
                        }
                    }
                    tbody {
                        @for w in weighted {
                            tr {
                                td { (currency(w)) }
                                td.num { (w.nps_rounded.map_or_else(|| "–".to_owned(), |n| n.to_string())) }
                                td.num {
                                    @match (w.ci_low, w.ci_high) {
                                        (Some(low), Some(high)) => { (format!("{low:.0} to {high:.0}")) }
                                        _ => { "–" }
                                    }
                                }
                                td.num.at-risk { (amount(w.revenue_at_risk)) }
                                td.num { (amount(w.revenue_promoting)) }
                                td.num { (amount(w.total)) }
                            }
                        }
                    }
                }
            }
            @if weighted.iter().any(|w| !w.min_n_met) {
                p.note { "A few large amounts weigh as few answers: under 30 effective answers, read the interval first." }
            }
        }
    }
}

fn currency(w: &Weighted) -> String {
    w.currency.as_deref().map_or_else(|| "none given".to_owned(), str::to_uppercase)
}

/// `16,030.50`: two decimals, thousands apart.
fn amount(v: f64) -> String {
    let text = format!("{:.2}", v.abs());
    let (whole, cents) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{}{grouped}.{cents}", if v < 0.0 { "−" } else { "" })
}

/// The detractors' worth in each currency, for a breakdown's row.
fn at_risk(f: &Figures) -> String {
    match f.weighted.as_deref() {
        Some(weighted) if !weighted.is_empty() => weighted
            .iter()
            .map(|w| format!("{} {}", amount(w.revenue_at_risk), w.currency.as_deref().unwrap_or("").to_uppercase()))
            .map(|s| s.trim_end().to_owned())
            .collect::<Vec<_>>()
            .join("; "),
        _ => "–".to_owned(),
    }
}

fn trend(v: &View) -> Markup {
    let m = v.metrics;
    html! {
        section.trend-panel {
            h2 { "Trend by " (m.granularity) }
            (chart::trend(&m.series, m.granularity, v.waves))
            details {
                summary { "The numbers" }
                div.table tabindex="0" role="region" aria-label="The trend's numbers" {
                    table {
                        thead {
                            tr { th { "From" } th { "To" } th.num { "Answers" } th.num { "NPS" } th.num { "95% interval" } }
                        }
                        tbody {
                            @for b in &m.series {
                                tr {
                                    td { (b.start) }
                                    td { (b.end) }
                                    td.num { (answers(&b.figures)) }
                                    td.num { (number(b.figures.nps, 1)) }
                                    td.num { (interval_text(&b.figures)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn answers(f: &Figures) -> String {
    f.n.map_or_else(|| "withheld".to_owned(), |n| n.to_string())
}

fn interval_text(f: &Figures) -> String {
    match (f.ci_low, f.ci_high) {
        (Some(low), Some(high)) => format!("{low:.0} to {high:.0}"),
        _ => "–".to_owned(),
    }
}

fn breakdown(v: &View) -> Markup {
    let weighed = !v.survey.weight_properties.is_empty();
    html! {
        section.wide.breakdown {
            @match (&v.breakdown, v.group_by) {
                (Breakdown::Groups(groups), Some(dimension)) => {
                    h2 { "By " (dimension) }
                    @if v.segment.is_some() {
                        p.note { "Over all answers of the range; the chosen segment is in bold." }
                    }
                    // Focusable: on a phone it scrolls sideways, and a keyboard must be able to scroll it too.
                    div.table tabindex="0" role="region" aria-label={ "By " (dimension) } {
                        table {
                            thead {
                                tr {
                                    th { (dimension) }
                                    th.num { "Answers" }
                                    th.num { "NPS" }
                                    th.num { "95% interval" }
                                    @if weighed {
                                        th.num { "At risk" }
                                    }
                                    th { "NPS and interval, −100 to 100" }
                                }
                            }
                            tbody {
                                @for g in groups.iter() {
                                    @let current = v.segment.is_some_and(|(d, value)| d == dimension && *value == g.value);
                                    tr aria-current=[current.then_some("true")] {
                                        td { (g.value) }
                                        td.num { (answers(&g.figures)) }
                                        td.num { (g.figures.nps_rounded.map_or_else(|| "–".to_owned(), |n| n.to_string())) }
                                        td.num { (interval_text(&g.figures)) }
                                        @if weighed {
                                            td.num.at-risk { (at_risk(&g.figures)) }
                                        }
                                        td { (chart::interval(&g.figures)) }
                                    }
                                }
                                @if groups.is_empty() {
                                    tr { td colspan=(if weighed { 6 } else { 5 }) { "No answers with this property yet." } }
                                }
                            }
                        }
                    }
                }
                (Breakdown::TooMany(count), Some(dimension)) => {
                    h2 { "By " (dimension) }
                    p { (count) " values: too many to break down here; choose one as a segment." }
                }
                _ => {
                    h2 { "Breakdown" }
                    p { "This survey keeps no segment properties." }
                }
            }
        }
    }
}

/// The reasons on each side that stand out (significant), with a comment that gives each.
fn reasons(v: &View) -> Markup {
    let t = v.themes;
    let sides = [
        ("Why promoters recommend", "promoter", &t.promoters, t.comments.promoters),
        ("Why detractors don't", "detractor", &t.detractors, t.comments.detractors),
    ];
    html! {
        section.wide.reasons aria-labelledby="reasons-title" {
            h2 #reasons-title { "Top reasons" }
            p.muted {
                "The words that most tell one side's comments from the other's, from "
                (t.comments.detractors + t.comments.passives + t.comments.promoters) " comments of the range (docs/themes.md)."
            }
            div.sides {
                @for (title, class, reasons, comments) in sides {
                    div.side {
                        h3 { span.swatch.(class) {} (title) }
                        @let shown: Vec<_> = reasons.iter().filter(|r| r.theme.significant).collect();
                        @if shown.is_empty() {
                            p.note { "Nothing stands out yet in " (comments) " comments: a reason shows once it is more than chance." }
                        } @else {
                            ol.reasons {
                                @for r in shown {
                                    li {
                                        strong.reason { (r.theme.label) }
                                        " " span.muted { "(" (side_mentions(class, &r.theme.mentions)) " of " (comments) ")" }
                                        @if let Some(e) = r.examples.first() {
                                            blockquote.example { (e.text) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn side_mentions(side: &str, m: &nps_themes::Mentions) -> u64 {
    if side == "promoter" { m.promoters } else { m.detractors }
}

fn comments(v: &View) -> Markup {
    html! {
        section.wide {
            @match v.comments {
                Comments::Withheld => {
                    h2 { "Comments" }
                    p {
                        "Withheld: eNPS comments are shown a settled month at a time, and only where it holds \
                         at least 5 (they stay anonymous)."
                    }
                }
                Comments::Batch { month, texts } => {
                    h2 { "Comments of " (month) }
                    p.muted { "Sorted by their text, without scores or dates: eNPS answers stay anonymous." }
                    ul.comments {
                        @for text in texts {
                            li { p.comment { (text) } }
                        }
                    }
                }
                Comments::Latest(list) if list.is_empty() => {
                    h2 { "Latest comments" }
                    p { "No comments in this period." }
                }
                Comments::Latest(list) => {
                    h2 { "Latest comments" }
                    ul.comments {
                        @for c in list {
                            li {
                                span.badge.(c.category) { (capitalised(c.category)) " " (c.score) }
                                " "
                                span.muted { (context(c)) }
                                p.comment { (c.text) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A comment's day and segment properties, on one line.
fn context(c: &nps_read::comments::Comment) -> String {
    let properties = c.properties.iter().map(|(k, v)| format!("{k}: {v}"));
    std::iter::once(c.day.clone()).chain(properties).collect::<Vec<_>>().join(" · ")
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WCAG 2 contrast ratio of two `#rrggbb` colours.
    fn contrast(a: &str, b: &str) -> f64 {
        let luminance = |hex: &str| {
            let channel = |i: usize| {
                let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
                if c <= 0.03928 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
            };
            0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
        };
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    fn colour(name: &str) -> &'static str {
        let start = CSS.find(&format!("--{name}:")).unwrap_or_else(|| panic!("--{name} in the CSS")) + name.len() + 3;
        &CSS[start..start + 7]
    }

    #[test]
    fn text_and_its_backgrounds_meet_wcag_aa() {
        // (text, background, least ratio): 4.5 for text, 3 for graphics against their background.
        for (fg, bg, least) in [
            ("text", "bg", 4.5),
            ("text", "panel", 4.5),
            ("muted", "bg", 4.5),
            ("muted", "panel", 4.5),
            ("on-accent", "accent", 4.5),
            ("accent", "bg", 4.5),
            ("error", "bg", 4.5),
            ("error", "panel", 4.5),
            ("on-accent", "promoter", 4.5),
            ("on-accent", "passive", 4.5),
            ("on-accent", "detractor", 4.5),
            ("promoter", "panel", 3.0),
            ("passive", "panel", 3.0),
            ("detractor", "panel", 3.0),
            ("accent", "band", 3.0),
        ] {
            let ratio = contrast(colour(fg), colour(bg));
            assert!(ratio >= least, "--{fg} on --{bg}: {ratio:.2} < {least}");
        }
    }

    #[test]
    fn amounts_read_as_money() {
        assert_eq!(amount(16030.5), "16,030.50");
        assert_eq!(amount(999.999), "1,000.00");
        assert_eq!(amount(0.0), "0.00");
        assert_eq!(amount(1234567.0), "1,234,567.00");
        assert_eq!(amount(-42.0), "−42.00");
    }

    #[test]
    fn the_csp_names_the_stylesheet_by_its_hash() {
        let hash = STANDARD.encode(Sha256::digest(CSS.as_bytes()));
        assert!(CSP.contains(&format!("style-src 'sha256-{hash}'")));
        assert!(CSP.starts_with("default-src 'none'"));
        assert!(!CSP.contains("unsafe"));
        assert!(document("t", html! {}).contains(&format!("<style>{CSS}</style>")), "the hashed text exactly");
    }

    #[test]
    fn markup_in_the_sign_in_message_and_action_is_text() {
        let page = sign_in("/dashboard?survey=\"><script>", Some("<b>no</b>"));
        assert!(page.contains("action=\"/dashboard?survey=&quot;&gt;&lt;script&gt;\""));
        assert!(page.contains("&lt;b&gt;no&lt;/b&gt;"));
        assert!(!page.contains("<script"));
    }
}

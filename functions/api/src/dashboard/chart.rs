//! The dashboard's pictures as inline SVG: sizes in attributes (the page's CSP allows no inline
//! styles), colours from the page's classes, every number also given as text in a `<title>`.
//! Every element has a closing tag: inside `<svg>` an HTML parser reads no void elements.

use std::fmt::Write;

use maud::{Markup, Render, html};

use nps_read::metrics::Bucket;
use nps_read::metrics::figures::Figures;
use nps_read::params::stored_day;

// The trend's geometry, in the units of its `viewBox` (480 × 236).
const LEFT: f64 = 40.0;
const RIGHT: f64 = 470.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 200.0;
/// Space at each end of the x axis, so the first and last points are not on its edges.
const PAD: f64 = 8.0;
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// A coordinate written with one decimal.
struct At(f64);

impl Render for At {
    fn render_to(&self, buffer: &mut String) {
        let _ = write!(buffer, "{:.1}", self.0);
    }
}

fn y(nps: f64) -> f64 {
    TOP + (100.0 - nps.clamp(-100.0, 100.0)) * (BOTTOM - TOP) / 200.0
}

/// `2026-11-02` as `Nov 2` (`Nov 2026` for months).
fn short_date(day: &str, monthly: bool) -> String {
    let mut parts = day.split('-');
    let (Some(year), Some(month), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return day.to_owned();
    };
    let month = month.parse::<usize>().ok().and_then(|m| MONTHS.get(m.wrapping_sub(1))).copied().unwrap_or(month);
    if monthly { format!("{month} {year}") } else { format!("{month} {}", d.trim_start_matches('0')) }
}

/// What a bucket's point says when hovered, or read by a screen reader.
fn describe(bucket: &Bucket) -> String {
    let f = &bucket.figures;
    let period =
        if bucket.start == bucket.end { bucket.start.clone() } else { format!("{} to {}", bucket.start, bucket.end) };
    match (f.nps, f.ci_low, f.ci_high) {
        (Some(nps), Some(low), Some(high)) => {
            format!("{period}: NPS {nps:.0} (95% interval {low:.0} to {high:.0}), {} answers", f.n.unwrap_or(0))
        }
        _ if f.withheld => format!("{period}: withheld (fewer than 5 answers)"),
        _ => format!("{period}: no answers"),
    }
}

/// Where a bucket's day sits on the x axis: its bucket's place, plus how far into the bucket it is.
fn place(series: &[Bucket], day: &str) -> Option<f64> {
    let i = series.iter().position(|b| b.start.as_str() <= day && day <= b.end.as_str())?;
    let (start, end) = (stored_day(&series[i].start)?, stored_day(&series[i].end)?);
    let length = (end - start).whole_days() + 1;
    Some(i as f64 + (stored_day(day)? - start).whole_days() as f64 / length as f64)
}

/// A point of a run: its x, and the y of its NPS and of its interval's ends.
struct Point {
    x: f64,
    nps: f64,
    low: f64,
    high: f64,
}

/// The runs of buckets with an interval, split where a bucket has no answers.
fn runs(series: &[Bucket], x: impl Fn(usize) -> f64) -> Vec<Vec<Point>> {
    let mut runs: Vec<Vec<Point>> = Vec::new();
    let mut open = false;
    for (i, bucket) in series.iter().enumerate() {
        match (bucket.figures.nps, bucket.figures.ci_low, bucket.figures.ci_high) {
            (Some(nps), Some(low), Some(high)) => {
                if !open {
                    runs.push(Vec::new());
                }
                open = true;
                if let Some(run) = runs.last_mut() {
                    run.push(Point { x: x(i), nps: y(nps), low: y(low), high: y(high) });
                }
            }
            _ => open = false,
        }
    }
    runs
}

/// The band of a run: along the upper ends and back along the lower ones (a bar for one point).
fn band(run: &[Point]) -> String {
    let mut d = String::new();
    if let [p] = run {
        let _ = write!(d, "M{:.1} {:.1}H{:.1}V{:.1}H{:.1}Z", p.x - 4.0, p.high, p.x + 4.0, p.low, p.x - 4.0);
    } else {
        for (j, p) in run.iter().enumerate() {
            let _ = write!(d, "{}{:.1} {:.1}", if j == 0 { 'M' } else { 'L' }, p.x, p.high);
        }
        for p in run.iter().rev() {
            let _ = write!(d, "L{:.1} {:.1}", p.x, p.low);
        }
        d.push('Z');
    }
    d
}

fn line(run: &[Point]) -> String {
    let mut d = String::new();
    for (j, p) in run.iter().enumerate() {
        let _ = write!(d, "{}{:.1} {:.1}", if j == 0 { 'M' } else { 'L' }, p.x, p.nps);
    }
    d
}

/// The NPS of each bucket as a line with its 95% interval as a band behind it, a point per bucket
/// with answers, a tick on the axis for each without, and a dashed line where each of the list's
/// waves (`(number, first day)`) begins.
pub fn trend(series: &[Bucket], granularity: &str, waves: &[(i64, String)]) -> Markup {
    let count = series.len().max(1);
    let at = |i: f64| {
        if count == 1 { (LEFT + RIGHT) / 2.0 } else { LEFT + PAD + i * (RIGHT - LEFT - 2.0 * PAD) / (count - 1) as f64 }
    };
    let x = |i: usize| at(i as f64);
    let runs = runs(series, x);
    let waves = waves.iter().filter_map(|(number, day)| Some((number, day, at(place(series, day)?))));
    // Dates under the axis: the first, the last, and the middle one when there is room.
    let mut labelled = vec![0, series.len().saturating_sub(1)];
    if series.len() >= 5 {
        labelled.insert(1, series.len() / 2);
    }
    labelled.dedup();
    let anchor = |i: usize| match i {
        0 if series.len() > 1 => "start",
        i if i + 1 == series.len() && series.len() > 1 => "end",
        _ => "middle",
    };
    html! {
        svg.trend viewBox="0 0 480 236" role="img" aria-labelledby="trend-title" {
            title #trend-title { "NPS by " (granularity) ", with its 95% interval" }
            @for level in [100, 50, 0, -50, -100] {
                @let y = y(f64::from(level));
                line.axis.zero[level == 0] x1=(LEFT) x2=(RIGHT) y1=(y) y2=(y) {}
                text.label x=(LEFT - 6.0) y=(y + 4.0) text-anchor="end" { (level) }
            }
            @for run in &runs {
                path.band d=(band(run)) {}
            }
            @for run in runs.iter().filter(|r| r.len() > 1) {
                path.line d=(line(run)) {}
            }
            @for (i, bucket) in series.iter().enumerate() {
                @if let Some(nps) = bucket.figures.nps {
                    circle.point cx=(At(x(i))) cy=(At(y(nps))) r="3.5" { title { (describe(bucket)) } }
                } @else {
                    line.empty x1=(At(x(i))) x2=(At(x(i))) y1=(BOTTOM - 6.0) y2=(BOTTOM) { title { (describe(bucket)) } }
                }
            }
            @for (number, day, x) in waves {
                line.wave x1=(At(x)) x2=(At(x)) y1=(TOP) y2=(BOTTOM) { title { "Wave " (number) " begins " (day) } }
                text.label x=(At(x)) y=(BOTTOM + 12.0) text-anchor="middle" { "W" (number) }
            }
            @for i in labelled {
                @if let Some(bucket) = series.get(i) {
                    text.label x=(At(x(i))) y="224" text-anchor=(anchor(i)) {
                        (short_date(&bucket.start, granularity == "month"))
                    }
                }
            }
        }
    }
}

/// Promoters, passives and detractors as one bar split in their shares.
pub fn categories(f: &Figures) -> Markup {
    let mut x = 0.0;
    let mut parts = Vec::new();
    for (class, share) in
        [("promoter", f.promoter_percent), ("passive", f.passive_percent), ("detractor", f.detractor_percent)]
    {
        let width = share.unwrap_or(0.0).clamp(0.0, 100.0);
        if width > 0.0 {
            parts.push((class, format!("{x:.3}"), format!("{width:.3}")));
        }
        x += width;
    }
    html! {
        svg.categories viewBox="0 0 100 6" preserveAspectRatio="none" role="img" aria-label="Share of promoters, passives and detractors" {
            @for (class, x, width) in &parts {
                rect.(class) x=(x) y="0" width=(width) height="6" {}
            }
            @if parts.is_empty() {
                rect.none x="0" y="0" width="100" height="6" {}
            }
        }
    }
}

/// One NPS and its interval on a -100…100 scale: a whisker and a dot, with 0 marked.
pub fn interval(f: &Figures) -> Markup {
    let (Some(nps), Some(low), Some(high)) = (f.nps, f.ci_low, f.ci_high) else { return html! {} };
    let x = |v: f64| At(v.clamp(-100.0, 100.0) + 100.0);
    html! {
        svg.interval viewBox="0 0 200 12" role="img" aria-label=(format!("NPS {nps:.0}, 95% interval {low:.0} to {high:.0}")) {
            line.axis.zero x1="100" x2="100" y1="0" y2="12" {}
            line.whisker x1=(x(low)) x2=(x(high)) y1="6" y2="6" {}
            circle.point cx=(x(nps)) cy="6" r="4" {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nps_domain::rollup::Counts;
    use nps_read::metrics::figures::summarise;

    fn bucket(day: &str, scores: [i64; 11]) -> Bucket {
        let figures = summarise(&Counts { scores, ..Counts::default() }).unwrap().figures;
        Bucket { start: day.into(), end: day.into(), wave: None, figures }
    }

    const SOME: [i64; 11] = [1, 0, 0, 0, 0, 0, 0, 1, 0, 2, 1];

    #[test]
    fn a_point_per_bucket_with_answers_a_band_per_run_and_a_tick_for_each_gap() {
        let series = vec![
            bucket("2026-11-01", SOME),
            bucket("2026-11-02", SOME),
            bucket("2026-11-03", [0; 11]),
            bucket("2026-11-04", SOME),
            bucket("2026-11-05", SOME),
            bucket("2026-11-06", SOME),
        ];
        let svg = trend(&series, "day", &[]).into_string();
        assert_eq!(svg.matches(r#"<circle class="point""#).count(), 5);
        assert_eq!(svg.matches(r#"<line class="empty""#).count(), 1);
        assert_eq!(svg.matches(r#"<path class="band""#).count(), 2, "the gap splits the band");
        assert_eq!(svg.matches(r#"<path class="line""#).count(), 2);
        assert!(svg.contains("2026-11-03: no answers"));
        assert!(svg.contains(">Nov 1</text>") && svg.contains(">Nov 6</text>"));
    }

    #[test]
    fn each_wave_of_the_list_is_marked_where_it_begins() {
        let series: Vec<Bucket> = (1..=5).map(|d| bucket(&format!("2026-11-0{d}"), SOME)).collect();
        let waves = [(2, "2026-11-03".to_owned()), (3, "2026-12-03".to_owned())];
        let svg = trend(&series, "day", &waves).into_string();
        assert_eq!(svg.matches(r#"<line class="wave""#).count(), 1, "a wave outside the range is not drawn");
        // The third of five days: halfway along the axis.
        let middle = (LEFT + RIGHT) / 2.0;
        assert!(svg.contains(&format!(r#"<line class="wave" x1="{middle:.1}""#)), "{svg}");
        assert!(svg.contains("<title>Wave 2 begins 2026-11-03</title>") && svg.contains(">W2</text>"));
    }

    #[test]
    fn a_lone_bucket_still_has_a_band() {
        let svg = trend(&[bucket("2026-11-01", SOME)], "month", &[]).into_string();
        assert_eq!(svg.matches(r#"<path class="band""#).count(), 1);
        assert_eq!(svg.matches(r#"<path class="line""#).count(), 0);
        assert!(svg.contains(">Nov 2026</text>"));
    }

    #[test]
    fn points_sit_at_their_nps_and_the_band_spans_the_interval() {
        // 10 promoters: NPS 100 at the top; its interval reaches down below it.
        let svg = trend(&[bucket("2026-11-01", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10])], "day", &[]).into_string();
        assert!(svg.contains(r#"cy="10.0""#), "{svg}");
        let f = &bucket("2026-11-01", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10]).figures;
        assert!(svg.contains(&format!("V{:.1}", y(f.ci_low.unwrap()))), "{svg}");
    }

    #[test]
    fn category_shares_fill_the_bar() {
        let f = bucket("2026-11-01", SOME).figures;
        let svg = categories(&f).into_string();
        assert!(svg.contains(r#"class="promoter" x="0.000" y="0" width="60.000""#), "{svg}");
        assert!(svg.contains(r#"class="detractor" x="80.000" y="0" width="20.000""#), "{svg}");
        assert!(categories(&bucket("2026-11-01", [0; 11]).figures).into_string().contains(r#"class="none""#));
    }
}

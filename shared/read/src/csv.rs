//! The CSV export: RFC 4180 (quoted where needed, CRLF line ends), UTF-8, one column per segment
//! dimension. A cell that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`,
//! a tab or a carriage return) starts with `'` instead, as OWASP advises against CSV injection.

use nps_domain::response::Response;

use crate::responses::{Person, category_name};

/// Neutralises a cell a spreadsheet would read as a formula.
pub fn cell(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

/// The CSV of `responses`, with the person's email and name when `people` is given; the header
/// row first when `header`.
/// The CSV of `responses`, with the header first when `header`, cut before the row that would
/// take it over `max_bytes` (a Lambda answer holds at most 6 MB); with the rows written.
pub fn responses(
    responses: &[Response],
    people: Option<&[Option<Person>]>,
    dimensions: &[String],
    header: bool,
    max_bytes: usize,
) -> Result<(String, usize), csv::Error> {
    let mut out = Vec::new();
    if header {
        out = record(&header_row(people.is_some(), dimensions))?;
    }
    for (i, r) in responses.iter().enumerate() {
        let mut row: Vec<String> = vec![
            r.request_id.to_string(),
            r.survey_id.to_string(),
            r.kind.as_str().to_owned(),
            r.created_at.to_rfc3339(),
            r.updated_at.to_rfc3339(),
            r.score.map(|s| s.value().to_string()).unwrap_or_default(),
            r.score.map(|s| category_name(s.category()).to_owned()).unwrap_or_default(),
            cell(r.comment.as_ref().map_or("", |c| c.as_str())).into_owned(),
            r.score.is_some().to_string(),
            r.suspected_bot().to_string(),
            r.version.to_string(),
        ];
        if let Some(people) = people {
            let person = people.get(i).cloned().flatten();
            row.push(cell(person.as_ref().map_or("", |p| p.email.as_str())).into_owned());
            row.push(cell(person.as_ref().and_then(|p| p.name.as_deref()).unwrap_or("")).into_owned());
        }
        row.extend(dimensions.iter().map(|d| cell(r.properties.get(d).map_or("", String::as_str)).into_owned()));
        let row = record(&row)?;
        if out.len() + row.len() > max_bytes {
            return Ok((String::from_utf8(out).unwrap_or_default(), i));
        }
        out.extend(row);
    }
    Ok((String::from_utf8(out).unwrap_or_default(), responses.len()))
}

/// One CSV record, RFC 4180 (quoted where needed, CRLF).
fn record(fields: &[String]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    out.write_record(fields)?;
    out.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

fn header_row(people: bool, dimensions: &[String]) -> Vec<String> {
    let mut header: Vec<String> = [
        "id",
        "survey",
        "survey_type",
        "created_at",
        "updated_at",
        "score",
        "category",
        "comment",
        "confirmed",
        "suspected_bot",
        "version",
    ]
    .iter()
    .map(|h| (*h).to_owned())
    .collect();
    if people {
        header.extend(["email".to_owned(), "name".to_owned()]);
    }
    header.extend(dimensions.iter().map(|d| format!("property.{d}")));
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_plain_text_is_kept() {
        for formula in ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(cell(formula), format!("'{formula}"));
        }
        for plain in ["Great", "", "1", "it's -fine"] {
            assert_eq!(cell(plain), plain);
        }
    }

    #[test]
    fn a_page_stops_before_the_row_that_would_take_it_over_its_bytes() {
        use nps_domain::fixtures;
        use nps_domain::response::{Comment, MAX_COMMENT_CHARS};
        use nps_domain::survey::SurveyKind;
        // The longest comment, in 4-byte characters: over 8 KB a row.
        let request = fixtures::sent_request(1, "default", &[], nps_domain::Timestamp::from_unix(1_795_392_000));
        let mut r = fixtures::response(&request, SurveyKind::Transactional, Some(9), 1);
        r.comment = Comment::parse(&"\u{1F600}".repeat(MAX_COMMENT_CHARS)).unwrap();
        let page = vec![r; 2000];
        let (csv, rows) = responses(&page, None, &[], true, 5_000_000).unwrap();
        assert!(csv.len() <= 5_000_000 && csv.len() > 4_900_000, "{}", csv.len());
        assert!(rows < 2000 && rows > 500, "{rows}");
        assert_eq!(csv::Reader::from_reader(csv.as_bytes()).records().count(), rows, "whole rows only");
        let (all, rows) = responses(&page[..10], None, &[], false, usize::MAX).unwrap();
        assert_eq!((rows, all.lines().count()), (10, 10));
    }
}

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
pub fn responses(
    responses: &[Response],
    people: Option<&[Option<Person>]>,
    dimensions: &[String],
    header: bool,
) -> Result<String, csv::Error> {
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    if header {
        out.write_record(header_row(people.is_some(), dimensions))?;
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
        out.write_record(&row)?;
    }
    let bytes = out.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8(bytes).unwrap_or_default())
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
}

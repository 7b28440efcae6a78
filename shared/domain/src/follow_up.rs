//! Closing the loop on an answer: whether someone has followed it up (`open`, `contacted`,
//! `resolved`), who owns it, tags, and notes, each change kept with who made it and when. Never for
//! an eNPS answer (nobody may be contacted about an anonymous one); an erasure removes it all
//! (notes may name the person).

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::intake::bounded_text;

pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 40;
pub const MAX_OWNER_CHARS: usize = 100;
pub const MAX_NOTE_CHARS: usize = 2000;
pub const MAX_NOTES: usize = 50;
/// Changes kept per answer: enough for any real follow-up, and a bound on the item's size.
pub const MAX_CHANGES: usize = 200;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Open,
    Contacted,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Contacted => "contacted",
            Status::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Open, Status::Contacted, Status::Resolved].into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub text: String,
    pub by: String,
    pub at: Timestamp,
}

/// One change, as the history shows it: `status: open → contacted`, `note added`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub at: Timestamp,
    pub by: String,
    pub what: String,
}

/// An answer's follow-up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    pub status: Status,
    pub owner: Option<String>,
    pub tags: Vec<String>,
    pub notes: Vec<Note>,
    pub history: Vec<Change>,
    /// Storage revision, for optimistic locking (0: never stored).
    #[serde(skip)]
    pub revision: u32,
}

/// What one call changes; each field absent leaves it as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    pub status: Option<Status>,
    /// `""` removes the owner.
    pub owner: Option<String>,
    /// Replaces the tags.
    pub tags: Option<Vec<String>>,
    /// Adds a note.
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    Invalid(String),
    #[error("this answer has been changed {MAX_CHANGES} times, the most kept")]
    TooManyChanges,
    #[error("this answer has {MAX_NOTES} notes, the most kept")]
    TooManyNotes,
}

/// A tag: lower case, 1 to 40 of letters, digits, `-` and `_`.
fn tag(t: &str) -> Result<String, EditError> {
    let t = t.trim().to_lowercase();
    let ok = (1..=MAX_TAG_CHARS).contains(&t.chars().count())
        && t.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    ok.then_some(t)
        .ok_or_else(|| EditError::Invalid(format!("tags: each 1 to {MAX_TAG_CHARS} letters, digits, - or _")))
}

impl FollowUp {
    /// Applies `edit` by `by` at `at`, recording each change; `Ok(false)` when it changes nothing.
    pub fn apply(&mut self, edit: Edit, by: &str, at: Timestamp) -> Result<bool, EditError> {
        let invalid = |e: crate::intake::EventError| EditError::Invalid(e.to_string());
        let mut changes = Vec::new();
        if let Some(status) = edit.status.filter(|s| *s != self.status) {
            changes.push(format!("status: {} → {}", self.status.as_str(), status.as_str()));
            self.status = status;
        }
        if let Some(owner) = edit.owner {
            let owner = bounded_text("owner", &owner, MAX_OWNER_CHARS).map_err(invalid)?;
            let owner = (!owner.is_empty()).then_some(owner);
            if owner != self.owner {
                changes.push(match &owner {
                    Some(o) => format!("owner: {o}"),
                    None => "owner removed".to_owned(),
                });
                self.owner = owner;
            }
        }
        if let Some(tags) = edit.tags {
            if tags.len() > MAX_TAGS {
                return Err(EditError::Invalid(format!("tags: at most {MAX_TAGS}")));
            }
            let mut tags = tags.iter().map(|t| tag(t)).collect::<Result<Vec<_>, _>>()?;
            tags.sort();
            tags.dedup();
            if tags != self.tags {
                changes.push(format!("tags: {}", if tags.is_empty() { "none".to_owned() } else { tags.join(", ") }));
                self.tags = tags;
            }
        }
        if let Some(note) = edit.note {
            let text = bounded_text("note", &note.replace("\r\n", "\n").replace('\n', " "), MAX_NOTE_CHARS)
                .map_err(invalid)?;
            if text.is_empty() {
                return Err(EditError::Invalid("note: is empty".into()));
            }
            if self.notes.len() >= MAX_NOTES {
                return Err(EditError::TooManyNotes);
            }
            self.notes.push(Note { text, by: by.to_owned(), at });
            changes.push("note added".to_owned());
        }
        if self.history.len() + changes.len() > MAX_CHANGES {
            return Err(EditError::TooManyChanges);
        }
        let changed = !changes.is_empty();
        self.history.extend(changes.into_iter().map(|what| Change { at, by: by.to_owned(), what }));
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_unix(1_800_000_000 + s)
    }

    #[test]
    fn each_change_is_kept_with_who_and_when() {
        let mut f = FollowUp::default();
        let edit = Edit {
            status: Some(Status::Contacted),
            owner: Some(" Dana ".into()),
            tags: Some(vec!["Refund".into(), "stove".into(), "refund".into()]),
            note: Some("Called, a new burner is on its way.".into()),
        };
        assert_eq!(f.apply(edit, "key: support desk", at(1)), Ok(true));
        assert_eq!(
            (f.status, f.owner.as_deref(), f.tags.clone()),
            (Status::Contacted, Some("Dana"), vec!["refund".to_owned(), "stove".to_owned()])
        );
        let what: Vec<&str> = f.history.iter().map(|c| c.what.as_str()).collect();
        assert_eq!(what, ["status: open → contacted", "owner: Dana", "tags: refund, stove", "note added"]);
        assert!(f.history.iter().all(|c| c.by == "key: support desk" && c.at == at(1)));
        assert_eq!(f.notes[0].text, "Called, a new burner is on its way.");
        // The same again changes nothing and records nothing.
        let same = Edit { status: Some(Status::Contacted), owner: Some("Dana".into()), ..Edit::default() };
        assert_eq!(f.apply(same, "dashboard", at(2)), Ok(false));
        assert_eq!(f.history.len(), 4);
        assert_eq!(f.apply(Edit { owner: Some(String::new()), ..Edit::default() }, "dashboard", at(3)), Ok(true));
        assert_eq!((f.owner.clone(), f.history[4].what.as_str()), (None, "owner removed"));
    }

    #[test]
    fn bad_edits_are_refused_and_change_nothing_stored() {
        let mut f = FollowUp::default();
        for (edit, says) in [
            (Edit { tags: Some(vec!["no spaces".into()]), ..Edit::default() }, "tags"),
            (Edit { tags: Some((0..21).map(|i| format!("t{i}")).collect()), ..Edit::default() }, "tags"),
            (Edit { owner: Some("a\u{7}b".into()), ..Edit::default() }, "owner"),
            (Edit { owner: Some("x".repeat(101)), ..Edit::default() }, "owner"),
            (Edit { note: Some("   ".into()), ..Edit::default() }, "note"),
            (Edit { note: Some("x".repeat(2001)), ..Edit::default() }, "note"),
        ] {
            let err = f.clone().apply(edit, "k", at(0)).unwrap_err().to_string();
            assert!(err.starts_with(says), "{err}");
        }
        for i in 0..MAX_NOTES {
            f.apply(Edit { note: Some(format!("n{i}")), ..Edit::default() }, "k", at(0)).unwrap();
        }
        assert_eq!(
            f.apply(Edit { note: Some("one more".into()), ..Edit::default() }, "k", at(0)),
            Err(EditError::TooManyNotes)
        );
        let mut g = FollowUp::default();
        for i in 0..MAX_CHANGES {
            let status = if i % 2 == 0 { Status::Contacted } else { Status::Open };
            g.apply(Edit { status: Some(status), ..Edit::default() }, "k", at(0)).unwrap();
        }
        let last = Edit { status: Some(Status::Resolved), ..Edit::default() };
        assert_eq!(g.apply(last, "k", at(0)), Err(EditError::TooManyChanges));
    }
}

//! Top reasons behind the score (docs/themes.md): the terms of comments (`text`), counted per
//! category in sets that add up like the rollups (`TermCounts`), and ranked by how much more one
//! side says them than the other (`rank`). Pure: no I/O, no model to download.

pub mod rank;
pub mod text;

pub use rank::{FDR, MIN_MENTIONS, Mentions, Ranked, TermCounts, Theme, rank};
pub use text::{Language, MAX_TERMS_PER_COMMENT, Term, terms};

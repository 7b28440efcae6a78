//! A comment's terms: its stemmed words and pairs of neighbouring words, stop words left out.
//!
//! - Words are runs of letters and digits, lower-cased; a word of one character or only digits
//!   says nothing and is dropped, as are the language's stop words (NLTK's lists), except the
//!   negations: "not working" is a reason, "working" its opposite.
//! - Each word is reduced to its Snowball stem, so "stoves" and "stove" count together.
//! - A bigram is two kept words in a row within one phrase: stop words between them do not part
//!   them ("the stove is broken": `stove broken`), punctuation does.
//! - A term counts once per comment, however often the comment repeats it: one angry customer
//!   writing "broken" ten times is one comment about broken things.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};
use serde::{Deserialize, Serialize};

/// The languages of the survey pages, and so of the comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    De,
    Fr,
    Es,
}

/// Most terms one comment adds: a comment is at most 2,000 characters; this bounds its cost.
pub const MAX_TERMS_PER_COMMENT: usize = 200;

/// Negations kept although NLTK lists them as stop words.
const NEGATIONS: [(Language, &[&str]); 4] = [
    (Language::En, &["not", "no", "nor", "never"]),
    (Language::De, &["nicht", "kein", "keine", "keinen", "keinem", "keiner", "keines", "nie"]),
    (Language::Fr, &["pas", "ne", "ni", "jamais"]),
    (Language::Es, &["no", "ni", "nunca"]),
];

struct Analyzer {
    stemmer: Stemmer,
    stop_words: HashSet<String>,
}

impl Analyzer {
    fn new(language: Language) -> Analyzer {
        let (algorithm, code) = match language {
            Language::En => (Algorithm::English, "en"),
            Language::De => (Algorithm::German, "de"),
            Language::Fr => (Algorithm::French, "fr"),
            Language::Es => (Algorithm::Spanish, "es"),
        };
        let kept = NEGATIONS.iter().find(|(l, _)| *l == language).map_or(&[][..], |(_, words)| *words);
        let stop_words = stop_words::get(code).into_iter().filter(|w| !kept.contains(&w.as_str())).collect();
        Analyzer { stemmer: Stemmer::create(algorithm), stop_words }
    }
}

static ANALYZERS: LazyLock<[Analyzer; 4]> =
    LazyLock::new(|| [Language::En, Language::De, Language::Fr, Language::Es].map(Analyzer::new));

fn analyzer(language: Language) -> &'static Analyzer {
    &ANALYZERS[language as usize]
}

/// One term of a comment: `key` is what is counted (stems), `label` what a person reads (the
/// words as written, lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub key: String,
    pub label: String,
}

/// The distinct terms of `comment`, unigrams first, at most [`MAX_TERMS_PER_COMMENT`].
pub fn terms(comment: &str, language: Language) -> Vec<Term> {
    let a = analyzer(language);
    let lower = comment.to_lowercase();
    let mut unigrams: BTreeMap<String, String> = BTreeMap::new();
    let mut bigrams: BTreeMap<String, String> = BTreeMap::new();
    let mut order = Vec::new();
    // A phrase ends at punctuation; within one, the last kept word and its stem.
    let mut previous: Option<(String, String)> = None;
    let mut word = String::new();
    for c in lower.chars().chain(['.']) {
        if c.is_alphanumeric() {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            let w = std::mem::take(&mut word);
            let meaningful = w.chars().count() > 1 && !w.chars().all(|c| c.is_ascii_digit());
            if meaningful && !a.stop_words.contains(&w) {
                let stem = a.stemmer.stem(&w).into_owned();
                if !unigrams.contains_key(&stem) {
                    order.push(stem.clone());
                }
                unigrams.entry(stem.clone()).or_insert_with(|| w.clone());
                if let Some((last_word, last_stem)) = previous.take() {
                    bigrams.entry(format!("{last_stem} {stem}")).or_insert_with(|| format!("{last_word} {w}"));
                }
                previous = Some((w, stem));
            }
        }
        // Spaces, apostrophes and hyphens join a phrase's words; other punctuation ends it.
        if !(c.is_whitespace() || matches!(c, '\'' | '’' | '-')) {
            previous = None;
        }
    }
    let unigrams = order.into_iter().map(|key| {
        let label = unigrams[&key].clone();
        Term { key, label }
    });
    let bigrams = bigrams.into_iter().map(|(key, label)| Term { key, label });
    unigrams.chain(bigrams).take(MAX_TERMS_PER_COMMENT).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(comment: &str, language: Language) -> Vec<String> {
        terms(comment, language).into_iter().map(|t| t.key).collect()
    }

    #[test]
    fn stems_and_pairs_without_stop_words() {
        let t = keys("The stove is broken. The stoves were BROKEN!", Language::En);
        assert_eq!(t, ["stove", "broken", "stove broken"], "each once; `were broken` pairs nothing new");
        let labels: Vec<String> =
            terms("Delivery was late, late, late", Language::En).into_iter().map(|t| t.label).collect();
        assert_eq!(labels, ["delivery", "late", "delivery late"], "a comma ends the phrase: no `late late`");
    }

    #[test]
    fn negations_stay_and_noise_goes() {
        assert_eq!(keys("It does not work", Language::En), ["not", "work", "not work"]);
        assert_eq!(keys("a 2 is x 42 ok", Language::En), ["ok"], "one letter, numbers, stop words");
        // Pairs come after the words, in key order.
        let german = keys("Der Herd funktioniert nicht", Language::De);
        assert_eq!(german, ["herd", "funktioniert", "nicht", "funktioniert nicht", "herd funktioniert"]);
        assert!(keys("La cuisinière ne marche pas", Language::Fr).contains(&"pas".to_owned()));
        assert!(keys("La estufa no funciona", Language::Es).contains(&"no".to_owned()));
    }

    #[test]
    fn a_long_comment_adds_a_bounded_number_of_terms() {
        let long: String = (0..2000).map(|i| format!("word{i} ")).collect();
        assert_eq!(terms(&long, Language::En).len(), MAX_TERMS_PER_COMMENT);
        assert!(terms("", Language::En).is_empty());
        assert!(terms("!!! ... ???", Language::En).is_empty());
    }
}

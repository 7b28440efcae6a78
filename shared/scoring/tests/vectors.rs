//! Every case of the NPS test vectors (`tests/data/nps-vectors.json`, kept in this repository;
//! docs/methodology.md explains them), so a changed expectation there fails here. Where the
//! project's reference copy sits beside the repository (`../shared/testdata`), the kept copy must
//! equal it; a clone on its own needs nothing beside it.

use std::path::PathBuf;

use nps_scoring::{Histogram, Summary};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    histogram: [u64; 11],
    n: u64,
    promoters: u64,
    passives: u64,
    detractors: u64,
    nps: Option<f64>,
    nps_rounded: Option<i64>,
    variance: Option<f64>,
    wald_margin: Option<f64>,
    adjusted_wald_centre: Option<f64>,
    adjusted_wald_margin: Option<f64>,
}

fn kept_copy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/nps-vectors.json")
}

/// `NPS_VECTORS` overrides; otherwise the copy kept in the repository.
fn vectors_path() -> PathBuf {
    std::env::var_os("NPS_VECTORS").map(PathBuf::from).unwrap_or_else(kept_copy)
}

fn load() -> Vec<Case> {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the NPS test vectors at {} ({e}); they are kept in shared/scoring/tests/data",
            path.display()
        )
    });
    let vectors: Vectors = serde_json::from_str(&text).expect("nps-vectors.json parses");
    assert!(!vectors.cases.is_empty(), "no cases in {}", path.display());
    vectors.cases
}

fn close(name: &str, what: &str, got: Option<f64>, want: Option<f64>, tolerance: f64) {
    match (got, want) {
        (Some(g), Some(w)) => assert!((g - w).abs() <= tolerance, "{name}: {what} = {g}, expected {w} ± {tolerance}"),
        (None, None) => {}
        _ => panic!("{name}: {what} = {got:?}, expected {want:?}"),
    }
}

#[test]
fn every_vector_is_reproduced() {
    let cases = load();
    for c in &cases {
        let s = Summary::of(&Histogram::from_counts(c.histogram));
        let name = c.name.as_str();
        assert_eq!(
            (s.n, s.promoter_count, s.passive_count, s.detractor_count),
            (c.n, c.promoters, c.passives, c.detractors),
            "{name}: counts"
        );
        // The vectors round nps to 4 decimals and give 0.001 as the tolerance.
        close(name, "nps", s.nps, c.nps, 0.001);
        assert_eq!(s.nps_rounded, c.nps_rounded, "{name}: nps_rounded");
        if c.variance.is_some() {
            close(name, "variance", s.variance, c.variance, 1e-5);
        }
        if c.wald_margin.is_some() || c.n == 0 {
            close(name, "wald margin", s.wald.map(|w| w.margin), c.wald_margin, 0.01);
        }
        if c.adjusted_wald_margin.is_some() || c.n == 0 {
            close(name, "adjusted wald margin", s.adjusted_wald.map(|w| w.margin), c.adjusted_wald_margin, 0.01);
        }
        if c.adjusted_wald_centre.is_some() {
            close(name, "adjusted wald centre", s.adjusted_wald.map(|w| w.centre), c.adjusted_wald_centre, 0.001);
        }
    }
}

#[test]
fn the_vector_file_covers_the_published_examples() {
    // Guards the test itself: if cases were dropped from the file, the test above would pass on less.
    let names: Vec<String> = load().into_iter().map(|c| c.name).collect();
    for expected in ["textbook exercise", "vendor doc example A", "vendor doc example B", "empty"] {
        assert!(names.iter().any(|n| n == expected), "missing case {expected:?} in {names:?}");
    }
}

#[test]
fn the_kept_copy_equals_the_reference_where_it_exists() {
    let reference = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/nps-vectors.json");
    let Ok(text) = std::fs::read_to_string(&reference) else { return };
    let parse = |t: &str| serde_json::from_str::<serde_json::Value>(t).expect("the vectors parse");
    let kept = std::fs::read_to_string(kept_copy()).expect("the kept copy is readable");
    assert_eq!(parse(&kept), parse(&text), "tests/data/nps-vectors.json differs from {}", reference.display());
}

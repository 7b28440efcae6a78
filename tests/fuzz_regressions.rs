//! Every input kept in `tests/fuzz/seeds/<target>/` (where fuzzing starts) and
//! `tests/fuzz/regressions/<target>/` (inputs that once broke something), run through the fuzz
//! targets' checks on the stable compiler, in every `make test`.

#[path = "fuzz/src/checks.rs"]
mod checks;

use std::path::PathBuf;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut found = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(kind).join(target)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            found.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    found.sort();
    found
}

fn replay(target: &str, check: fn(&[u8])) {
    let inputs = inputs(target);
    assert!(!inputs.is_empty(), "tests/fuzz/seeds/{target} holds the inputs fuzzing starts from");
    for (path, data) in inputs {
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} broke the {target} check again", path.display());
    }
}

#[test]
fn webhook_inputs_replay() {
    replay("webhooks", checks::webhooks);
}

#[test]
fn token_inputs_replay() {
    replay("tokens", checks::tokens);
}

#[test]
fn query_inputs_replay() {
    replay("queries", checks::queries);
}

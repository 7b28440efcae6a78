//! Every function's log lines: JSON objects when the template's `LoggingConfig` sets
//! `AWS_LAMBDA_LOG_FORMAT=JSON`, filtered by `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`.
//! The same lines as lambda_runtime's default subscriber, with a target list for a filter instead
//! of its `EnvFilter`, whose regex engine was ~150 KB of code in every binary (BENCHMARKS.md).
//! `RUST_LOG` takes `level` and `target=level` directives, comma-separated.

use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Installs the subscriber; at the start of `main`.
pub fn init() {
    let spec = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).ok();
    let filter = filter(spec.as_deref());
    let lines = fmt::layer().with_target(false).without_time().with_writer(std::io::stdout);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let layer = if json { lines.json().with_filter(filter).boxed() } else { lines.with_filter(filter).boxed() };
    tracing_subscriber::registry().with(layer).init();
}

/// The directives of `spec`; `info` for what they leave out or cannot be read. Lambda's own
/// levels include `FATAL`, which tracing calls `error`.
fn filter(spec: Option<&str>) -> Targets {
    let spec = spec.map(|s| s.replace("FATAL", "error").replace("fatal", "error"));
    let targets = spec.as_deref().and_then(|s| Targets::from_str(s).ok()).unwrap_or_default();
    match targets.default_level() {
        Some(_) => targets,
        None => targets.with_default(LevelFilter::INFO),
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    #[test]
    fn reads_lambdas_levels_and_target_directives() {
        let enabled = |spec: Option<&str>, target: &str, level: Level| filter(spec).would_enable(target, &level);
        assert!(enabled(None, "api", Level::INFO));
        assert!(!enabled(None, "api", Level::DEBUG));
        assert!(enabled(Some("DEBUG"), "api", Level::DEBUG));
        assert!(!enabled(Some("WARN"), "api", Level::INFO));
        assert!(enabled(Some("FATAL"), "api", Level::ERROR));
        assert!(!enabled(Some("FATAL"), "api", Level::WARN));
        // A target's own level; the rest at info.
        assert!(enabled(Some("aws_smithy_runtime=debug"), "aws_smithy_runtime::client", Level::DEBUG));
        assert!(!enabled(Some("aws_smithy_runtime=debug"), "api", Level::DEBUG));
        assert!(enabled(Some("aws_smithy_runtime=debug"), "api", Level::INFO));
        assert!(!enabled(Some("warn,api=trace"), "nps_read", Level::INFO));
        assert!(enabled(Some("warn,api=trace"), "api", Level::TRACE));
        // Unreadable: info, not silence.
        assert!(enabled(Some("=?!"), "api", Level::INFO));
    }
}

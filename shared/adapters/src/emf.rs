//! Business metrics as CloudWatch Embedded Metric Format documents: one JSON line on standard
//! output, which CloudWatch Logs turns into metrics (namespace [`NAMESPACE`], dimension
//! `Function`). No API call, no latency, no permission; the template's alarms and dashboard read
//! them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

pub const NAMESPACE: &str = "NPS";

/// Counts of one invocation, by metric name.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts(BTreeMap<&'static str, f64>);

impl Counts {
    pub fn add(&mut self, name: &'static str, n: usize) -> &mut Self {
        *self.0.entry(name).or_default() += n as f64;
        self
    }

    /// The EMF document for `function` at `unix_ms`; `None` when nothing was counted (an idle
    /// run writes no line).
    pub fn document(&self, function: &str, unix_ms: i64) -> Option<Value> {
        if self.0.values().all(|n| *n == 0.0) {
            return None;
        }
        let metrics: Vec<Value> = self.0.keys().map(|name| json!({ "Name": name, "Unit": "Count" })).collect();
        let mut document = json!({
            "_aws": {
                "Timestamp": unix_ms,
                "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": [["Function"]], "Metrics": metrics }],
            },
            "Function": function,
        });
        for (name, n) in &self.0 {
            document[*name] = json!(n);
        }
        Some(document)
    }

    /// Prints the document, if any, as one line (Lambda sends standard output to CloudWatch Logs).
    pub fn emit(&self, function: &str) {
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        if let Some(document) = self.document(function, unix_ms) {
            println!("{document}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_cloudwatch_reads() {
        let mut counts = Counts::default();
        counts.add("SurveysSent", 3).add("SendsFailed", 1).add("SurveysSent", 2);
        let document = counts.document("dispatch", 1_764_500_000_000).unwrap();
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(document["_aws"]["Timestamp"], 1_764_500_000_000_i64);
        assert_eq!(directive["Namespace"], "NPS");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        // Every metric named in the directive is a number at the top level, with its dimension.
        let names: Vec<&str> =
            directive["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap()).collect();
        assert_eq!(names, ["SendsFailed", "SurveysSent"]);
        assert!(directive["Metrics"].as_array().unwrap().iter().all(|m| m["Unit"] == "Count"));
        assert_eq!((document["SurveysSent"].as_f64(), document["SendsFailed"].as_f64()), (Some(5.0), Some(1.0)));
        assert_eq!(document["Function"], "dispatch");
        assert!(Counts::default().document("dispatch", 0).is_none(), "nothing counted, no line");
        let mut idle = Counts::default();
        idle.add("SurveysSent", 0);
        assert!(idle.document("dispatch", 0).is_none());
    }
}

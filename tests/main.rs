//! Every cross-function and end-to-end test, one module per file beside this one, in one test
//! binary: each binary links the SDK and four functions (~60 MB in a debug build), so one instead
//! of twenty-two keeps gigabytes out of target/ and minutes of linking out of `make test`.
//! `cargo test -p nps-system-tests --test system -- aggregation::` runs one file's tests.

mod support;

mod aggregation;
mod alerts;
mod browser;
mod cadence;
mod dashboard;
mod delighted_api;
mod delighted_import;
mod enps_anonymity;
mod follow_up;
mod fuzz_regressions;
mod intake_faults;
mod lists;
mod local_table;
mod metrics;
mod one_link;
mod ops_cli;
mod people_erasure;
mod response_webhooks;
mod responses_api;
mod survey_journey;
mod surveys_api;
mod themes;

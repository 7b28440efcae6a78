//! The adapters against DynamoDB Local and the local SES, one module per file beside this one, in
//! one test binary: each binary links the SDK (~40 MB in a debug build), so one instead of seven.

mod api_keys;
mod idempotency;
mod responses;
mod rollups;
mod ses;
mod surveys;
mod xray;

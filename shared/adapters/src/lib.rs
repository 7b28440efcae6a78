//! Adapters: the domain's ports implemented on AWS. Each adapter takes its client and names from
//! its caller and never reads the environment: `aws::lambda_sdk_config` (the CLI's
//! `aws::load_sdk_config`) reads the SDK's, and `config::Env` each binary's settings, once at init.

pub mod aws;
pub mod config;
pub mod dynamo;
pub mod emf;
pub mod logging;
pub mod ses;
pub mod xray;

//! Adapters: the domain's ports implemented on AWS. Each adapter takes its client and names from
//! its caller and never reads the environment; `aws::load_sdk_config` is the one place that does.

pub mod aws;
pub mod dynamo;
pub mod emf;
pub mod ses;

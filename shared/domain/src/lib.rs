//! What the functions share that is not AWS: values parsed once at the boundary, tokens, the
//! survey email, the shapes of requests, responses and rollups. No I/O.
//!
//! One port is a trait, [`mail::Mailer`] (SES in Lambda; a recorder or a failing mailer where a
//! test needs one). Storage is not behind traits: `nps-sending`, `nps-aggregation` and `nps-read`
//! call `nps-adapters`' DynamoDB types directly and are tested against DynamoDB Local, whose
//! conditions and transactions are what the guarantees rest on; what is decided without storage
//! (the intake's rules, the NPS math, the fold's deltas) is a pure function tested without it.

pub mod alert;
pub mod crypto;
pub mod email;
mod escape;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod follow_up;
pub mod idempotency;
pub mod intake;
pub mod mail;
pub mod member;
pub mod person;
pub mod request;
pub mod response;
pub mod rollup;
pub mod store;
pub mod survey;
pub mod survey_email;
pub mod time;
pub mod token;
pub mod weight;

pub use email::{EmailAddress, EmailError};
pub use escape::escape_html;
pub use store::StoreError;
pub use time::Timestamp;

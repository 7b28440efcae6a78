//! What the functions share that is not AWS: values parsed once at the boundary, and the ports
//! (traits) through which the domain reaches storage and mail. Adapters live in `nps-adapters`.

pub mod alert;
pub mod crypto;
pub mod email;
mod escape;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
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

pub use email::{EmailAddress, EmailError};
pub use escape::escape_html;
pub use store::StoreError;
pub use time::Timestamp;

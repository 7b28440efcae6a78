//! What the functions share that is not AWS: values parsed once at the boundary, and the ports
//! (traits) through which the domain reaches storage and mail. Adapters live in `nps-adapters`.

pub mod email;
pub mod idempotency;
pub mod mail;
pub mod store;
pub mod time;

pub use email::{EmailAddress, EmailError};
pub use store::StoreError;
pub use time::Timestamp;

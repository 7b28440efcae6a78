use std::error::Error;

type Source = Box<dyn Error + Send + Sync + 'static>;

/// Why a storage call failed. Adapters keep the underlying error as the source, for the log;
/// callers decide the answer from the variant alone.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled, timed out, unreachable or a server fault: nothing was lost, retry later (HTTP 5xx).
    #[error("storage is unavailable; retry later")]
    Unavailable(#[source] Source),
    /// The request itself was refused (a bug or a misconfiguration, such as a missing table).
    #[error("storage refused the request")]
    Rejected(#[source] Source),
    /// A stored item does not have the shape this code writes.
    #[error("stored item is malformed: {0}")]
    Malformed(String),
}

impl StoreError {
    /// Whether the same call may succeed later without any change.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

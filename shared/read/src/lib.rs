//! The read side, shared by the `api` function and the ops CLI: `/v1/metrics` over the day
//! rollups (`metrics`, with the eNPS rules of `metrics::anonymity`), the responses list and its
//! CSV (`responses`), comments (`comments`: the dashboard's latest, and eNPS batches, also
//! `GET /v1/comments`), and the reasons behind the score (`themes`). Each answer is data or an
//! `ApiError`; turning them into HTTP is the caller's.

pub mod comments;
mod csv;
pub mod delighted;
pub mod metrics;
pub mod params;
pub mod responses;
pub mod themes;

use nps_adapters::dynamo::{
    DynamoMembers, DynamoRequests, DynamoResponses, DynamoRollups, DynamoSurveys, DynamoThemes, Table,
};

/// Capture's default change window, in days (`NPS_CHANGE_WINDOW_DAYS`).
pub const DEFAULT_CHANGE_WINDOW_DAYS: i64 = 7;

/// What the reads need, built once.
pub struct Reader {
    rollups: DynamoRollups,
    surveys: DynamoSurveys,
    responses: DynamoResponses,
    requests: DynamoRequests,
    /// The themes' cache of each day's term counts.
    themes: DynamoThemes,
    /// Where a list's waves begin (`granularity=wave`).
    members: DynamoMembers,
    /// Days after its end before an eNPS month is shown: every answer in it is final by then
    /// (docs/enps.md).
    enps_settle_days: i64,
}

impl Reader {
    pub fn new(table: Table) -> Self {
        Reader {
            rollups: DynamoRollups::new(table.clone()),
            surveys: DynamoSurveys::new(table.clone()),
            responses: DynamoResponses::new(table.clone()),
            requests: DynamoRequests::new(table.clone()),
            themes: DynamoThemes::new(table.clone()),
            members: DynamoMembers::new(table),
            enps_settle_days: DEFAULT_CHANGE_WINDOW_DAYS + 1,
        }
    }

    /// The change window capture enforces: an eNPS month settles a day after it has passed.
    pub fn with_change_window_days(mut self, days: i64) -> Self {
        self.enps_settle_days = days.saturating_add(1);
        self
    }
}

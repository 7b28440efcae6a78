//! `/v1/responses/{id}` (docs/responses.md, "Following up"): one answer with its follow-up
//! (`GET`, read scope), and changes to it (`PATCH`, write scope): status, owner, tags, a note.
//! Each change is kept with the name of the API key that made it and when. Never for an eNPS
//! answer (`403 anonymous_survey`): nobody may be followed up about an anonymous answer.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response as HttpResponse};
use nps_adapters::dynamo::Saved;
use nps_domain::Timestamp;
use nps_domain::follow_up::{Edit, EditError, FollowUp};
use nps_domain::request::RequestId;
use nps_domain::response::Response;
use nps_domain::survey::SurveyKind;
use nps_http::{ApiError, json_body, json_of};
use nps_read::responses::{Listing, listing};
use serde::Serialize;

use crate::App;

/// Attempts at a change that other changes keep overtaking, before a `503`.
const ATTEMPTS: usize = 5;

#[derive(Serialize)]
struct Followed {
    response: Listing,
    follow_up: FollowUp,
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no response with this id")
}

impl App {
    /// The answer `id` (not eNPS) and when it expires.
    pub(crate) async fn followed_answer(&self, id: &str) -> Result<(RequestId, Response, Timestamp), ApiError> {
        let id = RequestId::parse(id).ok_or_else(not_found)?;
        let (response, expires) = self.responses.get_with_expiry(id).await?.ok_or_else(not_found)?;
        if response.kind == SurveyKind::Enps {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "anonymous_survey",
                "an eNPS answer is anonymous: it has no follow-up (docs/enps.md)",
            ));
        }
        let expires = expires.unwrap_or(response.created_at.plus(self.retention));
        Ok((id, response, expires))
    }

    /// `GET /v1/responses/{id}`.
    pub(crate) async fn get_followed(&self, id: &str) -> Result<HttpResponse<Body>, ApiError> {
        let (id, response, _) = self.followed_answer(id).await?;
        let follow_up = self.follow_ups.get(id).await?;
        json_of(StatusCode::OK, &Followed { response: listing(response, None), follow_up })
    }

    /// `PATCH /v1/responses/{id}`.
    pub(crate) async fn edit_followed(
        &self,
        req: &Request,
        id: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<HttpResponse<Body>, ApiError> {
        let edit: Edit =
            serde_json::from_slice(json_body(req)?).map_err(|e| ApiError::invalid(format!("body: {e}")))?;
        let (response, follow_up) = self.follow_up(id, edit, by, now).await?;
        json_of(StatusCode::OK, &Followed { response: listing(response, None), follow_up })
    }

    /// Applies `edit` to the answer `id`'s follow-up as `by` (the API and the dashboard), again on
    /// a fresh read if another change was saved in between.
    pub(crate) async fn follow_up(
        &self,
        id: &str,
        edit: Edit,
        by: &str,
        now: Timestamp,
    ) -> Result<(Response, FollowUp), ApiError> {
        let (id, response, expires) = self.followed_answer(id).await?;
        for _ in 0..ATTEMPTS {
            let mut follow_up = self.follow_ups.get(id).await?;
            let changed = follow_up.apply(edit.clone(), by, now).map_err(|e| match e {
                EditError::Invalid(message) => ApiError::invalid(message),
                full => ApiError::new(StatusCode::CONFLICT, "limit_reached", full.to_string()),
            })?;
            if !changed || self.follow_ups.save(id, &mut follow_up, expires).await? == Saved::Done {
                return Ok((response, follow_up));
            }
        }
        Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "this answer keeps changing; try again"))
    }
}

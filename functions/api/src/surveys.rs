//! `/v1/surveys`: list and read (read scope), create and replace (write scope). The settings are
//! those of survey sending (`Survey`), validated; a survey's kind never changes once it has
//! answers to count (kinds are never merged). The functions cache surveys for up to a minute.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use nps_domain::survey::{Cadence, Locale, Survey, SurveyId, SurveyKind};
use nps_http::{ApiError, json_body, json_of};
use serde::{Deserialize, Serialize};

use crate::App;

/// A survey as sent and answered; the id comes from the body (create) or the path (replace).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SurveyBody {
    id: Option<String>,
    kind: SurveyKind,
    product_name: String,
    sender: String,
    #[serde(default = "english")]
    default_locale: Locale,
    #[serde(default = "ninety")]
    throttle_days: u32,
    #[serde(default)]
    delay_seconds: u64,
    #[serde(default)]
    reminder_after_days: Option<u32>,
    #[serde(default)]
    segment_properties: Vec<String>,
    /// Absent: `amount` (what Shopify's and Stripe's purchases carry), none for eNPS.
    #[serde(default)]
    weight_properties: Option<Vec<String>>,
    #[serde(default)]
    cadence: Option<Cadence>,
}

fn english() -> Locale {
    Locale::En
}

fn ninety() -> u32 {
    90
}

#[derive(Serialize)]
struct List {
    surveys: Vec<Survey>,
}

fn not_found(id: &SurveyId) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no survey with id {id}"))
}

/// The body as a survey with `id` (from the path, or the body's), validated.
fn survey(req: &Request, path_id: Option<&SurveyId>) -> Result<Survey, ApiError> {
    let body: SurveyBody =
        serde_json::from_slice(json_body(req)?).map_err(|e| ApiError::invalid(format!("body: {e}")))?;
    let id = match (path_id, body.id.as_deref()) {
        (Some(path), Some(body)) if body != path.as_str() => {
            return Err(ApiError::invalid("id: differs from the survey in the path"));
        }
        (Some(path), _) => path.clone(),
        (None, Some(id)) => SurveyId::parse(id).map_err(|e| ApiError::invalid(format!("id: {e}")))?,
        (None, None) => return Err(ApiError::invalid("id: is required")),
    };
    let survey = Survey {
        id,
        kind: body.kind,
        product_name: body.product_name,
        sender: body.sender,
        default_locale: body.default_locale,
        throttle_days: body.throttle_days,
        delay_seconds: body.delay_seconds,
        reminder_after_days: body.reminder_after_days,
        segment_properties: body.segment_properties,
        weight_properties: body.weight_properties.unwrap_or_else(|| match body.kind {
            SurveyKind::Enps => Vec::new(),
            _ => vec!["amount".to_owned()],
        }),
        cadence: body.cadence,
    };
    survey.validate().map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(survey)
}

impl App {
    pub(crate) async fn list_surveys(&self) -> Result<Response<Body>, ApiError> {
        json_of(StatusCode::OK, &List { surveys: self.surveys.list().await? })
    }

    pub(crate) async fn get_survey(&self, id: &str) -> Result<Response<Body>, ApiError> {
        let id =
            SurveyId::parse(id).map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such survey"))?;
        let survey = self.surveys.get(&id).await?.ok_or_else(|| not_found(&id))?;
        json_of(StatusCode::OK, &survey)
    }

    /// The operator's sending domain, where one is configured: a survey may send only from it.
    fn check_sender(&self, survey: &Survey) -> Result<(), ApiError> {
        match &self.sender_domain {
            Some(domain) if !nps_domain::survey::sender_at(&survey.sender, domain) => Err(ApiError::invalid(format!(
                "sender: must be an address at {domain}, the domain this deployment sends from"
            ))),
            _ => Ok(()),
        }
    }

    pub(crate) async fn create_survey(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let survey = survey(req, None)?;
        self.check_sender(&survey)?;
        if !self.surveys.create(&survey).await? {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "exists",
                format!("a survey with id {} exists; PUT /v1/surveys/{} replaces it", survey.id, survey.id),
            ));
        }
        json_of(StatusCode::CREATED, &survey)
    }

    pub(crate) async fn replace_survey(&self, id: &str, req: &Request) -> Result<Response<Body>, ApiError> {
        let id =
            SurveyId::parse(id).map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such survey"))?;
        let survey = survey(req, Some(&id))?;
        self.check_sender(&survey)?;
        let current = self.surveys.get(&id).await?.ok_or_else(|| not_found(&id))?;
        if current.kind != survey.kind {
            return Err(ApiError::invalid(format!(
                "kind: stays {} (a new kind is a new survey: its answers are never merged with these)",
                current.kind.as_str()
            )));
        }
        if !self.surveys.replace(&survey).await? {
            return Err(not_found(&id));
        }
        json_of(StatusCode::OK, &survey)
    }
}

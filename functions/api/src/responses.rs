//! `GET /v1/responses` and `GET /v1/responses.csv` over HTTP: the read side (`nps_read::responses`)
//! gives the page; here it becomes a JSON or CSV answer with a `Link` to the next one.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response as HttpResponse};
use nps_domain::Timestamp;
use nps_http::{ApiError, json_of};

use crate::App;

impl App {
    pub(crate) async fn list_responses(
        &self,
        path: &str,
        query: Option<&str>,
        now: Timestamp,
    ) -> Result<HttpResponse<Body>, ApiError> {
        let page = self.read.responses_page(query, now).await?;
        let mut answer = json_of(StatusCode::OK, &page)?;
        link_next(&mut answer, path, query, page.next_cursor.as_deref());
        Ok(answer)
    }

    pub(crate) async fn export_responses(
        &self,
        path: &str,
        query: Option<&str>,
        now: Timestamp,
    ) -> Result<HttpResponse<Body>, ApiError> {
        let page = self.read.responses_csv(query, now).await?;
        let mut answer = HttpResponse::new(Body::from(page.csv));
        let headers = answer.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", page.file_name)) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
        link_next(&mut answer, path, query, page.next_cursor.as_deref());
        Ok(answer)
    }
}

/// `Link: <path?query with the next cursor>; rel="next"`, when there is a next page.
fn link_next(answer: &mut HttpResponse<Body>, path: &str, query: Option<&str>, next: Option<&str>) {
    let Some(next) = next else { return };
    let mut params: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k != "cursor")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    params.push(("cursor".to_owned(), next.to_owned()));
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    if let Ok(value) = HeaderValue::from_str(&format!("<{path}?{query}>; rel=\"next\"")) {
        answer.headers_mut().insert(header::LINK, value);
    }
}

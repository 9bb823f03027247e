//! Errors of the HTTP API: a status and a JSON body whose `error` says what
//! was wrong and what to do.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// The body of every error answer, as the API's document describes it.
/// Some errors add keys: a filter's `position` and `expected`, the
/// rejected lines of an ingest.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What was wrong, and what to do about it.
    pub error: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// More keys merged into the body (for example the rejected lines).
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), details: None }
    }

    pub fn no_such_app(org: &str, app: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no app \"{app}\" in organisation \"{org}\" for this token: check the names in the URL and the token"
            ),
        )
    }

    pub fn no_such_org(org: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no organisation \"{org}\" for this token: check the name in the URL and the token"),
        )
    }

    pub fn bad_query(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A failure of the server's own: the details (paths, I/O errors) go to
    /// the server's log under an id, and the client is told only the id.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        let id = error_id();
        tracing::error!(%error, error_id = %id, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the server could not do it; its log says why under error id {id}"),
        )
        .with_details(json!({ "error_id": id }))
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }
}

/// An id that ties what a client was told to the server's log line.
pub fn error_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let (Some(Value::Object(extra)), Value::Object(map)) = (self.details, &mut body) {
            map.extend(extra);
        }
        (self.status, Json(body)).into_response()
    }
}

/// A store failure is the server's, never the caller's: logged, and answered as a 500.
impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> ApiError {
        ApiError::internal(error)
    }
}

/// A JSON request body (`axum::Json`) whose rejection is an [`ApiError`]:
/// a bad body gets `{"error": ...}` like every other error of the API,
/// not axum's plain text.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct JsonBody<T>(pub T);

/// Query parameters (`axum::extract::Query`) whose rejection is an [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);

/// Path parameters (`axum::extract::Path`) whose rejection is an [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct PathParams<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be JSON, sent with `Content-Type: application/json`",
            ),
            // Bad syntax, or not the fields the route takes: both the body's fault.
            other => ApiError::bad_query(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

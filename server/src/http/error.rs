//! Errors of the HTTP API: a status and a JSON body whose `error` says what
//! was wrong and what to do.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

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

//! Operations: `/healthz` (alive), `/readyz` (the OP's discovery and keys
//! are loaded, the stores answer) and `/metrics`, served on their own
//! listener (`METRICS_LISTEN`) so they are not exposed with the app.

use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use portcullis::Engine;

use crate::gate::plain;
use crate::pages::{self, ProxyBody};

/// `/readyz`: 200 when the stores answer (discovery and JWKS were loaded
/// before the engine started), 503 with the reason otherwise.
pub async fn readiness(engine: &Engine) -> Response<ProxyBody> {
    match engine.check_stores().await {
        Ok(()) => plain(StatusCode::OK, "ready"),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            let mut response = Response::new(pages::full(
                serde_json::json!({"ready": false, "reason": error.to_string()}).to_string(),
            ));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
    }
}

/// Serves one request on the operations listener.
pub async fn handle<B>(engine: Arc<Engine>, request: Request<B>) -> Response<ProxyBody> {
    match request.uri().path() {
        "/healthz" => plain(StatusCode::OK, "ok"),
        "/readyz" => readiness(&engine).await,
        "/metrics" => match crate::metrics::handle() {
            Some(handle) => {
                let mut response = Response::new(pages::full(handle.render()));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                response
            }
            None => plain(StatusCode::NOT_FOUND, "metrics are not enabled"),
        },
        _ => plain(
            StatusCode::NOT_FOUND,
            "not found: try /healthz, /readyz or /metrics",
        ),
    }
}

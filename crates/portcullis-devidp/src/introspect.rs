//! RFC 7662 token introspection and opaque access tokens (dev-only).
//!
//! `POST /introspect` takes `token` (and an ignored `token_type_hint`) and
//! authenticates the caller like `/token` does. It answers
//! `{"active": true, …claims, "token_type": "Bearer"}` for an unexpired,
//! unrevoked access token this OP issued (a JWT or, with
//! [`DevIdpConfig::with_opaque_access_tokens`](crate::DevIdpConfig::with_opaque_access_tokens),
//! an opaque one), and `{"active": false}` for anything else, refresh tokens
//! included (RFC 7662 §2.2 says nothing more about an inactive token).
//!
//! Opaque access tokens are random strings whose claims are kept in memory
//! until they expire; userinfo and revocation accept them like JWTs.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::DevIdpError;
use crate::server::{
    AppState, Params, Shared, authenticate_client, json_response, now_unix, random_token,
    verify_access_token,
};
use crate::store::ExpiringMap;

/// Issued opaque access tokens and their claims.
pub(crate) struct OpaqueTokens(Mutex<ExpiringMap<Value>>);

impl OpaqueTokens {
    pub(crate) fn new(capacity: usize) -> Self {
        Self(Mutex::new(ExpiringMap::new(capacity)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ExpiringMap<Value>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Issues an opaque access token standing for `claims` (which carry `exp`).
pub(crate) fn issue_opaque(s: &Shared, claims: &Value) -> Result<String, DevIdpError> {
    let token = random_token()?;
    let ttl = claims
        .get("exp")
        .and_then(Value::as_u64)
        .map(|exp| exp.saturating_sub(now_unix()))
        .unwrap_or(0);
    s.opaque.lock().insert(
        token.clone(),
        claims.clone(),
        Duration::from_secs(ttl),
        Instant::now(),
    );
    Ok(token)
}

/// The claims of an unexpired opaque access token issued here.
pub(crate) fn opaque_claims(s: &Shared, token: &str) -> Option<Value> {
    let claims = s.opaque.lock().get(token, Instant::now()).cloned()?;
    let exp = claims.get("exp").and_then(Value::as_u64)?;
    (now_unix() < exp).then_some(claims)
}

/// `POST /introspect`.
pub(crate) async fn introspect(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"error": "invalid_request", "error_description": "use POST"}),
        );
    }
    let params = match Params::parse(&method, &uri, &body) {
        Ok(p) => p,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid_request", "error_description": e}),
            );
        }
    };
    if let Err(e) = authenticate_client(&s, &headers, &params) {
        return e.into_response();
    }
    let Some(token) = params.get("token") else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_request", "error_description": "token is missing"}),
        );
    };
    match verify_access_token(&s, token) {
        Some(Value::Object(mut claims)) => {
            claims.insert("active".into(), json!(true));
            claims.insert("token_type".into(), json!("Bearer"));
            json_response(StatusCode::OK, Value::Object(claims))
        }
        _ => json_response(StatusCode::OK, json!({"active": false})),
    }
}

//! Pushed Authorization Requests (RFC 9126): `POST /par` stores the
//! client-authenticated parameters and answers a one-time `request_uri`;
//! `/authorize` then takes `client_id` and `request_uri` only. With
//! `require_pushed_authorization_requests`, `/authorize` refuses anything else.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::server::{
    AppState, OAuthError, Params, authenticate_client, error_page, json_response, random_token,
};

/// How long a `request_uri` can be used (RFC 9126 §2.2: short-lived).
pub(crate) const REQUEST_URI_TTL: Duration = Duration::from_secs(60);
/// The `request_uri` prefix RFC 9126 §2.2 suggests.
const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The parameters of a pushed request, for the client that pushed them.
pub(crate) struct PushedRequest {
    client_id: String,
    params: HashMap<String, String>,
}

/// `POST /par`.
pub(crate) async fn par(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match Params::parse(&method, &uri, &body) {
        Ok(p) => p,
        Err(e) => return OAuthError::new("invalid_request", e).into_response(),
    };
    let client = match authenticate_client(&s, &headers, &params) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if params.get("request_uri").is_some() {
        return OAuthError::new("invalid_request", "request_uri cannot be pushed").into_response();
    }
    if params
        .get("client_id")
        .is_some_and(|id| id != client.client_id)
    {
        return OAuthError::new(
            "invalid_request",
            "client_id differs from the authenticated client",
        )
        .into_response();
    }
    match params.get("redirect_uri") {
        Some(r) if client.redirect_uris.iter().any(|x| x == r) => {}
        _ => {
            return OAuthError::new(
                "invalid_request",
                "redirect_uri is missing or not registered",
            )
            .into_response();
        }
    }
    let handle = match random_token() {
        Ok(h) => format!("{REQUEST_URI_PREFIX}{h}"),
        Err(_) => return OAuthError::new("server_error", "internal error").into_response(),
    };
    let mut stored = params.into_map();
    // Client authentication parameters are not part of the authorization request.
    for name in ["client_secret", "client_assertion", "client_assertion_type"] {
        stored.remove(name);
    }
    stored.insert("client_id".into(), client.client_id.clone());
    s.stores().pushed.insert(
        handle.clone(),
        PushedRequest {
            client_id: client.client_id.clone(),
            params: stored,
        },
        REQUEST_URI_TTL,
        Instant::now(),
    );
    json_response(
        StatusCode::CREATED,
        json!({"request_uri": handle, "expires_in": REQUEST_URI_TTL.as_secs()}),
    )
}

/// At `/authorize`: the pushed parameters for a `request_uri` (used once),
/// the request's own parameters when nothing was pushed and PAR is not
/// required, or the error page to show.
pub(crate) fn resolve(s: &AppState, params: Params) -> Result<Params, Box<Response>> {
    let Some(request_uri) = params.get("request_uri") else {
        if s.require_par {
            return Err(Box::new(error_page(
                StatusCode::BAD_REQUEST,
                "Pushed authorization request required",
                "This provider accepts authorization requests only through its \
                 pushed_authorization_request_endpoint (RFC 9126).",
            )));
        }
        return Ok(params);
    };
    let pushed = s.stores().pushed.take(request_uri, Instant::now());
    let Some(pushed) = pushed else {
        return Err(Box::new(error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request_uri",
            "The request_uri is unknown, expired or already used. Start again from the application.",
        )));
    };
    if params.get("client_id") != Some(pushed.client_id.as_str()) {
        return Err(Box::new(error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request_uri",
            "client_id does not match the client that pushed the request.",
        )));
    }
    Ok(Params::from_map(pushed.params))
}

//! The OP side of OpenID Back-Channel Logout 1.0 and Front-Channel Logout 1.0:
//! logout tokens, their delivery, the front-channel iframe URLs, and the dev-only
//! `POST /dev/end-session` route.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::html;
use crate::server::{
    AppState, Params, Session, Shared, error_page, html_response, json_response, now_unix,
    random_token,
};
use crate::{DevClient, DevIdpError};

/// The `events` member that makes a JWT a logout token (BCL §2.4).
pub(crate) const BACKCHANNEL_LOGOUT_EVENT: &str =
    "http://schemas.openid.net/event/backchannel-logout";
/// Logout tokens are valid this long after `iat`.
const LOGOUT_TOKEN_TTL_SECS: u64 = 120;

/// The claims of the logout token for `client` when `session` ends (BCL §2.4).
fn logout_token_claims(
    s: &Shared,
    client: &DevClient,
    session: &Session,
    now: u64,
    jti: &str,
) -> Value {
    json!({
        "iss": s.issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_TTL_SECS,
        "jti": jti,
        "sub": session.sub,
        "sid": session.sid,
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    })
}

/// A logout token for `client`, signed like its ID tokens, `typ` `logout+jwt`.
fn logout_token(s: &Shared, client: &DevClient, session: &Session) -> Result<String, DevIdpError> {
    let claims = logout_token_claims(s, client, session, now_unix(), &random_token()?);
    s.keys
        .sign(client.id_token_signed_response_alg, "logout+jwt", &claims)
}

/// POSTs a logout token to every back-channel client each of `sessions` signed into,
/// concurrently, and waits for the answers (each request times out after 5 s).
/// Returns how many were answered with a 2xx. Failures are logged; tokens never are.
///
/// The requests run in spawned tasks, so they complete even if the caller's future
/// (e.g. the end_session request of a browser that went away) is dropped.
pub(crate) async fn deliver_backchannel(s: &Shared, sessions: &[Session]) -> usize {
    let mut deliveries = Vec::new();
    for session in sessions {
        for client_id in &session.clients {
            let Some(client) = s.clients.get(client_id) else {
                continue;
            };
            let Some(uri) = client.backchannel_logout_uri.clone() else {
                continue;
            };
            let token = match logout_token(s, client, session) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(%client_id, error = %e, "dev IdP: cannot sign a logout token");
                    continue;
                }
            };
            let http = s.http.clone();
            let client_id = client_id.clone();
            deliveries.push(tokio::spawn(async move {
                match http.post(&uri).form(&[("logout_token", token)]).send().await {
                    Ok(resp) if resp.status().is_success() => {
                        tracing::info!(%client_id, status = %resp.status(), "dev IdP: back-channel logout delivered");
                        true
                    }
                    Ok(resp) => {
                        tracing::warn!(%client_id, %uri, status = %resp.status(), "dev IdP: back-channel logout refused");
                        false
                    }
                    Err(e) => {
                        tracing::warn!(%client_id, %uri, error = %e, "dev IdP: back-channel logout failed");
                        false
                    }
                }
            }));
        }
    }
    let mut delivered = 0;
    for delivery in deliveries {
        if matches!(delivery.await, Ok(true)) {
            delivered += 1;
        }
    }
    delivered
}

/// `{frontchannel_logout_uri}?iss=...&sid=...` for every front-channel client `session`
/// signed into, in sign-in order (FCL §2; the values are form-urlencoded).
pub(crate) fn frontchannel_urls(s: &Shared, session: &Session) -> Vec<String> {
    session
        .clients
        .iter()
        .filter_map(|id| s.clients.get(id)?.frontchannel_logout_uri.as_deref())
        .filter_map(|uri| {
            // Validated as an absolute URL at start.
            let mut url = url::Url::parse(uri).ok()?;
            url.query_pairs_mut()
                .append_pair("iss", &s.issuer)
                .append_pair("sid", &session.sid);
            Some(String::from(url))
        })
        .collect()
}

/// What ending a user's OP sessions did.
pub(crate) struct Ended {
    /// OP sessions ended.
    pub(crate) sessions: usize,
    /// Logout tokens answered with a 2xx.
    pub(crate) delivered: usize,
}

/// Ends every live OP session of `sub` and delivers the back-channel logout tokens.
pub(crate) async fn end_sessions_of(s: &Shared, sub: &str) -> Ended {
    let sessions = s
        .stores()
        .sessions
        .take_where(Instant::now(), |session| session.sub == sub);
    if !sessions.is_empty() {
        tracing::info!(%sub, sessions = sessions.len(), "dev IdP: OP sessions ended by API");
    }
    let delivered = deliver_backchannel(s, &sessions).await;
    Ended {
        sessions: sessions.len(),
        delivered,
    }
}

/// `POST /dev/end-session` with `sub` in the form body or the query: the dev-only
/// "sign this user out everywhere" button, by back-channel logout.
pub(crate) async fn dev_end_session(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = Params::parse(&method, &uri, &body)
        .and_then(|form| Ok((form, Params::parse(&Method::GET, &uri, b"")?)));
    let (form, query) = match parsed {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "Invalid request", &e),
    };
    let Some(sub) = form.get("sub").or_else(|| query.get("sub")) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "sub is missing.",
        );
    };
    let ended = end_sessions_of(&s, sub).await;
    let wants_json = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/json"));
    if wants_json {
        json_response(
            StatusCode::OK,
            json!({
                "sub": sub,
                "sessions_ended": ended.sessions,
                "logout_tokens_delivered": ended.delivered,
            }),
        )
    } else {
        html_response(
            StatusCode::OK,
            html::sessions_ended_page(&s.issuer, sub, ended.sessions, ended.delivered),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DevIdpConfig, SigningAlg};

    fn shared(client: DevClient) -> Shared {
        Shared::new(
            DevIdpConfig::new().with_client(client),
            "http://op.test".into(),
        )
        .unwrap()
    }

    fn session(clients: &[&str]) -> Session {
        Session {
            sub: "alice".into(),
            auth_time: 0,
            sid: "s i&d".into(),
            clients: clients.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[test]
    fn logout_token_claims_follow_bcl_2_4() {
        let client = DevClient::confidential("web", "s", "http://rp/cb");
        let s = shared(client.clone());
        let claims = logout_token_claims(&s, &client, &session(&["web"]), 1000, "j");
        assert_eq!(
            claims,
            json!({
                "iss": "http://op.test",
                "aud": "web",
                "iat": 1000,
                "exp": 1120,
                "jti": "j",
                "sub": "alice",
                "sid": "s i&d",
                "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
            })
        );
        assert!(claims.get("nonce").is_none());
    }

    #[test]
    fn logout_token_uses_the_clients_id_token_alg_and_typ_logout_jwt() {
        let client = DevClient::confidential("web", "s", "http://rp/cb")
            .with_id_token_alg(SigningAlg::ES256);
        let s = shared(client.clone());
        let token = logout_token(&s, &client, &session(&["web"])).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
        assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
        assert_eq!(header.kid.as_deref(), s.keys.kid(SigningAlg::ES256));
    }

    #[test]
    fn frontchannel_urls_encode_iss_and_sid_and_keep_an_existing_query() {
        let client = DevClient::confidential("web", "s", "http://rp/cb")
            .with_frontchannel_logout_uri("http://rp/fcl?x=1");
        let s = shared(client);
        assert_eq!(
            frontchannel_urls(&s, &session(&["web"])),
            vec!["http://rp/fcl?x=1&iss=http%3A%2F%2Fop.test&sid=s+i%26d".to_owned()]
        );
        assert!(frontchannel_urls(&s, &session(&[])).is_empty());
    }

    #[test]
    fn rejects_logout_uris_that_are_relative_non_http_or_have_a_fragment() {
        for uri in ["/bcl", "javascript:alert(1)", "http://rp/bcl#x"] {
            for client in [
                DevClient::public("c", "http://rp/cb").with_backchannel_logout_uri(uri),
                DevClient::public("c", "http://rp/cb").with_frontchannel_logout_uri(uri),
            ] {
                let cfg = DevIdpConfig::new().with_client(client);
                assert!(matches!(
                    Shared::new(cfg, "http://op.test".into()),
                    Err(DevIdpError::InvalidConfig(_))
                ));
            }
        }
    }
}

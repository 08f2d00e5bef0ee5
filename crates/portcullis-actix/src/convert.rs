//! Translation between actix-web's HTTP types (the `http` 0.2 crate, through
//! `actix-http`) and the engine's (`http` 1): request headers, URI and
//! method in; engine responses out. No rule lives here.

use actix_web::HttpResponse;
use actix_web::http::header::{HeaderMap as ActixHeaders, HeaderName, HeaderValue};
use actix_web::http::{Method as ActixMethod, StatusCode, Uri as ActixUri, Version};
use bytes::Bytes;
use portcullis::EngineResponse;

/// The request headers as the engine's `http::HeaderMap`. Header names and
/// values follow the same grammar in both crates, so none is dropped.
pub(crate) fn request_headers(headers: &ActixHeaders) -> http::HeaderMap {
    let mut out = http::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers.iter() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(name, value);
        }
    }
    out
}

/// Only the request's `Cookie` headers, as the engine's `http::HeaderMap`:
/// all that [`Engine::authenticate`](portcullis::Engine::authenticate)
/// reads. Copying just these keeps the per-request translation to the one
/// header that matters (error and sign-in answers, which read `Accept` and
/// `Sec-Fetch-*`, take [`request_headers`]).
pub(crate) fn cookie_headers(headers: &ActixHeaders) -> http::HeaderMap {
    let mut out = http::HeaderMap::new();
    for value in headers.get_all(actix_web::http::header::COOKIE) {
        if let Ok(value) = http::HeaderValue::from_bytes(value.as_bytes()) {
            out.append(http::header::COOKIE, value);
        }
    }
    out
}

/// The request target (path and query) as an `http::Uri`; `/` when actix
/// saw none.
pub(crate) fn request_uri(uri: &ActixUri) -> http::Uri {
    uri.path_and_query()
        .and_then(|pq| http::Uri::try_from(pq.as_str()).ok())
        .unwrap_or_else(|| http::Uri::from_static("/"))
}

/// The request method as an `http::Method`.
pub(crate) fn request_method(method: &ActixMethod) -> http::Method {
    http::Method::from_bytes(method.as_str().as_bytes()).unwrap_or(http::Method::GET)
}

fn request_version(version: Version) -> http::Version {
    match version {
        Version::HTTP_09 => http::Version::HTTP_09,
        Version::HTTP_10 => http::Version::HTTP_10,
        Version::HTTP_2 => http::Version::HTTP_2,
        Version::HTTP_3 => http::Version::HTTP_3,
        _ => http::Version::HTTP_11,
    }
}

/// The request's head (method, URI, version, headers) as `http` parts, for
/// the engine calls that take them (login, callback, the login_state hook).
/// actix-web's request extensions are of another type and are not carried.
pub(crate) fn request_parts(request: &actix_web::HttpRequest) -> http::request::Parts {
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = request_method(request.method());
    parts.uri = request_uri(request.uri());
    parts.version = request_version(request.version());
    parts.headers = request_headers(request.headers());
    parts
}

/// The whole request as the engine takes it: the head and its body.
pub(crate) fn engine_request(
    request: &actix_web::HttpRequest,
    body: Bytes,
) -> http::Request<Bytes> {
    http::Request::from_parts(request_parts(request), body)
}

/// An engine response as an actix-web response, headers (every
/// `Set-Cookie` included) and body as they are.
pub(crate) fn into_actix(response: EngineResponse) -> HttpResponse<Bytes> {
    let (parts, body) = response.into_parts();
    let status =
        StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = HttpResponse::with_body(status, body);
    append_headers(out.headers_mut(), &parts.headers);
    out
}

/// Appends `http` 1 headers to actix-web headers (same grammar: none is lost).
pub(crate) fn append_headers(target: &mut ActixHeaders, headers: &http::HeaderMap) {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            target.append(name, value);
        }
    }
}

/// Appends `Set-Cookie` values from the engine to actix-web headers.
pub(crate) fn append_set_cookies(
    target: &mut ActixHeaders,
    cookies: impl IntoIterator<Item = http::HeaderValue>,
) {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_bytes(cookie.as_bytes()) {
            target.append(actix_web::http::header::SET_COOKIE, value);
        }
    }
}

/// Applies the engine's session renewal to a response: the renewal (or
/// clearing) cookies are appended unless the handler already wrote the
/// session cookie itself. The decision is [`portcullis::Engine::apply_renewal`]'s.
pub(crate) fn apply_renewal(
    engine: &portcullis::Engine,
    renewal: Vec<http::HeaderValue>,
    response: &mut ActixHeaders,
) {
    let mut written = http::HeaderMap::new();
    for value in response.get_all(actix_web::http::header::SET_COOKIE) {
        if let Ok(value) = http::HeaderValue::from_bytes(value.as_bytes()) {
            written.append(http::header::SET_COOKIE, value);
        }
    }
    let before = written.get_all(http::header::SET_COOKIE).iter().count();
    engine.apply_renewal(renewal, &mut written);
    let added: Vec<http::HeaderValue> = written
        .get_all(http::header::SET_COOKIE)
        .iter()
        .skip(before)
        .cloned()
        .collect();
    append_set_cookies(response, added);
}

/// Seconds since the Unix epoch (0 if the system clock is before 1970).
pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn every_request_header_reaches_the_engine_repeated_ones_included() {
        let request = TestRequest::get()
            .uri("/profile?x=1")
            .insert_header(("accept", "text/html"))
            .append_header(("cookie", "a=1"))
            .append_header(("cookie", "b=2"))
            .append_header(("x-custom", "v"))
            .to_http_request();
        let parts = request_parts(&request);
        assert_eq!(parts.method, http::Method::GET);
        assert_eq!(parts.uri.path(), "/profile");
        assert_eq!(parts.uri.query(), Some("x=1"));
        let cookies: Vec<_> = parts.headers.get_all("cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(parts.headers["accept"], "text/html");
        assert_eq!(parts.headers["x-custom"], "v");
    }

    #[test]
    fn the_cookie_translation_carries_every_cookie_header_and_nothing_else() {
        let request = TestRequest::get()
            .insert_header(("accept", "text/html"))
            .append_header(("cookie", "a=1"))
            .append_header(("cookie", "appSession=sealed; b=2"))
            .to_http_request();
        let cookies = cookie_headers(request.headers());
        let values: Vec<_> = cookies.get_all("cookie").iter().collect();
        assert_eq!(values, ["a=1", "appSession=sealed; b=2"]);
        assert_eq!(cookies.len(), 2);
        assert!(cookie_headers(TestRequest::get().to_http_request().headers()).is_empty());
    }

    #[test]
    fn an_engine_response_keeps_its_status_every_set_cookie_and_its_body() {
        let mut response = http::Response::new(Bytes::from_static(b"{\"error\":\"x\"}"));
        *response.status_mut() = http::StatusCode::UNAUTHORIZED;
        let h = response.headers_mut();
        h.insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        h.append("set-cookie", http::HeaderValue::from_static("a=1; Path=/"));
        h.append("set-cookie", http::HeaderValue::from_static("b=2; Path=/"));
        let actix = into_actix(response);
        assert_eq!(actix.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            actix.headers().get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/json"[..])
        );
        let cookies: Vec<_> = actix
            .headers()
            .get_all("set-cookie")
            .map(|v| v.as_bytes().to_vec())
            .collect();
        assert_eq!(cookies, [b"a=1; Path=/".to_vec(), b"b=2; Path=/".to_vec()]);
        assert_eq!(actix.body().as_ref(), b"{\"error\":\"x\"}");
    }

    /// An engine against a dev OP on loopback.
    async fn engine() -> (portcullis::Engine, portcullis_devidp::RunningDevIdp) {
        let base = "http://127.0.0.1:9";
        let idp = portcullis_devidp::start(
            portcullis_devidp::DevIdpConfig::new().with_client(
                portcullis_devidp::DevClient::confidential(
                    "rp",
                    "rp-secret",
                    format!("{base}/callback"),
                ),
            ),
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .expect("dev idp");
        let engine = portcullis::OidcLayerBuilder::default()
            .issuer_base_url(idp.issuer())
            .client_id("rp")
            .client_secret("rp-secret")
            .base_url(base)
            .secret("convert-tests-cookie-secret-0123456789abcdef")
            .build_engine()
            .await
            .expect("engine");
        (engine, idp)
    }

    fn set_cookies(headers: &ActixHeaders) -> Vec<String> {
        headers
            .get_all(actix_web::http::header::SET_COOKIE)
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    #[actix_web::test]
    async fn a_renewal_is_appended_unless_the_handler_wrote_the_session_itself() {
        let (engine, _idp) = engine().await;
        let renewal = || {
            vec![http::HeaderValue::from_static(
                "portcullis.session=renewed; Path=/",
            )]
        };

        let mut untouched = ActixHeaders::new();
        untouched.append(
            actix_web::http::header::SET_COOKIE,
            HeaderValue::from_static("other=1; Path=/"),
        );
        apply_renewal(&engine, renewal(), &mut untouched);
        assert_eq!(
            set_cookies(&untouched),
            ["other=1; Path=/", "portcullis.session=renewed; Path=/"]
        );

        let mut written = ActixHeaders::new();
        written.append(
            actix_web::http::header::SET_COOKIE,
            HeaderValue::from_static("portcullis.session=by-handler; Path=/"),
        );
        apply_renewal(&engine, renewal(), &mut written);
        assert_eq!(
            set_cookies(&written),
            ["portcullis.session=by-handler; Path=/"]
        );

        let mut nothing = ActixHeaders::new();
        apply_renewal(&engine, Vec::new(), &mut nothing);
        assert!(set_cookies(&nothing).is_empty());
    }

    #[test]
    fn a_request_without_a_query_has_none_and_methods_carry_over() {
        let request = TestRequest::post().uri("/logout").to_http_request();
        let parts = request_parts(&request);
        assert_eq!(parts.method, http::Method::POST);
        assert_eq!(parts.uri.query(), None);
        assert_eq!(
            request_method(&ActixMethod::from_bytes(b"PROPFIND").expect("method")).as_str(),
            "PROPFIND"
        );
    }
}

//! Building the engine's responses: `http::Response<Bytes>`, framework-neutral.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::error::{OidcError, SessionWriteError};

/// What the engine answers with. Adapters convert the body to their own type.
pub type EngineResponse = http::Response<Bytes>;

/// A 302 to `location` with `Cache-Control: no-store`. A location that is not
/// a valid header value is a 500, never a 302 without `Location`.
pub(crate) fn redirect(location: &str) -> Result<EngineResponse, OidcError> {
    let value = HeaderValue::from_str(location)
        .map_err(|e| OidcError::Session(SessionWriteError::Header(e)))?;
    let mut response = http::Response::new(Bytes::new());
    *response.status_mut() = StatusCode::FOUND;
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, value);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A small HTML page with `Cache-Control: no-store`.
pub(crate) fn html_page(status: StatusCode, body: String) -> EngineResponse {
    let mut response = http::Response::new(Bytes::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A JSON body with `Cache-Control: no-store`.
pub(crate) fn json(status: StatusCode, body: serde_json::Value) -> EngineResponse {
    let mut response = http::Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `405 Method Not Allowed` with `Allow`.
pub(crate) fn method_not_allowed(allow: &'static str) -> EngineResponse {
    let mut response = http::Response::new(Bytes::from_static(b"method not allowed"));
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Appends `Set-Cookie` values.
pub(crate) fn append_cookies(
    headers: &mut HeaderMap,
    cookies: impl IntoIterator<Item = HeaderValue>,
) {
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
}

/// Encodes cookies as `Set-Cookie` values; a cookie that is not a valid header
/// value is an error, never silently dropped.
pub(crate) fn to_header_values(
    cookies: Vec<cookie::Cookie<'static>>,
) -> Result<Vec<HeaderValue>, SessionWriteError> {
    cookies
        .into_iter()
        .map(|c| HeaderValue::from_str(&c.encoded().to_string()).map_err(SessionWriteError::Header))
        .collect()
}

/// Whether a `Content-Type` is `application/x-www-form-urlencoded` (media
/// types are case-insensitive; parameters such as `charset` may follow).
pub(crate) fn is_form_content_type(value: &str) -> bool {
    value.split(';').next().is_some_and(|media| {
        media
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

/// Percent-encodes a query parameter value.
pub(crate) fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The first value of query parameter `name`.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_that_is_not_a_header_value_is_an_error_not_a_bare_302() {
        assert!(redirect("/ok").is_ok());
        let error = redirect("/bad\nheader").expect_err("must fail");
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn form_content_types_are_recognised_in_any_case() {
        assert!(is_form_content_type("application/x-www-form-urlencoded"));
        assert!(is_form_content_type(
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8"
        ));
        assert!(!is_form_content_type("application/x-www-form-urlencodedx"));
        assert!(!is_form_content_type("application/json"));
    }

    #[test]
    fn every_cookie_becomes_a_header_value_none_is_dropped() {
        let cookies = vec![
            cookie::Cookie::new("a", "b"),
            // Control characters are percent-encoded, not a reason to drop the cookie.
            cookie::Cookie::new("c", "d\r\ne"),
        ];
        let values = to_header_values(cookies).expect("valid");
        assert_eq!(values.len(), 2);
        assert!(!values[1].as_bytes().contains(&b'\n'));
    }
}

//! Open-redirect-proof handling of `returnTo` and post-logout targets.
//!
//! A target is accepted when it is either
//! - a same-origin path starting with exactly one `/` (returned unchanged,
//!   path, query and fragment kept), or
//! - an absolute `http`/`https` URL, written with `//`, whose origin is the
//!   application's own (`base_url`) or on the allowlist (returned in its
//!   normalized serialization, which is what a browser would follow).
//!
//! Everything else is rejected, including inputs that browsers or proxies
//! would "repair" into another origin: `//evil`, `/\evil`, `\\evil`, the
//! percent-encoded forms `/%2f%2fevil` and `/%5cevil` in any letter case and
//! up to three levels of encoding, dot segments that collapse into `//`, raw
//! or percent-encoded control characters (CR, LF, TAB, NUL...), any
//! whitespace, backslashes anywhere (they are never valid raw in a URL),
//! non-ASCII characters (percent-encode them), schemes other than http(s)
//! (`javascript:`, `data:`), scheme-relative forms like `https:evil`,
//! userinfo (`https://good@evil`), and inputs over [`MAX_RETURN_TO_LEN`] bytes.
//! Error messages never echo the input.

use url::Url;

/// The longest accepted target, in bytes.
pub const MAX_RETURN_TO_LEN: usize = 2048;

/// How many nested levels of percent-encoding are inspected.
const DECODE_LAYERS: usize = 3;

/// Why a return target was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReturnToError {
    /// The target is empty.
    #[error("the return target is empty")]
    Empty,
    /// The target is longer than [`MAX_RETURN_TO_LEN`].
    #[error("the return target is too long")]
    TooLong,
    /// The target contains a raw or percent-encoded control character.
    #[error("the return target contains a control character")]
    ControlCharacter,
    /// The target contains whitespace.
    #[error("the return target contains whitespace")]
    Whitespace,
    /// The target contains a non-ASCII character.
    #[error("the return target contains a non-ASCII character")]
    NonAscii,
    /// The target contains a backslash.
    #[error("the return target contains a backslash")]
    Backslash,
    /// The target would be read as a protocol-relative (`//host`) URL.
    #[error("the return target is a protocol-relative URL")]
    ProtocolRelative,
    /// The target is neither a `/path` nor an absolute http(s) URL.
    #[error("the return target must be a path starting with / or an absolute http(s) URL")]
    NotRootRelative,
    /// The target uses a scheme other than http or https, or omits `//`.
    #[error("the return target uses a forbidden scheme")]
    ForbiddenScheme,
    /// The absolute URL could not be parsed.
    #[error("the return target is not a valid URL")]
    InvalidUrl,
    /// The absolute URL contains a username or password.
    #[error("the return target contains credentials")]
    UserInfo,
    /// The absolute URL's origin is neither the application's nor allowlisted.
    #[error("the return target points to an origin that is not allowed")]
    ForeignOrigin,
}

/// Returns a safe redirect target for `input`, or why it is unsafe.
///
/// `base_url` is the application's external URL (`BASE_URL`); `allowlist`
/// holds the other origins (only scheme, host and port are compared) that
/// absolute targets may point to.
pub fn sanitize_return_to(
    input: &str,
    base_url: &Url,
    allowlist: &[Url],
) -> Result<String, ReturnToError> {
    if input.is_empty() {
        return Err(ReturnToError::Empty);
    }
    if input.len() > MAX_RETURN_TO_LEN {
        return Err(ReturnToError::TooLong);
    }
    if input.chars().any(char::is_control) {
        return Err(ReturnToError::ControlCharacter);
    }
    if input.chars().any(char::is_whitespace) {
        return Err(ReturnToError::Whitespace);
    }
    if !input.is_ascii() {
        return Err(ReturnToError::NonAscii);
    }
    if input.contains('\\') {
        return Err(ReturnToError::Backslash);
    }

    // Look through nested percent-encoding for hidden control characters
    // and hidden `//` or `/\` at the start.
    let mut layer = input.as_bytes().to_vec();
    for _ in 0..DECODE_LAYERS {
        let decoded = percent_decode(&layer);
        if decoded == layer {
            break;
        }
        if decoded.iter().any(|b| *b < 0x20 || *b == 0x7f) {
            return Err(ReturnToError::ControlCharacter);
        }
        if input.starts_with('/') && (decoded.starts_with(b"//") || decoded.starts_with(b"/\\")) {
            return Err(ReturnToError::ProtocolRelative);
        }
        layer = decoded;
    }

    if input.starts_with('/') {
        return relative(input, base_url);
    }
    absolute(input, base_url, allowlist)
}

fn relative(input: &str, base_url: &Url) -> Result<String, ReturnToError> {
    if input.starts_with("//") {
        return Err(ReturnToError::ProtocolRelative);
    }
    // Resolve it the way a browser would: dot segments such as `/..//evil`
    // collapse into `//evil`, which must not be re-emitted as a path.
    let resolved = base_url
        .join(input)
        .map_err(|_| ReturnToError::InvalidUrl)?;
    if resolved.origin() != base_url.origin() {
        return Err(ReturnToError::ForeignOrigin);
    }
    if resolved.path().starts_with("//") {
        return Err(ReturnToError::ProtocolRelative);
    }
    Ok(input.to_owned())
}

fn absolute(input: &str, base_url: &Url, allowlist: &[Url]) -> Result<String, ReturnToError> {
    let lower = input.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        // A scheme is present if a ':' comes before any '/', '?' or '#'.
        let head = input.split(['/', '?', '#']).next().unwrap_or("");
        return Err(if head.contains(':') {
            ReturnToError::ForbiddenScheme
        } else {
            ReturnToError::NotRootRelative
        });
    }
    let url = Url::parse(input).map_err(|_| ReturnToError::InvalidUrl)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ReturnToError::UserInfo);
    }
    let origin = url.origin();
    let allowed = origin == base_url.origin() || allowlist.iter().any(|a| a.origin() == origin);
    if !allowed {
        return Err(ReturnToError::ForeignOrigin);
    }
    Ok(url.as_str().to_owned())
}

/// Decodes `%XX` sequences (either letter case); leaves malformed ones as is.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let (Some(h), Some(l)) = (
                input.get(i + 1).and_then(|b| hex(*b)),
                input.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://app.example.com").unwrap()
    }

    fn check(input: &str) -> Result<String, ReturnToError> {
        sanitize_return_to(
            input,
            &base(),
            &[Url::parse("https://docs.example.org").unwrap()],
        )
    }

    fn rejects(input: &str, expected: ReturnToError) {
        assert_eq!(check(input), Err(expected), "input {input:?}");
    }

    #[test]
    fn accepts_same_origin_path_with_query_and_fragment() {
        for ok in [
            "/",
            "/account",
            "/a/b?x=1&y=%2F#frag",
            "/my%20file",
            "/a//b",
            "/a/%2f%2fb",
        ] {
            assert_eq!(check(ok).as_deref(), Ok(ok));
        }
    }

    #[test]
    fn accepts_absolute_same_origin_url() {
        assert_eq!(
            check("https://app.example.com/x?y=1").as_deref(),
            Ok("https://app.example.com/x?y=1")
        );
        assert_eq!(
            check("HTTPS://APP.example.com").as_deref(),
            Ok("https://app.example.com/")
        );
    }

    #[test]
    fn accepts_allowlisted_origin() {
        assert_eq!(
            check("https://docs.example.org/guide").as_deref(),
            Ok("https://docs.example.org/guide")
        );
    }

    #[test]
    fn rejects_empty() {
        rejects("", ReturnToError::Empty);
    }

    #[test]
    fn rejects_overlong_input() {
        let long = format!("/{}", "a".repeat(MAX_RETURN_TO_LEN));
        rejects(&long, ReturnToError::TooLong);
        assert!(check(&format!("/{}", "a".repeat(MAX_RETURN_TO_LEN - 1))).is_ok());
    }

    #[test]
    fn rejects_protocol_relative_double_slash() {
        rejects("//evil.com", ReturnToError::ProtocolRelative);
        rejects("//evil.com/path", ReturnToError::ProtocolRelative);
    }

    #[test]
    fn rejects_slash_backslash() {
        rejects("/\\evil.com", ReturnToError::Backslash);
    }

    #[test]
    fn rejects_double_backslash() {
        rejects("\\\\evil.com", ReturnToError::Backslash);
    }

    #[test]
    fn rejects_backslash_before_path_in_absolute_url() {
        rejects("https:\\\\evil.com", ReturnToError::Backslash);
        rejects(
            "https://app.example.com\\@evil.com",
            ReturnToError::Backslash,
        );
    }

    #[test]
    fn rejects_percent_encoded_double_slash_in_any_case() {
        for input in [
            "/%2f%2fevil.com",
            "/%2F%2Fevil.com",
            "/%2f%2Fevil.com",
            "/%2fevil.com",
        ] {
            rejects(input, ReturnToError::ProtocolRelative);
        }
    }

    #[test]
    fn rejects_percent_encoded_backslash_in_any_case() {
        rejects("/%5cevil.com", ReturnToError::ProtocolRelative);
        rejects("/%5Cevil.com", ReturnToError::ProtocolRelative);
    }

    #[test]
    fn rejects_double_percent_encoded_slash() {
        rejects("/%252f%252fevil.com", ReturnToError::ProtocolRelative);
        rejects("/%25255cevil.com", ReturnToError::ProtocolRelative);
    }

    #[test]
    fn rejects_dot_segments_collapsing_into_double_slash() {
        rejects("/..//evil.com", ReturnToError::ProtocolRelative);
        rejects("/.//evil.com", ReturnToError::ProtocolRelative);
        rejects("/%2e%2e//evil.com", ReturnToError::ProtocolRelative);
    }

    #[test]
    fn rejects_raw_control_characters() {
        for input in [
            "/a\r\nLocation: x",
            "/a\nb",
            "/a\rb",
            "/\tevil",
            "/a\0",
            "/a\u{7f}",
            "/a\u{85}",
        ] {
            rejects(input, ReturnToError::ControlCharacter);
        }
    }

    #[test]
    fn rejects_percent_encoded_control_characters() {
        for input in [
            "/a%0d%0aSet-Cookie:x",
            "/a%0Db",
            "/a%0A",
            "/a%09",
            "/a%00",
            "/a%7F",
            "/a%250d",
        ] {
            rejects(input, ReturnToError::ControlCharacter);
        }
        rejects(
            "https://app.example.com/%0a",
            ReturnToError::ControlCharacter,
        );
    }

    #[test]
    fn rejects_leading_and_trailing_whitespace() {
        rejects(" /account", ReturnToError::Whitespace);
        rejects("/account ", ReturnToError::Whitespace);
        rejects("\u{a0}/account", ReturnToError::Whitespace);
        rejects("/a b", ReturnToError::Whitespace);
    }

    #[test]
    fn rejects_non_ascii() {
        rejects("/caf\u{e9}", ReturnToError::NonAscii);
    }

    #[test]
    fn rejects_scheme_without_slashes() {
        rejects("https:evil.com", ReturnToError::ForbiddenScheme);
        rejects("https:/evil.com", ReturnToError::ForbiddenScheme);
    }

    #[test]
    fn rejects_javascript_and_data_schemes() {
        rejects("javascript:alert(1)", ReturnToError::ForbiddenScheme);
        rejects("JaVaScRiPt:alert(1)", ReturnToError::ForbiddenScheme);
        rejects(
            "data:text/html,<script>x</script>",
            ReturnToError::ForbiddenScheme,
        );
        rejects("ftp://app.example.com/", ReturnToError::ForbiddenScheme);
    }

    #[test]
    fn rejects_foreign_absolute_url() {
        rejects("http://evil.com", ReturnToError::ForeignOrigin);
        rejects("https://evil.com/", ReturnToError::ForeignOrigin);
        rejects(
            "https://app.example.com.evil.com/",
            ReturnToError::ForeignOrigin,
        );
    }

    #[test]
    fn rejects_same_host_with_other_scheme_or_port() {
        rejects("http://app.example.com/", ReturnToError::ForeignOrigin);
        rejects(
            "https://app.example.com:8443/",
            ReturnToError::ForeignOrigin,
        );
    }

    #[test]
    fn rejects_userinfo_tricks() {
        rejects("https://app.example.com@evil.com", ReturnToError::UserInfo);
        rejects(
            "https://app.example.com:pw@evil.com/",
            ReturnToError::UserInfo,
        );
        rejects("https://user@app.example.com/", ReturnToError::UserInfo);
    }

    #[test]
    fn rejects_path_relative_and_bare_host_targets() {
        rejects("evil.com", ReturnToError::NotRootRelative);
        rejects("account", ReturnToError::NotRootRelative);
        rejects("?next=1", ReturnToError::NotRootRelative);
        rejects("#top", ReturnToError::NotRootRelative);
    }

    #[test]
    fn rejects_unparseable_absolute_url() {
        rejects("https://", ReturnToError::InvalidUrl);
        rejects("https://[::1/", ReturnToError::InvalidUrl);
    }

    #[test]
    fn errors_do_not_echo_the_input() {
        let err = check("https://evil.com/secret-marker").unwrap_err();
        assert!(!err.to_string().contains("secret-marker"));
    }
}

//! Open-redirect-proof handling of `returnTo` and post-logout targets.
//!
//! # What comes out
//!
//! [`sanitize_return_to`] returns one of two things:
//!
//! - an **app-relative path**: it starts with exactly one `/`, its dot
//!   segments (`.` and `..`) are resolved, and no percent-encoded slash,
//!   backslash or dot is left in its path. It is relative to the application,
//!   i.e. to `BASE_URL`'s path: the caller puts `BASE_URL`'s path prefix in
//!   front of it before redirecting (with `BASE_URL=https://app.example/app`,
//!   the result `/page` means `https://app.example/app/page`). Query and
//!   fragment are kept. The string is in the `url` crate's normalized
//!   serialization (characters a browser would escape are escaped);
//! - an **absolute URL** of an origin on the allowlist (never the
//!   application's own origin), in its normalized serialization.
//!
//! # What goes in
//!
//! - A path starting with one `/` is app-relative, whatever it starts with:
//!   with `BASE_URL=https://app.example/app`, the target `/app/page` stays
//!   `/app/page` and means `https://app.example/app/app/page`. This is the
//!   behaviour the engine has always had (it is what a request path seen
//!   behind a prefix-stripping proxy needs), and guessing whether a leading
//!   `/app` is the prefix or a route of the app would make the meaning of a
//!   target depend on its spelling. A caller holding a path that includes the
//!   prefix passes the absolute URL instead.
//! - An absolute `http`/`https` URL, written with `//`, of the application's
//!   own origin is accepted only if, once its dot segments are resolved, its
//!   path lies under `BASE_URL`'s path (`/app`, `/app/` or `/app/...`; not
//!   `/application`). It then gets the same checks as a relative path and is
//!   returned as the app-relative path below the prefix
//!   (`https://app.example/app/page?x=1` becomes `/page?x=1`).
//! - An absolute `http`/`https` URL of an allowlisted origin (only scheme,
//!   host and port are compared) is returned as the URL it is.
//!
//! # What is rejected
//!
//! Everything else, including inputs that browsers or proxies would
//! "repair" into another origin or another path: `//evil`, `/\evil`,
//! `\\evil`; dot segments that collapse into `//` (`/.//evil`, `/..//evil`)
//! or climb above the application's root (`/../other`); any percent-encoded
//! `.`, `/` or `\` in the path (`%2e`, `%2f`, `%5c` in either letter case, and
//! their double or triple encodings such as `%252f`), which a browser
//! (for `%2e`) or a proxy (for all three) may decode into traversal, so
//! `/./%2Fevil`, `/%2e./%2fevil` and `/files/a%2Fb` are all refused; more
//! than three nested levels of percent-encoding anywhere; raw or
//! percent-encoded control characters (CR, LF, TAB, NUL...); any whitespace;
//! backslashes anywhere (they are never valid raw in a URL); non-ASCII
//! characters (percent-encode them); schemes other than http(s)
//! (`javascript:`, `data:`); scheme-relative forms like `https:evil`;
//! userinfo (`https://good@evil`); same-origin URLs outside `BASE_URL`'s
//! path or whose path starts with `//`; and inputs over
//! [`MAX_RETURN_TO_LEN`] bytes. Percent-encoded separators in the query or
//! fragment are fine (`/search?next=%2F` is accepted). Error messages never
//! echo the input.

use url::{Position, Url};

/// The longest accepted target, in bytes.
pub const MAX_RETURN_TO_LEN: usize = 2048;

/// How many nested levels of percent-encoding are inspected; an input with
/// more is rejected.
const DECODE_LAYERS: usize = 3;

/// Why a return target was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    /// The target's path contains a percent-encoded `.`, `/` or `\`.
    #[error("the return target's path contains a percent-encoded dot, slash or backslash")]
    EncodedSeparator,
    /// The target is percent-encoded more deeply than is inspected.
    #[error("the return target is percent-encoded too many times")]
    TooDeeplyEncoded,
    /// The target's dot segments climb above the application's root, or a
    /// same-origin URL lies outside `BASE_URL`'s path.
    #[error("the return target leaves the application's base path")]
    OutsideBasePath,
    /// The target is neither a `/path` nor an absolute http(s) URL.
    #[error("the return target must be a path starting with / or an absolute http(s) URL")]
    NotRootRelative,
    /// The target uses a scheme other than http or https, or omits `//`.
    #[error("the return target uses a forbidden scheme")]
    ForbiddenScheme,
    /// The absolute URL could not be parsed.
    #[error("the return target is not a valid URL")]
    InvalidUrl(#[source] url::ParseError),
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
/// absolute targets may point to. The result is an app-relative path (the
/// caller prepends `base_url`'s path) or an allowlisted absolute URL; see the
/// [module documentation](self) for the exact contract.
///
/// ```
/// use portcullis_core::return_to::{ReturnToError, sanitize_return_to};
/// use url::Url;
///
/// let base = Url::parse("https://app.example/app").unwrap();
/// let ok = |t| sanitize_return_to(t, &base, &[]);
/// assert_eq!(ok("/a/./b/../c?x=1").as_deref(), Ok("/a/c?x=1"));
/// assert_eq!(ok("https://app.example/app/page").as_deref(), Ok("/page"));
/// assert_eq!(ok("/../other"), Err(ReturnToError::OutsideBasePath));
/// assert_eq!(ok("/./%2Fevil.com"), Err(ReturnToError::ProtocolRelative));
/// assert_eq!(ok("https://app.example/other"), Err(ReturnToError::OutsideBasePath));
/// ```
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

    // Look through nested percent-encoding for hidden control characters.
    let mut layer = input.as_bytes().to_vec();
    for _ in 0..DECODE_LAYERS {
        let decoded = percent_decode(&layer);
        if decoded == layer {
            break;
        }
        if decoded.iter().any(|b| *b < 0x20 || *b == 0x7f) {
            return Err(ReturnToError::ControlCharacter);
        }
        layer = decoded;
    }
    if percent_decode(&layer) != layer {
        return Err(ReturnToError::TooDeeplyEncoded);
    }

    if input.starts_with('/') {
        return app_relative(input, base_url);
    }
    absolute(input, base_url, allowlist)
}

/// Checks an app-relative `target` (starting with `/`) and returns its
/// normalized form.
fn app_relative(target: &str, base_url: &Url) -> Result<String, ReturnToError> {
    let (path, rest) = split_path(target);
    let path = checked_path(path)?;
    if path.climbed_above_root {
        return Err(ReturnToError::OutsideBasePath);
    }
    serialize(&path.path, rest, base_url)
}

/// The path checks shared by relative and same-origin absolute targets:
/// no `//` start, not in any decoded layer either (with `\` read as `/` and
/// dot segments resolved, as browsers and proxies would), no encoded
/// separator. Returns the path with its dot segments resolved.
fn checked_path(path: &str) -> Result<Resolved, ReturnToError> {
    let mut layer = path.as_bytes().to_vec();
    for depth in 0..=DECODE_LAYERS {
        let text = String::from_utf8_lossy(&layer).replace('\\', "/");
        if text.starts_with("//") || resolve_dot_segments(&text).path.starts_with("//") {
            return Err(ReturnToError::ProtocolRelative);
        }
        let decoded = percent_decode(&layer);
        if decoded == layer || depth == DECODE_LAYERS {
            break;
        }
        layer = decoded;
    }
    // `%2e` is a dot segment to a browser, `%2f` and `%5c` are separators to
    // many proxies and frameworks, at whatever depth they were encoded.
    let mut layer = path.as_bytes().to_vec();
    for _ in 0..=DECODE_LAYERS {
        if has_encoded_separator(&layer) {
            return Err(ReturnToError::EncodedSeparator);
        }
        let decoded = percent_decode(&layer);
        if decoded == layer {
            break;
        }
        layer = decoded;
    }
    Ok(resolve_dot_segments(path))
}

/// Builds the normalized app-relative result: `path` (dot segments already
/// resolved) under `base_url`'s prefix, `rest` (`?query`, `#fragment` or
/// empty) kept; the prefix is taken off again.
fn serialize(path: &str, rest: &str, base_url: &Url) -> Result<String, ReturnToError> {
    let prefix = base_prefix(base_url);
    let (query, fragment) = match rest.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (rest, None),
    };
    let mut url = base_url.clone();
    url.set_path(&format!("{prefix}{path}"));
    url.set_query(query.strip_prefix('?'));
    url.set_fragment(fragment);
    if url.origin() != base_url.origin() {
        return Err(ReturnToError::ForeignOrigin);
    }
    // Defence in depth: the serializer must not have moved the path.
    let full = &url[Position::BeforePath..];
    match full.strip_prefix(prefix) {
        Some(relative) if relative.starts_with('/') && !relative.starts_with("//") => {
            Ok(relative.to_owned())
        }
        _ => Err(ReturnToError::ProtocolRelative),
    }
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
    let url = Url::parse(input).map_err(ReturnToError::InvalidUrl)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ReturnToError::UserInfo);
    }
    let origin = url.origin();
    if origin == base_url.origin() {
        return same_origin(input, base_url);
    }
    if allowlist.iter().any(|a| a.origin() == origin) {
        return Ok(url.as_str().to_owned());
    }
    Err(ReturnToError::ForeignOrigin)
}

/// A same-origin absolute `input`: its raw path (the parser would already
/// have resolved `%2e` segments) must lie under `base_url`'s path; returns
/// the app-relative remainder.
fn same_origin(input: &str, base_url: &Url) -> Result<String, ReturnToError> {
    // `input` starts with `http://` or `https://`; the authority ends at the
    // first `/`, `?` or `#` (a backslash was rejected before).
    let after_scheme = input.split_once("://").map_or("", |(_, after)| after);
    let raw = after_scheme
        .find(['/', '?', '#'])
        .map_or("", |start| &after_scheme[start..]);
    let (path, rest) = split_path(raw);
    let path = if path.is_empty() { "/" } else { path };
    let resolved = checked_path(path)?;
    if resolved.climbed_above_root {
        return Err(ReturnToError::OutsideBasePath);
    }
    let prefix = base_prefix(base_url);
    let below = match resolved.path.strip_prefix(prefix) {
        Some("") => "/",
        Some(below) if below.starts_with('/') => below,
        _ => return Err(ReturnToError::OutsideBasePath),
    };
    // `/app//evil` under `/app` would come out as `//evil`.
    if below.starts_with("//") {
        return Err(ReturnToError::ProtocolRelative);
    }
    serialize(below, rest, base_url)
}

/// `base_url`'s path without its trailing slashes (`""` at the root): the
/// prefix the engine puts in front of an app-relative target.
fn base_prefix(base_url: &Url) -> &str {
    base_url.path().trim_end_matches('/')
}

/// Splits `target` into its path and the rest (`?query#fragment`).
fn split_path(target: &str) -> (&str, &str) {
    let end = target.find(['?', '#']).unwrap_or(target.len());
    target.split_at(end)
}

/// A path with its dot segments resolved.
struct Resolved {
    path: String,
    /// A `..` had nothing left to remove (it was dropped, as browsers do).
    climbed_above_root: bool,
}

/// RFC 3986 §5.2.4 `remove_dot_segments` for a path starting with `/`
/// (the WHATWG URL parser resolves the same way): `.` is dropped, `..`
/// drops the segment before it, and a trailing `.` or `..` leaves a
/// trailing `/`. Only literal dots count; encoded ones are rejected before.
fn resolve_dot_segments(path: &str) -> Resolved {
    let body = path.strip_prefix('/').unwrap_or(path);
    let segments: Vec<&str> = body.split('/').collect();
    let last = segments.len().saturating_sub(1);
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    let mut climbed_above_root = false;
    for (i, segment) in segments.into_iter().enumerate() {
        match segment {
            "." | ".." => {
                if segment == ".." && out.pop().is_none() {
                    climbed_above_root = true;
                }
                if i == last {
                    out.push("");
                }
            }
            other => out.push(other),
        }
    }
    Resolved {
        path: format!("/{}", out.join("/")),
        climbed_above_root,
    }
}

/// True if `bytes` holds a `%XX` escape of `.`, `/` or `\` (either case).
fn has_encoded_separator(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (hex(w[1]), hex(w[2])),
                (Some(h), Some(l)) if matches!(h << 4 | l, b'.' | b'/' | b'\\')
            )
    })
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
            "/100%25",
        ] {
            assert_eq!(check(ok).as_deref(), Ok(ok));
        }
    }

    #[test]
    fn same_origin_absolute_url_becomes_an_app_relative_path() {
        assert_eq!(
            check("https://app.example.com/x?y=1").as_deref(),
            Ok("/x?y=1")
        );
        assert_eq!(check("HTTPS://APP.example.com").as_deref(), Ok("/"));
        assert_eq!(
            check("https://app.example.com:443/x#f").as_deref(),
            Ok("/x#f")
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
        for input in ["https://", "https://[::1/"] {
            assert!(
                matches!(check(input), Err(ReturnToError::InvalidUrl(_))),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn errors_do_not_echo_the_input() {
        let err = check("https://evil.com/secret-marker").unwrap_err();
        assert!(!err.to_string().contains("secret-marker"));
    }
    // --- BASE_URL with a path prefix: https://app.example/app ---

    fn app_base() -> Url {
        Url::parse("https://app.example/app").unwrap()
    }

    fn under_app(input: &str) -> Result<String, ReturnToError> {
        sanitize_return_to(
            input,
            &app_base(),
            &[Url::parse("https://docs.example.org").unwrap()],
        )
    }

    fn rejects_under_app(input: &str, expected: ReturnToError) {
        assert_eq!(under_app(input), Err(expected), "input {input:?}");
    }

    #[test]
    fn rejects_dot_segment_before_an_encoded_slash() {
        rejects_under_app("/./%2Fevil.com", ReturnToError::ProtocolRelative);
        rejects_under_app("/./%2fevil.com", ReturnToError::ProtocolRelative);
        rejects("/./%2Fevil.com", ReturnToError::ProtocolRelative);
    }

    #[test]
    fn rejects_encoded_dot_dot_before_an_encoded_slash() {
        rejects_under_app("/%2e./%2fevil.com", ReturnToError::ProtocolRelative);
        rejects_under_app("/%2E%2E/%2Fevil.com", ReturnToError::ProtocolRelative);
        rejects("/%2e./%2fevil.com", ReturnToError::ProtocolRelative);
    }

    #[test]
    fn rejects_dot_dot_above_the_application_root() {
        for input in ["/../other", "/..", "/a/../../other", "/./../other?x=1"] {
            rejects_under_app(input, ReturnToError::OutsideBasePath);
        }
        rejects("/../other", ReturnToError::OutsideBasePath);
    }

    #[test]
    fn rejects_same_origin_url_whose_path_starts_with_a_double_slash() {
        rejects_under_app(
            "https://app.example//evil.com",
            ReturnToError::ProtocolRelative,
        );
        let http_base = Url::parse("http://app.example/app").unwrap();
        assert_eq!(
            sanitize_return_to("http://app.example//evil.com", &http_base, &[]),
            Err(ReturnToError::ProtocolRelative)
        );
        // Against an https BASE_URL the http URL is another origin.
        rejects_under_app("http://app.example//evil.com", ReturnToError::ForeignOrigin);
    }

    #[test]
    fn rejects_same_origin_url_with_a_double_slash_below_the_base_path() {
        rejects_under_app(
            "https://app.example/app//evil.com",
            ReturnToError::ProtocolRelative,
        );
    }

    #[test]
    fn rejects_same_origin_url_outside_the_base_path() {
        for input in [
            "https://app.example",
            "https://app.example/",
            "https://app.example/other",
            "https://app.example/application",
            "https://app.example/ap",
            "https://app.example/APP/page",
        ] {
            rejects_under_app(input, ReturnToError::OutsideBasePath);
        }
    }

    #[test]
    fn rejects_same_origin_url_climbing_out_of_the_base_path() {
        for input in [
            "https://app.example/app/../other",
            "https://app.example/app/./../other",
            "https://app.example/../app/page",
        ] {
            rejects_under_app(input, ReturnToError::OutsideBasePath);
        }
    }

    #[test]
    fn rejects_encoded_dot_segments_in_same_origin_url() {
        // The URL parser would resolve these to /other before any check.
        for input in [
            "https://app.example/app/%2e%2e/other",
            "https://app.example/app/%2E%2E/other",
            "https://app.example/app/.%2e/other",
            "https://app.example/app/%252e%252e/other",
        ] {
            rejects_under_app(input, ReturnToError::EncodedSeparator);
        }
        rejects(
            "https://app.example.com/a/%2e%2e/b",
            ReturnToError::EncodedSeparator,
        );
    }

    #[test]
    fn rejects_encoded_slash_after_the_base_path_in_same_origin_url() {
        rejects_under_app(
            "https://app.example/app/%2f%2fevil.com",
            ReturnToError::EncodedSeparator,
        );
        rejects_under_app(
            "https://app.example/app%2fpage",
            ReturnToError::EncodedSeparator,
        );
    }

    #[test]
    fn same_origin_url_under_the_base_path_becomes_app_relative() {
        for (input, expected) in [
            ("https://app.example/app/page?x=1#f", "/page?x=1#f"),
            ("https://app.example/app", "/"),
            ("https://app.example/app/", "/"),
            ("https://app.example/app?x=1", "/?x=1"),
            ("https://app.example/app/a/./b/../c", "/a/c"),
            ("https://APP.example:443/app/x", "/x"),
            ("https://app.example/app/app/page", "/app/page"),
        ] {
            assert_eq!(under_app(input).as_deref(), Ok(expected), "input {input:?}");
        }
    }

    #[test]
    fn relative_target_is_app_relative_even_when_it_starts_with_the_prefix() {
        assert_eq!(under_app("/page").as_deref(), Ok("/page"));
        assert_eq!(under_app("/app/page").as_deref(), Ok("/app/page"));
        assert_eq!(under_app("/").as_deref(), Ok("/"));
    }

    #[test]
    fn allowlisted_origin_is_returned_as_an_absolute_url_under_a_base_path() {
        assert_eq!(
            under_app("https://docs.example.org/guide").as_deref(),
            Ok("https://docs.example.org/guide")
        );
    }

    #[test]
    fn emits_the_path_with_dot_segments_resolved() {
        for (input, expected) in [
            ("/a/./b/../c?x=1#f", "/a/c?x=1#f"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/./a", "/a"),
            ("/a/b/../../c", "/c"),
            ("/a//../b", "/a/b"),
        ] {
            assert_eq!(check(input).as_deref(), Ok(expected), "input {input:?}");
            assert_eq!(under_app(input).as_deref(), Ok(expected), "input {input:?}");
        }
    }

    #[test]
    fn rejects_percent_encoded_dot_in_any_case() {
        for input in [
            "/%2e%2e/x",
            "/%2E%2E/x",
            "/.%2e/x",
            "/%2e./x",
            "/%2e/x",
            "/a/%2e%2E/b",
            "/file%2ehtml",
        ] {
            rejects(input, ReturnToError::EncodedSeparator);
            rejects_under_app(input, ReturnToError::EncodedSeparator);
        }
    }

    #[test]
    fn rejects_percent_encoded_slash_inside_the_path_in_any_case() {
        for input in ["/a/%2f%2fb", "/a%2fb", "/a%2Fb", "/files/a%2Fb"] {
            rejects(input, ReturnToError::EncodedSeparator);
            rejects_under_app(input, ReturnToError::EncodedSeparator);
        }
    }

    #[test]
    fn rejects_percent_encoded_backslash_inside_the_path_in_any_case() {
        for input in ["/a%5cb", "/a%5Cb"] {
            rejects(input, ReturnToError::EncodedSeparator);
            rejects_under_app(input, ReturnToError::EncodedSeparator);
        }
    }

    #[test]
    fn rejects_double_and_triple_encoded_separators_inside_the_path() {
        for input in ["/a%252fb", "/a%25252Fb", "/%252e%252e/x", "/a%255cb"] {
            rejects(input, ReturnToError::EncodedSeparator);
            rejects_under_app(input, ReturnToError::EncodedSeparator);
        }
    }

    #[test]
    fn rejects_double_encoded_double_slash_under_a_base_path() {
        rejects_under_app("/%252f%252fevil.com", ReturnToError::ProtocolRelative);
        rejects_under_app("/%252F/evil.com", ReturnToError::ProtocolRelative);
    }

    #[test]
    fn rejects_more_than_three_levels_of_percent_encoding() {
        rejects("/a%2525252fb", ReturnToError::TooDeeplyEncoded);
        rejects("/a?q=%2525252541", ReturnToError::TooDeeplyEncoded);
        // Three levels are still looked through.
        rejects("/a%25252fb", ReturnToError::EncodedSeparator);
    }

    #[test]
    fn accepts_encoded_separators_in_the_query_and_fragment() {
        let input = "/search?next=%2F%2Fevil&up=%2e%2e%5c#%2f";
        assert_eq!(check(input).as_deref(), Ok(input));
        assert_eq!(under_app(input).as_deref(), Ok(input));
    }

    /// Every known attack string, against a BASE_URL with a path.
    const ATTACKS: &[&str] = &[
        "//evil.com",
        "//evil.com/path",
        "/\\evil.com",
        "\\\\evil.com",
        "/%2f%2fevil.com",
        "/%2F%2Fevil.com",
        "/%2fevil.com",
        "/%5cevil.com",
        "/%5Cevil.com",
        "/%252f%252fevil.com",
        "/%25255cevil.com",
        "/..//evil.com",
        "/.//evil.com",
        "/%2e%2e//evil.com",
        "/./%2Fevil.com",
        "/%2e./%2fevil.com",
        "/../other",
        "/../app/x",
        " /account",
        "/account ",
        "\u{a0}/account",
        "/a\r\nLocation: x",
        "/a%0d%0aSet-Cookie:x",
        "/a%250d",
        "https:evil.com",
        "https:/evil.com",
        "javascript:alert(1)",
        "data:text/html,x",
        "ftp://app.example/",
        "http://app.example//evil.com",
        "https://app.example//evil.com",
        "https://app.example/other",
        "https://app.example/app/../other",
        "https://app.example/app/%2e%2e/other",
        "https://app.example@evil.com",
        "https://app.example\\@evil.com",
        "https://evil.com/",
        "evil.com",
    ];

    #[test]
    fn rejects_every_known_attack_under_a_base_path() {
        for input in ATTACKS {
            assert!(under_app(input).is_err(), "accepted {input:?}");
        }
    }

    #[test]
    fn accepted_targets_stay_under_the_base_path_once_prefixed() {
        // What the engine does with an app-relative result: prefix + target,
        // then a browser resolves it against the page.
        let page = Url::parse("https://app.example/app/login").unwrap();
        for input in ATTACKS.iter().copied().chain([
            "/",
            "/page",
            "/a/./b/../c",
            "/a//b",
            "/app/page",
            "https://app.example/app/x/../y",
            "/search?next=%2F%2Fevil#//x",
        ]) {
            let Ok(target) = under_app(input) else {
                continue;
            };
            assert!(
                target.starts_with('/') && !target.starts_with("//"),
                "{target}"
            );
            let followed = page.join(&format!("/app{target}")).unwrap();
            assert_eq!(followed.origin(), page.origin(), "input {input:?}");
            assert!(
                followed.path().starts_with("/app/"),
                "input {input:?} -> {followed}"
            );
            assert_eq!(&followed[Position::BeforePath..], format!("/app{target}"));
        }
    }
}

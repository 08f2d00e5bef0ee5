//! Cookie attributes, chunking of large session values, and allocation-light reading
//! of the request's `Cookie` headers.
//!
//! Browsers keep about 4096 bytes per cookie. A session value that does not fit in
//! one cookie (about [`MAX_COOKIE_BYTES`] for `name=value; attributes`) is split into
//! `name.0`, `name.1`, … (at most [`MAX_CHUNKS`]); otherwise it is written as the
//! single cookie `name`. Reading accepts either the single cookie or contiguous chunks
//! `0..n`; a gap, or a mixture of the single cookie and chunks, reads as "no session".
//!
//! Note that several chunks make the request's `Cookie` header large: some proxies
//! limit a request header line to 8 KiB (nginx's `large_client_header_buffers`).

use std::borrow::Cow;

use cookie::time::{Duration, OffsetDateTime};
use cookie::{Cookie, SameSite};
use http::HeaderValue;

/// The most bytes a `Set-Cookie` value (`name=value; attributes`) may take before the
/// session is split into chunks. Browsers guarantee at least 4096.
pub const MAX_COOKIE_BYTES: usize = 4000;

/// The most chunks a session may be split into. A larger session is refused with
/// [`SessionCookieError::TooLarge`] rather than written.
pub const MAX_CHUNKS: usize = 10;

/// Chunk indices up to this bound are recognised when reading (so stale chunks left
/// by an older, larger limit can still be cleared).
const TRACKED_CHUNKS: usize = 32;

/// Attributes of the cookies Portcullis writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieOptions {
    /// `Path`. Default `/`.
    pub path: String,
    /// `Domain`. Default none (host-only cookie, the safest choice).
    pub domain: Option<String>,
    /// `Secure`. Set when `BASE_URL` is https.
    pub secure: bool,
    /// `SameSite`. `Lax` for the session cookie.
    pub same_site: SameSite,
    /// `HttpOnly`. Always `true` for Portcullis' own cookies.
    pub http_only: bool,
}

impl Default for CookieOptions {
    /// Session-cookie options with `Secure` on (the safe default for production).
    fn default() -> Self {
        Self::for_session(true)
    }
}

impl CookieOptions {
    /// Options for the session cookie: `Path=/`, `HttpOnly`, `SameSite=Lax`, and
    /// `Secure` when `secure` (use [`from_base_url`](Self::from_base_url) to derive
    /// it from `BASE_URL`).
    pub fn for_session(secure: bool) -> Self {
        CookieOptions {
            path: "/".to_owned(),
            domain: None,
            secure,
            same_site: SameSite::Lax,
            http_only: true,
        }
    }

    /// Session-cookie options with `Secure` set exactly when `base_url` is https.
    #[cfg(any(test, feature = "internals"))]
    pub fn from_base_url(base_url: &url::Url) -> Self {
        Self::for_session(base_url.scheme() == "https")
    }

    /// Options for the transaction (per-flow) cookie.
    ///
    /// A `response_mode=form_post` callback is a cross-site POST from the OP, which
    /// only carries cookies marked `SameSite=None`, and browsers accept
    /// `SameSite=None` only together with `Secure`. So on https this is
    /// `SameSite=None; Secure; HttpOnly`.
    ///
    /// On plain http (local development) `Secure` cannot be set, so this falls back to
    /// `SameSite=Lax`: the `query` response mode works everywhere, but a form_post
    /// callback then only carries the cookie when the OP is *same-site* with the app
    /// (for example both on `localhost` with different ports). Against a remote OP
    /// over plain http, use `response_mode=query` or https.
    pub fn for_transaction(secure: bool) -> Self {
        CookieOptions {
            path: "/".to_owned(),
            domain: None,
            secure,
            same_site: if secure {
                SameSite::None
            } else {
                SameSite::Lax
            },
            http_only: true,
        }
    }

    /// Builds a cookie with these attributes. `max_age` in seconds; `None` makes a
    /// browser-session cookie.
    pub fn build_cookie(
        &self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
        max_age: impl Into<Option<u64>>,
    ) -> Cookie<'static> {
        let max_age = max_age.into();
        let mut b = Cookie::build((name, value))
            .path(self.path.clone())
            .http_only(self.http_only)
            .secure(self.secure)
            .same_site(self.same_site);
        if let Some(domain) = &self.domain {
            b = b.domain(domain.clone());
        }
        if let Some(secs) = max_age {
            b = b.max_age(Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX)));
        }
        b.build()
    }

    /// Builds a cookie that deletes `name` (empty value, `Max-Age=0`, `Expires` in
    /// 1970), with the same `Path`/`Domain` so the browser matches it.
    pub fn removal_cookie(&self, name: impl Into<Cow<'static, str>>) -> Cookie<'static> {
        let mut c = self.build_cookie(name, "", 0);
        c.set_expires(OffsetDateTime::UNIX_EPOCH);
        c
    }
}

/// Why session cookies could not be written. Never contains the cookie value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionCookieError {
    /// The sealed session needs more than [`MAX_CHUNKS`] cookies. Store less in the
    /// session (for example drop the userinfo claims or `extra` data), or use a
    /// server-side session store.
    #[error(
        "the session is too large for cookies: {len} bytes would need more than {max_chunks} chunks"
    )]
    TooLarge {
        /// Length of the sealed value.
        len: usize,
        /// [`MAX_CHUNKS`].
        max_chunks: usize,
    },
    /// The cookie name is empty, not a valid cookie token, or so long that no value
    /// fits beside it.
    #[error("invalid session cookie name")]
    InvalidName,
    /// The value contains characters that are not allowed in a cookie value (sealed
    /// values are base64url, so this means it was not produced by the codec).
    #[error("the session cookie value contains characters not allowed in a cookie")]
    InvalidValue,
}

fn is_token_byte(b: u8) -> bool {
    // RFC 6265 cookie-name = token (RFC 2616 token: no CTLs or separators).
    b.is_ascii_graphic()
        && !matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
                | b'{'
                | b'}'
        )
}

fn is_cookie_octet(b: u8) -> bool {
    // RFC 6265 cookie-octet.
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

fn chunk_name(name: &str, index: usize) -> String {
    format!("{name}.{index}")
}

/// Encodes a sealed session value as `Set-Cookie` cookies: the single cookie `name`
/// when `name=value; attributes` fits in [`MAX_COOKIE_BYTES`], otherwise chunks
/// `name.0`, `name.1`, ….
///
/// `max_age` is in seconds (see [`SessionData::cookie_max_age`](super::SessionData::cookie_max_age));
/// `None` writes browser-session cookies. This does not clear stale cookies; use
/// [`replace_session_cookies`] for that.
pub fn encode_session_cookies(
    name: &str,
    sealed_value: &str,
    options: &CookieOptions,
    max_age: impl Into<Option<u64>>,
) -> Result<Vec<Cookie<'static>>, SessionCookieError> {
    let max_age = max_age.into();
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(SessionCookieError::InvalidName);
    }
    if !sealed_value.bytes().all(is_cookie_octet) {
        return Err(SessionCookieError::InvalidValue);
    }
    // Overhead of everything but the value, measured on the real attributes.
    let overhead = |cookie_name: String| {
        options
            .build_cookie(cookie_name, "", max_age)
            .to_string()
            .len()
    };
    let single_overhead = overhead(name.to_owned());
    if single_overhead + sealed_value.len() <= MAX_COOKIE_BYTES {
        return Ok(vec![options.build_cookie(
            name.to_owned(),
            sealed_value.to_owned(),
            max_age,
        )]);
    }
    // Budget per chunk, computed with the longest chunk name so every chunk fits.
    let chunk_overhead = overhead(chunk_name(name, MAX_CHUNKS - 1));
    let budget = MAX_COOKIE_BYTES.saturating_sub(chunk_overhead);
    if budget < 64 {
        return Err(SessionCookieError::InvalidName);
    }
    let count = sealed_value.len().div_ceil(budget);
    if count > MAX_CHUNKS {
        return Err(SessionCookieError::TooLarge {
            len: sealed_value.len(),
            max_chunks: MAX_CHUNKS,
        });
    }
    // The value is ASCII (checked above), so byte-chunking keeps char boundaries.
    Ok(sealed_value
        .as_bytes()
        .chunks(budget)
        .enumerate()
        .map(|(i, part)| {
            let part = String::from_utf8_lossy(part).into_owned();
            options.build_cookie(chunk_name(name, i), part, max_age)
        })
        .collect())
}

/// Which of the session cookies (`name` and `name.N`) the request carried.
/// A small `Copy` value: no allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PresentCookies {
    whole: bool,
    chunks: u32,
}

impl PresentCookies {
    /// No session cookie at all.
    pub fn is_empty(&self) -> bool {
        !self.whole && self.chunks == 0
    }

    /// Whether the single (unchunked) cookie `name` was present.
    #[cfg(any(test, feature = "internals"))]
    pub fn has_whole(&self) -> bool {
        self.whole
    }

    /// Whether the chunk `name.{index}` was present.
    pub fn has_chunk(&self, index: usize) -> bool {
        index < TRACKED_CHUNKS && self.chunks & (1 << index) != 0
    }

    /// The names of the present cookies, given the base `name`.
    pub fn names(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.whole {
            out.push(name.to_owned());
        }
        out.extend(
            (0..TRACKED_CHUNKS)
                .filter(|&i| self.has_chunk(i))
                .map(|i| chunk_name(name, i)),
        );
        out
    }
}

/// The result of scanning the request's `Cookie` headers for one session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookieScan<'a> {
    /// The reassembled value, or `None` when absent, incomplete (a missing chunk),
    /// mixed (both `name` and `name.N`) or over the size limit. Borrowed from the
    /// header when it was a single cookie.
    pub value: Option<Cow<'a, str>>,
    /// Which session cookies were present (to clear stale ones).
    pub present: PresentCookies,
}

/// The `;`-separated pairs of one `Cookie` header value. memchr finds the
/// separators with SIMD: a session cookie is kilobytes long.
fn cookie_pairs(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    memchr::memchr_iter(b';', bytes)
        .chain(std::iter::once(bytes.len()))
        .scan(0usize, move |start, end| {
            let pair = &bytes[*start..end];
            *start = end + 1;
            Some(pair)
        })
}

/// Splits `pair` at the first `=` into trimmed name and value (value unquoted).
fn split_pair(pair: &[u8]) -> Option<(&[u8], &[u8])> {
    let eq = memchr::memchr(b'=', pair)?;
    let name = pair[..eq].trim_ascii();
    let mut value = pair[eq + 1..].trim_ascii();
    if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
        value = &value[1..value.len() - 1];
    }
    Some((name, value))
}

/// Parses `N` from `name.N` (decimal, no leading zeros, below [`TRACKED_CHUNKS`]).
fn chunk_index(cookie_name: &[u8], name: &[u8]) -> Option<usize> {
    let rest = cookie_name.strip_prefix(name)?.strip_prefix(b".")?;
    if rest.is_empty() || rest.len() > 2 || (rest.len() > 1 && rest[0] == b'0') {
        return None;
    }
    let mut n = 0usize;
    for &d in rest {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + usize::from(d - b'0');
    }
    (n < TRACKED_CHUNKS).then_some(n)
}

/// Scans the request's `Cookie` header values (there may be several) for the session
/// cookie `name`, single or chunked, without building a cookie jar: one pass over the
/// bytes, no allocation unless the value is chunked.
///
/// When a name occurs twice (for example cookies with different paths), the first
/// occurrence wins, which is the most specific path in browsers' ordering.
pub fn scan_session_cookies<'a>(
    cookie_headers: impl IntoIterator<Item = &'a HeaderValue>,
    name: &str,
) -> SessionCookieScan<'a> {
    let raw =
        scan_session_cookie_bytes(cookie_headers.into_iter().map(HeaderValue::as_bytes), name);
    let value = raw.value.and_then(|v| match v {
        Cow::Borrowed(bytes) => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
        Cow::Owned(bytes) => String::from_utf8(bytes).ok().map(Cow::Owned),
    });
    SessionCookieScan {
        value,
        present: raw.present,
    }
}

/// Like [`SessionCookieScan`], with the value as raw header bytes (not yet
/// checked to be UTF-8), for callers that can use bytes directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookieBytes<'a> {
    /// The reassembled value under the same rules as [`SessionCookieScan::value`].
    pub value: Option<Cow<'a, [u8]>>,
    /// Which session cookies were present.
    pub present: PresentCookies,
}

/// [`scan_session_cookies`] without the UTF-8 conversion, over the raw bytes
/// of each `Cookie` header (whatever the framework's header type): the hot
/// path looks the bytes up in the session cache before doing any further work.
pub fn scan_session_cookie_bytes<'a>(
    cookie_headers: impl IntoIterator<Item = &'a [u8]>,
    name: &str,
) -> SessionCookieBytes<'a> {
    let name_bytes = name.as_bytes();
    let mut present = PresentCookies::default();
    let mut whole: Option<&'a [u8]> = None;
    let mut chunks: [Option<&'a [u8]>; MAX_CHUNKS] = [None; MAX_CHUNKS];
    for header in cookie_headers {
        for pair in cookie_pairs(header) {
            let Some((cookie_name, value)) = split_pair(pair) else {
                continue;
            };
            if !cookie_name.starts_with(name_bytes) {
                continue;
            }
            if cookie_name.len() == name_bytes.len() {
                if !present.whole {
                    present.whole = true;
                    whole = Some(value);
                }
            } else if let Some(i) = chunk_index(cookie_name, name_bytes)
                && !present.has_chunk(i)
            {
                present.chunks |= 1 << i;
                if let Some(slot) = chunks.get_mut(i) {
                    *slot = Some(value);
                }
            }
        }
    }
    let value = assemble(&present, whole, &chunks);
    SessionCookieBytes { value, present }
}

fn assemble<'a>(
    present: &PresentCookies,
    whole: Option<&'a [u8]>,
    chunks: &[Option<&'a [u8]>; MAX_CHUNKS],
) -> Option<Cow<'a, [u8]>> {
    let max_total = crate::session::keys::MAX_SEALED_LEN;
    if present.whole {
        if present.chunks != 0 {
            return None; // mixture
        }
        let v = whole?;
        if v.is_empty() || v.len() > max_total {
            return None;
        }
        return Some(Cow::Borrowed(v));
    }
    if present.chunks == 0 {
        return None;
    }
    // Contiguous 0..n with nothing beyond (trailing_ones counts from chunk 0).
    let n = present.chunks.trailing_ones() as usize;
    if n > MAX_CHUNKS || present.chunks != (1u32 << n) - 1 {
        return None;
    }
    let parts = &chunks[..n];
    let total: usize = parts.iter().flatten().map(|p| p.len()).sum();
    if total > max_total {
        return None;
    }
    let mut out = Vec::with_capacity(total);
    for part in parts {
        let part = (*part)?;
        if part.is_empty() {
            return None;
        }
        out.extend_from_slice(part);
    }
    Some(Cow::Owned(out))
}

/// Reads the session cookie `name` (single or chunked) from the request's `Cookie`
/// headers. See [`scan_session_cookies`] for the rules; `None` means "no session".
#[cfg(any(test, feature = "internals"))]
pub fn read_session_cookie<'a>(
    cookie_headers: impl IntoIterator<Item = &'a HeaderValue>,
    name: &str,
) -> Option<Cow<'a, str>> {
    scan_session_cookies(cookie_headers, name).value
}

/// Reads a plain (never chunked) cookie `name`, as used for the transaction cookie.
/// First occurrence wins; no allocation.
pub fn read_cookie<'a>(
    cookie_headers: impl IntoIterator<Item = &'a HeaderValue>,
    name: &str,
) -> Option<&'a str> {
    for header in cookie_headers {
        for pair in cookie_pairs(header.as_bytes()) {
            if let Some((n, v)) = split_pair(pair)
                && n == name.as_bytes()
            {
                return std::str::from_utf8(v).ok();
            }
        }
    }
    None
}

/// Builds expired cookies that delete every present session cookie (on logout, or
/// when a session cookie turned out to be invalid).
pub fn removal_cookies(
    name: &str,
    present: &PresentCookies,
    options: &CookieOptions,
) -> Vec<Cookie<'static>> {
    present
        .names(name)
        .into_iter()
        .map(|n| options.removal_cookie(n))
        .collect()
}

/// Encodes a new session value (as [`encode_session_cookies`]) and appends removal
/// cookies for every present session cookie that the new value does not overwrite
/// (for example when the session shrinks from three chunks to one).
pub fn replace_session_cookies(
    name: &str,
    sealed_value: &str,
    present: &PresentCookies,
    options: &CookieOptions,
    max_age: impl Into<Option<u64>>,
) -> Result<Vec<Cookie<'static>>, SessionCookieError> {
    let mut cookies = encode_session_cookies(name, sealed_value, options, max_age)?;
    let written: Vec<String> = cookies.iter().map(|c| c.name().to_owned()).collect();
    for stale in present.names(name) {
        if !written.contains(&stale) {
            cookies.push(options.removal_cookie(stale));
        }
    }
    Ok(cookies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    fn b64ish(len: usize) -> String {
        const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..len).map(|i| ALPHA[i % 64] as char).collect()
    }

    /// What a browser would send back for these Set-Cookies, in one header.
    fn cookie_header(cookies: &[Cookie<'static>]) -> HeaderValue {
        let s: Vec<String> = cookies
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect();
        hv(&s.join("; "))
    }

    #[test]
    fn session_options_are_httponly_lax_and_secure_on_https() {
        let https = CookieOptions::from_base_url(&"https://app.example".parse().unwrap());
        let c = https.build_cookie("s", "v", Some(60)).to_string();
        assert_eq!(c, "s=v; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=60");
        let http = CookieOptions::from_base_url(&"http://localhost:3000".parse().unwrap());
        let c = http.build_cookie("s", "v", None).to_string();
        assert_eq!(c, "s=v; HttpOnly; SameSite=Lax; Path=/");
    }

    #[test]
    fn transaction_options_are_samesite_none_secure_on_https_and_lax_on_http() {
        let c = CookieOptions::for_transaction(true)
            .build_cookie("t", "v", None)
            .to_string();
        assert_eq!(c, "t=v; HttpOnly; SameSite=None; Secure; Path=/");
        let c = CookieOptions::for_transaction(false)
            .build_cookie("t", "v", None)
            .to_string();
        assert_eq!(c, "t=v; HttpOnly; SameSite=Lax; Path=/");
    }

    #[test]
    fn writes_one_cookie_when_value_fits() {
        let opts = CookieOptions::for_session(true);
        let v = b64ish(100);
        let cookies = encode_session_cookies("s", &v, &opts, Some(3600)).unwrap();
        assert_eq!(cookies.len(), 1);
        assert_eq!(cookies[0].name(), "s");
        assert_eq!(cookies[0].value(), v);
    }

    #[test]
    fn splits_into_chunks_exactly_at_the_size_boundary() {
        let opts = CookieOptions::for_session(true);
        let overhead = opts.build_cookie("s", "", Some(3600)).to_string().len();
        let fits = b64ish(MAX_COOKIE_BYTES - overhead);
        let cookies = encode_session_cookies("s", &fits, &opts, Some(3600)).unwrap();
        assert_eq!(cookies.len(), 1);
        assert_eq!(cookies[0].to_string().len(), MAX_COOKIE_BYTES);

        let too_big = b64ish(MAX_COOKIE_BYTES - overhead + 1);
        let cookies = encode_session_cookies("s", &too_big, &opts, Some(3600)).unwrap();
        assert_eq!(cookies.len(), 2);
        assert_eq!(cookies[0].name(), "s.0");
        assert_eq!(cookies[1].name(), "s.1");
        for c in &cookies {
            assert!(c.to_string().len() <= MAX_COOKIE_BYTES);
            assert_eq!(c.max_age(), Some(Duration::seconds(3600)));
            assert_eq!(c.http_only(), Some(true));
        }
        let header = cookie_header(&cookies);
        assert_eq!(
            read_session_cookie([&header], "s").as_deref(),
            Some(too_big.as_str())
        );
    }

    #[test]
    fn every_chunk_fits_within_the_cookie_limit() {
        let mut opts = CookieOptions::for_session(true);
        opts.domain = Some("a-rather-long-subdomain.example.com".into());
        let v = b64ish(20_000);
        let cookies = encode_session_cookies("portcullis.session", &v, &opts, 604_800).unwrap();
        assert!(cookies.len() > 1 && cookies.len() <= MAX_CHUNKS);
        for c in &cookies {
            assert!(c.to_string().len() <= MAX_COOKIE_BYTES, "{}", c.name());
        }
    }

    #[test]
    fn rejects_session_needing_more_than_max_chunks() {
        let opts = CookieOptions::for_session(true);
        let v = b64ish(MAX_CHUNKS * MAX_COOKIE_BYTES);
        let err = encode_session_cookies("s", &v, &opts, None).unwrap_err();
        assert_eq!(
            err,
            SessionCookieError::TooLarge {
                len: v.len(),
                max_chunks: MAX_CHUNKS
            }
        );
        assert!(!err.to_string().contains("ABCDEF"));
    }

    #[test]
    fn rejects_invalid_cookie_names_and_values() {
        let opts = CookieOptions::for_session(false);
        for bad in ["", "a b", "a;b", "a=b", "é"] {
            assert_eq!(
                encode_session_cookies(bad, "v", &opts, None).unwrap_err(),
                SessionCookieError::InvalidName
            );
        }
        for bad in ["a b", "a;b", "a\"b", "a,b", "é"] {
            assert_eq!(
                encode_session_cookies("s", bad, &opts, None).unwrap_err(),
                SessionCookieError::InvalidValue
            );
        }
        let long_name = "n".repeat(MAX_COOKIE_BYTES);
        assert_eq!(
            encode_session_cookies(&long_name, &b64ish(5000), &opts, None).unwrap_err(),
            SessionCookieError::InvalidName
        );
    }

    #[test]
    fn reads_single_cookie_among_others_without_copying() {
        let h = hv("a=1; s=VALUE; s2=x; s.x=y; ss=z");
        let scan = scan_session_cookies([&h], "s");
        assert!(matches!(scan.value, Some(Cow::Borrowed("VALUE"))));
        assert!(scan.present.has_whole());
        assert!(!scan.present.has_chunk(0));
    }

    #[test]
    fn reassembles_chunks_spread_over_several_cookie_headers() {
        let h1 = hv("other=1; s.1=BBB");
        let h2 = hv("s.0=AAA");
        let h3 = hv("x=y;s.2=CCC");
        let scan = scan_session_cookies([&h1, &h2, &h3], "s");
        assert_eq!(scan.value.as_deref(), Some("AAABBBCCC"));
        assert_eq!(scan.present.names("s"), vec!["s.0", "s.1", "s.2"]);
    }

    #[test]
    fn treats_missing_middle_chunk_as_absent() {
        let h = hv("s.0=AAA; s.2=CCC");
        let scan = scan_session_cookies([&h], "s");
        assert_eq!(scan.value, None);
        assert_eq!(scan.present.names("s"), vec!["s.0", "s.2"]);
    }

    #[test]
    fn treats_missing_first_chunk_as_absent() {
        let h = hv("s.1=BBB");
        assert_eq!(read_session_cookie([&h], "s"), None);
    }

    #[test]
    fn treats_mixture_of_single_and_chunks_as_absent() {
        let h = hv("s=WHOLE; s.0=AAA");
        let scan = scan_session_cookies([&h], "s");
        assert_eq!(scan.value, None);
        assert_eq!(scan.present.names("s"), vec!["s", "s.0"]);
    }

    #[test]
    fn treats_chunks_beyond_max_chunks_as_absent() {
        let parts: Vec<String> = (0..=MAX_CHUNKS).map(|i| format!("s.{i}=A")).collect();
        let h = hv(&parts.join("; "));
        assert_eq!(read_session_cookie([&h], "s"), None);
    }

    #[test]
    fn ignores_chunk_names_with_leading_zeros_or_junk() {
        let h = hv("s.00=A; s.01=B; s.-1=C; s.1a=D; s.999=E");
        let scan = scan_session_cookies([&h], "s");
        assert_eq!(scan.value, None);
        assert!(scan.present.is_empty());
    }

    #[test]
    fn ignores_other_cookies_sharing_the_session_name_prefix() {
        // The transaction cookie is named `{session}.txn` by default.
        let h = hv("portcullis.session.txn=T; portcullis.sessionx=X; portcullis.session=S");
        let scan = scan_session_cookies([&h], "portcullis.session");
        assert_eq!(scan.value.as_deref(), Some("S"));
        assert_eq!(
            scan.present.names("portcullis.session"),
            ["portcullis.session"]
        );
        assert_eq!(read_cookie([&h], "portcullis.session.txn"), Some("T"));
    }

    #[test]
    fn first_occurrence_of_a_duplicate_name_wins() {
        let h = hv("s=FIRST; s=SECOND");
        assert_eq!(read_session_cookie([&h], "s").as_deref(), Some("FIRST"));
        assert_eq!(read_cookie([&h], "s"), Some("FIRST"));
    }

    #[test]
    fn strips_quotes_and_whitespace() {
        let h = hv("  s = \"VAL\" ;t=1");
        assert_eq!(read_session_cookie([&h], "s").as_deref(), Some("VAL"));
        assert_eq!(read_cookie([&h], "t"), Some("1"));
        assert_eq!(read_cookie([&h], "u"), None);
    }

    #[test]
    fn empty_value_is_absent() {
        let h = hv("s=; t=");
        assert_eq!(read_session_cookie([&h], "s"), None);
        let h = hv("s.0=; s.1=A");
        assert_eq!(read_session_cookie([&h], "s"), None);
    }

    #[test]
    fn hostile_cookie_headers_never_panic() {
        let huge = format!("{}; s=ok", "junk=".repeat(50_000));
        let noise = "%00%ff%c3%28; ;;;=;==; s.=x; .=; s.99999999999999999999=1";
        let mut headers = vec![hv(&huge), hv(noise), hv("")];
        headers.push(HeaderValue::from_bytes(b"s.0=\xff\xfe; s.1=A").unwrap());
        let scan = scan_session_cookies(&headers, "s");
        assert_eq!(scan.value, None, "mixture of s and s.N");
        let only_bad = [HeaderValue::from_bytes(b"s=\xff\xfe").unwrap()];
        assert_eq!(read_session_cookie(&only_bad, "s"), None);
        assert_eq!(read_cookie(&only_bad, "s"), None);
        let big_value = hv(&format!(
            "s={}",
            "A".repeat(crate::session::keys::MAX_SEALED_LEN + 1)
        ));
        assert_eq!(read_session_cookie([&big_value], "s"), None);
        let empty: [HeaderValue; 0] = [];
        assert_eq!(read_session_cookie(&empty, "s"), None);
    }

    #[test]
    fn removal_cookies_expire_every_present_cookie_with_same_path() {
        let h = hv("s=a; s.0=b; s.3=c");
        let present = scan_session_cookies([&h], "s").present;
        let opts = CookieOptions::for_session(true);
        let removals = removal_cookies("s", &present, &opts);
        let names: Vec<&str> = removals.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["s", "s.0", "s.3"]);
        for c in &removals {
            assert_eq!(c.value(), "");
            assert_eq!(c.max_age(), Some(Duration::ZERO));
            assert_eq!(c.path(), Some("/"));
            assert!(
                c.to_string()
                    .contains("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
            );
        }
    }

    #[test]
    fn replace_clears_stale_chunks_when_session_shrinks() {
        let h = hv("s.0=a; s.1=b; s.2=c");
        let present = scan_session_cookies([&h], "s").present;
        let opts = CookieOptions::for_session(false);
        let cookies = replace_session_cookies("s", "SMALL", &present, &opts, Some(10)).unwrap();
        let summary: Vec<(&str, &str)> = cookies.iter().map(|c| (c.name(), c.value())).collect();
        assert_eq!(
            summary,
            [("s", "SMALL"), ("s.0", ""), ("s.1", ""), ("s.2", "")]
        );
    }

    #[test]
    fn replace_clears_whole_cookie_when_session_grows_into_chunks() {
        let h = hv("s=a");
        let present = scan_session_cookies([&h], "s").present;
        let opts = CookieOptions::for_session(false);
        let cookies = replace_session_cookies("s", &b64ish(6000), &present, &opts, None).unwrap();
        let names: Vec<&str> = cookies.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["s.0", "s.1", "s"]);
        assert_eq!(cookies[2].value(), "");
    }
}

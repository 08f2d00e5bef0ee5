//! Identity headers (stripped from every inbound request, set from the
//! session) and hop-by-hop headers (never forwarded).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use portcullis::ActiveSession;

use crate::config::{
    DEFAULT_ACCESS_TOKEN_HEADER, DEFAULT_EMAIL_HEADER, DEFAULT_GROUPS_HEADER,
    DEFAULT_PREFERRED_USERNAME_HEADER, DEFAULT_USER_HEADER,
};
use crate::rules::user_groups;

/// The headers that carry the signed-in user to the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    /// The user's `sub` (`USER_HEADER`, default `X-Forwarded-User`).
    pub user: String,
    /// The `email` claim (`EMAIL_HEADER`).
    pub email: String,
    /// The `preferred_username` claim (`PREFERRED_USERNAME_HEADER`).
    pub preferred_username: String,
    /// The groups, comma-separated (`GROUPS_HEADER`).
    pub groups: String,
    /// The access token, when `pass_access_token` (`ACCESS_TOKEN_HEADER`).
    pub access_token: String,
    /// The claim that lists the user's groups (`GROUPS_CLAIM`, default `groups`).
    pub groups_claim: String,
    /// Send the access token in [`access_token`](Self::access_token) (`PASS_ACCESS_TOKEN`).
    pub pass_access_token: bool,
    /// Send `Authorization: Bearer <access token>` (`PASS_AUTHORIZATION_HEADER`).
    pub pass_authorization: bool,
}

/// A header name compared the way smuggling tricks are undone: ASCII lower
/// case, `_` read as `-`.
fn canonical(name: &str) -> String {
    name.bytes().map(|b| canonical_byte(b) as char).collect()
}

/// One byte of [`canonical`].
pub(crate) fn canonical_byte(b: u8) -> u8 {
    match b {
        b'_' => b'-',
        b => b.to_ascii_lowercase(),
    }
}

/// Whether `name`, read as [`canonical`], starts with `prefix` (lower case,
/// with `-`). Allocates nothing: it runs on every header of every request.
pub(crate) fn canonical_starts_with(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name
            .bytes()
            .zip(prefix.bytes())
            .all(|(a, b)| canonical_byte(a) == b)
}

/// Whether `name`, read as [`canonical`], is `other` (lower case, with `-`).
pub(crate) fn canonical_eq(name: &str, other: &str) -> bool {
    name.len() == other.len() && canonical_starts_with(name, other)
}

impl IdentityHeaders {
    /// Every name to strip, canonical: the configured ones, the defaults
    /// (so a renamed header cannot be smuggled under its default name), and
    /// `Authorization` when the gate sets it.
    pub fn reserved(&self) -> Vec<String> {
        let mut names: Vec<String> = [
            &self.user,
            &self.email,
            &self.preferred_username,
            &self.groups,
            &self.access_token,
        ]
        .into_iter()
        .map(|n| canonical(n))
        .chain(
            [
                DEFAULT_USER_HEADER,
                DEFAULT_EMAIL_HEADER,
                DEFAULT_PREFERRED_USERNAME_HEADER,
                DEFAULT_GROUPS_HEADER,
                DEFAULT_ACCESS_TOKEN_HEADER,
            ]
            .into_iter()
            .map(canonical),
        )
        .collect();
        if self.pass_authorization {
            names.push("authorization".to_owned());
        }
        names.sort();
        names.dedup();
        names
    }

    /// Sets the identity headers for `session`. Values that are not valid
    /// header values (control characters) are left out, and logged.
    pub fn set(&self, headers: &mut HeaderMap, session: &ActiveSession) {
        let claims = session.claims();
        put(headers, &self.user, Some(session.sub()));
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
        put(headers, &self.email, text("email"));
        put(
            headers,
            &self.preferred_username,
            text("preferred_username"),
        );
        let groups: Vec<&str> = user_groups(claims, &self.groups_claim)
            .filter(|g| !g.contains(','))
            .collect();
        if !groups.is_empty() {
            put(headers, &self.groups, Some(&groups.join(",")));
        }
        if let Some(token) = session.access_token() {
            if self.pass_access_token {
                put(headers, &self.access_token, Some(token));
            }
            if self.pass_authorization {
                put(headers, "authorization", Some(&format!("Bearer {token}")));
            }
        }
    }
}

fn put(headers: &mut HeaderMap, name: &str, value: Option<&str>) {
    let Some(value) = value else { return };
    let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_bytes(value.as_bytes()),
    ) else {
        tracing::warn!(
            header = name,
            "an identity claim is not a valid header value; left out"
        );
        return;
    };
    headers.insert(name, value);
}

/// Removes every header whose canonical name is in `reserved` (canonical).
/// Returns how many were removed.
pub fn strip_reserved(headers: &mut HeaderMap, reserved: &[String]) -> usize {
    let is_reserved = |name: &str| reserved.iter().any(|r| canonical_eq(name, r));
    if !headers.keys().any(|name| is_reserved(name.as_str())) {
        return 0;
    }
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_reserved(name.as_str()))
        .cloned()
        .collect();
    let mut removed = 0;
    for name in doomed {
        if let http::header::Entry::Occupied(entry) = headers.entry(name) {
            removed += entry.remove_entry_mult().1.count();
        }
    }
    removed
}

/// Removes the cookies named `name` or `name.…` (the gate's own session,
/// chunk, transaction and logout cookies) from the `Cookie` headers, so the
/// application never sees (or logs) a credential of the gate. The other
/// cookies are kept, merged into one header.
pub fn strip_own_cookies(headers: &mut HeaderMap, name: &str) {
    let name = name.as_bytes();
    let ours = |pair: &[u8]| {
        let cookie = pair
            .split(|b| *b == b'=')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        cookie == name
            || cookie
                .strip_prefix(name)
                .is_some_and(|rest| rest.first() == Some(&b'.'))
    };
    let values = headers.get_all(header::COOKIE);
    let several = values.iter().nth(1).is_some();
    let any_ours = values.iter().any(|v| cookie_pairs(v.as_bytes()).any(ours));
    // One header with none of ours (the usual case) is left as it came.
    if several || any_ours {
        merge_without(headers, ours);
    }
}

/// Replaces the `Cookie` headers by one holding the pairs that are not
/// `dropped` (none at all when nothing is left).
fn merge_without(headers: &mut HeaderMap, dropped: impl Fn(&[u8]) -> bool) {
    let mut kept: Vec<u8> = Vec::new();
    for value in headers.get_all(header::COOKIE) {
        for pair in cookie_pairs(value.as_bytes()) {
            let pair = pair.trim_ascii();
            if !pair.is_empty() && !dropped(pair) {
                if !kept.is_empty() {
                    kept.extend_from_slice(b"; ");
                }
                kept.extend_from_slice(pair);
            }
        }
    }
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(value) = HeaderValue::from_bytes(&kept)
    {
        headers.insert(header::COOKIE, value);
    }
}

/// The `;`-separated pairs of one `Cookie` value, untrimmed. A session
/// cookie is kilobytes long: `memchr` finds the separators without a
/// byte-by-byte loop.
fn cookie_pairs(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b';', value)
        .chain(std::iter::once(value.len()))
        .map(move |end| {
            let pair = &value[start..end];
            start = end + 1;
            pair
        })
}

/// The hop-by-hop headers of RFC 9110 §7.6.1 (and their old friends).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers and those `Connection` names. With
/// `keep_upgrade`, `Upgrade` and `Connection: upgrade` are kept (a WebSocket
/// handshake passes through).
pub fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        if keep_upgrade && name == header::UPGRADE {
            continue;
        }
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        if keep_upgrade && (*name == "upgrade" || *name == "connection") {
            continue;
        }
        headers.remove(*name);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Whether the request asks for a protocol upgrade (WebSocket).
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_pairs_split_as_the_byte_loop_did() {
        for value in [
            "",
            ";",
            ";;",
            "a=1",
            "a=1; b=2",
            "a=1;b=2;",
            " ; x ;y=",
            "no-equals",
        ] {
            let fast: Vec<&[u8]> = cookie_pairs(value.as_bytes()).collect();
            let slow: Vec<&[u8]> = value.as_bytes().split(|b| *b == b';').collect();
            assert_eq!(fast, slow, "{value:?}");
        }
    }

    fn identity() -> IdentityHeaders {
        IdentityHeaders {
            user: "X-Remote-User".into(),
            email: DEFAULT_EMAIL_HEADER.into(),
            preferred_username: DEFAULT_PREFERRED_USERNAME_HEADER.into(),
            groups: DEFAULT_GROUPS_HEADER.into(),
            access_token: DEFAULT_ACCESS_TOKEN_HEADER.into(),
            groups_claim: "groups".into(),
            pass_access_token: false,
            pass_authorization: true,
        }
    }

    #[test]
    fn every_case_and_underscore_variant_of_an_identity_header_is_stripped() {
        let reserved = identity().reserved();
        let mut headers = HeaderMap::new();
        for name in [
            "x-remote-user",
            "X_Remote_User",
            "x-forwarded-user",
            "X_FORWARDED_USER",
            "x-forwarded_email",
            "x_forwarded-groups",
            "authorization",
            "x-forwarded-access_token",
        ] {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_static("spoofed"),
            );
        }
        headers.insert("x-other", HeaderValue::from_static("kept"));
        assert_eq!(strip_reserved(&mut headers, &reserved), 8);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-other"));
    }

    #[test]
    fn the_gates_own_cookies_are_kept_from_the_application() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; portcullis.session=sealed; portcullis.session.0=x"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("portcullis.session.txn=t;b=2;portcullis.sessionx=kept"),
        );
        strip_own_cookies(&mut headers, "portcullis.session");
        assert_eq!(
            headers[header::COOKIE],
            "a=1; b=2; portcullis.sessionx=kept"
        );
        let mut only_ours = HeaderMap::new();
        only_ours.insert(
            header::COOKIE,
            HeaderValue::from_static("portcullis.session=s"),
        );
        strip_own_cookies(&mut only_ours, "portcullis.session");
        assert!(!only_ours.contains_key(header::COOKIE));

        // One header, in the middle, with spaces around it and bytes that
        // are not UTF-8 in another pair.
        assert_eq!(
            stripped(b"x=\xff\xfe;  portcullis.session.1=y ;z=3").as_deref(),
            Some(&b"x=\xff\xfe; z=3"[..])
        );
        // None of ours: left exactly as it came.
        assert_eq!(stripped(b"a=1;b=2").as_deref(), Some(&b"a=1;b=2"[..]));
        // A name that only starts like ours is not ours.
        assert_eq!(
            stripped(b"portcullis.sessions=1; portcullis=2").as_deref(),
            Some(&b"portcullis.sessions=1; portcullis=2"[..])
        );
    }

    /// One `Cookie` header after [`strip_own_cookies`] of `portcullis.session`.
    fn stripped(cookie: &[u8]) -> Option<Vec<u8>> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_bytes(cookie).expect("value"),
        );
        strip_own_cookies(&mut headers, "portcullis.session");
        headers.get(header::COOKIE).map(|v| v.as_bytes().to_vec())
    }

    #[test]
    fn canonical_comparisons_read_underscores_as_dashes_and_ignore_case() {
        assert!(canonical_starts_with("X_Forwarded_For", "x-forwarded-"));
        assert!(canonical_starts_with("x-forwarded-for", "x-forwarded-"));
        assert!(!canonical_starts_with("x-forwarde", "x-forwarded-"));
        assert!(canonical_eq("X_REAL_IP", "x-real-ip"));
        assert!(!canonical_eq("x-real-ipx", "x-real-ip"));
        let reserved = vec!["x-forwarded-user".to_owned()];
        let mut headers = HeaderMap::new();
        headers.insert("x_forwarded_user", HeaderValue::from_static("mallory"));
        headers.append("x-forwarded-user", HeaderValue::from_static("eve"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert_eq!(strip_reserved(&mut headers, &reserved), 2);
        assert_eq!(headers.len(), 1);
        assert_eq!(strip_reserved(&mut headers, &reserved), 0);
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_lists_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        remove_hop_by_hop(&mut headers, false);
        assert_eq!(headers.len(), 1, "{headers:?}");
        let mut upgrade = HeaderMap::new();
        upgrade.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        upgrade.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(wants_upgrade(&upgrade));
        remove_hop_by_hop(&mut upgrade, true);
        assert_eq!(upgrade[header::UPGRADE], "websocket");
        assert_eq!(upgrade[header::CONNECTION], "upgrade");
    }
}

//! Logout markers: the keys that name a session, and whether a marker ends it.
//!
//! - `s:{id}`: this very session (a logout of a cookie session): always ends it.
//! - `d:{hash(iss, sid)}`: every session of an OP session (back- or
//!   front-channel logout with `sid`): ends those that started at or before it.
//! - `u:{hash(iss, sub)}`: every session of a user (back-channel logout with
//!   `sub` only): ends those that started at or before it.
//!
//! A new login after the marker is not affected. Hashing bounds the key
//! length whatever the OP sends and keeps user ids out of the store's keys.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::active::ActiveSession;
use crate::session::SessionData;
use crate::store::Cached;

/// The key naming one session.
pub(crate) fn session_key(id: &str) -> String {
    format!("s:{id}")
}

/// The key naming every session of the OP session `sid` at `iss`.
pub(crate) fn sid_key(iss: &str, sid: &str) -> String {
    format!("d:{}", digest(iss, sid))
}

/// The key naming every session of `sub` at `iss`.
pub(crate) fn sub_key(iss: &str, sub: &str) -> String {
    format!("u:{}", digest(iss, sub))
}

/// The key recording a used logout token id.
pub(crate) fn jti_key(iss: &str, jti: &str) -> String {
    format!("j:{}", digest(iss, jti))
}

fn digest(iss: &str, value: &str) -> String {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(iss.as_bytes());
    context.update(b"\0");
    context.update(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&context.finish().as_ref()[..18])
}

/// The marker keys for a session, in the order [`ends_session`] reads them.
pub(crate) fn keys_for(data: &SessionData) -> Box<[String]> {
    let mut keys = vec![session_key(&data.id)];
    if let Some(sid) = &data.sid {
        keys.push(sid_key(&data.iss, sid));
    }
    keys.push(sub_key(&data.iss, &data.sub));
    keys.into_boxed_slice()
}

/// Whether a marker at `at_ms` under `key` ends `session`.
///
/// A session marker and a `sid` marker end it whenever they were set (a
/// conforming OP never reuses a `sid` it ended, and a login whose code was
/// redeemed after its OP session was logged out must not stay alive); a
/// `sub` marker ends only the sessions that started at or before it, so a
/// later login of the same user is not killed.
pub(crate) fn ends_session(key: &str, at_ms: u64, session: &ActiveSession) -> bool {
    key.starts_with("s:") || key.starts_with("d:") || at_ms >= session.data().created_ms
}

/// The verdict of the markers known without I/O: `Some(true)` signed out,
/// `Some(false)` not, `None` when a store must be asked.
pub(crate) fn cached_verdict(
    session: &ActiveSession,
    lookup: impl Fn(&str) -> Cached<u64>,
) -> Option<bool> {
    let mut unknown = false;
    for key in session.marker_keys.iter() {
        match lookup(key) {
            Cached::Hit(at) if ends_session(key, at, session) => return Some(true),
            Cached::Hit(_) | Cached::Absent => {}
            Cached::Unknown => unknown = true,
        }
    }
    if unknown { None } else { Some(false) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(created_ms: u64, sid: Option<&str>) -> ActiveSession {
        let mut data = crate::session::test_session_data();
        data.created_ms = created_ms;
        data.sid = sid.map(str::to_owned);
        data.id_token = crate::engine::persist::tests::unsigned_id_token();
        let keys = keys_for(&data);
        ActiveSession::decode(data, keys).expect("decode")
    }

    #[test]
    fn a_session_marker_ends_the_session_whenever_it_was_set() {
        let s = session(5_000, None);
        let key = session_key(&s.data().id);
        assert!(ends_session(&key, 1, &s));
    }

    #[test]
    fn a_sub_marker_ends_only_sessions_that_started_before_it_a_sid_marker_every_session_of_its_sid()
     {
        let s = session(5_000, Some("op-session"));
        let sid = sid_key("i", "op-session");
        let sub = sub_key("i", "s");
        assert!(ends_session(&sub, 6_000, &s));
        // A new login after the logout is not killed by the old sub marker.
        assert!(!ends_session(&sub, 4_999, &s));
        // A session of an ended OP session is dead, even if its code was
        // redeemed after the logout.
        assert!(ends_session(&sid, 5_000, &s));
        assert!(ends_session(&sid, 4_999, &s));
    }

    #[test]
    fn keys_name_the_session_its_sid_and_its_user() {
        let s = session(1, Some("x"));
        assert_eq!(s.marker_keys.len(), 3);
        assert!(s.marker_keys[0].starts_with("s:"));
        assert_eq!(s.marker_keys[1], sid_key("i", "x"));
        assert_eq!(s.marker_keys[2], sub_key("i", "s"));
        let without_sid = session(1, None);
        assert_eq!(without_sid.marker_keys.len(), 2);
    }

    #[test]
    fn digests_separate_issuer_and_value() {
        assert_ne!(sid_key("ab", "c"), sid_key("a", "bc"));
        assert_ne!(sid_key("i", "x"), sub_key("i", "x"));
        assert!(sub_key("i", &"x".repeat(10_000)).len() < 40);
    }

    #[test]
    fn an_unknown_marker_defers_to_the_store_unless_another_already_ends_the_session() {
        let s = session(1_000, Some("x"));
        assert_eq!(cached_verdict(&s, |_| Cached::Absent), Some(false));
        assert_eq!(cached_verdict(&s, |_| Cached::Unknown), None);
        let sub = sub_key("i", "s");
        assert_eq!(
            cached_verdict(&s, |k| if k == sub {
                Cached::Hit(2_000)
            } else {
                Cached::Unknown
            }),
            Some(true)
        );
    }
}

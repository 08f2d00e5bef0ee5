//! Makes the seeds of the session fuzz targets (`session_cookie`,
//! `session_id`, `session_plaintext`) with the crate's own seal functions
//! (`SessionData::seal`, `SessionKeys::seal`, `TransactionStore::seal`,
//! `encode_session_cookies`) under the fixed keys of
//! `portcullis_fuzz::session`, and checks that they open.
//!
//! An AEAD-sealed value cannot be written by hand, and a fuzzer cannot forge
//! one: without a seed that opens, mutation never gets past the tag check.
//!
//! ```sh
//! cd fuzz
//! cargo run --example make-session-seeds            # (re)write seeds/session_*
//! cargo run --example make-session-seeds -- --check # check the committed seeds
//! cargo test                                        # runs the same check
//! ```
//!
//! Every write uses a fresh random nonce, so rewriting changes every sealed
//! seed; they stay valid as long as the secrets and names in
//! `src/lib.rs` (`session` module) are unchanged. The ID token inside the
//! sessions is the signed `seeds/jws_compact/id-token-rs256` (made by
//! `make-seeds.py`); stored tokens are read without a signature check, so it
//! stays readable whatever JWKS is current.
#![forbid(unsafe_code)]

use std::fs;
use std::path::{Path, PathBuf};

use http::HeaderValue;
use portcullis::session::internals::{CookieOptions, TransactionStore, encode_session_cookies, read_cookie, scan_session_cookies};
use portcullis::session::{CookiePurpose, SessionData, SessionKeys};
use portcullis_core::authorize::PendingAuthorization;
use portcullis_fuzz::session::{
    ID_COOKIE_AAD, SEED_SESSION_ID, SESSION_COOKIE, TRANSACTION_COOKIE, decode, decode_record,
    keys, open_session_id, record_aad, retired_keys,
};
use portcullis_fuzz::{CLIENT_ID, ISSUER, NOW};
use serde_json::{Value, json};

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds")
}

fn id_token() -> String {
    let path = seeds_dir().join("jws_compact/id-token-rs256");
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run tools/make-seeds.py first)", path.display()))
        .trim()
        .to_owned()
}

/// A session as the engine writes it after a login at the fixed issuer.
fn session(id: &str, large: bool) -> SessionData {
    let claims =
        json!({"name": "Alice Example", "email": "alice@example.com", "email_verified": true});
    // A large access token pushes the sealed session over one cookie, so
    // the chunked path has a seed.
    let access_token = if large {
        format!("at.{}", "A1b2C3d4".repeat(1000))
    } else {
        "at.opaque-access-token-0123456789".to_owned()
    };
    SessionData {
        id: id.to_owned(),
        created_at: NOW - 120,
        created_ms: (NOW - 120) * 1000,
        refreshed_at: NOW - 60,
        claims: serde_json::value::to_raw_value(&claims).expect("claims"),
        removed_claims: vec!["nonce".to_owned()],
        id_token: id_token(),
        access_token: Some(access_token),
        token_type: Some("Bearer".to_owned()),
        expires_at: Some(NOW + 3600),
        refresh_token: Some("rt.refresh-token-0123456789abcdef".to_owned()),
        scope: Some("openid profile email offline_access".to_owned()),
        extra: serde_json::from_value(json!({"tenant": "acme", "roles": ["admin", "dev"]}))
            .expect("extra"),
        iss: ISSUER.to_owned(),
        sub: "alice".to_owned(),
        sid: Some("session-1".to_owned()),
    }
}

/// A pending flow as `/login` stores it.
fn pending(n: u64, form_post: bool) -> PendingAuthorization {
    serde_json::from_value(json!({
        "s": format!("state-{n}-0123456789abcdefghij"),
        "n": format!("nonce-{n}-0123456789abcdefghij"),
        "v": format!("verifier-{n}-0123456789abcdefghijklmnopqrstuvwxyz0123456789"),
        "r": "https://app.example.com/callback",
        "m": if form_post { "f" } else { "q" },
        "a": 300,
        "t": NOW - 30 * n,
        "u": format!("/dashboard?tab={n}"),
        "d": {"client": CLIENT_ID},
    }))
    .expect("a PendingAuthorization")
}

fn transactions_sealed(keys: &SessionKeys) -> String {
    let mut store = TransactionStore::<PendingAuthorization>::new();
    for n in (0..3).rev() {
        let flow = pending(n, n == 1);
        store.push(flow.state.clone(), flow, NOW - 30 * n);
    }
    store.seal(keys, TRANSACTION_COOKIE).expect("seal flows")
}

fn json_transactions_sealed(keys: &SessionKeys) -> String {
    let mut store = TransactionStore::<Value>::new();
    store.push("state-a", json!({"any": ["json", 1, null]}), NOW - 5);
    store.push("state-b", json!("a string flow"), NOW);
    store
        .seal(keys, TRANSACTION_COOKIE)
        .expect("seal json flows")
}

fn cookie_pairs(name: &str, sealed: &str) -> Vec<String> {
    encode_session_cookies(name, sealed, &CookieOptions::for_session(true), Some(3600))
        .expect("cookies")
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect()
}

/// Every seed: (target, file name, bytes).
fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let keys = keys();
    let retired = retired_keys();
    let small = session(SEED_SESSION_ID, false)
        .seal(keys, SESSION_COOKIE)
        .expect("seal");
    let large = session(SEED_SESSION_ID, true)
        .seal(keys, SESSION_COOKIE)
        .expect("seal");
    let before_rotation = session(SEED_SESSION_ID, false)
        .seal(&retired, SESSION_COOKIE)
        .expect("seal");
    let chunks = cookie_pairs(SESSION_COOKIE, &large);
    assert!(
        chunks.len() >= 3,
        "the large session is chunked in 3 or more"
    );
    let txn = transactions_sealed(keys);
    let id_cookie = keys
        .seal(
            CookiePurpose::Session,
            ID_COOKIE_AAD,
            SEED_SESSION_ID.as_bytes(),
        )
        .expect("seal id");
    let record = session(SEED_SESSION_ID, false)
        .seal(keys, &record_aad(SEED_SESSION_ID))
        .expect("seal record");
    let id_and = |id: &str, record: &str| [id.as_bytes(), b"\0", record.as_bytes()].concat();

    let mut out: Vec<(&'static str, &'static str, Vec<u8>)> = vec![
        // session_cookie: Cookie header lines (`\n` separates headers).
        (
            "session_cookie",
            "valid-single",
            format!("{SESSION_COOKIE}={small}").into_bytes(),
        ),
        (
            "session_cookie",
            "valid-among-others-with-transaction",
            format!("theme=dark; {SESSION_COOKIE}={small}; {TRANSACTION_COOKIE}={txn}; lang=en")
                .into_bytes(),
        ),
        (
            "session_cookie",
            "valid-chunked",
            chunks.join("; ").into_bytes(),
        ),
        (
            "session_cookie",
            "valid-chunked-over-headers-reversed",
            chunks
                .iter()
                .rev()
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
        ),
        (
            "session_cookie",
            "valid-sealed-before-rotation",
            format!("{SESSION_COOKIE}={before_rotation}").into_bytes(),
        ),
        (
            "session_cookie",
            "valid-quoted",
            format!("{SESSION_COOKIE}=\"{small}\"").into_bytes(),
        ),
        (
            "session_cookie",
            "valid-transaction-only",
            format!("{TRANSACTION_COOKIE}={txn}").into_bytes(),
        ),
        (
            "session_cookie",
            "valid-json-transaction-only",
            format!("{TRANSACTION_COOKIE}={}", json_transactions_sealed(keys)).into_bytes(),
        ),
        (
            "session_cookie",
            "valid-id-cookie",
            format!("{SESSION_COOKIE}={id_cookie}").into_bytes(),
        ),
        (
            "session_cookie",
            "hostile-mixture-of-single-and-chunk",
            format!("{SESSION_COOKIE}={small}; {}", chunks[0]).into_bytes(),
        ),
        (
            "session_cookie",
            "hostile-missing-middle-chunk",
            [chunks[0].as_str(), chunks[2..].join("; ").as_str()]
                .join("; ")
                .into_bytes(),
        ),
        (
            "session_cookie",
            "hostile-transaction-as-session",
            format!("{SESSION_COOKIE}={txn}").into_bytes(),
        ),
        // session_id: the sealed id cookie value, NUL, the stored record.
        (
            "session_id",
            "valid-id-and-record",
            id_and(&id_cookie, &record),
        ),
        (
            "session_id",
            "valid-id-only",
            id_cookie.clone().into_bytes(),
        ),
        (
            "session_id",
            "valid-sealed-before-rotation",
            id_and(
                &retired
                    .seal(
                        CookiePurpose::Session,
                        ID_COOKIE_AAD,
                        SEED_SESSION_ID.as_bytes(),
                    )
                    .expect("seal id"),
                &session(SEED_SESSION_ID, false)
                    .seal(&retired, &record_aad(SEED_SESSION_ID))
                    .expect("seal record"),
            ),
        ),
        (
            "session_id",
            "refused-short-id",
            id_and(
                &keys
                    .seal(
                        CookiePurpose::Session,
                        ID_COOKIE_AAD,
                        b"q83vEjRWeJASNFZ4kBI0V",
                    )
                    .expect("seal id"),
                &record,
            ),
        ),
        (
            "session_id",
            "refused-record-carrying-another-id",
            id_and(
                &id_cookie,
                &session("ANOTHERsessionID0123456", false)
                    .seal(keys, &record_aad(SEED_SESSION_ID))
                    .expect("seal record"),
            ),
        ),
        (
            "session_id",
            "refused-cookie-session-as-record",
            id_and(&id_cookie, &small),
        ),
        // session_plaintext: what the harness seals itself.
        (
            "session_plaintext",
            "session",
            serde_json::to_vec(&session(SEED_SESSION_ID, false)).expect("json"),
        ),
        (
            "session_plaintext",
            "session-minimal",
            serde_json::to_vec(&json!({
                "n": SEED_SESSION_ID, "c": NOW, "r": NOW, "u": {}, "i": id_token(),
                "is": ISSUER, "s": "alice",
            }))
            .expect("json"),
        ),
        (
            "session_plaintext",
            "id",
            SEED_SESSION_ID.as_bytes().to_vec(),
        ),
    ];
    let flows = TransactionStore::<PendingAuthorization>::open(keys, TRANSACTION_COOKIE, &txn, NOW)
        .expect("open flows");
    let flows: Vec<Value> = flows
        .iter()
        .map(|(state, flow)| json!({"s": state, "t": NOW, "f": flow}))
        .collect();
    out.push((
        "session_plaintext",
        "transactions",
        serde_json::to_vec(&flows).expect("json"),
    ));
    out
}

/// Checks one committed seed: the `valid-*` ones open (so mutation starts
/// next to the accepting paths), the `hostile-*`/`refused-*` ones are
/// refused for their rule.
fn check(target: &str, name: &str, bytes: &[u8]) {
    let keys = keys();
    let what = format!("{target}/{name}");
    match target {
        "session_cookie" => {
            let headers: Vec<HeaderValue> = bytes
                .split(|&b| b == b'\n')
                .map(|l| HeaderValue::from_bytes(l).expect("a header value"))
                .collect();
            let scan = scan_session_cookies(&headers, SESSION_COOKIE);
            let opened = scan
                .value
                .as_deref()
                .and_then(|v| SessionData::open(keys, SESSION_COOKIE, v).ok());
            let id = scan
                .value
                .as_deref()
                .and_then(|v| open_session_id(keys, v.as_bytes()));
            let flows = read_cookie(&headers, TRANSACTION_COOKIE).map(|v| {
                TransactionStore::<Value>::open(keys, TRANSACTION_COOKIE, v, NOW)
                    .map(|s| s.len())
                    .expect("the transaction cookie opens")
            });
            match name {
                "valid-transaction-only" | "valid-json-transaction-only" => {
                    assert!(scan.present.is_empty(), "{what}");
                    assert!(flows.is_some_and(|n| n > 0), "{what}");
                }
                "valid-id-cookie" => assert_eq!(id.as_deref(), Some(SEED_SESSION_ID), "{what}"),
                "hostile-transaction-as-session" => {
                    assert!(scan.value.is_some() && opened.is_none(), "{what}");
                }
                hostile if hostile.starts_with("hostile-") => {
                    assert!(!scan.present.is_empty() && scan.value.is_none(), "{what}");
                }
                _ => {
                    let session = opened.unwrap_or_else(|| panic!("{what} does not open"));
                    assert!(decode(session).is_some(), "{what} does not decode");
                    if name.contains("with-transaction") {
                        assert_eq!(flows, Some(3), "{what}");
                    }
                }
            }
        }
        "session_id" => {
            let (cookie, record) = match bytes.iter().position(|&b| b == 0) {
                Some(nul) => (&bytes[..nul], Some(&bytes[nul + 1..])),
                None => (bytes, None),
            };
            let id = open_session_id(keys, cookie);
            let decoded = record.and_then(|r| decode_record(keys, SEED_SESSION_ID, r));
            match name {
                "valid-id-only" => assert_eq!(id.as_deref(), Some(SEED_SESSION_ID), "{what}"),
                "refused-short-id" => {
                    assert!(id.is_none(), "{what}");
                    assert!(decoded.is_some(), "{what}: the record itself is fine");
                }
                refused if refused.starts_with("refused-") => {
                    assert_eq!(id.as_deref(), Some(SEED_SESSION_ID), "{what}");
                    assert!(decoded.is_none(), "{what}");
                }
                _ => {
                    assert_eq!(id.as_deref(), Some(SEED_SESSION_ID), "{what}");
                    assert!(decoded.is_some(), "{what}");
                }
            }
        }
        "session_plaintext" => match name {
            "id" => {
                let sealed = keys
                    .seal(CookiePurpose::Session, ID_COOKIE_AAD, bytes)
                    .expect("seal");
                assert!(open_session_id(keys, sealed.as_bytes()).is_some(), "{what}");
            }
            "transactions" => {
                let sealed = keys
                    .seal(CookiePurpose::Transaction, TRANSACTION_COOKIE, bytes)
                    .expect("seal");
                let store = TransactionStore::<PendingAuthorization>::open(
                    keys,
                    TRANSACTION_COOKIE,
                    &sealed,
                    NOW,
                )
                .expect("the flows open");
                assert_eq!(store.len(), 3, "{what}");
            }
            _ => {
                let sealed = keys
                    .seal(CookiePurpose::Session, &record_aad(SEED_SESSION_ID), bytes)
                    .expect("seal");
                assert!(
                    decode_record(keys, SEED_SESSION_ID, sealed.as_bytes()).is_some(),
                    "{what}"
                );
            }
        },
        other => panic!("no check for target {other}"),
    }
}

const TARGETS: [&str; 3] = ["session_cookie", "session_id", "session_plaintext"];

/// Checks every committed seed of the session targets; returns how many.
fn check_committed() -> usize {
    let mut n = 0;
    for target in TARGETS {
        let dir = seeds_dir().join(target);
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().and_then(|n| n.to_str()).expect("name");
            check(target, name, &fs::read(&path).expect("seed"));
            n += 1;
        }
    }
    n
}

fn write() {
    for target in TARGETS {
        let dir = seeds_dir().join(target);
        if dir.exists() {
            fs::remove_dir_all(&dir).expect("clear seeds");
        }
        fs::create_dir_all(&dir).expect("seed dir");
    }
    for (target, name, bytes) in seeds() {
        fs::write(seeds_dir().join(target).join(name), bytes).expect("write seed");
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() != Some("--check") {
        write();
    }
    let n = check_committed();
    println!(
        "{n} session seeds in {} open as expected",
        seeds_dir().display()
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_session_seeds_open_as_expected() {
        assert!(super::check_committed() >= 20);
    }

    #[test]
    fn freshly_made_session_seeds_open_as_expected() {
        for (target, name, bytes) in super::seeds() {
            super::check(target, name, &bytes);
        }
    }
}

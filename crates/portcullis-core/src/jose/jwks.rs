//! JSON Web Key Sets (RFC 7517): parsing and key selection.
//!
//! Only signature-verification keys that Portcullis can use are kept:
//! `RSA`, `EC` on P-256 or P-384, and `OKP` on Ed25519. Keys of any other
//! type or curve, keys whose `use` is not `sig`, keys whose `key_ops` do not
//! include `verify`, and keys that are malformed are skipped, never fatal:
//! one odd key in an OP's JWKS must not break sign-in with the others.
//! Symmetric (`oct`) keys are always skipped: HMAC is keyed by the client
//! secret only.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};

use super::Algorithm;

/// The most keys a JWKS document may hold before it is rejected as hostile.
pub const MAX_JWKS_KEYS: usize = 100;

/// The most keys tried for one token when it carries no `kid` (or when
/// several keys share its `kid`). More candidates than this is an error, so
/// a hostile or confused JWKS cannot make one token cost unbounded
/// signature checks.
pub const MAX_CANDIDATE_KEYS: usize = 8;

/// The key types Portcullis can verify signatures with. Each [`Algorithm`]
/// is tied to exactly one of them (see [`Algorithm::key_type`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `kty: RSA`, for RS256/384/512 and PS256/384/512.
    Rsa,
    /// `kty: EC`, `crv: P-256`, for ES256.
    EcP256,
    /// `kty: EC`, `crv: P-384`, for ES384.
    EcP384,
    /// `kty: OKP`, `crv: Ed25519`, for EdDSA.
    Ed25519,
}

/// One usable public key from a JWKS.
#[derive(Clone)]
pub struct Jwk {
    kid: Option<String>,
    alg: Option<String>,
    key_type: KeyType,
    key: DecodingKey,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Public keys are not secret, but they are long and useless in logs.
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

impl Jwk {
    /// The key id (`kid`), if the JWK has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm the JWK is restricted to (`alg`), if it declares one.
    pub fn alg(&self) -> Option<&str> {
        self.alg.as_deref()
    }

    /// The key type (and curve).
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// True if this key may verify a signature made with `alg`: the key type
    /// matches the algorithm and, if the JWK declares an `alg`, it is the same.
    pub fn is_compatible_with(&self, alg: Algorithm) -> bool {
        alg.key_type() == Some(self.key_type)
            && self.alg.as_deref().is_none_or(|a| a == alg.as_str())
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }

    /// Parses one JWK object. `None` means "skip this key".
    fn from_json_object(obj: &Map<String, Value>) -> Option<Jwk> {
        // Optional string members: present with the wrong type means the key
        // is malformed, and it is skipped.
        let opt_str = |name: &str| -> Result<Option<&str>, ()> {
            match obj.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(()),
            }
        };
        let kid = opt_str("kid").ok()?;
        let alg = opt_str("alg").ok()?;
        let key_use = opt_str("use").ok()?;
        if key_use.is_some_and(|u| u != "sig") {
            return None;
        }
        if let Some(ops) = obj.get("key_ops") {
            let ops = ops.as_array()?;
            if !ops.iter().any(|op| op.as_str() == Some("verify")) {
                return None;
            }
        }
        let kty = opt_str("kty").ok()??;
        let b64 = |name: &str| -> Option<Vec<u8>> {
            let s = opt_str(name).ok()??;
            URL_SAFE_NO_PAD.decode(s).ok()
        };
        let (key_type, key) = match kty {
            "RSA" => {
                let n = b64("n")?;
                let e = b64("e")?;
                // aws-lc requires minimal big-endian integers; some OPs pad
                // the modulus with a leading zero byte.
                let n = strip_leading_zeros(&n);
                let e = strip_leading_zeros(&e);
                if n.is_empty() || e.is_empty() {
                    return None;
                }
                (KeyType::Rsa, DecodingKey::from_rsa_raw_components(n, e))
            }
            "EC" => {
                let (key_type, len) = match opt_str("crv").ok()?? {
                    "P-256" => (KeyType::EcP256, 32),
                    "P-384" => (KeyType::EcP384, 48),
                    _ => return None,
                };
                let x = b64("x")?;
                let y = b64("y")?;
                if x.len() != len || y.len() != len {
                    return None;
                }
                // The uncompressed SEC1 point, which is what jsonwebtoken's
                // `from_ec_components` builds too.
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (key_type, DecodingKey::from_ec_der(&point))
            }
            "OKP" => {
                if opt_str("crv").ok()?? != "Ed25519" {
                    return None;
                }
                let x = b64("x")?;
                if x.len() != 32 {
                    return None;
                }
                (KeyType::Ed25519, DecodingKey::from_ed_der(&x))
            }
            _ => return None,
        };
        Some(Jwk {
            kid: kid.map(str::to_owned),
            alg: alg.map(str::to_owned),
            key_type,
            key,
        })
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Why a JWKS document was rejected as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The document is not JSON.
    #[error("JWKS document is not valid JSON")]
    InvalidJson,
    /// The document is not an object with a `keys` array.
    #[error("JWKS document is not an object with a \"keys\" array")]
    MissingKeys,
    /// The `keys` array is longer than [`MAX_JWKS_KEYS`].
    #[error("JWKS document holds more than {MAX_JWKS_KEYS} keys")]
    TooManyKeys,
}

/// Why no key could be chosen for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeySelectionError {
    /// The token names a `kid` that the JWKS does not hold. The adapter may
    /// refetch the JWKS (see [`super::JwksRefreshPolicy`]) and retry once.
    #[error("no key in the JWKS has the token's kid")]
    UnknownKid,
    /// No key of the type (and declared `alg`) the algorithm needs.
    #[error("no key in the JWKS is usable with the token's algorithm")]
    NoCompatibleKey,
    /// More than [`MAX_CANDIDATE_KEYS`] keys would have to be tried.
    #[error("too many candidate keys in the JWKS for a token without a unique kid")]
    TooManyCandidates,
}

/// A parsed JSON Web Key Set: the signature keys Portcullis can use.
///
/// ```
/// use portcullis_core::jose::{Algorithm, Jwks};
///
/// let doc = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","use":"sig",
///   "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
///   {"kty":"oct","k":"c2VjcmV0"}]}"#;
/// let jwks = Jwks::from_json(doc).unwrap();
/// assert_eq!(jwks.len(), 1); // the symmetric key is skipped
/// assert_eq!(jwks.select(Algorithm::EdDSA, Some("k1")).unwrap().len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: Vec<Jwk>,
    skipped: usize,
}

impl Jwks {
    /// Parses a JWKS document. Unusable keys are skipped (see the module
    /// docs); only a document that is not a JWKS at all is an error.
    pub fn from_json(bytes: &[u8]) -> Result<Jwks, JwksError> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|_| JwksError::InvalidJson)?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwksError::MissingKeys)?;
        if entries.len() > MAX_JWKS_KEYS {
            return Err(JwksError::TooManyKeys);
        }
        let mut keys = Vec::with_capacity(entries.len());
        let mut skipped = 0;
        for entry in entries {
            match entry.as_object().and_then(Jwk::from_json_object) {
                Some(jwk) => keys.push(jwk),
                None => skipped += 1,
            }
        }
        Ok(Jwks { keys, skipped })
    }

    /// The usable keys, in document order.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// The number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True if the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many entries of the document were skipped as unusable.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The keys to try for a token signed with `alg` and carrying `kid`.
    ///
    /// - With a `kid`: the keys with that `kid` ([`KeySelectionError::UnknownKid`]
    ///   if there is none), narrowed to those compatible with `alg`.
    /// - Without a `kid`: every key compatible with `alg`.
    ///
    /// Compatible means the key type matches `alg` and the JWK's own `alg`, if
    /// declared, equals it; `use` and `key_ops` were already enforced at parse
    /// time. HMAC algorithms never select a JWKS key
    /// ([`KeySelectionError::NoCompatibleKey`]). At most
    /// [`MAX_CANDIDATE_KEYS`] candidates are returned; more is an error.
    pub fn select(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Vec<&Jwk>, KeySelectionError> {
        let mut by_kid = self
            .keys
            .iter()
            .filter(|k| kid.is_none() || k.kid() == kid)
            .peekable();
        if kid.is_some() && by_kid.peek().is_none() {
            return Err(KeySelectionError::UnknownKid);
        }
        let candidates: Vec<&Jwk> = by_kid.filter(|k| k.is_compatible_with(alg)).collect();
        if candidates.is_empty() {
            return Err(KeySelectionError::NoCompatibleKey);
        }
        if candidates.len() > MAX_CANDIDATE_KEYS {
            return Err(KeySelectionError::TooManyCandidates);
        }
        Ok(candidates)
    }
}

/// When to fetch the JWKS again: sans-IO cache rules, with time passed in as
/// unix seconds.
///
/// The adapter keeps one policy per JWKS, asks it before fetching, and calls
/// [`record_fetch`](Self::record_fetch) after every fetch attempt, successful
/// or not (so a failing OP is not hammered either), and
/// [`record_unknown_kid_fetch`](Self::record_unknown_kid_fetch) after a fetch
/// that an unknown `kid` triggered.
///
/// The two limits are independent: an OP that rotates keys right after the
/// startup fetch (or a periodic one) is followed at once, while tokens with
/// unknown `kid`s can still cause at most one fetch a minute.
///
/// ```
/// use portcullis_core::jose::JwksRefreshPolicy;
///
/// let mut policy = JwksRefreshPolicy::new();
/// assert!(policy.is_due_for_periodic_refresh(1_000)); // never fetched
/// policy.record_fetch(1_000);
/// assert!(policy.should_refetch_on_unknown_kid(1_010)); // a rotation is followed
/// policy.record_unknown_kid_fetch(1_010);
/// assert!(!policy.should_refetch_on_unknown_kid(1_030)); // within a minute
/// assert!(policy.should_refetch_on_unknown_kid(1_070));
/// assert!(policy.is_due_for_periodic_refresh(1_610));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksRefreshPolicy {
    last_fetch: Option<u64>,
    last_unknown_kid_fetch: Option<u64>,
    refresh_interval_secs: u64,
}

impl Default for JwksRefreshPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl JwksRefreshPolicy {
    /// An unknown `kid` triggers a refetch at most once per this many
    /// seconds, counted from the last fetch an
    /// unknown `kid` triggered.
    pub const UNKNOWN_KID_MIN_INTERVAL_SECS: u64 = 60;
    /// The default periodic refresh interval: 10 minutes.
    pub const DEFAULT_REFRESH_INTERVAL_SECS: u64 = 600;

    /// A policy that has never fetched, with the default refresh interval.
    pub fn new() -> Self {
        Self {
            last_fetch: None,
            last_unknown_kid_fetch: None,
            refresh_interval_secs: Self::DEFAULT_REFRESH_INTERVAL_SECS,
        }
    }

    /// Sets the periodic refresh interval. Values below
    /// [`UNKNOWN_KID_MIN_INTERVAL_SECS`](Self::UNKNOWN_KID_MIN_INTERVAL_SECS)
    /// are raised to it.
    pub fn with_refresh_interval(mut self, secs: u64) -> Self {
        self.refresh_interval_secs = secs.max(Self::UNKNOWN_KID_MIN_INTERVAL_SECS);
        self
    }

    /// The periodic refresh interval in seconds.
    pub fn refresh_interval_secs(&self) -> u64 {
        self.refresh_interval_secs
    }

    /// The time of the last recorded fetch, if any.
    pub fn last_fetch(&self) -> Option<u64> {
        self.last_fetch
    }

    /// Records a fetch attempt at `now`.
    pub fn record_fetch(&mut self, now: u64) {
        self.last_fetch = Some(now);
    }

    /// Records a fetch attempt at `now` that an unknown `kid` triggered.
    pub fn record_unknown_kid_fetch(&mut self, now: u64) {
        self.last_fetch = Some(now);
        self.last_unknown_kid_fetch = Some(now);
    }

    /// True if a token with an unknown `kid` may trigger a refetch now: no
    /// unknown `kid` has triggered one yet, or the last such fetch is at least
    /// [`UNKNOWN_KID_MIN_INTERVAL_SECS`](Self::UNKNOWN_KID_MIN_INTERVAL_SECS)
    /// old. A clock that went backwards counts as "long ago".
    pub fn should_refetch_on_unknown_kid(&self, now: u64) -> bool {
        elapsed_at_least(
            self.last_unknown_kid_fetch,
            now,
            Self::UNKNOWN_KID_MIN_INTERVAL_SECS,
        )
    }

    /// True if the periodic refresh is due: never fetched, or the last fetch
    /// is at least the refresh interval old.
    pub fn is_due_for_periodic_refresh(&self, now: u64) -> bool {
        elapsed_at_least(self.last_fetch, now, self.refresh_interval_secs)
    }
}

/// True when `last` is unset, in the future (clock went backwards), or at
/// least `secs` before `now`.
fn elapsed_at_least(last: Option<u64>, now: u64, secs: u64) -> bool {
    match last {
        None => true,
        Some(last) if now < last => true,
        Some(last) => now - last >= secs,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_keys::{ed25519, jwks_from, p256, p384, rsa, rsa2};
    use super::*;

    #[test]
    fn parses_rsa_ec_and_okp_keys() {
        let jwks = jwks_from(&json!({"keys": [
            rsa().jwk(Some("r"), json!({})),
            p256().jwk(Some("e2"), json!({})),
            p384().jwk(Some("e3"), json!({})),
            ed25519().jwk(Some("o"), json!({})),
        ]}));
        let types: Vec<_> = jwks.keys().iter().map(Jwk::key_type).collect();
        assert_eq!(
            types,
            [
                KeyType::Rsa,
                KeyType::EcP256,
                KeyType::EcP384,
                KeyType::Ed25519
            ]
        );
        assert_eq!(jwks.skipped(), 0);
        assert_eq!(jwks.keys()[0].kid(), Some("r"));
    }

    #[test]
    fn skips_keys_of_unknown_kty_or_curve_without_failing() {
        let jwks = jwks_from(&json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
            {"kty": "OKP", "crv": "X25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "PQ-ML-DSA", "pub": "AA"},
            "not an object",
            {"no": "kty"},
            rsa().jwk(Some("r"), json!({})),
        ]}));
        assert_eq!(jwks.len(), 1);
        assert_eq!(jwks.skipped(), 6);
    }

    #[test]
    fn skips_keys_whose_use_is_not_sig() {
        let jwks = jwks_from(&json!({"keys": [
            rsa().jwk(Some("enc"), json!({"use": "enc"})),
            rsa().jwk(Some("bad-type"), json!({"use": 1})),
            rsa().jwk(Some("sig"), json!({"use": "sig"})),
        ]}));
        assert_eq!(jwks.len(), 1);
        assert_eq!(jwks.keys()[0].kid(), Some("sig"));
    }

    #[test]
    fn skips_keys_whose_key_ops_exclude_verify() {
        let jwks = jwks_from(&json!({"keys": [
            rsa().jwk(Some("enc"), json!({"key_ops": ["encrypt", "wrapKey"]})),
            rsa().jwk(Some("not-array"), json!({"key_ops": "verify"})),
            rsa().jwk(Some("ok"), json!({"key_ops": ["verify"]})),
        ]}));
        assert_eq!(jwks.len(), 1);
        assert_eq!(jwks.keys()[0].kid(), Some("ok"));
    }

    #[test]
    fn skips_malformed_keys() {
        let mut short_ec = p256().jwk(Some("short"), json!({}));
        short_ec["x"] = json!("AAAA");
        let mut p384_labelled_p256 = p384().jwk(Some("mislabelled"), json!({}));
        p384_labelled_p256["crv"] = json!("P-256");
        let jwks = jwks_from(&json!({"keys": [
            {"kty": "RSA", "n": "!!!", "e": "AQAB"},
            {"kty": "RSA", "e": "AQAB"},
            {"kty": "RSA", "n": "AAAA", "e": "AQAB"},
            rsa().jwk(Some(""), json!({"kid": 7})),
            rsa().jwk(None, json!({"alg": ["RS256"]})),
            short_ec,
            p384_labelled_p256,
        ]}));
        assert_eq!(jwks.len(), 0);
        assert_eq!(jwks.skipped(), 7);
    }

    #[test]
    fn rejects_documents_that_are_not_a_jwks() {
        assert_eq!(
            Jwks::from_json(b"not json").unwrap_err(),
            JwksError::InvalidJson
        );
        assert_eq!(Jwks::from_json(b"[]").unwrap_err(), JwksError::MissingKeys);
        assert_eq!(
            Jwks::from_json(br#"{"keys": {}}"#).unwrap_err(),
            JwksError::MissingKeys
        );
        let many = json!({"keys": vec![json!({"kty": "oct"}); MAX_JWKS_KEYS + 1]});
        assert_eq!(
            Jwks::from_json(many.to_string().as_bytes()).unwrap_err(),
            JwksError::TooManyKeys
        );
    }

    #[test]
    fn selects_by_kid_and_reports_unknown_kid() {
        let jwks = jwks_from(&json!({"keys": [
            rsa().jwk(Some("a"), json!({})),
            rsa2().jwk(Some("b"), json!({})),
        ]}));
        let picked = jwks.select(Algorithm::RS256, Some("b")).unwrap();
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].kid(), Some("b"));
        assert_eq!(
            jwks.select(Algorithm::RS256, Some("c")).unwrap_err(),
            KeySelectionError::UnknownKid
        );
    }

    #[test]
    fn selection_by_kid_still_requires_the_key_type_of_the_alg() {
        let jwks = jwks_from(&json!({"keys": [rsa().jwk(Some("a"), json!({}))]}));
        assert_eq!(
            jwks.select(Algorithm::ES256, Some("a")).unwrap_err(),
            KeySelectionError::NoCompatibleKey
        );
    }

    #[test]
    fn selection_without_kid_filters_by_key_type_and_declared_alg() {
        let jwks = jwks_from(&json!({"keys": [
            rsa().jwk(Some("rs"), json!({"alg": "RS256"})),
            rsa2().jwk(Some("ps"), json!({"alg": "PS256"})),
            p256().jwk(Some("ec"), json!({})),
            p384().jwk(Some("ec384"), json!({})),
        ]}));
        let kids = |alg| -> Vec<_> {
            jwks.select(alg, None)
                .unwrap()
                .iter()
                .map(|k| k.kid().unwrap())
                .collect()
        };
        assert_eq!(kids(Algorithm::RS256), ["rs"]);
        assert_eq!(kids(Algorithm::PS256), ["ps"]);
        assert_eq!(kids(Algorithm::ES256), ["ec"]);
        assert_eq!(kids(Algorithm::ES384), ["ec384"]);
        assert_eq!(
            jwks.select(Algorithm::RS512, None).unwrap_err(),
            KeySelectionError::NoCompatibleKey
        );
        assert_eq!(
            jwks.select(Algorithm::EdDSA, None).unwrap_err(),
            KeySelectionError::NoCompatibleKey
        );
    }

    #[test]
    fn hmac_algorithms_never_select_a_jwks_key() {
        let jwks = jwks_from(&json!({"keys": [
            rsa().jwk(Some("a"), json!({})),
            rsa().jwk(Some("hs"), json!({"alg": "HS256"})),
        ]}));
        for kid in [None, Some("a"), Some("hs")] {
            assert_eq!(
                jwks.select(Algorithm::HS256, kid).unwrap_err(),
                KeySelectionError::NoCompatibleKey
            );
        }
    }

    #[test]
    fn rejects_selection_with_more_than_the_candidate_bound() {
        let keys = vec![rsa().jwk(None, json!({})); MAX_CANDIDATE_KEYS + 1];
        let jwks = jwks_from(&json!({ "keys": keys }));
        assert_eq!(
            jwks.select(Algorithm::RS256, None).unwrap_err(),
            KeySelectionError::TooManyCandidates
        );
        let keys = vec![rsa().jwk(None, json!({})); MAX_CANDIDATE_KEYS];
        let jwks = jwks_from(&json!({ "keys": keys }));
        assert_eq!(
            jwks.select(Algorithm::RS256, None).unwrap().len(),
            MAX_CANDIDATE_KEYS
        );
    }

    #[test]
    fn debug_output_does_not_dump_key_material() {
        let jwks = jwks_from(&json!({"keys": [rsa().jwk(Some("a"), json!({}))]}));
        let n = rsa().public_jwk["n"].as_str().unwrap();
        let debug = format!("{jwks:?}");
        assert!(debug.contains("Rsa"));
        assert!(!debug.contains(&n[..20]));
    }

    #[test]
    fn refresh_policy_refetches_on_unknown_kid_at_most_once_a_minute() {
        let mut policy = JwksRefreshPolicy::new();
        assert!(policy.should_refetch_on_unknown_kid(1_000));
        policy.record_unknown_kid_fetch(1_000);
        assert!(!policy.should_refetch_on_unknown_kid(1_000));
        assert!(!policy.should_refetch_on_unknown_kid(1_059));
        assert!(policy.should_refetch_on_unknown_kid(1_060));
        policy.record_unknown_kid_fetch(1_060);
        assert!(!policy.should_refetch_on_unknown_kid(1_061));
    }

    #[test]
    fn refresh_policy_follows_a_rotation_right_after_a_regular_fetch() {
        let mut policy = JwksRefreshPolicy::new();
        policy.record_fetch(1_000);
        assert!(policy.should_refetch_on_unknown_kid(1_001));
        policy.record_unknown_kid_fetch(1_001);
        assert!(!policy.should_refetch_on_unknown_kid(1_002));
        // A regular fetch does not reopen the unknown-kid window early.
        policy.record_fetch(1_030);
        assert!(!policy.should_refetch_on_unknown_kid(1_031));
        assert!(!policy.is_due_for_periodic_refresh(1_031));
    }

    #[test]
    fn refresh_policy_is_due_periodically() {
        let mut policy = JwksRefreshPolicy::new();
        assert!(policy.is_due_for_periodic_refresh(5));
        policy.record_fetch(10);
        assert!(!policy.is_due_for_periodic_refresh(10 + 599));
        assert!(policy.is_due_for_periodic_refresh(10 + 600));

        let mut custom = JwksRefreshPolicy::new().with_refresh_interval(3_600);
        custom.record_fetch(0);
        assert!(!custom.is_due_for_periodic_refresh(3_599));
        assert!(custom.is_due_for_periodic_refresh(3_600));
    }

    #[test]
    fn refresh_policy_interval_cannot_go_below_the_unknown_kid_bound() {
        let policy = JwksRefreshPolicy::new().with_refresh_interval(1);
        assert_eq!(
            policy.refresh_interval_secs(),
            JwksRefreshPolicy::UNKNOWN_KID_MIN_INTERVAL_SECS
        );
    }

    #[test]
    fn refresh_policy_treats_a_clock_that_went_backwards_as_due() {
        let mut policy = JwksRefreshPolicy::new();
        policy.record_unknown_kid_fetch(10_000);
        assert!(policy.should_refetch_on_unknown_kid(5_000));
        assert!(policy.is_due_for_periodic_refresh(5_000));
    }
}

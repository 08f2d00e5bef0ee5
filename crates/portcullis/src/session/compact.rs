//! The plaintext inside a sealed session: the small fields as JSON, the
//! tokens as raw bytes.
//!
//! A JWT is three base64url segments; sealing it as JSON text and then
//! base64url-encoding the sealed value encodes it twice. Here the segments of
//! a JWS-shaped token are stored decoded (a third smaller), and rebuilt on
//! open. A token is stored that way only when re-encoding gives back exactly
//! the original text; any other token (opaque, padded, non-canonical) is
//! stored as its text. A cookie's plaintext is never compressed; a store
//! record's is this plaintext compressed (see `compressed`).
//!
//! Layout: `0x02`, a byte naming the fields left out (below), the JSON length (u32, big-endian), the JSON (with the
//! tokens left out), then the ID, access and refresh tokens, each as a tag
//! byte (`0` absent, `1` text: u32 length and bytes, `2` JWS: three segments
//! of u16 length and bytes). A plaintext starting with `{` is the older
//! all-JSON form, still read.
//!
//! What the ID token already says is not repeated in the JSON: `iss`, `sub`
//! and `sid` are left out when they equal the ID token's claims (a refreshed
//! ID token may lack `sid`; then it is kept), and `created_at` when it is
//! `created_ms` in seconds, `refreshed_at` when it is `created_at`, and the
//! token type when it is `Bearer`. A bit per field says what was left out, and
//! exactly those are restored on open.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::data::{SessionData, SessionDataError};

const FORMAT_COMPACT: u8 = 0x02;

/// Which fields [`encode`] left out (restored from the ID token or the other
/// fields on open).
const DERIVED_ISS: u8 = 1;
const DERIVED_SUB: u8 = 1 << 1;
const DERIVED_SID: u8 = 1 << 2;
const DERIVED_CREATED_AT: u8 = 1 << 3;
const DERIVED_REFRESHED_AT: u8 = 1 << 4;
const DERIVED_BEARER: u8 = 1 << 5;
/// The session id, left out of store records: the store's key says it (and
/// the record is sealed to it as associated data).
const DERIVED_ID: u8 = 1 << 6;
const DERIVED_ALL: u8 = (1 << 7) - 1;
const TAG_ABSENT: u8 = 0;
const TAG_TEXT: u8 = 1;
const TAG_JWS: u8 = 2;

/// Encodes `data` as the compact plaintext.
pub(crate) fn encode(data: &SessionData) -> Result<Vec<u8>, SessionDataError> {
    encode_compact(data, false)
}

/// The compact plaintext, without the session id when `omit_id` (a store
/// record, opened with the id it is stored under).
fn encode_compact(data: &SessionData, omit_id: bool) -> Result<Vec<u8>, SessionDataError> {
    let mut rest = data.clone();
    let id_token = std::mem::take(&mut rest.id_token);
    let claims = payload_claims(&id_token);
    let claim = |name: &str| {
        claims
            .as_ref()
            .and_then(|c| c.get(name)?.as_str().map(str::to_owned))
    };
    // Each field left out sets its bit; open restores exactly those, so
    // every session comes back as it was, whatever its values.
    let mut derived = 0u8;
    if omit_id && !rest.id.is_empty() {
        rest.id.clear();
        derived |= DERIVED_ID;
    }
    if !rest.iss.is_empty() && claim("iss").as_deref() == Some(rest.iss.as_str()) {
        rest.iss.clear();
        derived |= DERIVED_ISS;
    }
    if !rest.sub.is_empty() && claim("sub").as_deref() == Some(rest.sub.as_str()) {
        rest.sub.clear();
        derived |= DERIVED_SUB;
    }
    if rest.sid.is_some() && claim("sid") == rest.sid {
        rest.sid = None;
        derived |= DERIVED_SID;
    }
    if rest.refreshed_at == rest.created_at {
        rest.refreshed_at = 0;
        derived |= DERIVED_REFRESHED_AT;
    }
    if rest.created_at == rest.created_ms / 1000 {
        rest.created_at = 0;
        derived |= DERIVED_CREATED_AT;
    }
    // The token type is required in every token response, and nearly always
    // `Bearer`: it is only written when it is something else.
    if rest.token_type.as_deref() == Some("Bearer") {
        rest.token_type = None;
        derived |= DERIVED_BEARER;
    }
    let access_token = rest.access_token.take();
    let refresh_token = rest.refresh_token.take();
    let json = serde_json::to_vec(&rest).map_err(|_| SessionDataError::Serialize)?;
    let json_len = u32::try_from(json.len()).map_err(|_| SessionDataError::Serialize)?;
    let mut out = Vec::with_capacity(json.len() + id_token.len() + 64);
    out.push(FORMAT_COMPACT);
    out.push(derived);
    out.extend_from_slice(&json_len.to_be_bytes());
    out.extend_from_slice(&json);
    for token in [
        Some(id_token.as_str()),
        access_token.as_deref(),
        refresh_token.as_deref(),
    ] {
        put_token(&mut out, token)?;
    }
    Ok(out)
}

/// Encodes `data` for a store record: the compact plaintext, compressed
/// (see [`super::compressed`]; cookies are never compressed).
pub(crate) fn encode_for_store(data: &SessionData) -> Result<Vec<u8>, SessionDataError> {
    super::compressed::compress(&encode_compact(data, true)?)
}

/// Decodes a plaintext written by [`encode`] (or the older all-JSON form).
pub(crate) fn decode(plain: &[u8]) -> Result<SessionData, SessionDataError> {
    decode_with(plain, None)
}

/// Decodes a plaintext written by [`encode`] or [`encode_for_store`]; a
/// store record's id is `stored_id`, the key it was read under.
pub(crate) fn decode_with(
    plain: &[u8],
    stored_id: Option<&str>,
) -> Result<SessionData, SessionDataError> {
    match plain.first() {
        // Exactly one layer: a compressed plaintext holds the compact form.
        Some(&super::compressed::FORMAT_COMPRESSED) => {
            match super::compressed::decompress(&plain[1..])? {
                inner if inner.first() == Some(&FORMAT_COMPACT) => decode_with(&inner, stored_id),
                _ => Err(SessionDataError::Malformed),
            }
        }
        Some(b'{') => serde_json::from_slice(plain).map_err(|_| SessionDataError::Malformed),
        Some(&FORMAT_COMPACT) => {
            let mut reader = Reader(&plain[1..]);
            let derived = reader.u8()?;
            let json_len = reader.u32()? as usize;
            let json = reader.bytes(json_len)?;
            let mut data: SessionData =
                serde_json::from_slice(json).map_err(|_| SessionDataError::Malformed)?;
            data.id_token = reader.token()?.ok_or(SessionDataError::Malformed)?;
            data.access_token = reader.token()?;
            data.refresh_token = reader.token()?;
            if !reader.0.is_empty() {
                return Err(SessionDataError::Malformed);
            }
            restore_derived(&mut data, derived, stored_id)?;
            Ok(data)
        }
        _ => Err(SessionDataError::Malformed),
    }
}

/// Puts back the fields whose bit [`encode`] set.
fn restore_derived(
    data: &mut SessionData,
    derived: u8,
    stored_id: Option<&str>,
) -> Result<(), SessionDataError> {
    if derived & !DERIVED_ALL != 0 {
        return Err(SessionDataError::Malformed);
    }
    if derived & DERIVED_ID != 0 {
        // Only a record read under its id omits it, and then exactly.
        match stored_id {
            Some(id) if !id.is_empty() && data.id.is_empty() => data.id = id.to_owned(),
            _ => return Err(SessionDataError::Malformed),
        }
    }
    if derived & DERIVED_CREATED_AT != 0 {
        data.created_at = data.created_ms / 1000;
    }
    if derived & DERIVED_REFRESHED_AT != 0 {
        data.refreshed_at = data.created_at;
    }
    if derived & DERIVED_BEARER != 0 {
        data.token_type = Some("Bearer".to_owned());
    }
    if derived & (DERIVED_ISS | DERIVED_SUB | DERIVED_SID) != 0 {
        let claims = payload_claims(&data.id_token);
        let claim = |name: &str| {
            claims
                .as_ref()
                .and_then(|c| c.get(name)?.as_str().map(str::to_owned))
                .ok_or(SessionDataError::Malformed)
        };
        if derived & DERIVED_ISS != 0 {
            data.iss = claim("iss")?;
        }
        if derived & DERIVED_SUB != 0 {
            data.sub = claim("sub")?;
        }
        if derived & DERIVED_SID != 0 {
            data.sid = Some(claim("sid")?);
        }
    }
    Ok(())
}

/// The claims of a compact JWS's payload, if it is one.
fn payload_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn put_token(out: &mut Vec<u8>, token: Option<&str>) -> Result<(), SessionDataError> {
    let Some(token) = token else {
        out.push(TAG_ABSENT);
        return Ok(());
    };
    if let Some(segments) = jws_segments(token) {
        out.push(TAG_JWS);
        for segment in segments {
            // jws_segments only returns segments that fit a u16 length.
            out.extend_from_slice(&(segment.len() as u16).to_be_bytes());
            out.extend_from_slice(&segment);
        }
    } else {
        let len = u32::try_from(token.len()).map_err(|_| SessionDataError::Serialize)?;
        out.push(TAG_TEXT);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(token.as_bytes());
    }
    Ok(())
}

/// The decoded segments of a compact JWS whose text they re-encode to exactly.
fn jws_segments(token: &str) -> Option<[Vec<u8>; 3]> {
    let mut parts = token.split('.');
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let mut segments = [Vec::new(), Vec::new(), Vec::new()];
    for (segment, text) in segments.iter_mut().zip([a, b, c]) {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        if bytes.len() > usize::from(u16::MAX) || URL_SAFE_NO_PAD.encode(&bytes) != text {
            return None;
        }
        *segment = bytes;
    }
    Some(segments)
}

/// Bounds-checked reads; running out of input is a malformed session.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], SessionDataError> {
        if self.0.len() < n {
            return Err(SessionDataError::Malformed);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, SessionDataError> {
        Ok(self.bytes(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, SessionDataError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, SessionDataError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn token(&mut self) -> Result<Option<String>, SessionDataError> {
        match self.u8()? {
            TAG_ABSENT => Ok(None),
            TAG_TEXT => {
                let len = self.u32()? as usize;
                let text = std::str::from_utf8(self.bytes(len)?)
                    .map_err(|_| SessionDataError::Malformed)?;
                Ok(Some(text.to_owned()))
            }
            TAG_JWS => {
                let mut token = String::new();
                for i in 0..3 {
                    if i > 0 {
                        token.push('.');
                    }
                    let len = usize::from(self.u16()?);
                    URL_SAFE_NO_PAD.encode_string(self.bytes(len)?, &mut token);
                }
                Ok(Some(token))
            }
            _ => Err(SessionDataError::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload_len: usize) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k1"}"#);
        let payload = URL_SAFE_NO_PAD.encode(vec![b'x'; payload_len]);
        let sig = URL_SAFE_NO_PAD.encode([7u8; 256]);
        format!("{header}.{payload}.{sig}")
    }

    fn data() -> SessionData {
        let mut data = crate::session::test_session_data();
        data.id_token = jwt(600);
        data.created_at = data.created_ms / 1000;
        data.access_token = Some(jwt(300));
        data.refresh_token = Some("opaque-refresh-token_0123456789".into());
        data
    }

    #[test]
    fn tokens_round_trip_exactly_jws_and_opaque_alike() {
        let original = data();
        let back = decode(&encode(&original).expect("encode")).expect("decode");
        assert_eq!(back.id_token, original.id_token);
        assert_eq!(back.access_token, original.access_token);
        assert_eq!(back.refresh_token, original.refresh_token);
        assert_eq!(back.id, original.id);
        assert_eq!(back.claims.get(), original.claims.get());
    }

    #[test]
    fn jws_tokens_take_a_quarter_less_than_as_json_text() {
        let original = data();
        let json = serde_json::to_vec(&original).expect("json").len();
        let compact = encode(&original).expect("encode").len();
        let tokens =
            original.id_token.len() + original.access_token.as_ref().map_or(0, String::len);
        assert!(
            json - compact >= tokens / 5,
            "json {json} B, compact {compact} B, JWS text {tokens} B"
        );
    }

    #[test]
    fn a_token_that_does_not_re_encode_exactly_is_stored_as_text() {
        let mut original = data();
        // Padded base64 and a non-canonical final character both decode, but
        // would not come back as the same text.
        original.access_token = Some("eyJhIjoxfQ==.eyJiIjoyfQ.c2ln".into());
        original.refresh_token = Some("eyJhIjoxfQ.eyJiIjoyfQ.c2lo".into());
        let back = decode(&encode(&original).expect("encode")).expect("decode");
        assert_eq!(back.access_token, original.access_token);
        assert_eq!(back.refresh_token, original.refresh_token);
    }

    #[test]
    fn what_the_id_token_says_is_left_out_and_restored() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
        let payload =
            URL_SAFE_NO_PAD.encode(br#"{"iss":"https://op.example","sub":"u-1","sid":"op-s"}"#);
        let mut original = data();
        original.id_token = format!("{header}.{payload}.c2ln");
        original.iss = "https://op.example".into();
        original.sub = "u-1".into();
        original.sid = Some("op-s".into());
        original.created_ms = 1_700_000_000_123;
        original.created_at = 1_700_000_000;
        original.refreshed_at = 1_700_000_000;
        original.token_type = Some("Bearer".into());
        let plain = encode(&original).expect("encode");
        let text = String::from_utf8_lossy(&plain);
        assert!(
            !text.contains("\"is\"") && !text.contains("\"sd\""),
            "{text}"
        );
        let back = decode(&plain).expect("decode");
        assert_eq!(
            (back.iss.as_str(), back.sub.as_str()),
            ("https://op.example", "u-1")
        );
        assert_eq!(back.sid.as_deref(), Some("op-s"));
        assert_eq!(back.created_at, 1_700_000_000);
        assert_eq!(back.refreshed_at, original.refreshed_at);
        assert_eq!(back.token_type, original.token_type);
        // A sid the (refreshed) ID token lacks is kept.
        original.id_token = format!(
            "{header}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"iss":"https://op.example","sub":"u-1"}"#)
        );
        let back = decode(&encode(&original).expect("encode")).expect("decode");
        assert_eq!(back.sid.as_deref(), Some("op-s"));
    }

    #[test]
    fn values_that_only_look_derivable_come_back_exactly() {
        // The cases the session_plaintext fuzz target found: a zero time, a
        // missing token type beside an access token, no sid although the ID
        // token has one.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"i","sub":"s","sid":"op"}"#);
        let mut original = data();
        original.id_token = format!("{header}.{payload}.c2ln");
        original.created_ms = 0;
        original.created_at = 1_700_000_000;
        original.refreshed_at = 0;
        original.token_type = None;
        original.sid = None;
        let back = decode(&encode(&original).expect("encode")).expect("decode");
        let wire = |d: &SessionData| serde_json::to_string(d).expect("json");
        assert_eq!(wire(&back), wire(&original));
    }

    #[test]
    fn the_older_all_json_plaintext_still_opens() {
        let original = data();
        let json = serde_json::to_vec(&original).expect("json");
        let back = decode(&json).expect("decode");
        assert_eq!(back.id_token, original.id_token);
    }

    #[test]
    fn truncated_trailing_or_unknown_input_is_malformed_never_a_panic() {
        let plain = encode(&data()).expect("encode");
        for cut in 0..plain.len() {
            assert!(decode(&plain[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = plain.clone();
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        assert!(decode(&[0x7f, 1, 2]).is_err());
        let mut bad_tag = plain.clone();
        let last_token_tag = bad_tag.len() - 1 - "opaque-refresh-token_0123456789".len() - 4;
        bad_tag[last_token_tag] = 9;
        assert!(decode(&bad_tag).is_err());
        let mut bad_mask = plain;
        bad_mask[1] = 0xff;
        assert!(decode(&bad_mask).is_err());
    }

    #[test]
    fn a_store_plaintext_is_the_compact_form_compressed_and_opens_the_same() {
        let original = data();
        let compact = encode(&original).expect("encode");
        let stored = encode_for_store(&original).expect("encode for a store");
        assert_eq!(stored[0], crate::session::compressed::FORMAT_COMPRESSED);
        assert!(
            stored.len() < compact.len(),
            "{} vs {}",
            stored.len(),
            compact.len()
        );
        let wire = |d: &SessionData| serde_json::to_string(d).expect("json");
        let back = decode_with(&stored, Some(&original.id)).expect("decode");
        assert_eq!(wire(&back), wire(&original));
        // The id is left out (the store's key says it): a record opens only
        // under an id, and a cookie's plaintext keeps its own.
        let id_bytes = original.id.as_bytes();
        let inner = crate::session::compressed::decompress(&stored[1..]).expect("inner");
        assert!(!inner.windows(id_bytes.len()).any(|w| w == id_bytes));
        assert!(compact.windows(id_bytes.len()).any(|w| w == id_bytes));
        assert_eq!(decode(&stored).err(), Some(SessionDataError::Malformed));
        assert_eq!(
            decode_with(&stored, Some("")).err(),
            Some(SessionDataError::Malformed)
        );
        assert_eq!(
            decode_with(&stored, Some("another-id-of-22-chars"))
                .expect("decode")
                .id,
            "another-id-of-22-chars"
        );
        assert_eq!(
            decode_with(&compact, Some("ignored")).expect("decode").id,
            original.id
        );
    }

    #[test]
    fn a_compressed_plaintext_must_hold_exactly_one_compact_layer() {
        use crate::session::compressed::{FORMAT_COMPRESSED, compress};
        let original = data();
        // Compressed twice, compressed JSON, compressed nothing, or a bare
        // format byte: all malformed.
        let twice = compress(&encode_for_store(&original).expect("encode")).expect("compress");
        let json = compress(&serde_json::to_vec(&original).expect("json")).expect("compress");
        let empty = compress(b"").expect("compress");
        for plain in [twice, json, empty, vec![FORMAT_COMPRESSED]] {
            let decoded = decode_with(&plain, Some(&original.id));
            assert_eq!(decoded.err(), Some(SessionDataError::Malformed));
        }
        let stored = encode_for_store(&original).expect("encode");
        for cut in 1..stored.len() {
            assert!(
                decode_with(&stored[..cut], Some(&original.id)).is_err(),
                "cut at {cut}"
            );
        }
    }
}

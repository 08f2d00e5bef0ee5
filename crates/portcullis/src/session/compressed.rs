//! Compression of store records (never of cookies): zstd with a preset
//! dictionary of the JSON that ID tokens, access tokens and the session
//! itself are made of.
//!
//! A session plaintext is about a kilobyte, too little for a compressor to
//! learn much from; the dictionary supplies the claim names and the usual
//! header shapes, so only the values cost bytes. A record's length never
//! reaches a client (the cookie of a server-side session holds only the
//! sealed id), which is why compressing here opens no CRIME/BREACH-style
//! oracle, while cookies stay uncompressed (`docs/decisions.md`, 22 and 43).
//!
//! Layout: [`FORMAT_COMPRESSED`], then one zstd frame (content size recorded,
//! no checksum: the AEAD around it already authenticates every byte) of the
//! compact plaintext. The dictionary is part of the format: records written
//! with it must keep opening, so a different dictionary needs a new format
//! byte.

use std::cell::RefCell;
use std::sync::OnceLock;

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

use super::data::SessionDataError;

/// The first plaintext byte of a compressed record.
pub(crate) const FORMAT_COMPRESSED: u8 = 0x03;

/// zstd's level: records are written at login and refresh only, and
/// higher levels gain nothing measurable on a kilobyte.
const LEVEL: i32 = 9;

/// The most a compressed record may expand to (a bound on allocation,
/// though every record is authenticated before it gets here).
pub(crate) const MAX_PLAINTEXT: usize = 1 << 20;

/// The preset dictionary, format 3. Raw content: zstd matches against it as
/// if it preceded each record, nearer the end costing fewer bits, so the
/// likeliest fragments come last. Generic claim names and shapes only: no
/// issuer, domain or value of any one deployment. Never change it; a new
/// dictionary needs a new format byte.
const DICTIONARY: &str = concat!(
    r#"{"kid":"","alg":"RS256"}{"alg":"ES256","typ":"JWT","kid":""}{"alg":"PS256","kid":"","typ":"JWT"}"#,
    r#"https://login.microsoftonline.com/v2.0","tid":"","oid":"","ver":"2.0","uti":"","rh":"","aio":"","nbf":"#,
    r#"https://accounts.google.com.okta.com/oauth2/default","ver":1,"jti":"ID.","amr":["pwd"],"idp":"","groups":["#,
    r#"/realms/","typ":"ID","session_state":"","acr":"1","realm_access":{"roles":["offline_access","uma_authorization"]},"#,
    r#""resource_access":{"account":{"roles":["manage-account","view-profile"]}},"picture":"https://","#,
    r#""phone_number":"+","phone_number_verified":false,"address":{"formatted":"","street_address":"","locality":"","#,
    r#""region":"","postal_code":"","country":""},"updated_at":,"middle_name":"","nickname":"","profile":"","#,
    r#""website":"","gender":"","birthdate":"","zoneinfo":"Europe/","c_hash":"","cnf":{"jkt":""},"act":{"sub":""},"#,
    r#""may_act":"",".gmail.com@example.com","locale":"en-US","email_verified":false,"#,
    r#"{"typ":"at+jwt","alg":"RS256","kid":""}{"aud":"","auth_time":,"client_id":"","exp":,"iat":,"#,
    r#""iss":"https://","jti":"","scope":"openid profile email offline_access","sid":"","sub":""}"#,
    r#"{"typ":"JWT","alg":"RS256","kid":""}{"at_hash":"","aud":"","auth_time":,"azp":"","email":"","#,
    r#""email_verified":true,"exp":,"family_name":"","given_name":"","iat":,"iss":"https://","locale":"","#,
    r#""name":"","nonce":"","preferred_username":"","sid":"","sub":""}"#,
    r#"{"n":"","cm":,"u":{},"e":,"sc":"openid profile email offline_access","tt":"DPoP"}"#,
);

/// The dictionary prepared for compression, once per process (`None` only
/// if zstd could not allocate it).
fn encoder_dictionary() -> Option<&'static EncoderDictionary<'static>> {
    static DICT: OnceLock<Option<EncoderDictionary<'static>>> = OnceLock::new();
    DICT.get_or_init(|| EncoderDictionary::try_copy(DICTIONARY.as_bytes(), LEVEL).ok())
        .as_ref()
}

/// The dictionary prepared for decompression, once per process.
fn decoder_dictionary() -> Option<&'static DecoderDictionary<'static>> {
    static DICT: OnceLock<Option<DecoderDictionary<'static>>> = OnceLock::new();
    DICT.get_or_init(|| DecoderDictionary::try_copy(DICTIONARY.as_bytes()).ok())
        .as_ref()
}

thread_local! {
    /// One decompression context per thread, reused: records are opened on
    /// the request path (whenever the decoded-session cache misses).
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// `plain` compressed: [`FORMAT_COMPRESSED`] and one zstd frame.
pub(crate) fn compress(plain: &[u8]) -> Result<Vec<u8>, SessionDataError> {
    let dictionary = encoder_dictionary().ok_or(SessionDataError::Serialize)?;
    let mut compressor = Compressor::with_prepared_dictionary(dictionary)
        .map_err(|_| SessionDataError::Serialize)?;
    let frame = compressor
        .compress(plain)
        .map_err(|_| SessionDataError::Serialize)?;
    let mut out = Vec::with_capacity(frame.len() + 1);
    out.push(FORMAT_COMPRESSED);
    out.extend_from_slice(&frame);
    Ok(out)
}

/// The plaintext of a zstd frame written by [`compress`] (without its
/// format byte); at most [`MAX_PLAINTEXT`] bytes, or the record is malformed.
pub(crate) fn decompress(frame: &[u8]) -> Result<Vec<u8>, SessionDataError> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let dictionary = decoder_dictionary().ok_or(SessionDataError::Malformed)?;
            *slot = Some(
                Decompressor::with_prepared_dictionary(dictionary)
                    .map_err(|_| SessionDataError::Malformed)?,
            );
        }
        let Some(decompressor) = slot.as_mut() else {
            return Err(SessionDataError::Malformed);
        };
        decompressor
            .decompress(frame, MAX_PLAINTEXT)
            .map_err(|_| SessionDataError::Malformed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_shrinks_claim_json() {
        let plain = br#"{"iss":"https://op.example","sub":"alice","aud":"rp","exp":1800000000,"iat":1799999700,"email":"alice@op.example","email_verified":true,"name":"Alice"}"#;
        let packed = compress(plain).expect("compress");
        assert_eq!(packed[0], FORMAT_COMPRESSED);
        assert!(
            packed.len() < plain.len() * 3 / 4,
            "{} of {}",
            packed.len(),
            plain.len()
        );
        assert_eq!(decompress(&packed[1..]).expect("decompress"), plain);
    }

    #[test]
    fn incompressible_bytes_round_trip() {
        let plain: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let packed = compress(&plain).expect("compress");
        assert_eq!(decompress(&packed[1..]).expect("decompress"), plain);
        let empty = compress(b"").expect("compress");
        assert_eq!(decompress(&empty[1..]).expect("an empty plaintext"), b"");
    }

    #[test]
    fn refuses_garbage_truncation_and_oversized_frames() {
        let packed = compress(b"{\"n\":\"abc\"}").expect("compress");
        assert_eq!(
            decompress(b"not a zstd frame"),
            Err(SessionDataError::Malformed)
        );
        assert_eq!(
            decompress(&packed[1..packed.len() - 1]),
            Err(SessionDataError::Malformed)
        );
        // A frame that would expand past the bound is refused up front.
        let big = vec![b'a'; MAX_PLAINTEXT + 1];
        let packed = compress(&big).expect("compress");
        assert!(packed.len() < 1024, "a run of one byte compresses well");
        assert_eq!(decompress(&packed[1..]), Err(SessionDataError::Malformed));
    }
}

//! Meta's `signed_request`, as POSTed to the data deletion and deauthorize callbacks:
//! `base64url(signature) "." base64url(payload)`, padding optional, where the signature is
//! HMAC-SHA256 of the encoded payload *exactly as received*, keyed with the app secret.
//!
//! The signature is checked (in constant time) before anything inside the payload is looked
//! at; only then the algorithm and the app-scoped `user_id` (a JSON string or number).

use crate::config::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Longer than any request Meta sends; bounds the work done on garbage.
const MAX_LEN: usize = 8 * 1024;

/// A verified request from Meta about one app-scoped user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The app-scoped Facebook user id, digits only.
    pub user_id: String,
    pub issued_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedRequestError {
    /// Not two base64url parts, or a payload that is not a JSON object with a usable user id.
    Malformed,
    /// Signed correctly but not with HMAC-SHA256.
    UnsupportedAlgorithm,
    /// The signature does not match the payload and the app secret.
    InvalidSignature,
}

impl SignedRequestError {
    pub fn status(self) -> u16 {
        match self {
            SignedRequestError::Malformed | SignedRequestError::UnsupportedAlgorithm => 400,
            SignedRequestError::InvalidSignature => 403,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            SignedRequestError::Malformed => "malformed_signed_request",
            SignedRequestError::UnsupportedAlgorithm => "unsupported_algorithm",
            SignedRequestError::InvalidSignature => "invalid_signature",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            SignedRequestError::Malformed => "signed_request must be base64url(signature).base64url(JSON payload) with a user_id",
            SignedRequestError::UnsupportedAlgorithm => "signed_request must be signed with HMAC-SHA256",
            SignedRequestError::InvalidSignature => "The signed_request signature does not match this app",
        }
    }
}

pub fn parse(signed_request: &str, app_secret: &Secret) -> Result<SignedRequest, SignedRequestError> {
    use SignedRequestError::*;
    if signed_request.len() > MAX_LEN {
        return Err(Malformed);
    }
    let (signature, payload) = signed_request.split_once('.').ok_or(Malformed)?;
    if payload.contains('.') || signature.is_empty() || payload.is_empty() {
        return Err(Malformed);
    }
    let signature = decode(signature).ok_or(Malformed)?;
    // HMAC accepts keys of any length: new_from_slice cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.expose().as_bytes()).map_err(|_| InvalidSignature)?;
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature).map_err(|_| InvalidSignature)?;

    let payload: Value = serde_json::from_slice(&decode(payload).ok_or(Malformed)?).map_err(|_| Malformed)?;
    let payload = payload.as_object().ok_or(Malformed)?;
    match payload.get("algorithm").and_then(Value::as_str) {
        Some(algorithm) if algorithm.eq_ignore_ascii_case("HMAC-SHA256") => {}
        _ => return Err(UnsupportedAlgorithm),
    }
    let user_id = match payload.get("user_id") {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        _ => return Err(Malformed),
    };
    if user_id.is_empty() || user_id.len() > 32 || !user_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Malformed);
    }
    Ok(SignedRequest { user_id, issued_at: payload.get("issued_at").and_then(Value::as_i64) })
}

/// base64url with or without `=` padding (Meta sends it either way).
fn decode(part: &str) -> Option<Vec<u8>> {
    let unpadded = part.trim_end_matches('=');
    if part.len() - unpadded.len() > 2 {
        return None;
    }
    URL_SAFE_NO_PAD.decode(unpadded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE;
    use proptest::prelude::*;
    use sha2::Digest;

    const SECRET: &str = "sandbox-app-secret";

    /// HMAC-SHA256 written out from RFC 2104 over the bare hash, independent of the `hmac` crate
    /// the parser uses.
    fn reference_hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).chain(message.iter().copied()).collect();
        let inner_hash = Sha256::digest(&inner);
        let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).chain(inner_hash.iter().copied()).collect();
        Sha256::digest(&outer).into()
    }

    fn sign(payload_json: &str, secret: &str, padded: bool) -> String {
        let engine = |bytes: &[u8]| if padded { URL_SAFE.encode(bytes) } else { URL_SAFE_NO_PAD.encode(bytes) };
        let payload = engine(payload_json.as_bytes());
        let signature = engine(&reference_hmac(secret.as_bytes(), payload.as_bytes()));
        format!("{signature}.{payload}")
    }

    fn secret() -> Secret {
        Secret::new(SECRET)
    }

    #[test]
    fn the_reference_hmac_matches_rfc_4231() {
        // Test case 2: key "Jefe", data "what do ya want for nothing?".
        let mac = reference_hmac(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn accepts_string_and_numeric_user_ids_with_or_without_padding() {
        let string_id = r#"{"algorithm":"HMAC-SHA256","expires":1291840400,"issued_at":1291836800,"user_id":"218471"}"#;
        let number_id = r#"{"algorithm":"HMAC-SHA256","issued_at":1291836800,"user_id":1000000000000101}"#;
        for padded in [false, true] {
            let parsed = parse(&sign(string_id, SECRET, padded), &secret()).unwrap();
            assert_eq!(parsed, SignedRequest { user_id: "218471".into(), issued_at: Some(1291836800) });
            assert_eq!(parse(&sign(number_id, SECRET, padded), &secret()).unwrap().user_id, "1000000000000101");
        }
    }

    #[test]
    fn a_known_vector_from_outside_the_crate() {
        // Computed with Python: base64.urlsafe_b64encode(hmac.new(b"sandbox-app-secret",
        // payload_b64, hashlib.sha256).digest()), padding stripped.
        let payload = URL_SAFE_NO_PAD.encode(r#"{"algorithm":"HMAC-SHA256","user_id":"42"}"#);
        assert_eq!(payload, "eyJhbGdvcml0aG0iOiJITUFDLVNIQTI1NiIsInVzZXJfaWQiOiI0MiJ9");
        let signed = format!("{}.{payload}", "d6a_NqJTW_lmwHuyR8XjjzA8Ro7mmuhT_Bq_0AqKxds");
        assert_eq!(parse(&signed, &secret()).unwrap().user_id, "42");
    }

    #[test]
    fn every_rejection_has_its_code() {
        let good = r#"{"algorithm":"HMAC-SHA256","user_id":"42"}"#;
        let cases = [
            (sign(good, "another-secret", false), "invalid_signature"),
            (sign(r#"{"algorithm":"HMAC-SHA1","user_id":"42"}"#, SECRET, false), "unsupported_algorithm"),
            (sign(r#"{"user_id":"42"}"#, SECRET, false), "unsupported_algorithm"),
            (sign(r#"{"algorithm":"HMAC-SHA256"}"#, SECRET, false), "malformed_signed_request"),
            (sign(r#"{"algorithm":"HMAC-SHA256","user_id":"4a2"}"#, SECRET, false), "malformed_signed_request"),
            (sign(r#"{"algorithm":"HMAC-SHA256","user_id":-42}"#, SECRET, false), "malformed_signed_request"),
            (sign(r#"{"algorithm":"HMAC-SHA256","user_id":4.2}"#, SECRET, false), "malformed_signed_request"),
            (sign(r#"["algorithm"]"#, SECRET, false), "malformed_signed_request"),
            (sign("not json", SECRET, false), "malformed_signed_request"),
            ("".into(), "malformed_signed_request"),
            ("abc".into(), "malformed_signed_request"),
            (".abc".into(), "malformed_signed_request"),
            ("a.b.c".into(), "malformed_signed_request"),
            ("!!!.eyJ9".into(), "malformed_signed_request"),
            // 45 base64 characters cannot be decoded; 44 decode to 33 bytes, which is just wrong.
            (format!("{}.{}", "A".repeat(45), "e30"), "malformed_signed_request"),
            (format!("{}.{}", "A".repeat(44), "e30"), "invalid_signature"),
            ("x".repeat(MAX_LEN + 1), "malformed_signed_request"),
        ];
        for (input, code) in cases {
            assert_eq!(parse(&input, &secret()).map_err(|e| e.code()), Err(code), "{input}");
        }
        // Tampering with either part breaks the signature; the payload is never read first.
        let signed = sign(good, SECRET, false);
        let (signature, payload) = signed.split_once('.').unwrap();
        let tampered = format!("{signature}.{}", URL_SAFE_NO_PAD.encode(r#"{"algorithm":"HMAC-SHA256","user_id":"43"}"#));
        assert_eq!(parse(&tampered, &secret()).unwrap_err().code(), "invalid_signature");
        let unsigned_garbage = format!("{signature}.{payload}AAAA");
        assert_eq!(parse(&unsigned_garbage, &secret()).unwrap_err().code(), "invalid_signature");
        assert_eq!(SignedRequestError::InvalidSignature.status(), 403);
        assert_eq!(SignedRequestError::Malformed.status(), 400);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 100_000, failure_persistence: None, ..ProptestConfig::default() })]

        /// No input panics, whatever it is: 100,000 cases on every `npm test`.
        #[test]
        fn no_input_panics(input in "[ -~]{0,120}|[A-Za-z0-9_=.-]{0,200}|.{0,40}") {
            let _ = parse(&input, &secret());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 5_000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Inputs shaped like the real thing (two base64url parts) are never accepted unsigned.
        #[test]
        fn shaped_inputs_without_the_signature_are_refused(signature in "[A-Za-z0-9_-]{0,60}={0,2}", payload in "[A-Za-z0-9_-]{1,120}={0,2}") {
            let result = parse(&format!("{signature}.{payload}"), &secret());
            prop_assert!(result.is_err());
        }

        /// Signed payloads round-trip: any digits user id, as a string or a number.
        #[test]
        fn signed_payloads_round_trip(id in 1u64..u64::MAX, as_string: bool, padded: bool) {
            let user = if as_string { format!("\"{id}\"") } else { id.to_string() };
            let signed = sign(&format!(r#"{{"algorithm":"HMAC-SHA256","issued_at":1,"user_id":{user}}}"#), SECRET, padded);
            prop_assert_eq!(parse(&signed, &secret()).unwrap().user_id, id.to_string());
        }
    }
}

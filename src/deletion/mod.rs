//! Meta's compliance callbacks: the data deletion request (delete everything of the app-scoped
//! user, answer a status URL and a confirmation code), the deauthorize callback (the user
//! removed the app: revoke and erase their tokens at once), and the public status page.
//!
//! Both callbacks carry a `signed_request` (see `signed_request`), verified before anything is
//! read from it. The user id is never stored in clear with a request: only a keyed hash
//! (HMAC-SHA256 with the app secret), so one user's requests can be linked, not named.

use crate::api_error::ApiError;
use crate::config::Config;
use crate::signed_request::{self, SignedRequest};
use crate::store::deletion::{DeletionReport, DeletionRequest};
use crate::store::Store;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Confirmation codes are 128 random bits, in hex.
const CODE_BYTES: usize = 16;

#[derive(Debug, Serialize)]
pub struct DeletionAnswer {
    pub url: String,
    pub confirmation_code: String,
}

/// The verified request inside a callback's form body (`signed_request=...`).
pub fn verify(config: &Config, form_body: &str) -> Result<SignedRequest, ApiError> {
    let signed = url::form_urlencoded::parse(form_body.as_bytes())
        .find(|(key, _)| key == "signed_request")
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                400,
                "invalid_request",
                "The body must be a form with signed_request (application/x-www-form-urlencoded)",
            )
        })?;
    signed_request::parse(&signed, &config.meta_app_secret).map_err(|err| ApiError::new(err.status(), err.code(), err.message()))
}

/// Deletes the user's Meta data and answers where its status can be seen. Also the log fields.
pub async fn data_deletion(
    config: &Config,
    store: &Store,
    request: &SignedRequest,
) -> Result<(DeletionAnswer, DeletionReport), ApiError> {
    let code = confirmation_code()?;
    let report = store
        .delete_meta_user_data(&request.user_id, &user_hash(config, &request.user_id), &sha256_hex(&code))
        .await
        .map_err(|err| ApiError::new(503, "database_unavailable", format!("The deletion could not be carried out now: {err}")))?;
    let url = format!("{}/api/meta/data-deletion/status?code={code}", config.public_base_url.as_str().trim_end_matches('/'));
    Ok((DeletionAnswer { url, confirmation_code: code }, report))
}

/// Revokes the user's connections, erasing their tokens. How many there were.
pub async fn deauthorize(config: &Config, store: &Store, request: &SignedRequest) -> Result<i64, ApiError> {
    store.deauthorize_meta_user(&request.user_id, &user_hash(config, &request.user_id)).await.map_err(|err| {
        ApiError::new(503, "database_unavailable", format!("The deauthorization could not be recorded now: {err}"))
    })
}

/// The request behind a confirmation code, if there is one.
pub async fn status(store: &Store, code: Option<&str>) -> Result<Option<DeletionRequest>, ApiError> {
    let Some(code) = code.filter(|c| c.len() == CODE_BYTES * 2 && c.bytes().all(|b| b.is_ascii_hexdigit())) else {
        return Ok(None);
    };
    store
        .deletion_request(&sha256_hex(&code.to_ascii_lowercase()))
        .await
        .map_err(|err| ApiError::new(503, "database_unavailable", format!("The status could not be read now: {err}")))
}

/// HMAC-SHA256 of the user id, keyed with the app secret: stable per user, not reversible.
pub fn user_hash(config: &Config, user_id: &str) -> String {
    // HMAC accepts keys of any length: new_from_slice cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(config.meta_app_secret.expose().as_bytes()) else {
        return String::new();
    };
    mac.update(b"meta-deletion-user:");
    mac.update(user_id.as_bytes());
    hex(&mac.finalize().into_bytes())
}

fn confirmation_code() -> Result<String, ApiError> {
    let mut bytes = [0u8; CODE_BYTES];
    getrandom::fill(&mut bytes).map_err(|_| ApiError::internal("The random number source failed"))?;
    Ok(hex(&bytes))
}

fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_config;

    #[test]
    fn the_form_must_carry_a_signed_request() {
        let config = test_config("https://app.example.com");
        for body in ["", "a=b", "signed_request=", "signed_request"] {
            assert_eq!(verify(&config, body).unwrap_err().code, "invalid_request", "{body:?}");
        }
        let err = verify(&config, "signed_request=abc.def").unwrap_err();
        assert_eq!((err.status, err.code), (403, "invalid_signature"));
        assert_eq!(verify(&config, "signed_request=nodot").unwrap_err().code, "malformed_signed_request");
    }

    #[test]
    fn user_hashes_are_keyed_and_stable() {
        let config = test_config("https://app.example.com");
        let hash = user_hash(&config, "1000000000000101");
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, user_hash(&config, "1000000000000101"));
        assert_ne!(hash, user_hash(&config, "1000000000000102"));
        assert_ne!(hash, sha256_hex("1000000000000101"), "not a plain hash anyone could recompute");
    }

    #[test]
    fn codes_are_128_random_bits() {
        let (a, b) = (confirmation_code().unwrap(), confirmation_code().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}

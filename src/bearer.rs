//! Checks `Authorization: Bearer <secret>` against a configured secret in constant time, for the
//! endpoints guarded by CRON_SECRET and OPERATOR_TOKEN.

use crate::api_error::ApiError;
use crate::config::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `Ok` when the header carries exactly the expected secret; a 401 `unauthenticated` otherwise.
/// Both sides are hashed first, so neither the content nor the length leaks through timing.
pub fn check(authorization: Option<&str>, expected: &Secret) -> Result<(), ApiError> {
    let presented = authorization.and_then(|value| value.strip_prefix("Bearer ")).map(str::trim).unwrap_or_default();
    let matches: bool = Sha256::digest(presented.as_bytes()).ct_eq(&Sha256::digest(expected.expose().as_bytes())).into();
    if matches && !presented.is_empty() {
        Ok(())
    } else {
        Err(ApiError::new(401, "unauthenticated", "A valid bearer token is required for this endpoint"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_secret_passes() {
        let secret = Secret::new("s".repeat(40));
        assert!(check(Some(&format!("Bearer {}", "s".repeat(40))), &secret).is_ok());
        for wrong in
            [None, Some(""), Some("Bearer "), Some("Basic abc"), Some("Bearer sss"), Some(&*format!("bearer {}", "s".repeat(40)))]
        {
            let err = check(wrong, &secret).unwrap_err();
            assert_eq!((err.status, err.code), (401, "unauthenticated"));
            assert!(!err.message.contains(&"s".repeat(40)));
        }
    }
}

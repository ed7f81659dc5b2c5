//! The token vault: seals Meta access tokens (AES-256-GCM) before they reach the database and
//! opens them when a pass needs them.
//!
//! An envelope is text: `mpt1.<key id>.<nonce>.<ciphertext+tag>` (base64url, no padding). The
//! key id (a fingerprint of the key, not the key) says which key sealed it, so keys can rotate:
//! sealing always uses the current key; opening also accepts `META_TOKEN_ENCRYPTION_KEY_PREVIOUS`;
//! `reseal` moves stored tokens to the current key. The associated data binds each envelope to
//! the row and purpose it was sealed for ([`TokenSlot`]): copied into another row, it does not open.
//!
//! Errors say only what kind of failure it was, never key material or plaintext.

pub mod reseal;

use crate::config::{Config, TokenEncryptionKey};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

const VERSION: &str = "mpt1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A Meta access token in clear. Its value is zeroed on drop and never printed.
pub struct AccessToken(Zeroizing<String>);

impl AccessToken {
    pub fn new(value: impl Into<String>) -> AccessToken {
        AccessToken(Zeroizing::new(value.into()))
    }

    /// The token itself, for the one place that needs it: the Graph request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(..)")
    }
}

/// A vault envelope, as stored in the `*_sealed` columns.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SealedToken(String);

impl SealedToken {
    pub fn from_stored(text: impl Into<String>) -> SealedToken {
        SealedToken(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the key that sealed it, if the envelope is well formed enough to say.
    pub fn key_id(&self) -> Option<&str> {
        let mut parts = self.0.split('.');
        match (parts.next(), parts.next()) {
            (Some(VERSION), Some(id)) => Some(id),
            _ => None,
        }
    }
}

impl fmt::Debug for SealedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedToken(key {})", self.key_id().unwrap_or("?"))
    }
}

/// Where a sealed token lives and what it is for: the associated data of its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSlot {
    /// `meta_connections.user_token_sealed` of connection `connection_id`.
    UserToken { connection_id: String },
    /// `meta_pages.page_token_sealed` of Page `page_id` under connection `connection_id`.
    PageToken { connection_id: String, page_id: String },
}

impl TokenSlot {
    /// Length-prefixed fields, so no two slots share associated data whatever their ids hold.
    /// Ids are lowercased: PostgreSQL returns uuids in lowercase whatever case they went in.
    fn associated_data(&self) -> String {
        let fields: &[&str] = match self {
            TokenSlot::UserToken { connection_id } => &["meta_connections", &connection_id.to_ascii_lowercase(), "user_token"],
            TokenSlot::PageToken { connection_id, page_id } => {
                &["meta_pages", &connection_id.to_ascii_lowercase(), page_id, "page_token"]
            }
        };
        fields.iter().fold(String::from(VERSION), |mut aad, field| {
            aad.push_str(&format!("|{}:{}", field.len(), field));
            aad
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultError {
    /// Not an envelope of this vault (truncated, wrong version, bad encoding).
    Malformed,
    /// Sealed with a key that is neither the current nor the previous one.
    UnknownKey,
    /// The envelope does not authenticate: tampered, or sealed for another row or purpose.
    Unauthentic,
    /// The platform's random source failed; nothing was sealed.
    Randomness,
}

impl fmt::Display for VaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VaultError::Malformed => "the sealed token is not a valid vault envelope",
            VaultError::UnknownKey => "the sealed token was sealed with a key this service no longer has",
            VaultError::Unauthentic => "the sealed token failed authentication (altered, or copied from another row)",
            VaultError::Randomness => "the random number source failed",
        })
    }
}

impl std::error::Error for VaultError {}

struct VaultKey {
    id: String,
    cipher: Aes256Gcm,
}

impl VaultKey {
    fn new(key: &TokenEncryptionKey) -> VaultKey {
        // A fingerprint, domain-separated so it is not a hash of the bare key.
        let digest = Sha256::new().chain_update(b"meta-publisher token key id\0").chain_update(key.bytes()).finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        VaultKey { id, cipher: Aes256Gcm::new(key.bytes().into()) }
    }
}

pub struct Vault {
    current: VaultKey,
    previous: Option<VaultKey>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("current_key_id", &self.current.id)
            .field("previous_key_id", &self.previous.as_ref().map(|k| &k.id))
            .finish()
    }
}

impl Vault {
    pub fn new(current: &TokenEncryptionKey, previous: Option<&TokenEncryptionKey>) -> Vault {
        Vault { current: VaultKey::new(current), previous: previous.map(VaultKey::new) }
    }

    pub fn from_config(config: &Config) -> Vault {
        Vault::new(&config.token_encryption_key, config.previous_token_encryption_key.as_ref())
    }

    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    pub fn seal(&self, token: &AccessToken, slot: &TokenSlot) -> Result<SealedToken, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| VaultError::Randomness)?;
        let aad = slot.associated_data();
        let ciphertext = self
            .current
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: token.expose().as_bytes(), aad: aad.as_bytes() })
            .map_err(|_| VaultError::Unauthentic)?;
        Ok(SealedToken(format!(
            "{VERSION}.{}.{}.{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(ciphertext)
        )))
    }

    pub fn open(&self, sealed: &SealedToken, slot: &TokenSlot) -> Result<AccessToken, VaultError> {
        let mut parts = sealed.0.split('.');
        let (Some(VERSION), Some(key_id), Some(nonce), Some(ciphertext), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VaultError::Malformed);
        };
        let nonce = URL_SAFE_NO_PAD.decode(nonce).map_err(|_| VaultError::Malformed)?;
        let ciphertext = URL_SAFE_NO_PAD.decode(ciphertext).map_err(|_| VaultError::Malformed)?;
        if nonce.len() != NONCE_LEN || ciphertext.len() < TAG_LEN {
            return Err(VaultError::Malformed);
        }
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|key| key.id == key_id)
            .ok_or(VaultError::UnknownKey)?;
        let aad = slot.associated_data();
        let plaintext = Zeroizing::new(
            key.cipher
                .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ciphertext, aad: aad.as_bytes() })
                .map_err(|_| VaultError::Unauthentic)?,
        );
        let text = std::str::from_utf8(&plaintext).map_err(|_| VaultError::Unauthentic)?;
        Ok(AccessToken::new(text))
    }

    /// Whether an envelope was sealed with an older key than the current one.
    pub fn needs_reseal(&self, sealed: &SealedToken) -> bool {
        sealed.key_id() != Some(self.current.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> TokenEncryptionKey {
        TokenEncryptionKey::from_bytes([byte; 32])
    }

    fn user_slot(id: &str) -> TokenSlot {
        TokenSlot::UserToken { connection_id: id.into() }
    }

    const TOKEN: &str = "sandbox-user-token-0123456789";

    #[test]
    fn round_trip_with_fresh_nonces() {
        let vault = Vault::new(&key(1), None);
        let slot = user_slot("c1");
        let first = vault.seal(&AccessToken::new(TOKEN), &slot).unwrap();
        let second = vault.seal(&AccessToken::new(TOKEN), &slot).unwrap();
        assert_ne!(first, second, "every seal uses a fresh nonce");
        assert_eq!(vault.open(&first, &slot).unwrap().expose(), TOKEN);
        assert!(!first.as_str().contains(TOKEN));
        assert_eq!(first.key_id(), Some(vault.current_key_id()));
    }

    #[test]
    fn another_row_or_purpose_does_not_open() {
        let vault = Vault::new(&key(1), None);
        let sealed = vault.seal(&AccessToken::new(TOKEN), &user_slot("c1")).unwrap();
        assert_eq!(vault.open(&sealed, &user_slot("c2")).unwrap_err(), VaultError::Unauthentic);
        let page = TokenSlot::PageToken { connection_id: "c1".into(), page_id: "1".into() };
        assert_eq!(vault.open(&sealed, &page).unwrap_err(), VaultError::Unauthentic);
    }

    #[test]
    fn tampered_truncated_and_foreign_envelopes_fail_with_typed_errors() {
        let vault = Vault::new(&key(1), None);
        let slot = user_slot("c1");
        let sealed = vault.seal(&AccessToken::new(TOKEN), &slot).unwrap();
        let text = sealed.as_str();

        // Flip one character of the ciphertext.
        let mut chars: Vec<char> = text.chars().collect();
        let last = chars.len() - 3;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        let tampered = SealedToken::from_stored(chars.into_iter().collect::<String>());
        assert_eq!(vault.open(&tampered, &slot).unwrap_err(), VaultError::Unauthentic);

        let truncated = SealedToken::from_stored(&text[..text.len() - 10]);
        assert!(matches!(vault.open(&truncated, &slot), Err(VaultError::Unauthentic | VaultError::Malformed)));
        for bad in ["", "mpt1", "EAAB-plaintext-token", "mpt2.a.b.c", "mpt1.x.y.z.w", "mpt1.0011.!!!.???"] {
            assert_eq!(vault.open(&SealedToken::from_stored(bad), &slot).unwrap_err(), VaultError::Malformed, "{bad}");
        }
        let other = Vault::new(&key(2), None);
        assert_eq!(other.open(&sealed, &slot).unwrap_err(), VaultError::UnknownKey);
        // Same key id claimed by a different key: authentication fails.
        let forged = SealedToken::from_stored(text.replacen(vault.current_key_id(), other.current_key_id(), 1));
        assert_eq!(other.open(&forged, &slot).unwrap_err(), VaultError::Unauthentic);
    }

    #[test]
    fn rotation_opens_previous_and_seals_with_current() {
        let old = Vault::new(&key(1), None);
        let slot = user_slot("c1");
        let sealed_old = old.seal(&AccessToken::new(TOKEN), &slot).unwrap();
        let rotated = Vault::new(&key(2), Some(&key(1)));
        assert!(rotated.needs_reseal(&sealed_old));
        assert_eq!(rotated.open(&sealed_old, &slot).unwrap().expose(), TOKEN);
        let sealed_new = rotated.seal(&AccessToken::new(TOKEN), &slot).unwrap();
        assert!(!rotated.needs_reseal(&sealed_new));
        let after = Vault::new(&key(2), None);
        assert_eq!(after.open(&sealed_new, &slot).unwrap().expose(), TOKEN);
        assert_eq!(after.open(&sealed_old, &slot).unwrap_err(), VaultError::UnknownKey);
    }

    #[test]
    fn associated_data_is_unambiguous_and_case_insensitive_for_ids() {
        let a = TokenSlot::PageToken { connection_id: "a|1:b".into(), page_id: "c".into() };
        let b = TokenSlot::PageToken { connection_id: "a".into(), page_id: "b|1:c".into() };
        assert_ne!(a.associated_data(), b.associated_data());
        let vault = Vault::new(&key(1), None);
        let upper = user_slot("ABCDEF01-0000-4000-8000-000000000000");
        let lower = user_slot("abcdef01-0000-4000-8000-000000000000");
        let sealed = vault.seal(&AccessToken::new(TOKEN), &upper).unwrap();
        assert_eq!(vault.open(&sealed, &lower).unwrap().expose(), TOKEN);
    }

    #[test]
    fn nothing_prints_secrets() {
        let vault = Vault::new(&key(7), None);
        let token = AccessToken::new(TOKEN);
        let sealed = vault.seal(&token, &user_slot("c1")).unwrap();
        for shown in [format!("{token:?}"), format!("{sealed:?}"), format!("{vault:?}")] {
            assert!(!shown.contains(TOKEN));
            assert!(!shown.contains(&sealed.as_str()[30..]));
        }
        for err in [VaultError::Malformed, VaultError::UnknownKey, VaultError::Unauthentic, VaultError::Randomness] {
            assert!(!err.to_string().contains(TOKEN));
        }
    }

    #[test]
    fn envelopes_match_the_database_check() {
        // The same pattern as public.meta_is_sealed_token() in migrations/0003.
        let vault = Vault::new(&key(3), None);
        let sealed = vault.seal(&AccessToken::new("x"), &user_slot("c1")).unwrap();
        let parts: Vec<&str> = sealed.as_str().split('.').collect();
        assert_eq!(parts[0], "mpt1");
        assert!(parts[1].len() == 16 && parts[1].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(parts[2].len(), 16);
        assert!(parts[3].len() >= 22);
    }
}

//! Re-sealing every stored token under the current key, after `META_TOKEN_ENCRYPTION_KEY` was
//! rotated (the old key moved to `META_TOKEN_ENCRYPTION_KEY_PREVIOUS`). Safe to run again and
//! while the service works: each swap is a compare-and-set on the stored envelope.

use super::{Vault, VaultError};
use crate::store::{Store, StoreError};
use serde::Serialize;

/// Counts only; never which tokens or what they hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResealReport {
    pub examined: u32,
    pub resealed: u32,
    pub already_current: u32,
    /// The row changed between reading and writing (e.g. a reconnect); it has a fresh envelope.
    pub changed_meanwhile: u32,
    /// Sealed with a key the service does not have: those connections need to reconnect.
    pub unknown_key: u32,
    /// Did not authenticate (altered or misplaced envelopes).
    pub unreadable: u32,
}

pub async fn reseal_all(store: &Store, vault: &Vault) -> Result<ResealReport, StoreError> {
    let mut report = ResealReport::default();
    for stored in store.sealed_tokens().await? {
        report.examined += 1;
        if !vault.needs_reseal(&stored.sealed) {
            report.already_current += 1;
            continue;
        }
        let token = match vault.open(&stored.sealed, &stored.slot) {
            Ok(token) => token,
            Err(VaultError::UnknownKey) => {
                report.unknown_key += 1;
                continue;
            }
            Err(_) => {
                report.unreadable += 1;
                continue;
            }
        };
        let Ok(fresh) = vault.seal(&token, &stored.slot) else {
            report.unreadable += 1;
            continue;
        };
        if store.replace_sealed_token(&stored.slot, &stored.sealed, &fresh).await? {
            report.resealed += 1;
        } else {
            report.changed_meanwhile += 1;
        }
    }
    Ok(report)
}

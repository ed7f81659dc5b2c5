//! Re-sealing stored tokens under the current key, after `META_TOKEN_ENCRYPTION_KEY` was rotated
//! (the old key moved to `META_TOKEN_ENCRYPTION_KEY_PREVIOUS`).
//!
//! Work comes in bounded batches, so one Worker invocation stays within its subrequest budget:
//! each call handles up to [`BATCH`] tokens and returns a cursor for the next call (`None` when
//! everything is done). The cursor holds only counts, never ids. Each swap is a compare-and-set
//! on the stored envelope, so running it while the service works, or again, is safe.

use super::{Vault, VaultError};
use crate::store::tokens::TokenTable;
use crate::store::{Store, StoreError};
use serde::Serialize;

/// Tokens per call: one read plus one write each stays far below the Workers subrequest limit.
pub const BATCH: usize = 25;

/// Counts only; never which tokens or what they hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResealReport {
    /// Tokens not under the current key that this call looked at.
    pub examined: u32,
    pub resealed: u32,
    /// The row changed between reading and writing (e.g. a reconnect sealed a fresh token).
    pub changed_meanwhile: u32,
    /// Sealed with a key the service does not have: those connections must reconnect.
    pub unknown_key: u32,
    /// Did not authenticate (altered or misplaced envelopes).
    pub unreadable: u32,
    /// Pass it as `after` to continue; `None` when no token is left to look at.
    pub next_cursor: Option<String>,
}

/// Where a run stands: the table, and how many tokens of it were left behind (not re-sealable)
/// by earlier batches and must be skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    table: TokenTable,
    skipped: usize,
}

impl Cursor {
    pub const START: Cursor = Cursor { table: TokenTable::Connections, skipped: 0 };

    /// `c<n>` or `p<n>`; anything else is `None`.
    pub fn parse(text: &str) -> Option<Cursor> {
        let table = match text.get(..1)? {
            "c" => TokenTable::Connections,
            "p" => TokenTable::Pages,
            _ => return None,
        };
        let skipped = text[1..].parse().ok().filter(|n| *n <= 1_000_000)?;
        Some(Cursor { table, skipped })
    }

    fn render(self) -> String {
        let prefix = if self.table == TokenTable::Connections { "c" } else { "p" };
        format!("{prefix}{}", self.skipped)
    }
}

pub async fn reseal_batch(store: &Store, vault: &Vault, cursor: Cursor) -> Result<ResealReport, StoreError> {
    let mut report = ResealReport::default();
    let batch = store.tokens_not_under_key(cursor.table, vault.current_key_id(), cursor.skipped, BATCH).await?;
    let mut skipped = cursor.skipped;
    for stored in &batch {
        report.examined += 1;
        let resealed = match vault.open(&stored.sealed, &stored.slot) {
            Ok(token) => vault.seal(&token, &stored.slot).map_err(|_| VaultError::Randomness),
            Err(err) => Err(err),
        };
        match resealed {
            Ok(fresh) => {
                if store.replace_sealed_token(&stored.slot, &stored.sealed, &fresh).await? {
                    report.resealed += 1;
                } else {
                    report.changed_meanwhile += 1;
                }
            }
            Err(VaultError::UnknownKey) => {
                report.unknown_key += 1;
                skipped += 1;
            }
            Err(_) => {
                report.unreadable += 1;
                skipped += 1;
            }
        }
    }
    report.next_cursor = if batch.len() == BATCH {
        Some(Cursor { table: cursor.table, skipped }.render())
    } else if cursor.table == TokenTable::Connections {
        Some(Cursor { table: TokenTable::Pages, skipped: 0 }.render())
    } else {
        None
    };
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for text in ["c0", "c12", "p3"] {
            assert_eq!(Cursor::parse(text).unwrap().render(), text);
        }
        for bad in ["", "x1", "c", "c-1", "p1e3", "c99999999999", "ç1"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }
}

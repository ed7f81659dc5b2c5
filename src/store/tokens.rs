//! Stored sealed tokens that are not under the current key, for re-sealing after a rotation.
//! The only reads of token columns besides claiming.

use super::{fetch, Store, StoreError};
use crate::vault::{SealedToken, TokenSlot};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Clone)]
pub struct StoredToken {
    pub slot: TokenSlot,
    pub sealed: SealedToken,
}

/// Which table a re-seal batch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTable {
    Connections,
    Pages,
}

impl Store {
    /// Up to `limit` tokens of `table` not sealed with `current_key_id`, in key order, skipping
    /// the first `skip` of them (those a previous batch could not re-seal).
    pub async fn tokens_not_under_key(
        &self,
        table: TokenTable,
        current_key_id: &str,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<StoredToken>, StoreError> {
        // `not.like` is null for a NULL token, so erased tokens are never returned.
        let current = format!("mpt1.{current_key_id}.*");
        let range = (skip, skip + limit.max(1) - 1);
        match table {
            TokenTable::Connections => {
                #[derive(Deserialize)]
                struct Row {
                    id: String,
                    user_token_sealed: SealedToken,
                }
                let rows: Vec<Row> = fetch(
                    self.from("meta_connections")
                        .select("id,user_token_sealed")
                        .not("like", "user_token_sealed", &current)
                        .order("id.asc")
                        .range(range.0, range.1),
                )
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|row| StoredToken {
                        slot: TokenSlot::UserToken { connection_id: row.id },
                        sealed: row.user_token_sealed,
                    })
                    .collect())
            }
            TokenTable::Pages => {
                #[derive(Deserialize)]
                struct Row {
                    connection_id: String,
                    page_id: String,
                    page_token_sealed: SealedToken,
                }
                let rows: Vec<Row> = fetch(
                    self.from("meta_pages")
                        .select("connection_id,page_id,page_token_sealed")
                        .not("like", "page_token_sealed", &current)
                        .order("connection_id.asc,page_id.asc")
                        .range(range.0, range.1),
                )
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|row| StoredToken {
                        slot: TokenSlot::PageToken { connection_id: row.connection_id, page_id: row.page_id },
                        sealed: row.page_token_sealed,
                    })
                    .collect())
            }
        }
    }

    /// Swaps `old` for `new` in the token's slot if `old` is still what is stored; `false` if
    /// the row changed meanwhile (a reconnect), in which case nothing is written.
    pub async fn replace_sealed_token(&self, slot: &TokenSlot, old: &SealedToken, new: &SealedToken) -> Result<bool, StoreError> {
        let query = match slot {
            TokenSlot::UserToken { connection_id } => self
                .from("meta_connections")
                .select("id")
                .eq("id", connection_id)
                .eq("user_token_sealed", old.as_str())
                .update(json!({ "user_token_sealed": new }).to_string()),
            TokenSlot::PageToken { connection_id, page_id } => self
                .from("meta_pages")
                .select("page_id")
                .eq("connection_id", connection_id)
                .eq("page_id", page_id)
                .eq("page_token_sealed", old.as_str())
                .update(json!({ "page_token_sealed": new }).to_string()),
        };
        let rows: Vec<serde_json::Value> = fetch(query).await?;
        Ok(!rows.is_empty())
    }
}

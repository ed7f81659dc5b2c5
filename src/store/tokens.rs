//! Every stored sealed token, for re-sealing under a new key. The only reads of token columns
//! besides claiming.

use super::{fetch, Store, StoreError};
use crate::vault::{SealedToken, TokenSlot};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Clone)]
pub struct StoredToken {
    pub slot: TokenSlot,
    pub sealed: SealedToken,
}

impl Store {
    pub async fn sealed_tokens(&self) -> Result<Vec<StoredToken>, StoreError> {
        #[derive(Deserialize)]
        struct UserRow {
            id: String,
            user_token_sealed: SealedToken,
        }
        #[derive(Deserialize)]
        struct PageRow {
            connection_id: String,
            page_id: String,
            page_token_sealed: SealedToken,
        }
        let users: Vec<UserRow> = fetch(
            self.from("meta_connections").select("id,user_token_sealed").not("is", "user_token_sealed", "null"),
        )
        .await?;
        let pages: Vec<PageRow> = fetch(
            self.from("meta_pages")
                .select("connection_id,page_id,page_token_sealed")
                .not("is", "page_token_sealed", "null"),
        )
        .await?;
        let users = users.into_iter().map(|row| StoredToken {
            slot: TokenSlot::UserToken { connection_id: row.id },
            sealed: row.user_token_sealed,
        });
        let pages = pages.into_iter().map(|row| StoredToken {
            slot: TokenSlot::PageToken { connection_id: row.connection_id, page_id: row.page_id },
            sealed: row.page_token_sealed,
        });
        Ok(users.chain(pages).collect())
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

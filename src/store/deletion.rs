//! Meta's data deletion and deauthorize requests (migration 0007): the deletion itself and the
//! revocation are single SQL functions; requests are found again by their code's hash.

use super::{fetch, fetch_first, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What a data deletion removed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct DeletionReport {
    pub connections: i64,
    pub pages: i64,
    pub instagram_accounts: i64,
    pub targets_redacted: i64,
    pub completed_at: String,
}

/// A recorded request, as its status page shows it. Nothing about the user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct DeletionRequest {
    pub status: String,
    pub received_at: String,
    pub completed_at: Option<String>,
}

impl Store {
    /// Deletes the app-scoped user's Meta data everywhere and records the request, in one
    /// transaction. `user_hash` and `code_hash` are lowercase hex SHA-256 values.
    pub async fn delete_meta_user_data(
        &self,
        fb_user_id: &str,
        user_hash: &str,
        code_hash: &str,
    ) -> Result<DeletionReport, StoreError> {
        fetch(self.rpc(
            "delete_meta_user_data",
            json!({ "p_fb_user_id": fb_user_id, "p_user_hash": user_hash, "p_code_hash": code_hash }),
        ))
        .await
    }

    /// Revokes the user's connections (tokens erased) and records the request. How many.
    pub async fn deauthorize_meta_user(&self, fb_user_id: &str, user_hash: &str) -> Result<i64, StoreError> {
        fetch(self.rpc("deauthorize_meta_user", json!({ "p_fb_user_id": fb_user_id, "p_user_hash": user_hash }))).await
    }

    pub async fn deletion_request(&self, code_hash: &str) -> Result<Option<DeletionRequest>, StoreError> {
        fetch_first(
            self.from("meta_deletion_requests")
                .select("status,received_at,completed_at")
                .eq("code_hash", code_hash)
                .eq("kind", "data_deletion")
                .limit(1),
        )
        .await
    }
}

//! Workspaces and membership (the host app's integration point): plan and member role.

use super::{fetch_first, Store, StoreError};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Workspace {
    pub id: String,
    pub plan: String,
}

impl Workspace {
    /// Meta publishing is a Growth-plan feature.
    pub fn plan_allows_meta(&self) -> bool {
        matches!(self.plan.as_str(), "growth" | "pro" | "enterprise")
    }
}

impl Store {
    pub async fn workspace(&self, workspace_id: &str) -> Result<Option<Workspace>, StoreError> {
        fetch_first(self.from("workspaces").select("id,plan").eq("id", workspace_id).limit(1)).await
    }

    /// The member's role (`owner`, `admin`, `member`), or `None` for a non-member.
    pub async fn member_role(&self, workspace_id: &str, user_id: &str) -> Result<Option<String>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            role: String,
        }
        let row: Option<Row> = fetch_first(
            self.from("workspace_members").select("role").eq("workspace_id", workspace_id).eq("user_id", user_id).limit(1),
        )
        .await?;
        Ok(row.map(|row| row.role))
    }
}

/// A signed-in user's standing in one workspace.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkspaceAccess {
    pub user_id: String,
    pub role: String,
    pub plan: String,
}

/// Why a user's access could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessError {
    /// The token is missing, malformed, expired, or not a signed-in user's.
    Unauthenticated,
    Store(StoreError),
}

impl Store {
    /// The caller's role and the workspace's plan, asked with the caller's own Supabase access
    /// token (PostgREST verifies it); `None` for a non-member.
    pub async fn workspace_access(&self, user_token: &str, workspace_id: &str) -> Result<Option<WorkspaceAccess>, AccessError> {
        let query = self.rpc("meta_workspace_access", serde_json::json!({ "p_workspace_id": workspace_id })).auth(user_token);
        match super::fetch::<Vec<WorkspaceAccess>>(query).await {
            Ok(rows) => Ok(rows.into_iter().next()),
            Err(StoreError::CredentialsRejected) => Err(AccessError::Unauthenticated),
            Err(err) => Err(AccessError::Store(err)),
        }
    }
}

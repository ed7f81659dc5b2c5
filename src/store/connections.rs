//! Meta connections, their discovered Pages and Instagram accounts, and the workspace defaults.
//! Reads never select token columns; tokens are read only by claiming (jobs.rs) and by the
//! re-seal (tokens.rs).

use super::{fetch, fetch_first, Store, StoreError};
use crate::vault::SealedToken;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A connection as saved after OAuth: the row, with `id` chosen before sealing its tokens.
#[derive(Debug, Clone, Serialize)]
pub struct NewConnection {
    pub id: String,
    pub workspace_id: String,
    pub fb_user_id: String,
    pub fb_user_name: Option<String>,
    pub user_token_sealed: SealedToken,
    pub token_expires_at: Option<String>,
    pub data_access_expires_at: Option<String>,
    pub granted_permissions: Vec<String>,
    pub declined_permissions: Vec<String>,
    pub connected_by: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewPage {
    pub page_id: String,
    pub name: String,
    pub picture_url: Option<String>,
    pub page_token_sealed: Option<SealedToken>,
    pub tasks: Vec<String>,
    pub usable: bool,
    /// `no_page_token` or `missing_create_content_task` when not usable.
    pub unusable_reason: Option<String>,
}

/// An Instagram Business account linked to a discovered Page (as saved and as read back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstagramAccount {
    pub ig_user_id: String,
    pub page_id: String,
    pub username: Option<String>,
    pub name: Option<String>,
    pub profile_picture_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConnectionRecord {
    pub id: String,
    pub workspace_id: String,
    pub fb_user_id: String,
    pub fb_user_name: Option<String>,
    pub token_expires_at: Option<String>,
    pub data_access_expires_at: Option<String>,
    pub granted_permissions: Vec<String>,
    pub declined_permissions: Vec<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub connected_by: String,
    pub connected_at: String,
    /// The last daily token health check, and what it found wrong.
    #[serde(default)]
    pub health_checked_at: Option<String>,
    #[serde(default)]
    pub health_problem: Option<String>,
}

const CONNECTION_COLUMNS: &str = "id,workspace_id,fb_user_id,fb_user_name,token_expires_at,data_access_expires_at,\
     granted_permissions,declined_permissions,status,status_reason,connected_by,connected_at,health_checked_at,health_problem";

/// A connection due for its daily token health check, with the defaults it must reach.
#[derive(Debug, Clone, Deserialize)]
pub struct HealthCheckDue {
    pub connection_id: String,
    pub workspace_id: String,
    pub user_token_sealed: SealedToken,
    pub facebook_page_id: Option<String>,
    pub instagram_account_id: Option<String>,
    /// The Page the Instagram account publishes through.
    #[serde(default)]
    pub instagram_page_id: Option<String>,
}

impl Store {
    /// Claims up to `limit` active connections not checked yet today (UTC).
    pub async fn claim_token_health_checks(&self, limit: u32) -> Result<Vec<HealthCheckDue>, StoreError> {
        fetch(self.rpc("claim_token_health_checks", json!({ "p_limit": limit }))).await
    }

    /// Records what a check found; a problem flips an active connection to `needs_reauth`.
    pub async fn record_token_health(&self, connection_id: &str, problem: Option<&str>) -> Result<(), StoreError> {
        fetch::<bool>(self.rpc("record_token_health", json!({ "p_connection_id": connection_id, "p_problem": problem })))
            .await
            .map(|_| ())
    }

    /// A check that could not be done is tried again in about an hour.
    pub async fn defer_token_health(&self, connection_id: &str) -> Result<(), StoreError> {
        fetch::<bool>(self.rpc("defer_token_health", json!({ "p_connection_id": connection_id }))).await.map(|_| ())
    }

    /// Connections across workspaces, those needing attention first (operators).
    pub async fn connections_by_status(&self, status: Option<&str>, limit: usize) -> Result<Vec<ConnectionRecord>, StoreError> {
        let mut query = self.from("meta_connections").select(CONNECTION_COLUMNS).order("status.desc,updated_at.desc");
        if let Some(status) = status {
            query = query.eq("status", status);
        }
        fetch(query.limit(limit)).await
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PageRecord {
    pub page_id: String,
    pub name: String,
    pub picture_url: Option<String>,
    pub tasks: Vec<String>,
    pub usable: bool,
    pub unusable_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Defaults {
    pub workspace_id: String,
    pub connection_id: String,
    pub facebook_page_id: Option<String>,
    pub instagram_account_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    NeedsReauth,
    Revoked,
}

impl Store {
    /// Replaces the workspace's connection (and its Pages, Instagram accounts and defaults) in
    /// one transaction; returns the defaults it ends with.
    pub async fn save_connection(
        &self,
        connection: &NewConnection,
        pages: &[NewPage],
        instagram_accounts: &[InstagramAccount],
    ) -> Result<Defaults, StoreError> {
        let params = json!({ "p": { "connection": connection, "pages": pages, "instagram_accounts": instagram_accounts } });
        fetch(self.rpc("save_meta_connection", params)).await
    }

    pub async fn connection(&self, workspace_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        fetch_first(self.from("meta_connections").select(CONNECTION_COLUMNS).eq("workspace_id", workspace_id).limit(1)).await
    }

    /// Every connection of an app-scoped Facebook user, across workspaces.
    pub async fn connections_of_facebook_user(&self, fb_user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        fetch(self.from("meta_connections").select(CONNECTION_COLUMNS).eq("fb_user_id", fb_user_id)).await
    }

    pub async fn pages(&self, connection_id: &str) -> Result<Vec<PageRecord>, StoreError> {
        fetch(
            self.from("meta_pages")
                .select("page_id,name,picture_url,tasks,usable,unusable_reason")
                .eq("connection_id", connection_id)
                .order("name.asc,page_id.asc"),
        )
        .await
    }

    pub async fn instagram_accounts(&self, connection_id: &str) -> Result<Vec<InstagramAccount>, StoreError> {
        fetch(
            self.from("meta_instagram_accounts")
                .select("ig_user_id,page_id,username,name,profile_picture_url")
                .eq("connection_id", connection_id)
                .order("username.asc,ig_user_id.asc"),
        )
        .await
    }

    pub async fn defaults(&self, workspace_id: &str) -> Result<Option<Defaults>, StoreError> {
        fetch_first(self.from("meta_defaults").select("*").eq("workspace_id", workspace_id).limit(1)).await
    }

    /// Sets both defaults of a workspace. A Page or Instagram account outside the workspace's
    /// connection is refused by the database: `StoreError::InvalidReference`.
    pub async fn set_defaults(
        &self,
        workspace_id: &str,
        connection_id: &str,
        facebook_page_id: Option<&str>,
        instagram_account_id: Option<&str>,
    ) -> Result<Defaults, StoreError> {
        let row = json!({
            "workspace_id": workspace_id,
            "connection_id": connection_id,
            "facebook_page_id": facebook_page_id,
            "instagram_account_id": instagram_account_id,
            "updated_at": "now",
        });
        let rows: Vec<Defaults> = fetch(self.from("meta_defaults").upsert(row.to_string()).on_conflict("workspace_id")).await?;
        rows.into_iter().next().ok_or(StoreError::NotFound)
    }

    /// Changes a connection's status. `Revoked` also erases its user token and its Pages'
    /// tokens, in one transaction (the user removed the app).
    pub async fn set_connection_status(
        &self,
        connection_id: &str,
        status: ConnectionStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let found = if status == ConnectionStatus::Revoked {
            fetch::<bool>(self.rpc("revoke_meta_connection", json!({ "p_connection_id": connection_id, "p_reason": reason })))
                .await?
        } else {
            let row = json!({ "status": status, "status_reason": reason, "updated_at": "now" });
            let updated: Vec<serde_json::Value> =
                fetch(self.from("meta_connections").eq("id", connection_id).select("id").update(row.to_string())).await?;
            !updated.is_empty()
        };
        if found {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }
}

impl Store {
    /// Deletes the workspace's connection; its Pages, Instagram accounts and defaults follow by
    /// cascade, tokens with them. Whether there was one.
    pub async fn delete_connection(&self, workspace_id: &str) -> Result<bool, StoreError> {
        let rows: Vec<serde_json::Value> =
            fetch(self.from("meta_connections").select("id").eq("workspace_id", workspace_id).delete()).await?;
        Ok(!rows.is_empty())
    }
}

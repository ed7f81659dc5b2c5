//! Reading the connection, choosing defaults, and disconnecting. Nothing here returns a token.

use crate::api_error::ApiError;
use crate::graph::login::REQUIRED_PERMISSIONS;
use crate::store::{Store, StoreError};
use serde_json::{json, Value};

fn unavailable(err: StoreError) -> ApiError {
    ApiError::new(503, "database_unavailable", format!("The connection could not be read: {err}"))
}

/// `GET /api/meta/connection`: status, user, permissions, expiry, destinations and defaults.
pub async fn view(store: &Store, workspace_id: &str) -> Result<Value, ApiError> {
    let Some(connection) = store.connection(workspace_id).await.map_err(unavailable)? else {
        return Ok(json!({ "status": "not_connected", "workspace_id": workspace_id }));
    };
    let pages = store.pages(&connection.id).await.map_err(unavailable)?;
    let accounts = store.instagram_accounts(&connection.id).await.map_err(unavailable)?;
    let defaults = store.defaults(workspace_id).await.map_err(unavailable)?;
    let usable_page = |page_id: &str| pages.iter().any(|p| p.page_id == page_id && p.usable);
    let missing: Vec<&str> =
        REQUIRED_PERMISSIONS.into_iter().filter(|p| !connection.granted_permissions.iter().any(|g| g == p)).collect();
    Ok(json!({
        "status": connection.status,
        "status_reason": connection.status_reason,
        "workspace_id": workspace_id,
        "facebook_user_name": connection.fb_user_name,
        "granted_permissions": connection.granted_permissions,
        "missing_permissions": missing,
        "token_expires_at": connection.token_expires_at,
        "data_access_expires_at": connection.data_access_expires_at,
        "connected_at": connection.connected_at,
        "health": { "checked_at": connection.health_checked_at, "problem": connection.health_problem },
        "pages": pages.iter().map(|p| json!({
            "id": p.page_id, "name": p.name, "picture_url": p.picture_url,
            "usable": p.usable, "reason": p.unusable_reason,
        })).collect::<Vec<_>>(),
        "instagram_accounts": accounts.iter().map(|a| json!({
            "id": a.ig_user_id, "username": a.username, "name": a.name,
            "picture_url": a.profile_picture_url, "page_id": a.page_id,
            "usable": usable_page(&a.page_id),
            "reason": if usable_page(&a.page_id) { Value::Null } else { json!("linked_page_not_usable") },
        })).collect::<Vec<_>>(),
        "defaults": {
            "facebook_page_id": defaults.as_ref().and_then(|d| d.facebook_page_id.clone()),
            "instagram_account_id": defaults.as_ref().and_then(|d| d.instagram_account_id.clone()),
        },
    }))
}

/// Connections across workspaces for operators (optionally of one status), most urgent first:
/// status, reasons, the last token health check, expiry. No tokens, no Facebook user ids.
pub async fn overview(store: &Store, status: Option<&str>) -> Result<Value, ApiError> {
    if let Some(status) = status {
        if !["active", "needs_reauth", "revoked"].contains(&status) {
            return Err(ApiError::new(400, "invalid_request", "status must be active, needs_reauth or revoked"));
        }
    }
    let connections = store.connections_by_status(status, 100).await.map_err(unavailable)?;
    Ok(json!({
        "connections": connections.iter().map(|c| json!({
            "workspace_id": c.workspace_id, "status": c.status, "status_reason": c.status_reason,
            "health_checked_at": c.health_checked_at, "health_problem": c.health_problem,
            "token_expires_at": c.token_expires_at, "data_access_expires_at": c.data_access_expires_at,
            "connected_at": c.connected_at,
        })).collect::<Vec<_>>(),
    }))
}

/// A field of the defaults request: absent keeps the current choice, `null` clears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Keep,
    Clear,
    Set(String),
}

impl Choice {
    pub fn from_json(body: &Value, key: &str) -> Result<Choice, ApiError> {
        match body.get(key) {
            None => Ok(Choice::Keep),
            Some(Value::Null) => Ok(Choice::Clear),
            Some(Value::String(id)) if !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(Choice::Set(id.clone()))
            }
            Some(_) => Err(ApiError::new(422, "invalid_destination", format!("{key} must be a numeric id or null"))),
        }
    }
}

/// `PUT /api/meta/defaults`: only usable destinations of this workspace's connection.
pub async fn set_defaults(store: &Store, workspace_id: &str, page: Choice, instagram: Choice) -> Result<Value, ApiError> {
    let Some(connection) = store.connection(workspace_id).await.map_err(unavailable)? else {
        return Err(ApiError::new(409, "not_connected", "Connect Facebook first"));
    };
    let pages = store.pages(&connection.id).await.map_err(unavailable)?;
    let accounts = store.instagram_accounts(&connection.id).await.map_err(unavailable)?;
    let current = store.defaults(workspace_id).await.map_err(unavailable)?;
    let invalid = |what: &str| {
        ApiError::new(422, "invalid_destination", format!("{what} is not a usable destination of this workspace's connection"))
    };
    let page_id = match page {
        Choice::Keep => current.as_ref().and_then(|d| d.facebook_page_id.clone()),
        Choice::Clear => None,
        Choice::Set(id) => {
            if !pages.iter().any(|p| p.page_id == id && p.usable) {
                return Err(invalid("facebook_page_id"));
            }
            Some(id)
        }
    };
    let instagram_id = match instagram {
        Choice::Keep => current.as_ref().and_then(|d| d.instagram_account_id.clone()),
        Choice::Clear => None,
        Choice::Set(id) => {
            let linked_page_usable = accounts
                .iter()
                .find(|a| a.ig_user_id == id)
                .is_some_and(|a| pages.iter().any(|p| p.page_id == a.page_id && p.usable));
            if !linked_page_usable {
                return Err(invalid("instagram_account_id"));
            }
            Some(id)
        }
    };
    let defaults =
        store.set_defaults(workspace_id, &connection.id, page_id.as_deref(), instagram_id.as_deref()).await.map_err(|err| {
            match err {
                StoreError::InvalidReference { .. } => invalid("the destination"),
                err => unavailable(err),
            }
        })?;
    Ok(json!({ "facebook_page_id": defaults.facebook_page_id, "instagram_account_id": defaults.instagram_account_id }))
}

/// `DELETE /api/meta/connection`: the connection, its tokens, Pages, Instagram accounts and
/// defaults go in one statement. Queued jobs stay queued: if the workspace reconnects before
/// they are due they go out; otherwise the pass fails their Meta targets as not connected.
pub async fn disconnect(store: &Store, workspace_id: &str) -> Result<Value, ApiError> {
    let removed = store.delete_connection(workspace_id).await.map_err(unavailable)?;
    Ok(json!({ "status": "not_connected", "removed": removed }))
}

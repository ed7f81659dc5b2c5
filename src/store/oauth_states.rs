//! OAuth states: stored as the SHA-256 of the random state the browser carries; they expire
//! ten minutes after creation (a database default) and are consumed once.

use super::{fetch_first, send, Store, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize)]
pub struct NewOAuthState {
    /// Lowercase hex SHA-256 of the state sent to Facebook.
    pub state_hash: String,
    pub workspace_id: String,
    pub user_id: String,
    pub return_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConsumedOAuthState {
    pub workspace_id: String,
    pub user_id: String,
    pub return_to: Option<String>,
}

impl Store {
    pub async fn insert_oauth_state(&self, state: &NewOAuthState) -> Result<(), StoreError> {
        let body = serde_json::to_string(state).map_err(|_| StoreError::Unexpected { status: 0, code: None })?;
        send(self.from("meta_oauth_states").insert(body)).await.map(|_| ())
    }

    /// The state's binding if it exists, has not expired and was not used; it is used up now.
    pub async fn consume_oauth_state(&self, state_hash: &str) -> Result<Option<ConsumedOAuthState>, StoreError> {
        fetch_first(self.rpc("consume_meta_oauth_state", serde_json::json!({ "p_state_hash": state_hash }))).await
    }
}

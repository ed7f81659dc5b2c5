//! `GET /debug_token`, asked with the app's own token (`{app-id}|{app-secret}`): whether a
//! user token is still valid, when it expires, and which permissions it holds for which Pages
//! and Instagram accounts (`granular_scopes[].target_ids`).

use super::{appsecret_proof, GraphClient, GraphError};
use crate::vault::AccessToken;
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TokenInfo {
    /// Required: an answer without it says nothing about the token.
    pub is_valid: bool,
    /// Why it is not valid, when Graph says (`190` invalid, or a temporary failure).
    #[serde(default)]
    pub error: Option<TokenError>,
    /// Unix seconds; 0 means it does not expire by time.
    #[serde(default)]
    pub expires_at: u64,
    #[serde(default)]
    pub data_access_expires_at: u64,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub granular_scopes: Vec<GranularScope>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TokenError {
    #[serde(default)]
    pub code: Option<i64>,
}

impl TokenInfo {
    /// Graph could not say (an error other than an invalid token): check again later rather
    /// than flag a connection that may be fine.
    pub fn undecided(&self) -> bool {
        !self.is_valid && self.error.as_ref().and_then(|e| e.code).is_some_and(|code| !matches!(code, 190 | 102))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GranularScope {
    pub scope: String,
    /// Absent: granted for everything the user can reach.
    #[serde(default)]
    pub target_ids: Option<Vec<String>>,
}

impl GraphClient {
    pub async fn debug_token(&self, input: &AccessToken) -> Result<TokenInfo, GraphError> {
        #[derive(Deserialize)]
        struct Envelope {
            data: TokenInfo,
        }
        let app_token = AccessToken::new(format!("{}|{}", self.app_id, self.app_secret.expose()));
        let proof = appsecret_proof(&self.app_secret, &app_token);
        let params = [("input_token", input.expose()), ("access_token", app_token.expose()), ("appsecret_proof", proof.as_str())];
        let request = self.http.get(self.url("debug_token")).query(&params);
        self.send::<Envelope>(request)
            .await
            .map(|reply| reply.body.data)
            .map_err(|err| err.scrubbed(&[input.expose(), app_token.expose(), self.app_secret.expose()]))
    }
}

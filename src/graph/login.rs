//! Facebook Login's server side: the dialog URL, the code exchange, the long-lived token, and
//! who the user is and what they granted.

use super::{GraphClient, GraphError};
use crate::vault::AccessToken;
use serde::Deserialize;

/// The permissions the service asks for; all are required.
pub const REQUIRED_PERMISSIONS: [&str; 5] =
    ["pages_show_list", "pages_read_engagement", "pages_manage_posts", "instagram_basic", "instagram_content_publish"];

/// A user token and, when Graph says, its lifetime in seconds.
pub struct UserToken {
    pub token: AccessToken,
    pub expires_in: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Me {
    /// The app-scoped user id.
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Permissions {
    pub granted: Vec<String>,
    pub declined: Vec<String>,
}

impl Permissions {
    /// Required permissions the user did not grant, in the order they are asked for.
    pub fn missing(&self) -> Vec<&'static str> {
        REQUIRED_PERMISSIONS.into_iter().filter(|p| !self.granted.iter().any(|g| g == p)).collect()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl GraphClient {
    /// Trades the dialog's `code` for a short-lived user token.
    pub async fn exchange_code(&self, code: &str, redirect_uri: &str) -> Result<UserToken, GraphError> {
        let answer: TokenAnswer =
            self.get_as_app("oauth/access_token", &[("redirect_uri", redirect_uri), ("code", code)]).await?;
        Ok(UserToken { token: AccessToken::new(answer.access_token), expires_in: answer.expires_in })
    }

    /// Trades a short-lived user token for a long-lived one (about 60 days).
    pub async fn long_lived(&self, short: &AccessToken) -> Result<UserToken, GraphError> {
        let answer: TokenAnswer = self
            .get_as_app("oauth/access_token", &[("grant_type", "fb_exchange_token"), ("fb_exchange_token", short.expose())])
            .await?;
        Ok(UserToken { token: AccessToken::new(answer.access_token), expires_in: answer.expires_in })
    }

    pub async fn me(&self, token: &AccessToken) -> Result<Me, GraphError> {
        self.get("me", token, &[("fields", "id,name")]).await
    }

    pub async fn permissions(&self, token: &AccessToken) -> Result<Permissions, GraphError> {
        #[derive(Deserialize)]
        struct Entry {
            permission: String,
            status: String,
        }
        #[derive(Deserialize)]
        struct Answer {
            data: Vec<Entry>,
        }
        let answer: Answer = self.get("me/permissions", token, &[]).await?;
        let mut permissions = Permissions::default();
        for entry in answer.data {
            if entry.status == "granted" {
                permissions.granted.push(entry.permission);
            } else {
                permissions.declined.push(entry.permission);
            }
        }
        Ok(permissions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_lists_required_permissions_not_granted() {
        let permissions = Permissions {
            granted: vec!["pages_show_list".into(), "instagram_basic".into(), "email".into()],
            declined: vec!["pages_manage_posts".into()],
        };
        assert_eq!(permissions.missing(), vec!["pages_read_engagement", "pages_manage_posts", "instagram_content_publish"]);
    }
}

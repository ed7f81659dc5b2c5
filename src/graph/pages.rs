//! Discovery: every Page the user manages through `/me/accounts` (following pagination), with
//! its Page token, tasks and linked Instagram Business account.

use super::{GraphClient, GraphError};
use crate::vault::AccessToken;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InstagramBusinessAccount {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub profile_picture_url: Option<String>,
}

pub struct DiscoveredPage {
    pub id: String,
    pub name: String,
    pub picture_url: Option<String>,
    /// Absent when the user did not tick the Page in the dialog.
    pub token: Option<AccessToken>,
    pub tasks: Vec<String>,
    pub instagram: Option<InstagramBusinessAccount>,
}

/// Guards against a paging loop: 50 pages of 100 is far more than any user manages.
const MAX_PAGES: usize = 50;

impl GraphClient {
    pub async fn discover_pages(&self, token: &AccessToken) -> Result<Vec<DiscoveredPage>, GraphError> {
        #[derive(Deserialize)]
        struct Entry {
            id: String,
            #[serde(default)]
            name: String,
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            tasks: Vec<String>,
            #[serde(default)]
            instagram_business_account: Option<InstagramBusinessAccount>,
            #[serde(default)]
            picture: Option<Picture>,
        }
        #[derive(Deserialize)]
        struct Picture {
            data: PictureData,
        }
        #[derive(Deserialize)]
        struct PictureData {
            #[serde(default)]
            url: Option<String>,
        }
        #[derive(Deserialize)]
        struct Paging {
            #[serde(default)]
            next: Option<String>,
        }
        #[derive(Deserialize)]
        struct Answer {
            data: Vec<Entry>,
            #[serde(default)]
            paging: Option<Paging>,
        }
        let fields = "id,name,access_token,tasks,picture{url},instagram_business_account{id,username,name,profile_picture_url}";
        let mut answer: Answer = self.get("me/accounts", token, &[("fields", fields), ("limit", "100")]).await?;
        let mut pages: Vec<DiscoveredPage> = Vec::new();
        let mut followed: Vec<String> = Vec::new();
        for _ in 0..MAX_PAGES {
            for entry in answer.data.drain(..) {
                // A Page seen on an earlier answer (results shifting while paging) counts once.
                if pages.iter().any(|page| page.id == entry.id) {
                    continue;
                }
                pages.push(DiscoveredPage {
                    id: entry.id,
                    name: entry.name,
                    picture_url: entry.picture.and_then(|picture| picture.data.url),
                    token: entry.access_token.map(AccessToken::new),
                    tasks: entry.tasks,
                    instagram: entry.instagram_business_account,
                });
            }
            match answer.paging.and_then(|paging| paging.next) {
                Some(next) if followed.contains(&next) => return Err(GraphError::network("/me/accounts repeated a paging link")),
                Some(next) => {
                    answer = self.get_url(&next, token).await?;
                    followed.push(next);
                }
                None => return Ok(pages),
            }
        }
        Err(GraphError::network("/me/accounts kept paging beyond 5,000 Pages"))
    }
}

//! The sandbox's scriptable world: the app's credentials, users with their Pages and Instagram
//! accounts, issued codes and tokens, injected faults, and the record of every call received.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub const PERMISSIONS: [&str; 5] =
    ["pages_show_list", "pages_read_engagement", "pages_manage_posts", "instagram_basic", "instagram_content_publish"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstagramAccount {
    pub id: String,
    pub username: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub profile_picture_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page {
    pub id: String,
    pub name: String,
    /// Whether the user's grant yields a Page token for it (an unticked Page gets none).
    #[serde(default = "yes")]
    pub has_token: bool,
    #[serde(default = "default_tasks")]
    pub tasks: Vec<String>,
    #[serde(default)]
    pub instagram: Option<InstagramAccount>,
}

fn yes() -> bool {
    true
}

fn default_tasks() -> Vec<String> {
    ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE"].map(String::from).to_vec()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// The app-scoped user id.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub pages: Vec<Page>,
}

/// What one login granted: the user, the permissions ticked, the Pages ticked.
#[derive(Debug, Clone)]
pub struct Grant {
    pub user_id: String,
    pub granted: Vec<String>,
    pub pages: Vec<String>,
    pub redirect_uri: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    ShortLivedUser,
    LongLivedUser,
    Page { page_id: String },
}

#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub grant: Grant,
    pub kind: TokenKind,
    pub valid: bool,
}

/// A Graph error to answer instead of the real result, for calls whose path starts with
/// `path_prefix` (after the version), `times` times.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    pub path_prefix: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default = "once")]
    pub times: u32,
    #[serde(default = "bad_request")]
    pub status: u16,
    /// The Graph `error` object to answer with (code, error_subcode, message, ...).
    pub error: Value,
}

fn once() -> u32 {
    1
}

fn bad_request() -> u16 {
    400
}

/// One call as received. Token values are not recorded, only whose token it was.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// Query and form parameters, with `access_token`, `client_secret`, `fb_exchange_token` and
    /// `code` replaced by a description.
    pub params: HashMap<String, String>,
    /// `user:<id>`, `page:<id>`, `unknown` or absent.
    pub token_owner: Option<String>,
    /// Whether `appsecret_proof` was present and right for the token.
    pub appsecret_proof_valid: Option<bool>,
}

pub struct World {
    pub app_id: String,
    pub app_secret: String,
    pub users: Vec<User>,
    pub codes: HashMap<String, Grant>,
    pub tokens: HashMap<String, TokenInfo>,
    pub faults: Vec<Fault>,
    pub calls: Vec<Call>,
    /// Pages per `/me/accounts` answer when the caller gives no `limit`.
    pub page_size: usize,
    /// The user the OAuth dialog is logged in as.
    pub session_user: Option<String>,
}

impl Default for World {
    fn default() -> World {
        World {
            app_id: "1000000000000001".into(),
            app_secret: "sandbox-app-secret".into(),
            users: vec![User {
                id: "1000000000000101".into(),
                name: "Sandbox User".into(),
                pages: vec![Page {
                    id: "1000000000000201".into(),
                    name: "Sandbox Page".into(),
                    has_token: true,
                    tasks: default_tasks(),
                    instagram: Some(InstagramAccount {
                        id: "17841400000000301".into(),
                        username: "sandbox_ig".into(),
                        name: Some("Sandbox IG".into()),
                        profile_picture_url: None,
                    }),
                }],
            }],
            codes: HashMap::new(),
            tokens: HashMap::new(),
            faults: Vec::new(),
            calls: Vec::new(),
            page_size: 25,
            session_user: None,
        }
    }
}

#[derive(Clone, Default)]
pub struct Shared(Arc<Mutex<World>>);

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, World> {
        // A panicking handler must not take the sandbox down for the rest of a test run.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Recognisable, unique sandbox values (`SBX...`), never shaped like real Meta tokens.
pub fn fresh(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("SBX{prefix}{n:06}x{nanos:09}")
}

impl World {
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|user| user.id == id)
    }

    pub fn issue_code(&mut self, grant: Grant) -> String {
        let code = fresh("code");
        self.codes.insert(code.clone(), grant);
        code
    }

    pub fn issue_token(&mut self, grant: Grant, kind: TokenKind) -> String {
        let prefix = match kind {
            TokenKind::ShortLivedUser => "short",
            TokenKind::LongLivedUser => "long",
            TokenKind::Page { .. } => "page",
        };
        let token = fresh(prefix);
        self.tokens.insert(token.clone(), TokenInfo { grant, kind, valid: true });
        token
    }

    /// The fault to answer with for this call, if one is armed (and uses up one of its times).
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let index = self.faults.iter().position(|fault| {
            path.starts_with(&fault.path_prefix)
                && fault.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
                && fault.times > 0
        })?;
        let fault = &mut self.faults[index];
        fault.times -= 1;
        Some(fault.clone())
    }
}

//! The sandbox's scriptable world: the app's credentials, users with their Pages and Instagram
//! accounts, issued codes and tokens, injected faults, network conditions (latency, usage
//! headers), the publishing state (`media`), and the record of every call received.

use crate::media::Media;
use axum::http::HeaderMap;
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

/// A scripted misbehaviour for calls whose path (version included, e.g. `/v26.0/me`) starts
/// with `path_prefix`, `times` times. Every field but `path_prefix` is optional; the defaults
/// answer `status` 400 with `error`, as the first faults did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    pub path_prefix: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default = "once")]
    pub times: u32,
    #[serde(default)]
    pub kind: FaultKind,
    /// The HTTP status of an `error` (default 400) or `http` (default 503) answer.
    #[serde(default)]
    pub status: Option<u16>,
    /// The Graph `error` object of an `error` answer (code, error_subcode, message, ...).
    #[serde(default)]
    pub error: Value,
    /// How long a `hang` waits before answering (default 120000: past any client timeout).
    #[serde(default)]
    pub hang_ms: Option<u64>,
    /// For `hang`: do the real action first, so the post is live but the answer comes late.
    #[serde(default)]
    pub after_action: bool,
    /// Extra response headers (`X-App-Usage`, ...); a non-string value is sent as its JSON.
    #[serde(default)]
    pub headers: serde_json::Map<String, Value>,
    /// Only calls whose parameter `name` contains `contains` (one job among several).
    #[serde(default)]
    pub match_param: Option<ParamMatch>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// A Graph error: `status` and `{"error": error}`.
    #[default]
    Error,
    /// A non-Graph answer (an HTML error page from a proxy).
    Http,
    /// No answer for `hang_ms`, then the normal one.
    Hang,
    /// The real action, then status 200 and a body cut off part-way.
    Drop,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParamMatch {
    pub name: String,
    pub contains: String,
}

fn once() -> u32 {
    1
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
    /// Posts, containers, publishing limits.
    pub media: Media,
    /// How long every Graph call waits before answering.
    pub latency_ms: u64,
    /// Headers added to every Graph answer (`X-App-Usage`, ...).
    pub usage_headers: HeaderMap,
    /// Counts resets, so a call still waiting when the world was reset does not act on the new one.
    pub generation: u64,
    /// Every token ever issued, kept across resets, so a test suite can scan all its logs.
    pub token_history: Vec<String>,
    /// What `/debug_token` says about a user's tokens, when a test scripted it.
    pub debug_overrides: HashMap<String, DebugOverride>,
}

/// A scripted `/debug_token` answer for one user's tokens: another expiry, scopes withdrawn, or
/// scopes withdrawn for some Pages / Instagram accounts only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DebugOverride {
    #[serde(default)]
    pub expires_at: Option<u64>,
    #[serde(default)]
    pub data_access_expires_at: Option<u64>,
    #[serde(default)]
    pub remove_scopes: Vec<String>,
    /// scope -> target ids to leave out of that scope's `target_ids`.
    #[serde(default)]
    pub remove_targets: HashMap<String, Vec<String>>,
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
            media: Media::default(),
            latency_ms: 0,
            usage_headers: HeaderMap::new(),
            generation: 0,
            token_history: Vec::new(),
            debug_overrides: HashMap::new(),
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
        self.token_history.push(token.clone());
        self.tokens.insert(token.clone(), TokenInfo { grant, kind, valid: true });
        token
    }

    /// The fault to answer with for this call, if one is armed (and uses up one of its times).
    pub fn take_fault(&mut self, method: &str, path: &str, params: &HashMap<String, String>) -> Option<Fault> {
        let index = self.faults.iter().position(|fault| {
            path.starts_with(&fault.path_prefix)
                && fault.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
                && fault.match_param.as_ref().is_none_or(|m| params.get(&m.name).is_some_and(|v| v.contains(&m.contains)))
                && fault.times > 0
        })?;
        let fault = &mut self.faults[index];
        fault.times -= 1;
        Some(fault.clone())
    }

    /// The Page (of any user) that the Instagram account is linked to.
    pub fn page_of_instagram(&self, ig_user_id: &str) -> Option<String> {
        self.users
            .iter()
            .flat_map(|user| &user.pages)
            .find(|page| page.instagram.as_ref().is_some_and(|ig| ig.id == ig_user_id))
            .map(|page| page.id.clone())
    }

    pub fn page_exists(&self, page_id: &str) -> bool {
        self.users.iter().flat_map(|user| &user.pages).any(|page| page.id == page_id)
    }
}

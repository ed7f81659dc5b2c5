//! The OAuth flow: `start` builds the Facebook Login dialog URL with a fresh single-use state;
//! `callback` checks the state, trades the code for a long-lived user token, checks the
//! permissions, discovers Pages and Instagram accounts, and saves them with tokens sealed.
//! The browser always ends up back on the app (`return_to`) with `meta=connected` or a
//! `meta_error` code, except for a state that is not ours, which gets a readable 400 page.

use crate::api_error::ApiError;
use crate::clock;
use crate::config::Config;
use crate::graph::login::REQUIRED_PERMISSIONS;
use crate::graph::{GraphClient, GraphError};
use crate::store::connections::{InstagramAccount, NewConnection, NewPage};
use crate::store::oauth_states::NewOAuthState;
use crate::store::Store;
use crate::vault::{TokenSlot, Vault};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use url::Url;

/// Where `callback` sends the browser, or the page it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    Redirect(String),
    /// A state that is unknown, expired or used (400), or could not be checked (503): there is
    /// nowhere safe to redirect to.
    Page {
        status: u16,
        message: &'static str,
    },
}

/// The outcome, and the fields of the `oauth_callback` log line (ids, codes, Graph's error
/// code/subcode/fbtrace_id; never a token).
pub struct CallbackResult {
    pub outcome: CallbackOutcome,
    pub log: serde_json::Value,
}

pub fn redirect_uri(config: &Config) -> String {
    format!("{}/api/meta/oauth/callback", config.public_base_url.as_str().trim_end_matches('/'))
}

fn hash_state(state: &str) -> String {
    Sha256::digest(state.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// `return_to` must be on APP_URL's origin (no open redirect).
pub fn check_return_to(config: &Config, return_to: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(text) = return_to.filter(|t| !t.is_empty()) else { return Ok(None) };
    let refused = || ApiError::new(400, "invalid_return_to", "return_to must be a URL on the app's own origin");
    let url = Url::parse(text).map_err(|_| refused())?;
    if url.origin() != config.app_url.origin() || text.len() > 2000 {
        return Err(refused());
    }
    Ok(Some(url.to_string()))
}

/// Starts the flow: stores the hashed state, answers the dialog URL.
pub async fn start(
    config: &Config,
    store: &Store,
    workspace_id: &str,
    user_id: &str,
    return_to: Option<String>,
) -> Result<String, ApiError> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|_| ApiError::internal("The random number source failed"))?;
    let state = URL_SAFE_NO_PAD.encode(random);
    store
        .insert_oauth_state(&NewOAuthState {
            state_hash: hash_state(&state),
            workspace_id: workspace_id.into(),
            user_id: user_id.into(),
            return_to,
        })
        .await
        .map_err(|err| ApiError::new(503, "database_unavailable", format!("Could not start connecting: {err}")))?;
    let mut url = config
        .dialog_base_url
        .join(&format!("{}/dialog/oauth", config.graph_version.as_str()))
        .map_err(|_| ApiError::internal("META_DIALOG_BASE_URL cannot be joined"))?;
    url.query_pairs_mut()
        .append_pair("client_id", &config.meta_app_id)
        .append_pair("redirect_uri", &redirect_uri(config))
        .append_pair("state", &state)
        .append_pair("scope", &REQUIRED_PERMISSIONS.join(","))
        .append_pair("response_type", "code")
        // Ask again for permissions declined in an earlier attempt.
        .append_pair("auth_type", "rerequest");
    Ok(url.to_string())
}

/// The callback's query, as far as it matters.
#[derive(Debug, Default)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

pub async fn callback(
    config: &Config,
    store: &Store,
    graph: &GraphClient,
    vault: &Vault,
    query: CallbackQuery,
    now_unix: u64,
) -> CallbackResult {
    let page = |status, message, outcome: &str| CallbackResult {
        outcome: CallbackOutcome::Page { status, message },
        log: json!({ "outcome": outcome }),
    };
    let Some(state) = query.state.filter(|s| !s.is_empty() && s.len() <= 200) else {
        return page(400, "The sign-in link is incomplete. Start connecting again from the app.", "bad_state");
    };
    let binding = match store.consume_oauth_state(&hash_state(&state)).await {
        Ok(Some(binding)) => binding,
        Ok(None) => {
            return page(
                400,
                "This sign-in link has expired or was already used. Start connecting again from the app.",
                "bad_state",
            )
        }
        Err(_) => return page(503, "The service could not check this sign-in. Try again in a minute.", "database_unavailable"),
    };
    let back = |outcome: &str, extra: &[(&str, &str)], graph_error: Option<&GraphError>| {
        let mut url = binding.return_to.as_deref().and_then(|t| Url::parse(t).ok()).unwrap_or_else(|| config.app_url.clone());
        {
            let mut pairs = url.query_pairs_mut();
            if outcome == "connected" {
                pairs.append_pair("meta", "connected");
            } else {
                pairs.append_pair("meta_error", outcome);
            }
            for (key, value) in extra {
                pairs.append_pair(key, value);
            }
        }
        let mut log = json!({ "outcome": outcome, "workspace_id": binding.workspace_id });
        if let Some(err) = graph_error {
            log["graph_http_status"] = json!(err.http_status);
            log["graph_error_code"] = json!(err.code);
            log["graph_error_subcode"] = json!(err.subcode);
            log["fbtrace_id"] = json!(err.fbtrace_id);
            log["graph_error_class"] = json!(format!("{:?}", err.class()));
        }
        CallbackResult { outcome: CallbackOutcome::Redirect(url.to_string()), log }
    };

    if query.error.is_some() {
        return back("access_denied", &[], None);
    }
    // Whoever started must still be allowed to connect when the dialog comes back.
    match (store.member_role(&binding.workspace_id, &binding.user_id).await, store.workspace(&binding.workspace_id).await) {
        (Ok(Some(role)), Ok(Some(workspace))) => {
            if !matches!(role.as_str(), "owner" | "admin") {
                return back("forbidden", &[], None);
            }
            if !workspace.plan_allows_meta() {
                return back("plan_required", &[], None);
            }
        }
        (Ok(_), Ok(_)) => return back("forbidden", &[], None),
        _ => return back("storage_failed", &[], None),
    }
    let Some(code) = query.code.filter(|c| !c.is_empty() && c.len() <= 2000) else {
        return back("missing_code", &[], None);
    };
    let short = match graph.exchange_code(&code, &redirect_uri(config)).await {
        Ok(short) => short,
        Err(err) => return back("code_exchange_failed", &[], Some(&err)),
    };
    let long = match graph.long_lived(&short.token).await {
        Ok(long) => long,
        Err(err) => return back("token_exchange_failed", &[], Some(&err)),
    };
    let me = match graph.me(&long.token).await {
        Ok(me) => me,
        Err(err) => return back("graph_unavailable", &[], Some(&err)),
    };
    let permissions = match graph.permissions(&long.token).await {
        Ok(permissions) => permissions,
        Err(err) => return back("graph_unavailable", &[], Some(&err)),
    };
    let missing = permissions.missing();
    if !missing.is_empty() {
        return back("missing_permissions", &[("missing", &missing.join(","))], None);
    }
    let pages = match graph.discover_pages(&long.token).await {
        Ok(pages) => pages,
        Err(err) => return back("page_discovery_failed", &[], Some(&err)),
    };

    let Ok(connection_id) = new_uuid() else { return back("internal", &[], None) };
    let Ok(user_token_sealed) = vault.seal(&long.token, &TokenSlot::UserToken { connection_id: connection_id.clone() }) else {
        return back("internal", &[], None);
    };
    let mut new_pages = Vec::new();
    let mut accounts = Vec::new();
    for page in pages {
        let sealed = match &page.token {
            Some(token) => {
                let slot = TokenSlot::PageToken { connection_id: connection_id.clone(), page_id: page.id.clone() };
                match vault.seal(token, &slot) {
                    Ok(sealed) => Some(sealed),
                    Err(_) => return back("internal", &[], None),
                }
            }
            None => None,
        };
        let reason = if sealed.is_none() {
            Some("no_page_token")
        } else if !page.tasks.iter().any(|t| t == "CREATE_CONTENT") {
            Some("missing_create_content_task")
        } else {
            None
        };
        if let Some(ig) = page.instagram {
            accounts.push(InstagramAccount {
                ig_user_id: ig.id,
                page_id: page.id.clone(),
                username: ig.username,
                name: ig.name,
                profile_picture_url: ig.profile_picture_url,
            });
        }
        new_pages.push(NewPage {
            page_id: page.id,
            name: page.name,
            picture_url: page.picture_url,
            page_token_sealed: sealed,
            tasks: page.tasks,
            usable: reason.is_none(),
            unusable_reason: reason.map(str::to_owned),
        });
    }
    let page_count = new_pages.len();
    let connection = NewConnection {
        id: connection_id,
        workspace_id: binding.workspace_id.clone(),
        fb_user_id: me.id,
        fb_user_name: me.name,
        user_token_sealed,
        token_expires_at: long.expires_in.map(|seconds| clock::rfc3339(now_unix + seconds)),
        data_access_expires_at: None,
        granted_permissions: permissions.granted,
        declined_permissions: permissions.declined,
        connected_by: binding.user_id.clone(),
    };
    match store.save_connection(&connection, &new_pages, &accounts).await {
        Ok(_) => {
            let mut result = back("connected", &[], None);
            result.log["pages"] = json!(page_count);
            result.log["instagram_accounts"] = json!(accounts.len());
            result
        }
        Err(_) => back("storage_failed", &[], None),
    }
}

/// A random (version 4) UUID for a new connection: its id is needed before sealing its tokens.
fn new_uuid() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_must_stay_on_the_apps_origin() {
        let config = crate::config::test_config("https://app.example.com/home");
        assert_eq!(check_return_to(&config, None).unwrap(), None);
        assert_eq!(
            check_return_to(&config, Some("https://app.example.com/settings?tab=meta")).unwrap().as_deref(),
            Some("https://app.example.com/settings?tab=meta")
        );
        for bad in [
            "https://app.example.com.evil.com/",
            "https://evil.com/?https://app.example.com",
            "//evil.com",
            "/relative",
            "http://app.example.com/",
            "https://app.example.com:8443/",
            "https://user@evil.com",
            "javascript:alert(1)",
        ] {
            assert_eq!(check_return_to(&config, Some(bad)).unwrap_err().code, "invalid_return_to", "{bad}");
        }
        assert_eq!(redirect_uri(&config), "https://w.example.com/api/meta/oauth/callback");
    }

    #[test]
    fn uuids_are_version_4() {
        let id = new_uuid().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, new_uuid().unwrap());
    }

    #[test]
    fn state_hashes_are_sha256_hex() {
        assert_eq!(hash_state("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}

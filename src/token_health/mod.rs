//! The daily token health check: Meta tokens die silently (a password change, a lost Page role,
//! an expiry), so once a day every active connection's user token is asked about with
//! `debug_token`. An invalid token, a required permission missing (overall, or for the default
//! Page or Instagram account: `granular_scopes`), or an expiry within 7 days flips the
//! connection to `needs_reauth` with the reason, before a post fails.
//!
//! It runs from the Cron Trigger, a bounded batch per invocation: the database hands out each
//! active connection once per UTC day, so a cron firing every minute checks each once a day and
//! a large number of connections spreads over several invocations.

use crate::clock::Clock;
use crate::graph::login::REQUIRED_PERMISSIONS;
use crate::graph::tokens::TokenInfo;
use crate::graph::GraphClient;
use crate::store::connections::HealthCheckDue;
use crate::store::Store;
use crate::vault::{TokenSlot, Vault};
use serde::Serialize;

/// Connections checked per invocation at most (one Graph call and one write each).
pub const BATCH: u32 = 20;
/// Subrequests one connection's check takes: debug_token, then recording the finding.
pub const SUBREQUESTS_PER_CHECK: u32 = 2;
/// A token expiring sooner than this gets its workspace asked to reconnect now.
const EXPIRY_WARNING_SECS: u64 = 7 * 86_400;

/// One connection's check, as logged. `problem` is `None` when all is well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthResult {
    pub connection_id: String,
    pub workspace_id: String,
    pub problem: Option<String>,
    /// Set when the check itself could not be done (Graph or the vault failed); retried tomorrow.
    pub check_failed: Option<String>,
    pub graph_error_code: Option<i64>,
    pub fbtrace_id: Option<String>,
}

/// What is wrong with a token, as a stable code: `token_invalid`, `token_expiring`,
/// `data_access_expiring`, `permission_missing:<scope>`,
/// `permission_missing_for_page:<scope>:<page id>` or `permission_missing_for_instagram:<scope>:<id>`.
pub fn assess(info: &TokenInfo, due: &HealthCheckDue, now_secs: u64) -> Option<String> {
    if !info.is_valid {
        return Some("token_invalid".into());
    }
    let soon = |at: u64| at != 0 && at < now_secs + EXPIRY_WARNING_SECS;
    if soon(info.expires_at) {
        return Some("token_expiring".into());
    }
    if soon(info.data_access_expires_at) {
        return Some("data_access_expiring".into());
    }
    if let Some(scope) = REQUIRED_PERMISSIONS.iter().find(|scope| !info.scopes.iter().any(|s| s == *scope)) {
        return Some(format!("permission_missing:{scope}"));
    }
    // A scope limited to some targets must cover the destinations posts go to.
    let covers = |scope: &str, target: &str| {
        info.granular_scopes
            .iter()
            .find(|g| g.scope == scope)
            .is_none_or(|g| g.target_ids.as_ref().is_none_or(|ids| ids.iter().any(|id| id == target)))
    };
    if let Some(page) = &due.facebook_page_id {
        for scope in ["pages_manage_posts", "pages_read_engagement"] {
            if !covers(scope, page) {
                return Some(format!("permission_missing_for_page:{scope}:{page}"));
            }
        }
    }
    // Instagram publishes with the token of the Page it is linked to.
    if let Some(page) = &due.instagram_page_id {
        if !covers("pages_read_engagement", page) {
            return Some(format!("permission_missing_for_page:pages_read_engagement:{page}"));
        }
    }
    if let Some(account) = &due.instagram_account_id {
        for scope in ["instagram_content_publish", "instagram_basic"] {
            if !covers(scope, account) {
                return Some(format!("permission_missing_for_instagram:{scope}:{account}"));
            }
        }
    }
    None
}

/// Checks the next batch (at most `limit`) of connections due today; what each check found.
pub async fn run(
    store: &Store,
    graph: &GraphClient,
    vault: &Vault,
    clock: &dyn Clock,
    limit: u32,
) -> Result<Vec<HealthResult>, String> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let due = store.claim_token_health_checks(limit.min(BATCH)).await.map_err(|err| err.to_string())?;
    let now_secs = (clock.now_ms() / 1000.0).max(0.0) as u64;
    let mut results = Vec::with_capacity(due.len());
    for connection in due {
        let mut result = HealthResult {
            connection_id: connection.connection_id.clone(),
            workspace_id: connection.workspace_id.clone(),
            problem: None,
            check_failed: None,
            graph_error_code: None,
            fbtrace_id: None,
        };
        let slot = TokenSlot::UserToken { connection_id: connection.connection_id.clone() };
        match vault.open(&connection.user_token_sealed, &slot) {
            Err(_) => result.check_failed = Some("token_unreadable".into()),
            Ok(token) => match graph.debug_token(&token).await {
                Ok(info) if info.undecided() => {
                    result.check_failed = Some("graph_unavailable".into());
                    result.graph_error_code = info.error.and_then(|e| e.code);
                }
                Ok(info) => result.problem = assess(&info, &connection, now_secs),
                Err(err) => {
                    result.check_failed = Some("graph_unavailable".into());
                    result.graph_error_code = err.code;
                    result.fbtrace_id = err.fbtrace_id;
                }
            },
        }
        let recorded = match result.check_failed {
            None => store.record_token_health(&connection.connection_id, result.problem.as_deref()).await,
            // Not done: due again in about an hour instead of tomorrow.
            Some(_) => store.defer_token_health(&connection.connection_id).await,
        };
        if let Err(err) = recorded {
            result.check_failed.get_or_insert_with(|| format!("not recorded: {err}"));
        }
        results.push(result);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tokens::GranularScope;
    use crate::vault::SealedToken;

    const NOW: u64 = 1_800_000_000;

    fn due() -> HealthCheckDue {
        HealthCheckDue {
            connection_id: "c".into(),
            workspace_id: "w".into(),
            user_token_sealed: SealedToken::from_stored("mpt1.x"),
            facebook_page_id: Some("101".into()),
            instagram_account_id: Some("1784".into()),
            instagram_page_id: Some("102".into()),
        }
    }

    fn healthy() -> TokenInfo {
        TokenInfo {
            is_valid: true,
            error: None,
            expires_at: NOW + 30 * 86_400,
            data_access_expires_at: 0,
            scopes: REQUIRED_PERMISSIONS.map(String::from).to_vec(),
            granular_scopes: vec![
                GranularScope { scope: "pages_manage_posts".into(), target_ids: Some(vec!["101".into(), "102".into()]) },
                GranularScope { scope: "instagram_content_publish".into(), target_ids: Some(vec!["1784".into()]) },
                GranularScope { scope: "pages_show_list".into(), target_ids: None },
            ],
        }
    }

    #[test]
    fn a_healthy_token_has_no_problem() {
        assert_eq!(assess(&healthy(), &due(), NOW), None);
        let mut never_expires = healthy();
        never_expires.expires_at = 0;
        assert_eq!(assess(&never_expires, &due(), NOW), None);
    }

    #[test]
    fn each_problem_is_named() {
        let mut invalid = healthy();
        invalid.is_valid = false;
        assert_eq!(assess(&invalid, &due(), NOW).as_deref(), Some("token_invalid"));
        let mut expiring = healthy();
        expiring.expires_at = NOW + 6 * 86_400;
        assert_eq!(assess(&expiring, &due(), NOW).as_deref(), Some("token_expiring"));
        let mut data_access = healthy();
        data_access.data_access_expires_at = NOW + 86_400;
        assert_eq!(assess(&data_access, &due(), NOW).as_deref(), Some("data_access_expiring"));
        let mut withdrawn = healthy();
        withdrawn.scopes.retain(|s| s != "instagram_content_publish");
        assert_eq!(assess(&withdrawn, &due(), NOW).as_deref(), Some("permission_missing:instagram_content_publish"));
        let mut other_page = healthy();
        other_page.granular_scopes[0].target_ids = Some(vec!["102".into()]);
        assert_eq!(assess(&other_page, &due(), NOW).as_deref(), Some("permission_missing_for_page:pages_manage_posts:101"));
        let mut other_account = healthy();
        other_account.granular_scopes[1].target_ids = Some(vec![]);
        assert_eq!(
            assess(&other_account, &due(), NOW).as_deref(),
            Some("permission_missing_for_instagram:instagram_content_publish:1784")
        );
        let mut linked_page = healthy();
        linked_page
            .granular_scopes
            .push(GranularScope { scope: "pages_read_engagement".into(), target_ids: Some(vec!["101".into()]) });
        assert_eq!(assess(&linked_page, &due(), NOW).as_deref(), Some("permission_missing_for_page:pages_read_engagement:102"));
        // A failure to answer is not a verdict on the token.
        let flaky: TokenInfo = serde_json::from_str(r#"{"is_valid":false,"error":{"code":2,"message":"temporary"}}"#).unwrap();
        assert!(flaky.undecided());
        let dead: TokenInfo = serde_json::from_str(r#"{"is_valid":false,"error":{"code":190}}"#).unwrap();
        assert!(!dead.undecided());
        assert!(serde_json::from_str::<TokenInfo>(r#"{"scopes":[]}"#).is_err(), "is_valid is required");
        // Without a default there is nothing to cover.
        let mut no_defaults = due();
        no_defaults.facebook_page_id = None;
        no_defaults.instagram_account_id = None;
        assert_eq!(assess(&other_account, &no_defaults, NOW), None);
    }
}

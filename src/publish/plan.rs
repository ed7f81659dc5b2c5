//! From a claimed job to what each of its targets needs this pass, before any Graph call:
//! content read from `payload_json` (the only source of truth, validated again here because the
//! host app may insert jobs directly), the workspace's current defaults, and their tokens
//! opened from the vault. Everything that can be decided without Meta is decided here.

use super::content::{Content, FacebookPost};
use super::outcome::{backoff_secs, Outcome};
use crate::store::jobs::{ClaimedJob, ClaimedTargetState, Target, TargetStatus};
use crate::vault::{AccessToken, SealedToken, TokenSlot, Vault};

/// One claimed job, ready to run.
pub struct JobPlan {
    pub job_id: String,
    /// The job's claim count: the attempt number in the attempt log.
    pub attempt: i32,
    pub connection_id: Option<String>,
    pub targets: Vec<TargetPlan>,
}

pub struct TargetPlan {
    pub target: Target,
    pub state: ClaimedTargetState,
    pub action: Action,
}

pub enum Action {
    /// Nothing to send: the outcome is already known (settled, or refused before Graph).
    Decided {
        outcome: Outcome,
        step: Option<&'static str>,
    },
    Facebook {
        page_id: String,
        token: AccessToken,
        post: FacebookPost,
        image_url: Option<String>,
    },
    Instagram {
        account_id: String,
        token: AccessToken,
        caption: String,
        image_url: String,
    },
}

impl Action {
    fn refuse(step: &'static str, reason: &'static str, message: impl Into<String>) -> Action {
        Action::Decided { outcome: Outcome::failed(reason, message), step: Some(step) }
    }
}

/// Plans where `jitter` (0..1) spreads retries of an unreadable token.
pub fn plan(job: &ClaimedJob, vault: &Vault, jitter: f64) -> JobPlan {
    let content = Content::from_payload(&job.payload_json, &job.targets);
    let targets = job
        .targets
        .iter()
        .map(|&target| {
            let state = job.target_states.get(&target).cloned().unwrap_or_else(pending);
            let action = plan_target(job, target, &state, &content, vault, jitter);
            TargetPlan { target, state, action }
        })
        .collect();
    JobPlan { job_id: job.job_id.clone(), attempt: job.attempts, connection_id: job.connection_id.clone(), targets }
}

/// Whether a `needs_reauth` connection was flagged only because its token expires soon.
pub fn expiring_only(status_reason: Option<&str>) -> bool {
    matches!(status_reason, Some("token_expiring" | "data_access_expiring"))
}

fn pending() -> ClaimedTargetState {
    ClaimedTargetState {
        status: TargetStatus::Pending,
        destination_id: None,
        container_id: None,
        container_created_at: None,
        external_id: None,
        attempts: 0,
        send_started_at: None,
        expired_containers: 0,
    }
}

fn plan_target(
    job: &ClaimedJob,
    target: Target,
    state: &ClaimedTargetState,
    content: &Result<Content, super::content::ContentError>,
    vault: &Vault,
    jitter: f64,
) -> Action {
    if !matches!(state.status, TargetStatus::Pending | TargetStatus::ContainerCreated) {
        return Action::Decided { outcome: Outcome::Settled(state.status), step: None };
    }
    if target == Target::Facebook && state.send_started_at.is_some() {
        return Action::Decided {
            outcome: Outcome::review(
                "outcome_unknown",
                "An earlier pass sent this post to Facebook and never got an answer: it may be live. Check the Page before retrying",
            ),
            step: Some("resolve"),
        };
    }
    if !matches!(job.workspace_plan.as_str(), "growth" | "pro" | "enterprise") {
        return Action::refuse(
            "resolve",
            "plan_required",
            "Publishing to Facebook and Instagram needs the Growth plan or higher",
        );
    }
    let content = match content {
        Ok(content) => content,
        Err(err) => return Action::refuse("validate", "invalid_content", err.message.clone()),
    };
    let Some(connection_id) = job.connection_id.as_deref() else {
        return Action::refuse("resolve", "not_connected", "The workspace has no Meta connection");
    };
    match job.connection_status.as_deref() {
        Some("active") => {}
        // Flagged ahead of an expiry: the workspace is asked to reconnect, posts go out meanwhile.
        Some("needs_reauth") if expiring_only(job.connection_status_reason.as_deref()) => {}
        status => {
            return Action::refuse(
                "resolve",
                "reconnect_required",
                format!("The Meta connection is {}; reconnect Facebook", status.unwrap_or("unknown").replace('_', " ")),
            )
        }
    }
    let open = |sealed: &Option<SealedToken>, page_id: &str| -> Result<AccessToken, Box<Action>> {
        let Some(sealed) = sealed else {
            return Err(Box::new(Action::refuse(
                "resolve",
                "page_not_usable",
                "The connection holds no Page token for the chosen Page; reconnect Facebook and tick that Page",
            )));
        };
        let slot = TokenSlot::PageToken { connection_id: connection_id.into(), page_id: page_id.into() };
        vault.open(sealed, &slot).map_err(|_| {
            Box::new(Action::Decided {
                // A key problem (rotation half done) is the operator's to fix: wait, do not fail the post.
                outcome: Outcome::Retry {
                    reason: "token_unreadable",
                    message: "The stored Page token could not be opened with the configured keys".into(),
                    after_secs: backoff_secs(state.attempts + 1, jitter),
                },
                step: Some("resolve"),
            })
        })
    };
    match target {
        Target::Facebook => {
            let Some(page_id) = job.facebook_page_id.clone() else {
                return Action::refuse("resolve", "no_default_page", "The workspace has no default Facebook Page");
            };
            match open(&job.page_token_sealed, &page_id) {
                Ok(token) => Action::Facebook {
                    page_id,
                    token,
                    post: content.facebook_post(),
                    image_url: content.image().map(|url| url.as_str().to_string()),
                },
                Err(refused) => *refused,
            }
        }
        Target::Instagram => {
            let Some(account_id) = job.instagram_account_id.clone() else {
                return Action::refuse(
                    "resolve",
                    "no_default_instagram_account",
                    "The workspace has no default Instagram account",
                );
            };
            // A container belongs to the account it was made for: never publish it elsewhere,
            // and never start over elsewhere while it might have gone live.
            if state.status == TargetStatus::ContainerCreated && state.destination_id.as_deref() != Some(account_id.as_str()) {
                return Action::Decided {
                    outcome: Outcome::review(
                        "destination_changed",
                        "The default Instagram account changed after this post's media container was created; check the first account before retrying",
                    ),
                    step: Some("resolve"),
                };
            }
            let Some(page_id) = job.instagram_page_id.as_deref() else {
                return Action::refuse(
                    "resolve",
                    "page_not_usable",
                    "The Instagram account's linked Page is not part of the connection",
                );
            };
            let Some(image) = content.image() else {
                return Action::refuse("validate", "invalid_content", "Instagram posts need an image");
            };
            match open(&job.instagram_page_token_sealed, page_id) {
                Ok(token) => Action::Instagram {
                    account_id,
                    token,
                    caption: content.caption().map(|c| c.as_str().to_string()).unwrap_or_default(),
                    image_url: image.as_str().to_string(),
                },
                Err(refused) => *refused,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenEncryptionKey;
    use serde_json::json;

    fn vault() -> Vault {
        Vault::new(&TokenEncryptionKey::from_bytes([7; 32]), None)
    }

    fn job(targets: &[Target], payload: serde_json::Value) -> ClaimedJob {
        let vault = vault();
        let seal = |page: &str| {
            vault
                .seal(
                    &AccessToken::new(format!("page-token-{page}")),
                    &TokenSlot::PageToken { connection_id: "c1".into(), page_id: page.into() },
                )
                .unwrap()
        };
        ClaimedJob {
            job_id: "j1".into(),
            workspace_id: "w1".into(),
            workspace_plan: "growth".into(),
            targets: targets.to_vec(),
            payload_json: payload,
            scheduled_at: "2026-12-03T10:00:00Z".into(),
            attempts: 1,
            lease_expires_at: "2026-12-03T10:05:00Z".into(),
            target_states: Default::default(),
            connection_id: Some("c1".into()),
            connection_status: Some("active".into()),
            connection_status_reason: None,
            user_token_sealed: None,
            facebook_page_id: Some("101".into()),
            page_token_sealed: Some(seal("101")),
            instagram_account_id: Some("1784".into()),
            instagram_page_id: Some("102".into()),
            instagram_page_token_sealed: Some(seal("102")),
        }
    }

    fn refused(action: &Action) -> (&'static str, String) {
        match action {
            Action::Decided { outcome: Outcome::Failed { reason, message }, .. } => (reason, message.clone()),
            Action::Decided { outcome, .. } => panic!("not refused: {outcome:?}"),
            _ => panic!("not decided"),
        }
    }

    #[test]
    fn opens_each_targets_own_page_token() {
        let payload = json!({"version": 1, "text": "hi", "image_url": "https://img.example/a.jpg"});
        let plan = plan(&job(&[Target::Facebook, Target::Instagram], payload), &vault(), 0.5);
        match &plan.targets[0].action {
            Action::Facebook { page_id, token, .. } => assert_eq!((page_id.as_str(), token.expose()), ("101", "page-token-101")),
            _ => panic!("facebook not planned"),
        }
        match &plan.targets[1].action {
            Action::Instagram { account_id, token, caption, image_url } => {
                assert_eq!((account_id.as_str(), token.expose()), ("1784", "page-token-102"));
                assert_eq!((caption.as_str(), image_url.as_str()), ("hi", "https://img.example/a.jpg"));
            }
            _ => panic!("instagram not planned"),
        }
    }

    #[test]
    fn decides_without_meta_what_it_can() {
        let text = json!({"version": 1, "text": "hi"});
        let mut no_connection = job(&[Target::Facebook], text.clone());
        no_connection.connection_id = None;
        assert_eq!(refused(&plan(&no_connection, &vault(), 0.5).targets[0].action).0, "not_connected");

        let mut revoked = job(&[Target::Facebook], text.clone());
        revoked.connection_status = Some("needs_reauth".into());
        let (reason, message) = refused(&plan(&revoked, &vault(), 0.5).targets[0].action);
        assert_eq!(reason, "reconnect_required");
        assert!(message.contains("needs reauth"), "{message}");

        // Flagged only for an expiry days away: still publishes.
        let mut expiring = job(&[Target::Facebook], text.clone());
        expiring.connection_status = Some("needs_reauth".into());
        expiring.connection_status_reason = Some("token_expiring".into());
        assert!(matches!(plan(&expiring, &vault(), 0.5).targets[0].action, Action::Facebook { .. }));

        let mut free = job(&[Target::Facebook], text.clone());
        free.workspace_plan = "starter".into();
        assert_eq!(refused(&plan(&free, &vault(), 0.5).targets[0].action).0, "plan_required");

        let invalid = job(&[Target::Instagram], text.clone());
        assert_eq!(refused(&plan(&invalid, &vault(), 0.5).targets[0].action).0, "invalid_content");

        let mut no_page = job(&[Target::Facebook], text.clone());
        no_page.facebook_page_id = None;
        assert_eq!(refused(&plan(&no_page, &vault(), 0.5).targets[0].action).0, "no_default_page");

        let mut no_token = job(&[Target::Facebook], text.clone());
        no_token.page_token_sealed = None;
        assert_eq!(refused(&plan(&no_token, &vault(), 0.5).targets[0].action).0, "page_not_usable");

        // A token sealed for another row does not open (and is not failed for good).
        let mut swapped = job(&[Target::Facebook], text.clone());
        swapped.page_token_sealed = swapped.instagram_page_token_sealed.clone();
        assert!(matches!(
            plan(&swapped, &vault(), 0.5).targets[0].action,
            Action::Decided { outcome: Outcome::Retry { reason: "token_unreadable", .. }, .. }
        ));
    }

    #[test]
    fn settled_and_possibly_live_targets_are_not_sent() {
        let mut claimed = job(
            &[Target::Facebook, Target::Instagram],
            json!({"version": 1, "text": "x", "image_url": "https://i.example/x.jpg"}),
        );
        let mut facebook = pending();
        facebook.send_started_at = Some("2026-12-03T10:00:01Z".into());
        let mut instagram = pending();
        instagram.status = TargetStatus::Published;
        claimed.target_states.insert(Target::Facebook, facebook);
        claimed.target_states.insert(Target::Instagram, instagram);
        let plan = plan(&claimed, &vault(), 0.5);
        assert!(matches!(
            &plan.targets[0].action,
            Action::Decided { outcome: Outcome::NeedsReview { reason: "outcome_unknown", .. }, .. }
        ));
        assert!(matches!(
            &plan.targets[1].action,
            Action::Decided { outcome: Outcome::Settled(TargetStatus::Published), step: None }
        ));
    }

    #[test]
    fn a_container_is_never_moved_to_another_account() {
        let mut claimed = job(&[Target::Instagram], json!({"version": 1, "image_url": "https://i.example/x.jpg"}));
        let mut state = pending();
        state.status = TargetStatus::ContainerCreated;
        state.container_id = Some("555".into());
        state.destination_id = Some("999".into());
        claimed.target_states.insert(Target::Instagram, state);
        let plan = plan(&claimed, &vault(), 0.5);
        assert!(matches!(
            &plan.targets[0].action,
            Action::Decided { outcome: Outcome::NeedsReview { reason: "destination_changed", .. }, .. }
        ));
    }
}

//! Publishing one target to an Instagram Business account, one step per pass where Meta is slow:
//!
//! 1. create the media container (`POST /{ig-user-id}/media`) and persist its id before anything
//!    else, so no later pass ever loses track of it;
//! 2. read its `status_code`: `IN_PROGRESS` ends the pass for this target (a later pass looks
//!    again; nothing sleeps), `ERROR` fails with Meta's status, `EXPIRED` gets one new container,
//!    `PUBLISHED` (seen on a recheck after an unanswered publish) is success;
//! 3. `FINISHED`: check the account's publishing quota (waiting when it is used up), then
//!    `POST /{ig-user-id}/media_publish`; an unanswered publish is settled by the next recheck.
//! 4. read the permalink, best-effort.

use super::context::PassContext;
use super::facebook::permalink;
use super::outcome::{backoff_secs, from_graph_error, Outcome, IN_PROGRESS_RECHECK_SECS, QUOTA_WAIT_SECS};
use super::record::{log_outcome, TargetRecord};
use crate::clock::rfc3339_millis;
use crate::graph::{ErrorClass, GraphError};
use crate::store::jobs::{ClaimedTargetState, TargetStatus};
use crate::vault::AccessToken;
use serde_json::json;

pub const PERMISSION: &str = "instagram_content_publish";
/// Containers replaced after expiring, per target; the next expiry fails it.
const MAX_EXPIRED_CONTAINERS: i32 = 1;

pub struct Post<'a> {
    pub account_id: &'a str,
    pub token: &'a AccessToken,
    pub caption: &'a str,
    pub image_url: &'a str,
}

pub async fn publish(ctx: &PassContext<'_>, record: &mut TargetRecord, state: &ClaimedTargetState, post: &Post<'_>) -> Outcome {
    let account = post.account_id;
    record.set("destination_id", account);
    if let Some(seconds) = ctx.throttled_for(account) {
        return Outcome::Retry {
            reason: "rate_limited",
            message: "Meta asked to slow down for this Instagram account; waiting before publishing".into(),
            after_secs: seconds.max(60),
        };
    }
    // Worst case: create, record, read, quota, publish, permalink.
    if !ctx.may_send(6) {
        return Outcome::NotReached;
    }
    let attempt = state.attempts + 1;
    let mut container = match (state.status, &state.container_id) {
        (TargetStatus::ContainerCreated, Some(id)) => Some(id.clone()),
        _ => None,
    };
    let mut expired = state.expired_containers;
    // At most: check an old container, see it expired, create and check a new one.
    for _ in 0..3 {
        let container_id = match container.take() {
            Some(id) => id,
            None => match create_container(ctx, record, state, post).await {
                Ok(id) => id,
                Err(outcome) => return outcome,
            },
        };
        let checked = ctx.call(false, &container_id, post.token, &[("fields", "status_code,status")], account).await;
        let body = match checked.result {
            Ok(body) => body,
            Err(err) => {
                // A read that keeps failing must not retry forever at the same pace.
                record.tried = true;
                return failed_step(
                    ctx,
                    record,
                    "media_status",
                    checked.started_ms,
                    checked.finished_ms,
                    &err,
                    attempt,
                    post,
                    Some(&container_id),
                );
            }
        };
        let status_code = body.get("status_code").and_then(|s| s.as_str()).unwrap_or("");
        let outcome = match status_code {
            "FINISHED" => None,
            "IN_PROGRESS" => Some(Outcome::InProgress),
            // The earlier publish went through though its answer was lost. Graph does not say the
            // media id on the container, so the container stands in for it.
            "PUBLISHED" => Some(Outcome::Published { external_id: format!("container:{container_id}"), permalink: None }),
            "ERROR" => Some(Outcome::failed(
                "container_error",
                format!(
                    "Instagram could not process the image ({})",
                    body.get("status").and_then(|s| s.as_str()).unwrap_or("no detail")
                ),
            )),
            "EXPIRED" if expired < MAX_EXPIRED_CONTAINERS => {
                expired += 1;
                record.set("expired_containers", expired);
                // Back to pending until the replacement exists, so a failed create cannot leave
                // the expired container behind as if it were the current one.
                record.set("status", "pending");
                record.set("container_id", serde_json::Value::Null);
                record.set("container_created_at", serde_json::Value::Null);
                let row = record.step("media_status", checked.started_ms, checked.finished_ms, "retry_scheduled");
                row.container_id = Some(container_id.clone());
                row.graph_http_status = Some(200);
                row.error_reason = Some("container_expired".into());
                row.error_message = Some("The media container expired before it was published; creating a new one".into());
                continue;
            }
            "EXPIRED" => {
                Some(Outcome::failed("container_expired", "The media container expired again before it could be published"))
            }
            other => Some(Outcome::Retry {
                reason: "graph_unavailable",
                message: format!(
                    "Instagram reported an unknown container status {:?}",
                    other.chars().take(40).collect::<String>()
                ),
                after_secs: backoff_secs(attempt, ctx.jitter()),
            }),
        };
        let row =
            record.step("media_status", checked.started_ms, checked.finished_ms, outcome.as_ref().map_or("ok", log_outcome));
        row.container_id = Some(container_id.clone());
        row.graph_http_status = Some(200);
        if let Some(Outcome::Failed { reason, message }) = &outcome {
            row.error_reason = Some(reason.to_string());
            row.error_message = Some(message.clone());
        }
        if let Some(outcome) = outcome {
            if let Outcome::Published { external_id, .. } = &outcome {
                row.external_id = Some(external_id.clone());
            }
            return outcome;
        }
        return publish_container(ctx, record, post, &container_id, attempt).await;
    }
    Outcome::failed("container_expired", "The media container kept expiring")
}

async fn create_container(
    ctx: &PassContext<'_>,
    record: &mut TargetRecord,
    state: &ClaimedTargetState,
    post: &Post<'_>,
) -> Result<String, Outcome> {
    let attempt = state.attempts + 1;
    record.tried = true;
    let params = [("image_url", post.image_url), ("caption", post.caption)];
    let created = ctx.call(true, &format!("{}/media", post.account_id), post.token, &params, post.account_id).await;
    let id = match created.result {
        // An unanswered create leaves at most an orphan container, which publishes nothing and
        // expires: safe to create another on the next try.
        Ok(body) => body.get("id").and_then(|id| id.as_str()).filter(|id| is_numeric_id(id)).map(str::to_string),
        Err(err) => {
            return Err(failed_step(ctx, record, "media", created.started_ms, created.finished_ms, &err, attempt, post, None))
        }
    };
    let Some(id) = id else {
        let outcome = Outcome::Retry {
            reason: "graph_unavailable",
            message: "Instagram created a container but returned no usable id".into(),
            after_secs: backoff_secs(attempt, ctx.jitter()),
        };
        record.step("media", created.started_ms, created.finished_ms, log_outcome(&outcome)).graph_http_status = Some(200);
        return Err(outcome);
    };
    let row = record.step("media", created.started_ms, created.finished_ms, "container_created");
    row.graph_http_status = Some(200);
    row.container_id = Some(id.clone());
    // Persist the container before anything else happens to it.
    let now = rfc3339_millis(ctx.now_ms());
    record.set("status", "container_created");
    record.set("container_id", id.clone());
    record.set("container_created_at", now.clone());
    let change = json!({
        "job_id": record.job_id, "target": record.target, "status": "container_created", "container_id": id,
        "container_created_at": now, "destination_id": post.account_id, "attempts": attempt,
        "expired_containers": record_expired(record, state),
    });
    ctx.persist(record, change).await.map(|()| id)
}

fn record_expired(record: &TargetRecord, state: &ClaimedTargetState) -> i32 {
    record.expired().unwrap_or(state.expired_containers)
}

async fn publish_container(
    ctx: &PassContext<'_>,
    record: &mut TargetRecord,
    post: &Post<'_>,
    container_id: &str,
    attempt: i32,
) -> Outcome {
    let account = post.account_id;
    let reserved = ctx
        .reserve_quota(account, post.token, |read| {
            let outcome = if read.result.is_ok() { "ok" } else { "retry_scheduled" };
            let row = record.step("publishing_limit", read.started_ms, read.finished_ms, outcome);
            if let Err(err) = &read.result {
                row.graph_http_status = (err.http_status >= 100).then_some(i32::from(err.http_status));
                row.graph_error_code = err.code;
                row.fbtrace_id = err.fbtrace_id.clone();
                row.error_message = Some("The publishing limit could not be read; Meta decides at publish time".into());
            } else {
                row.graph_http_status = Some(200);
            }
        })
        .await;
    if !reserved {
        return Outcome::Retry {
            reason: "publishing_limit_reached",
            message: "The Instagram account used up its publishing limit for the last 24 hours; waiting for it to free up".into(),
            after_secs: QUOTA_WAIT_SECS,
        };
    }
    if !ctx.may_send(2) {
        ctx.return_quota(account).await;
        return Outcome::NotReached;
    }
    record.tried = true;
    let sent = ctx.call(true, &format!("{account}/media_publish"), post.token, &[("creation_id", container_id)], account).await;
    let media_id = match sent.result {
        Ok(body) => body.get("id").and_then(|id| id.as_str()).map(str::to_string),
        Err(err) if err.class() == ErrorClass::Network || (err.http_status >= 500 && err.code.is_none()) => {
            // Maybe published: the next pass reads the container, which says so.
            let outcome = Outcome::Retry {
                reason: "publish_unconfirmed",
                message: format!(
                    "No answer to media_publish ({}); the container is checked again before anything else",
                    err.message
                ),
                after_secs: IN_PROGRESS_RECHECK_SECS,
            };
            record.graph_failure("media_publish", sent.started_ms, sent.finished_ms, &err, &outcome);
            record.attempts.last_mut().expect("just logged").container_id = Some(container_id.into());
            return outcome;
        }
        Err(err) => {
            let outcome = failed_step(
                ctx,
                record,
                "media_publish",
                sent.started_ms,
                sent.finished_ms,
                &err,
                attempt,
                post,
                Some(container_id),
            );
            // Before failing, read the container: an earlier publish may have gone through.
            if matches!(outcome, Outcome::Failed { .. }) && published_already(ctx, record, post, container_id).await {
                return Outcome::Published { external_id: format!("container:{container_id}"), permalink: None };
            }
            ctx.return_quota(account).await;
            return outcome;
        }
    };
    let media_id = media_id.filter(|id| is_numeric_id(id)).unwrap_or_else(|| format!("container:{container_id}"));
    let row = record.step("media_publish", sent.started_ms, sent.finished_ms, "published");
    row.graph_http_status = Some(200);
    row.container_id = Some(container_id.into());
    row.external_id = Some(media_id.clone());
    if media_id.starts_with("container:") {
        return Outcome::Published { external_id: media_id, permalink: None };
    }
    let read = ctx.call(false, &media_id, post.token, &[("fields", "permalink")], account).await;
    let link = permalink(&read.result, "permalink");
    match &read.result {
        Ok(_) => {
            let row = record.step("permalink", read.started_ms, read.finished_ms, "ok");
            row.graph_http_status = Some(200);
            row.external_id = Some(media_id.clone());
            row.permalink = link.clone();
        }
        Err(err) => record.graph_failure(
            "permalink",
            read.started_ms,
            read.finished_ms,
            err,
            &Outcome::Published { external_id: media_id.clone(), permalink: None },
        ),
    }
    Outcome::Published { external_id: media_id, permalink: link }
}

/// Whether the container reads `PUBLISHED` (logged as a `media_status` step).
async fn published_already(ctx: &PassContext<'_>, record: &mut TargetRecord, post: &Post<'_>, container_id: &str) -> bool {
    let checked = ctx.call(false, container_id, post.token, &[("fields", "status_code,status")], post.account_id).await;
    let published =
        checked.result.as_ref().ok().and_then(|body| body.get("status_code")?.as_str().map(|s| s == "PUBLISHED")) == Some(true);
    let row = record.step("media_status", checked.started_ms, checked.finished_ms, if published { "published" } else { "ok" });
    row.container_id = Some(container_id.into());
    row.graph_http_status = checked.result.is_ok().then_some(200);
    published
}

/// A step Graph refused (or did not answer, for steps safe to repeat).
#[allow(clippy::too_many_arguments)]
fn failed_step(
    ctx: &PassContext<'_>,
    record: &mut TargetRecord,
    step: &'static str,
    started_ms: f64,
    finished_ms: f64,
    err: &GraphError,
    attempt: i32,
    post: &Post<'_>,
    container_id: Option<&str>,
) -> Outcome {
    let outcome = from_graph_error(err, attempt, ctx.jitter(), PERMISSION, Some(post.image_url));
    if let Outcome::Retry { reason: "rate_limited", after_secs, .. } = &outcome {
        ctx.throttle(post.account_id, *after_secs);
    }
    record.graph_failure(step, started_ms, finished_ms, err, &outcome);
    if let Some(id) = container_id {
        record.attempts.last_mut().expect("just logged").container_id = Some(id.into());
    }
    outcome
}

fn is_numeric_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit())
}

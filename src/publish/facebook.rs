//! Publishing one target to a Facebook Page: text and links to `/{page-id}/feed`, an image to
//! `/{page-id}/photos`, then the permalink, read best-effort.
//!
//! Just before the post is sent, the target is marked (`send_started_at`) in the database, so a
//! post whose answer is lost (no answer, timeout, a gateway error without a Graph body, or a pass
//! that dies before recording it) is never sent again: it goes to review, because it may be live.

use super::content::FacebookPost;
use super::context::PassContext;
use super::outcome::{from_graph_error, Outcome};
use super::record::{log_outcome, TargetRecord};
use crate::clock::rfc3339_millis;
use crate::graph::{ErrorClass, GraphError};
use crate::store::jobs::ClaimedTargetState;
use crate::vault::AccessToken;
use serde_json::json;

pub const PERMISSION: &str = "pages_manage_posts";

pub async fn publish(
    ctx: &PassContext<'_>,
    record: &mut TargetRecord,
    state: &ClaimedTargetState,
    page_id: &str,
    token: &AccessToken,
    post: &FacebookPost,
    image_url: Option<&str>,
) -> Outcome {
    record.set("destination_id", page_id);
    if let Some(seconds) = ctx.throttled_for(page_id) {
        return Outcome::Retry {
            reason: "rate_limited",
            message: "Meta asked to slow down for this Page; waiting before posting".into(),
            after_secs: seconds.max(60),
        };
    }
    let (step, path, params): (&'static str, String, Vec<(&str, &str)>) = match post {
        FacebookPost::Feed { message, link } => {
            let mut params = Vec::new();
            if let Some(message) = message {
                params.push(("message", message.as_str()));
            }
            if let Some(link) = link {
                params.push(("link", link.as_str()));
            }
            ("feed", format!("{page_id}/feed"), params)
        }
        FacebookPost::Photo { url, caption } => {
            let mut params = vec![("url", url.as_str())];
            if let Some(caption) = caption {
                params.push(("caption", caption.as_str()));
            }
            ("photos", format!("{page_id}/photos"), params)
        }
    };
    // Mark, send, read the permalink: three subrequests, all inside the lease.
    if !ctx.may_send(3) {
        return Outcome::NotReached;
    }
    let mark = json!({
        "job_id": record.job_id, "target": record.target, "destination_id": page_id,
        "send_started_at": rfc3339_millis(ctx.now_ms()),
    });
    if let Err(outcome) = ctx.persist(record, mark).await {
        return outcome;
    }
    record.tried = true;
    let sent = ctx.call(true, &path, token, &params, page_id).await;
    let body = match sent.result {
        Ok(body) => body,
        Err(err) => {
            let outcome = if answer_lost(&err) {
                Outcome::review(
                    "outcome_unknown",
                    format!(
                        "The post was sent to Facebook but no answer came ({}); it may be live. Check the Page before retrying",
                        err.message
                    ),
                )
            } else {
                from_graph_error(&err, state.attempts + 1, ctx.jitter(), PERMISSION, image_url)
            };
            if err.class() == ErrorClass::Throttled {
                if let Outcome::Retry { after_secs, .. } = outcome {
                    ctx.throttle(page_id, after_secs);
                }
            }
            record.graph_failure(step, sent.started_ms, sent.finished_ms, &err, &outcome);
            return outcome;
        }
    };
    // `/photos` answers {id (the photo), post_id (the Page post)}; `/feed` answers {id}.
    let post_id = body
        .get("post_id")
        .or_else(|| body.get("id"))
        .and_then(|id| id.as_str())
        .filter(|id| !id.is_empty() && id.len() <= 100)
        .map(str::to_string);
    let Some(post_id) = post_id else {
        // Live, but Graph gave no id: nothing to retry, a person should look.
        let outcome = Outcome::review("outcome_unknown", "Facebook accepted the post but returned no usable post id");
        record.step(step, sent.started_ms, sent.finished_ms, log_outcome(&outcome)).graph_http_status = Some(200);
        return outcome;
    };
    let row = record.step(step, sent.started_ms, sent.finished_ms, "published");
    row.graph_http_status = Some(200);
    row.external_id = Some(post_id.clone());

    let read = ctx.call(false, &post_id, token, &[("fields", "permalink_url")], page_id).await;
    let permalink = permalink(&read.result, "permalink_url");
    match &read.result {
        Ok(_) => {
            let row = record.step("permalink", read.started_ms, read.finished_ms, "ok");
            row.graph_http_status = Some(200);
            row.external_id = Some(post_id.clone());
            row.permalink = permalink.clone();
        }
        // Best-effort: the post is live whatever happens here.
        Err(err) => record.graph_failure(
            "permalink",
            read.started_ms,
            read.finished_ms,
            err,
            &Outcome::Published { external_id: post_id.clone(), permalink: None },
        ),
    }
    Outcome::Published { external_id: post_id, permalink }
}

/// The request may have reached Meta and been carried out: no answer at all, or an error page
/// from a gateway rather than a Graph error body.
pub fn answer_lost(err: &GraphError) -> bool {
    err.class() == ErrorClass::Network || (err.http_status >= 500 && err.code.is_none())
}

/// An `https` permalink from a read-back answer, if it holds one.
pub fn permalink(result: &Result<serde_json::Value, GraphError>, field: &str) -> Option<String> {
    let link = result.as_ref().ok()?.get(field)?.as_str()?;
    (link.starts_with("https://") && link.len() <= 2000).then(|| link.to_string())
}

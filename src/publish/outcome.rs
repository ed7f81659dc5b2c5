//! What happened to each target in a pass, what that means for its job, and when to try again.
//!
//! Reasons are stable codes stored on targets and jobs (`last_error_reason`); the attempt log
//! keeps the Graph details. The retry policy lives here: transient failures back off
//! exponentially with jitter up to [`MAX_TRANSIENT_ATTEMPTS`]; throttling waits at least as long
//! as Graph asks; nothing whose outcome is unknown is ever retried blindly.

use crate::graph::{ErrorClass, GraphError};
use crate::store::jobs::{JobRelease, JobStatus, TargetStatus};

/// Transient failures (5xx, `is_transient`, no answer to a read) of one target before it fails.
pub const MAX_TRANSIENT_ATTEMPTS: i32 = 5;
/// Meta failing to download the image: often intermittent on Meta's side, so a few tries.
pub const MAX_MEDIA_FETCH_ATTEMPTS: i32 = 3;
/// How soon a pass looks at an Instagram container that is still being processed.
pub const IN_PROGRESS_RECHECK_SECS: u64 = 30;
/// How long the Instagram publishing quota is waited on before the next look.
pub const QUOTA_WAIT_SECS: u64 = 3600;
const BACKOFF_BASE_SECS: u64 = 60;
const BACKOFF_CAP_SECS: u64 = 3600;
const THROTTLE_MIN_SECS: u64 = 300;

/// Where one target ends a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Live. `external_id` is the post or media id.
    Published {
        external_id: String,
        permalink: Option<String>,
    },
    /// Instagram is still processing the container: look again on a later pass.
    InProgress,
    /// Try again after `after_secs`.
    Retry {
        reason: &'static str,
        message: String,
        after_secs: u64,
    },
    Failed {
        reason: &'static str,
        message: String,
    },
    /// May be live: a person has to look before anything is sent again.
    NeedsReview {
        reason: &'static str,
        message: String,
    },
    /// Not attempted in this pass (throttled, or the pass lost the job): left as it was.
    NotReached,
    /// Already settled before this pass.
    Settled(TargetStatus),
}

impl Outcome {
    pub fn failed(reason: &'static str, message: impl Into<String>) -> Outcome {
        Outcome::Failed { reason, message: message.into() }
    }

    pub fn review(reason: &'static str, message: impl Into<String>) -> Outcome {
        Outcome::NeedsReview { reason, message: message.into() }
    }
}

/// The summary bucket a job lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Published,
    InProgress,
    RetryScheduled,
    Failed,
    NeedsReview,
    /// Back in the queue untouched.
    Deferred,
}

/// Exponential backoff with ±20 % jitter (`jitter` in 0..1), capped at an hour.
pub fn backoff_secs(attempt: i32, jitter: f64) -> u64 {
    let exponent = attempt.clamp(1, 12) as u32 - 1;
    let base = BACKOFF_BASE_SECS.saturating_mul(1 << exponent).min(BACKOFF_CAP_SECS) as f64;
    (base * (0.8 + 0.4 * jitter.clamp(0.0, 1.0))).round() as u64
}

/// A throttled call waits at least what Graph says, and never less than five minutes.
pub fn throttle_secs(err: &GraphError, attempt: i32, jitter: f64) -> u64 {
    let asked = err.usage.regain_access_minutes.map(|m| u64::from(m) * 60).unwrap_or(0);
    asked.max(THROTTLE_MIN_SECS).max(backoff_secs(attempt, jitter))
}

/// What a Graph error means for a target whose call *was answered* (the request reached Meta and
/// Meta refused it), after `attempt` tries. `permission` names what the target needs.
pub fn from_graph_error(err: &GraphError, attempt: i32, jitter: f64, permission: &str, image_url: Option<&str>) -> Outcome {
    let detail = err.user_message.clone().unwrap_or_else(|| err.message.clone());
    match err.class() {
        ErrorClass::TokenInvalid => Outcome::failed(
            "reconnect_required",
            format!("Meta no longer accepts this connection's token ({}); reconnect Facebook", short(&err.message)),
        ),
        ErrorClass::PermissionMissing => Outcome::failed(
            "permission_missing",
            format!("Meta refused for lack of the {permission} permission: {}", short(&detail)),
        ),
        ErrorClass::Throttled => Outcome::Retry {
            reason: "rate_limited",
            message: format!("Meta is rate limiting this account: {}", short(&err.message)),
            after_secs: throttle_secs(err, attempt, jitter),
        },
        ErrorClass::MediaFetchFailed if attempt < MAX_MEDIA_FETCH_ATTEMPTS => Outcome::Retry {
            reason: "media_fetch_failed",
            message: format!("Meta could not download the image {}", image_url.map(short).unwrap_or_default()),
            after_secs: backoff_secs(attempt, jitter),
        },
        ErrorClass::MediaFetchFailed => Outcome::failed(
            "media_fetch_failed",
            format!("Meta could not download the image {} after {attempt} tries", image_url.map(short).unwrap_or_default()),
        ),
        ErrorClass::ContentRejected => Outcome::failed("content_rejected", short(&detail)),
        ErrorClass::AppAccess => {
            Outcome::failed("app_access", "The Meta app has no access for this account yet (App Review or an app role is needed)")
        }
        ErrorClass::Transient | ErrorClass::Network if attempt < MAX_TRANSIENT_ATTEMPTS => Outcome::Retry {
            reason: "graph_unavailable",
            message: format!("Meta did not complete the call: {}", short(&err.message)),
            after_secs: backoff_secs(attempt, jitter),
        },
        ErrorClass::Transient | ErrorClass::Network => Outcome::failed(
            "graph_unavailable",
            format!("Meta did not complete the call after {attempt} tries: {}", short(&err.message)),
        ),
        // Not an error of the target: the caller checks the container again.
        ErrorClass::MediaNotReady => Outcome::InProgress,
        ErrorClass::Other => Outcome::failed("graph_error", short(&detail)),
    }
}

/// How the job leaves the pass, from its targets' outcomes, at `now` (Unix seconds).
pub fn release(outcomes: &[Outcome], now: u64) -> (JobRelease, Bucket) {
    let mut retry_after: Option<u64> = None;
    let (mut in_progress, mut retrying, mut untouched) = (false, false, false);
    let (mut failed, mut review) = (false, false);
    let mut last_error = None;
    for outcome in outcomes {
        match outcome {
            Outcome::Published { .. } | Outcome::Settled(TargetStatus::Published) => {}
            Outcome::InProgress => {
                in_progress = true;
                retry_after = Some(retry_after.map_or(IN_PROGRESS_RECHECK_SECS, |s| s.min(IN_PROGRESS_RECHECK_SECS)));
            }
            Outcome::Retry { reason, message, after_secs } => {
                retrying = true;
                retry_after = Some(retry_after.map_or(*after_secs, |s| s.min(*after_secs)));
                last_error.get_or_insert_with(|| format!("{reason}: {message}"));
            }
            Outcome::NotReached | Outcome::Settled(TargetStatus::Pending | TargetStatus::ContainerCreated) => untouched = true,
            Outcome::Failed { reason, message } => {
                failed = true;
                last_error.get_or_insert_with(|| format!("{reason}: {message}"));
            }
            Outcome::NeedsReview { reason, message } => {
                review = true;
                last_error.get_or_insert_with(|| format!("{reason}: {message}"));
            }
            Outcome::Settled(TargetStatus::Failed) => failed = true,
            Outcome::Settled(TargetStatus::NeedsReview) => review = true,
            Outcome::Settled(TargetStatus::Cancelled) => {}
        }
    }
    let last_error = last_error.map(|text| text.chars().take(1000).collect());
    if in_progress || retrying || untouched {
        let bucket = if retrying {
            Bucket::RetryScheduled
        } else if in_progress {
            Bucket::InProgress
        } else {
            Bucket::Deferred
        };
        let next = retry_after.map(|secs| crate::clock::rfc3339(now + secs));
        return (JobRelease { status: JobStatus::Queued, next_attempt_at: next, last_error }, bucket);
    }
    let (status, bucket) = if review {
        (JobStatus::NeedsReview, Bucket::NeedsReview)
    } else if failed {
        (JobStatus::Failed, Bucket::Failed)
    } else {
        (JobStatus::Published, Bucket::Published)
    };
    (JobRelease { status, next_attempt_at: None, last_error }, bucket)
}

/// Graph text as stored: bounded for the 1,000-character columns.
pub fn short(text: &str) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(400).collect();
    if text.chars().count() > 400 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(code: i64, subcode: Option<i64>, status: u16) -> GraphError {
        let mut body = serde_json::json!({"error": {"message": "m", "code": code, "error_user_msg": "Shown to users"}});
        if let Some(subcode) = subcode {
            body["error"]["error_subcode"] = subcode.into();
        }
        GraphError::from_response(status, &body.to_string())
    }

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        assert_eq!(backoff_secs(1, 0.5), 60);
        assert_eq!(backoff_secs(2, 0.5), 120);
        assert_eq!(backoff_secs(3, 0.0), 192);
        assert_eq!(backoff_secs(3, 1.0), 288);
        assert_eq!(backoff_secs(30, 0.5), 3600);
        assert_eq!(backoff_secs(-3, 0.5), 60);
    }

    #[test]
    fn throttling_waits_as_long_as_graph_asks() {
        let mut err = graph(4, None, 400);
        assert_eq!(throttle_secs(&err, 1, 0.5), 300);
        err.usage.regain_access_minutes = Some(17);
        assert_eq!(throttle_secs(&err, 1, 0.5), 1020);
    }

    #[test]
    fn graph_errors_map_to_outcomes() {
        let case = |err: GraphError, attempt| from_graph_error(&err, attempt, 0.5, "pages_manage_posts", Some("https://x/i.jpg"));
        assert!(matches!(case(graph(190, Some(460), 400), 1), Outcome::Failed { reason: "reconnect_required", .. }));
        match case(graph(200, None, 403), 1) {
            Outcome::Failed { reason: "permission_missing", message } => {
                assert!(message.contains("pages_manage_posts"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(case(graph(32, None, 400), 1), Outcome::Retry { reason: "rate_limited", after_secs: 300, .. }));
        assert!(matches!(case(graph(9004, Some(2207052), 400), 1), Outcome::Retry { reason: "media_fetch_failed", .. }));
        match case(graph(9004, Some(2207052), 400), MAX_MEDIA_FETCH_ATTEMPTS) {
            Outcome::Failed { reason: "media_fetch_failed", message } => assert!(message.contains("https://x/i.jpg")),
            other => panic!("{other:?}"),
        }
        assert_eq!(case(graph(506, None, 400), 1), Outcome::failed("content_rejected", "Shown to users"));
        assert!(matches!(case(graph(2, None, 503), 1), Outcome::Retry { reason: "graph_unavailable", after_secs: 60, .. }));
        assert!(matches!(case(graph(2, None, 503), MAX_TRANSIENT_ATTEMPTS), Outcome::Failed { reason: "graph_unavailable", .. }));
        assert_eq!(case(graph(9007, Some(2207027), 400), 1), Outcome::InProgress);
        assert!(matches!(case(graph(100, None, 400), 1), Outcome::Failed { reason: "graph_error", .. }));
    }

    #[test]
    fn a_job_is_settled_only_when_every_target_is() {
        let published = Outcome::Published { external_id: "1_2".into(), permalink: None };
        let failed = Outcome::failed("content_rejected", "too long");
        let retry = Outcome::Retry { reason: "graph_unavailable", message: "x".into(), after_secs: 120 };
        let (release_, bucket) = release(std::slice::from_ref(&published), 1000);
        assert_eq!((release_.status, bucket, release_.last_error), (JobStatus::Published, Bucket::Published, None));

        let (release_, bucket) = release(&[published.clone(), failed.clone()], 1000);
        assert_eq!((release_.status, bucket), (JobStatus::Failed, Bucket::Failed));
        assert_eq!(release_.last_error.as_deref(), Some("content_rejected: too long"));

        let (release_, bucket) = release(&[failed.clone(), retry.clone()], 1000);
        assert_eq!((release_.status, bucket), (JobStatus::Queued, Bucket::RetryScheduled));
        assert_eq!(release_.next_attempt_at.as_deref(), Some("1970-01-01T00:18:40Z"));

        let (release_, bucket) = release(&[Outcome::InProgress, retry], 1000);
        assert_eq!((release_.status, bucket), (JobStatus::Queued, Bucket::RetryScheduled));
        assert_eq!(release_.next_attempt_at.as_deref(), Some("1970-01-01T00:17:10Z"));

        let (release_, bucket) = release(&[Outcome::Settled(TargetStatus::Published), Outcome::InProgress], 1000);
        assert_eq!((release_.status, bucket), (JobStatus::Queued, Bucket::InProgress));

        let (release_, bucket) = release(&[Outcome::NotReached], 1000);
        assert_eq!((release_.status, bucket, release_.next_attempt_at), (JobStatus::Queued, Bucket::Deferred, None));

        let review = Outcome::review("outcome_unknown", "maybe live");
        let (release_, bucket) = release(&[review, failed], 1000);
        assert_eq!((release_.status, bucket), (JobStatus::NeedsReview, Bucket::NeedsReview));
    }
}

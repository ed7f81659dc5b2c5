//! Jobs across workspaces, and the retry of a job's failed or in-review targets.

use crate::api_error::ApiError;
use crate::publish::explain::{explain, reason_of_job_error, Explanation};
use crate::publish::jobs::{self as job_api, JobView};
use crate::store::jobs::{JobRecord, Target};
use crate::store::{Store, StoreError};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct OpsJob {
    #[serde(flatten)]
    pub job: JobRecord,
    pub explanation: Option<Explanation>,
}

#[derive(Debug, Serialize)]
pub struct OpsJobPage {
    pub jobs: Vec<OpsJob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
}

/// Jobs of every workspace (or one), newest first, with their last error explained.
pub async fn list(
    store: &Store,
    workspace_id: Option<&str>,
    status: Option<&str>,
    offset: Option<&str>,
    limit: Option<&str>,
) -> Result<OpsJobPage, ApiError> {
    let page = job_api::list(store, workspace_id, status, offset, limit).await?;
    let jobs = page
        .jobs
        .into_iter()
        .map(|job| {
            let explanation = job.last_error.as_deref().map(|error| explain(reason_of_job_error(error)));
            OpsJob { job, explanation }
        })
        .collect();
    Ok(OpsJobPage { jobs, next_offset: page.next_offset })
}

#[derive(Debug, Serialize)]
pub struct RetryAnswer {
    /// The targets made pending again; published ones never are.
    pub retried: Vec<Target>,
    pub job: JobView,
}

/// Sends a failed or in-review job back to the queue with those targets pending again.
/// `confirm_review` must be set when a target is in review: it may be live already.
pub async fn retry(store: &Store, job_id: &str, confirm_review: bool) -> Result<RetryAnswer, ApiError> {
    let retried = store.retry_job(job_id, confirm_review).await.map_err(|err| match err {
        StoreError::NotFound => ApiError::not_found("No such publish job"),
        StoreError::IllegalTransition { .. } => {
            ApiError::new(409, "not_retryable", "Only failed and needs_review jobs can be retried; this one is not")
        }
        StoreError::ConfirmationRequired { .. } => ApiError::new(
            409,
            "confirmation_required",
            "A target of this job is in review and may already be live; check the Page or account, then retry with {\"confirm_needs_review\": true}",
        ),
        other => job_api::unavailable(other),
    })?;
    let job = store.job(job_id).await.map_err(job_api::unavailable)?.ok_or_else(|| ApiError::not_found("No such publish job"))?;
    Ok(RetryAnswer { retried, job: job_api::view(store, job).await? })
}

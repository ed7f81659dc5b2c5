//! The job API: queue a post (checked at the boundary, destinations and image included), view a
//! job with its per-target results and attempt log, list a workspace's jobs, cancel a queued one.
//! Nothing here returns a token: jobs, targets and attempts hold none.

use super::content::JobRequest;
use super::explain::{explain, reason_of_job_error, Explanation};
use super::image_check;
use crate::api_error::ApiError;
use crate::clock::Clock;
use crate::connect::access::{self, Caller, Need};
use crate::store::jobs::{Attempt, JobRecord, JobStatus, Target, TargetRecord};
use crate::store::{Store, StoreError};
use serde::Serialize;
use std::time::Duration;

pub const DEFAULT_PAGE_SIZE: usize = 25;
pub const MAX_PAGE_SIZE: usize = 100;

#[derive(Debug, Serialize)]
pub struct JobView {
    #[serde(flatten)]
    pub job: JobRecord,
    /// What `last_error` means and what to do, for people.
    pub explanation: Option<Explanation>,
    pub results: Vec<TargetView>,
    pub attempt_log: Vec<Attempt>,
}

#[derive(Debug, Serialize)]
pub struct TargetView {
    #[serde(flatten)]
    pub result: TargetRecord,
    pub explanation: Option<Explanation>,
}

impl JobView {
    pub fn new(job: JobRecord, results: Vec<TargetRecord>, attempt_log: Vec<Attempt>) -> JobView {
        let explanation = job.last_error.as_deref().map(|error| explain(reason_of_job_error(error)));
        let results = results
            .into_iter()
            .map(|result| {
                let explanation = result.last_error_reason.as_deref().map(explain);
                TargetView { result, explanation }
            })
            .collect();
        JobView { job, explanation, results, attempt_log }
    }
}

#[derive(Debug, Serialize)]
pub struct JobPage {
    pub jobs: Vec<JobRecord>,
    /// Pass as `offset` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
}

pub fn unavailable(err: StoreError) -> ApiError {
    ApiError::new(503, "database_unavailable", format!("The job store could not be reached: {err}"))
}

/// Queues the job, or answers the one queued earlier with the same idempotency key
/// (`created` = false). Refuses, with a code saying which, a target without a destination.
pub async fn create(
    store: &Store,
    http: &reqwest::Client,
    clock: &dyn Clock,
    image_timeout: Duration,
    caller: &Caller,
    request: JobRequest,
) -> Result<(JobRecord, bool), ApiError> {
    let workspace_id = request.workspace_id().to_string();
    let connection = store.connection(&workspace_id).await.map_err(unavailable)?;
    let Some(connection) = connection else {
        return Err(ApiError::new(422, "not_connected", "Connect Facebook for this workspace before queueing posts"));
    };
    if connection.status != "active" && !super::plan::expiring_only(connection.status_reason.as_deref()) {
        return Err(ApiError::new(
            422,
            "reconnect_required",
            "The workspace's Meta connection needs to be reconnected before posts can be queued",
        ));
    }
    let defaults = store.defaults(&workspace_id).await.map_err(unavailable)?;
    let defaults = defaults.filter(|d| d.connection_id == connection.id);
    for target in request.targets() {
        match target {
            Target::Facebook if defaults.as_ref().and_then(|d| d.facebook_page_id.as_ref()).is_none() => {
                return Err(ApiError::new(
                    422,
                    "no_default_page",
                    "Choose a default Facebook Page before queueing Facebook posts",
                ));
            }
            Target::Instagram if defaults.as_ref().and_then(|d| d.instagram_account_id.as_ref()).is_none() => {
                return Err(ApiError::new(
                    422,
                    "no_default_instagram_account",
                    "Choose a default Instagram account before queueing Instagram posts",
                ));
            }
            _ => {}
        }
    }
    if request.targets().contains(&Target::Instagram) {
        if let Some(image) = request.content().image() {
            image_check::check(http, image, clock, image_timeout).await?;
        }
    }
    let job = request.into_new_job(Some(caller.user_id.clone()));
    store.insert_job(&job).await.map_err(|err| match err {
        StoreError::InvalidReference { .. } => ApiError::new(404, "not_found", "No such workspace"),
        other => unavailable(other),
    })
}

/// The job, if `authorization` belongs to a member of its workspace. Others get the same 404 as
/// for a job that does not exist.
pub async fn authorized_job(store: &Store, authorization: Option<&str>, job_id: &str) -> Result<JobRecord, ApiError> {
    let not_found = || ApiError::not_found("No such publish job");
    if !is_uuid(job_id) {
        return Err(not_found());
    }
    // Check the caller before looking anything up, so strangers learn nothing.
    if access::bearer_token(authorization).is_none() {
        return Err(ApiError::new(401, "unauthenticated", "Sign in again: a valid Supabase access token is required"));
    }
    let job = store.job(job_id).await.map_err(unavailable)?.ok_or_else(not_found)?;
    match access::authorize(store, authorization, &job.workspace_id, Need::MemberAnyPlan).await {
        Ok(_) => Ok(job),
        Err(err) if err.status == 403 => Err(not_found()),
        Err(err) => Err(err),
    }
}

pub async fn view(store: &Store, job: JobRecord) -> Result<JobView, ApiError> {
    let results = store.targets(&job.id).await.map_err(unavailable)?;
    let attempt_log = store.attempts(&job.id).await.map_err(unavailable)?;
    Ok(JobView::new(job, results, attempt_log))
}

pub async fn list(
    store: &Store,
    workspace_id: Option<&str>,
    status: Option<&str>,
    offset: Option<&str>,
    limit: Option<&str>,
) -> Result<JobPage, ApiError> {
    let status = match status {
        None | Some("") => None,
        Some(text) => Some(parse_status(text)?),
    };
    let offset = number_param("offset", offset, 0, 1_000_000)?;
    let limit = number_param("limit", limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?.max(1);
    // One more than asked tells whether another page follows.
    let mut jobs = store.jobs(workspace_id, status, offset, limit + 1).await.map_err(unavailable)?;
    let next_offset = (jobs.len() > limit).then_some(offset + limit);
    jobs.truncate(limit);
    Ok(JobPage { jobs, next_offset })
}

pub async fn cancel(store: &Store, job: JobRecord) -> Result<JobRecord, ApiError> {
    match store.cancel_job(&job.id).await {
        Ok(job) => Ok(job),
        Err(StoreError::IllegalTransition { .. }) => Err(ApiError::new(
            409,
            "not_cancellable",
            format!("Only queued jobs can be cancelled; this one is {}", current_status(store, &job.id).await),
        )),
        Err(StoreError::NotFound) => Err(ApiError::not_found("No such publish job")),
        Err(err) => Err(unavailable(err)),
    }
}

async fn current_status(store: &Store, job_id: &str) -> String {
    match store.job(job_id).await {
        Ok(Some(job)) => job.status.as_str().replace('_', " "),
        _ => "no longer queued".into(),
    }
}

fn parse_status(text: &str) -> Result<JobStatus, ApiError> {
    serde_json::from_value(serde_json::Value::String(text.into())).map_err(|_| {
        ApiError::new(400, "invalid_request", "status must be one of queued, running, published, failed, needs_review, cancelled")
    })
}

fn number_param(name: &str, value: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    match value {
        None | Some("") => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| ApiError::new(400, "invalid_request", format!("{name} must be a whole number from 0 to {max}"))),
    }
}

fn is_uuid(text: &str) -> bool {
    access::workspace_id(Some(text)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parameters_are_checked() {
        assert_eq!(number_param("limit", None, 25, 100).unwrap(), 25);
        assert_eq!(number_param("limit", Some("100"), 25, 100).unwrap(), 100);
        for bad in ["101", "-1", "x", "1.5"] {
            assert_eq!(number_param("limit", Some(bad), 25, 100).unwrap_err().code, "invalid_request", "{bad}");
        }
        assert_eq!(parse_status("needs_review").unwrap(), JobStatus::NeedsReview);
        assert_eq!(parse_status("done").unwrap_err().status, 400);
    }
}

//! Publish jobs, their per-target results, the attempt log, and claiming due jobs.

use super::{fetch, fetch_first, send, Store, StoreError};
use crate::vault::SealedToken;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Facebook,
    Instagram,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Published,
    Failed,
    NeedsReview,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Published => "published",
            JobStatus::Failed => "failed",
            JobStatus::NeedsReview => "needs_review",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    Pending,
    ContainerCreated,
    Published,
    Failed,
    NeedsReview,
    Cancelled,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewJob {
    pub workspace_id: String,
    pub targets: Vec<Target>,
    /// Versioned content: `{"version": 1, ...}`.
    pub payload_json: serde_json::Value,
    /// RFC 3339 with offset.
    pub scheduled_at: String,
    pub idempotency_key: Option<String>,
    pub created_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct JobRecord {
    pub id: String,
    pub workspace_id: String,
    pub targets: Vec<Target>,
    pub payload_json: serde_json::Value,
    pub scheduled_at: String,
    pub status: JobStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const JOB_COLUMNS: &str = "id,workspace_id,targets,payload_json,scheduled_at,status,attempts,next_attempt_at,\
     last_error,idempotency_key,created_by,created_at,updated_at";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct TargetRecord {
    pub target: Target,
    pub status: TargetStatus,
    pub destination_id: Option<String>,
    pub container_id: Option<String>,
    pub container_created_at: Option<String>,
    pub external_id: Option<String>,
    pub permalink: Option<String>,
    pub attempts: i32,
    pub last_error_reason: Option<String>,
    pub last_error_message: Option<String>,
    pub published_at: Option<String>,
    /// When a send whose answer could be lost began (cleared once the outcome is known).
    #[serde(default)]
    pub send_started_at: Option<String>,
    #[serde(default)]
    pub expired_containers: i32,
    pub updated_at: String,
}

/// Fields of a target to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TargetStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permalink: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_at: Option<String>,
}

/// One Graph step of one attempt, for the append-only log. No tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attempt {
    pub job_id: String,
    pub target: Target,
    pub attempt_number: i32,
    pub step: String,
    pub started_at: String,
    pub finished_at: String,
    pub outcome: String,
    pub graph_http_status: Option<i32>,
    pub graph_error_code: Option<i64>,
    pub graph_error_subcode: Option<i64>,
    pub fbtrace_id: Option<String>,
    pub error_reason: Option<String>,
    pub error_message: Option<String>,
    pub container_id: Option<String>,
    pub external_id: Option<String>,
    pub permalink: Option<String>,
}

/// Where a target stood when its job was claimed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClaimedTargetState {
    pub status: TargetStatus,
    #[serde(default)]
    pub destination_id: Option<String>,
    pub container_id: Option<String>,
    pub container_created_at: Option<String>,
    pub external_id: Option<String>,
    pub attempts: i32,
    /// Set while a send whose outcome could be lost is under way (see migration 0006).
    #[serde(default)]
    pub send_started_at: Option<String>,
    #[serde(default)]
    pub expired_containers: i32,
}

/// A job leased to one pass, with what publishing it needs (sealed tokens, opened later).
#[derive(Debug, Clone, Deserialize)]
pub struct ClaimedJob {
    pub job_id: String,
    pub workspace_id: String,
    pub workspace_plan: String,
    pub targets: Vec<Target>,
    pub payload_json: serde_json::Value,
    pub scheduled_at: String,
    pub attempts: i32,
    pub lease_expires_at: String,
    #[serde(default)]
    pub target_states: BTreeMap<Target, ClaimedTargetState>,
    pub connection_id: Option<String>,
    pub connection_status: Option<String>,
    #[serde(default)]
    pub connection_status_reason: Option<String>,
    pub user_token_sealed: Option<SealedToken>,
    pub facebook_page_id: Option<String>,
    pub page_token_sealed: Option<SealedToken>,
    pub instagram_account_id: Option<String>,
    /// The Page the Instagram account is linked to: its token publishes to the account.
    #[serde(default)]
    pub instagram_page_id: Option<String>,
    pub instagram_page_token_sealed: Option<SealedToken>,
}

/// How a pass leaves a job it holds.
#[derive(Debug, Clone, Serialize)]
pub struct JobRelease {
    pub status: JobStatus,
    /// For `Queued`: when to try again (RFC 3339), or `None` for "as soon as due".
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
}

/// A [`JobRelease`] for one job, as [`Store::apply_publish_results`] takes it.
#[derive(Debug, Clone, Serialize)]
pub struct JobReleaseOf {
    pub job_id: String,
    #[serde(flatten)]
    pub release: JobRelease,
}

impl Store {
    /// Queues a job. With an idempotency key already used in the workspace, returns the
    /// existing job and `false` instead of creating a second one.
    pub async fn insert_job(&self, job: &NewJob) -> Result<(JobRecord, bool), StoreError> {
        let body = serde_json::to_string(job).map_err(|_| StoreError::Unexpected { status: 0, code: None })?;
        match fetch::<Vec<JobRecord>>(self.from("publish_jobs").select(JOB_COLUMNS).insert(body)).await {
            Ok(rows) => rows.into_iter().next().map(|job| (job, true)).ok_or(StoreError::NotFound),
            Err(StoreError::Conflict { constraint }) => {
                let Some(key) = &job.idempotency_key else {
                    return Err(StoreError::Conflict { constraint });
                };
                let existing = fetch_first(
                    self.from("publish_jobs")
                        .select(JOB_COLUMNS)
                        .eq("workspace_id", &job.workspace_id)
                        .eq("idempotency_key", key)
                        .limit(1),
                )
                .await?;
                existing.map(|job| (job, false)).ok_or(StoreError::Conflict { constraint })
            }
            Err(err) => Err(err),
        }
    }

    pub async fn job(&self, job_id: &str) -> Result<Option<JobRecord>, StoreError> {
        fetch_first(self.from("publish_jobs").select(JOB_COLUMNS).eq("id", job_id).limit(1)).await
    }

    /// Jobs of a workspace (or of every workspace), newest first; `offset` and `limit` page
    /// through them.
    pub async fn jobs(
        &self,
        workspace_id: Option<&str>,
        status: Option<JobStatus>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let mut query = self.from("publish_jobs").select(JOB_COLUMNS).order("created_at.desc,id.desc");
        if let Some(workspace_id) = workspace_id {
            query = query.eq("workspace_id", workspace_id);
        }
        if let Some(status) = status {
            query = query.eq("status", status.as_str());
        }
        fetch(query.range(offset, offset + limit.max(1) - 1)).await
    }

    /// The operator's retry (migration 0008): the job's failed and in-review targets pending
    /// again, the job queued. Which targets it made pending.
    pub async fn retry_job(&self, job_id: &str, confirm_review: bool) -> Result<Vec<Target>, StoreError> {
        fetch(self.rpc("retry_publish_job", json!({ "p_job_id": job_id, "p_confirm_review": confirm_review }))).await
    }

    /// Cancels a job that is still queued. `IllegalTransition` if it is past that.
    pub async fn cancel_job(&self, job_id: &str) -> Result<JobRecord, StoreError> {
        let rows: Vec<JobRecord> = fetch(
            self.from("publish_jobs")
                .select(JOB_COLUMNS)
                .eq("id", job_id)
                .eq("status", "queued")
                .update(json!({ "status": "cancelled" }).to_string()),
        )
        .await?;
        // The database cancels the job's targets that have not gone out, in the same statement.
        if let Some(job) = rows.into_iter().next() {
            return Ok(job);
        }
        match self.job(job_id).await? {
            None => Err(StoreError::NotFound),
            Some(job) => Err(StoreError::IllegalTransition {
                message: format!("publish job {} is {} and can no longer be cancelled", job.id, job.status.as_str()),
            }),
        }
    }

    /// Leases up to `limit` due jobs to `owner` for `lease_seconds`.
    pub async fn claim_due_jobs(&self, limit: u32, lease_seconds: u32, owner: &str) -> Result<Vec<ClaimedJob>, StoreError> {
        fetch(self.rpc("claim_due_publish_jobs", json!({ "p_limit": limit, "p_lease_seconds": lease_seconds, "p_owner": owner })))
            .await
    }

    /// Ends `owner`'s lease on a job. `false` when the lease is no longer the owner's (it expired
    /// and another pass took the job): the caller must then leave the job alone.
    pub async fn release_job(&self, job_id: &str, owner: &str, release: &JobRelease) -> Result<bool, StoreError> {
        let row = json!({
            "status": release.status,
            "next_attempt_at": release.next_attempt_at,
            "last_error": release.last_error,
            "lease_owner": null,
            "lease_expires_at": null,
        });
        let rows: Vec<serde_json::Value> = fetch(
            self.from("publish_jobs")
                .select("id")
                .eq("id", job_id)
                .eq("status", "running")
                .eq("lease_owner", owner)
                .update(row.to_string()),
        )
        .await?;
        Ok(!rows.is_empty())
    }

    pub async fn targets(&self, job_id: &str) -> Result<Vec<TargetRecord>, StoreError> {
        fetch(self.from("publish_job_targets").select("*").eq("job_id", job_id).order("target.asc")).await
    }

    /// Changes one target of a job that `owner` holds the lease of. `false` when the lease is no
    /// longer the owner's (or the job is not running): nothing was written.
    pub async fn update_target(
        &self,
        job_id: &str,
        target: Target,
        owner: &str,
        update: &TargetUpdate,
    ) -> Result<bool, StoreError> {
        fetch(self.rpc(
            "update_publish_target",
            json!({ "p_job_id": job_id, "p_target": target, "p_owner": owner, "p_changes": update }),
        ))
        .await
    }

    /// Writes a batch of a pass's results in one transaction (migration 0006): target changes
    /// (JSON objects with `job_id`, `target` and the columns to set, `null` clearing one),
    /// attempt-log rows and job releases, for the jobs `owner` still holds. Returns those jobs' ids;
    /// the rest was not written.
    pub async fn apply_publish_results(
        &self,
        owner: &str,
        targets: &[serde_json::Value],
        attempts: &[Attempt],
        releases: &[JobReleaseOf],
    ) -> Result<Vec<String>, StoreError> {
        fetch(self.rpc(
            "apply_publish_results",
            json!({ "p_owner": owner, "p_targets": targets, "p_attempts": attempts, "p_releases": releases }),
        ))
        .await
    }

    pub async fn append_attempt(&self, attempt: &Attempt) -> Result<(), StoreError> {
        let body = serde_json::to_string(attempt).map_err(|_| StoreError::Unexpected { status: 0, code: None })?;
        send(self.from("publish_attempts").insert(body)).await.map(|_| ())
    }

    /// The attempt log of a job, oldest first.
    pub async fn attempts(&self, job_id: &str) -> Result<Vec<Attempt>, StoreError> {
        fetch(
            self.from("publish_attempts")
                .select(
                    "job_id,target,attempt_number,step,started_at,finished_at,outcome,graph_http_status,\
                         graph_error_code,graph_error_subcode,fbtrace_id,error_reason,error_message,container_id,\
                         external_id,permalink",
                )
                .eq("job_id", job_id)
                .order("id.asc"),
        )
        .await
    }
}

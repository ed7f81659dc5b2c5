//! One publish pass: claim due jobs in batches, publish each target, record outcomes, summarise.
//!
//! Per batch, PostgREST sees two round trips (the claim; one write with every outcome,
//! attempt-log row and lease release) plus at most one per job: a Facebook post's mark, written
//! just before it is sent (so a lost answer can never lead to a second post), or an Instagram
//! container, persisted before it is used. All writes go through `apply_publish_results`, which
//! ignores jobs whose lease the pass no longer holds.
//!
//! Jobs run concurrently, each making one call at a time, so at most `max_in_flight` (the
//! Workers limit of 6 open connections) requests are in flight. A new batch is claimed only
//! while the subrequest and time budgets allow, and no send starts once the batch's lease could
//! run out before its results are written; what is left stays queued.

use super::context::PassContext;
use super::outcome::{release, Bucket, Outcome};
use super::plan::{self, Action, JobPlan};
use super::record::TargetRecord;
use super::{facebook, instagram};
use crate::clock::Clock;
use crate::graph::GraphClient;
use crate::store::connections::ConnectionStatus;
use crate::store::jobs::{Attempt, ClaimedTargetState, JobReleaseOf, Target, TargetStatus};
use crate::store::{Store, StoreError};
use crate::vault::Vault;
use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;

/// How a pass spends one invocation.
#[derive(Debug, Clone, Copy)]
pub struct PassLimits {
    /// Requests in flight at once (Workers allow 6 simultaneous open connections).
    pub max_in_flight: usize,
    /// Subrequests the invocation may make (Workers Paid: 1,000 by default; Free: 50).
    pub subrequest_budget: u32,
    /// No new batch is claimed after this much time.
    pub time_budget_ms: f64,
    pub batch_size: u32,
    /// A pass that dies frees its jobs after this.
    pub lease_seconds: u32,
    /// The Graph client's timeout: the longest a send started before the deadline can take.
    pub graph_timeout_ms: f64,
}

impl Default for PassLimits {
    fn default() -> PassLimits {
        PassLimits {
            max_in_flight: 6,
            subrequest_budget: 1000,
            time_budget_ms: 20_000.0,
            batch_size: 50,
            lease_seconds: 300,
            graph_timeout_ms: 15_000.0,
        }
    }
}

/// Subrequests one job may need at worst (Facebook: mark, post, permalink; Instagram: create,
/// persist, status, quota, publish, permalink, and a replacement container), and per batch
/// (claim, results and a retry of them, connections flagged). Each step checks again before it
/// starts, so a wrong estimate costs a deferral, not a failed call.
const SUBREQUESTS_PER_JOB: u32 = 11;
const SUBREQUESTS_PER_BATCH: u32 = 6;
/// Time kept between the last send and the lease's end, for the results to be written.
const WRITE_MARGIN_MS: f64 = 30_000.0;

/// What a pass did, as logged by the cron trigger and returned by the HTTP trigger. Counts are
/// of jobs, by where each ended the pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PassSummary {
    pub claimed: u32,
    pub published: u32,
    pub in_progress: u32,
    pub retry_scheduled: u32,
    pub failed: u32,
    pub needs_review: u32,
    /// Claimed but left for the next pass untouched (out of budget, or too close to the end of
    /// the lease to start a send).
    pub deferred: u32,
    /// Filled in by the caller, which owns the clock.
    pub duration_ms: u64,
    /// Subrequests made: Graph calls and PostgREST round trips.
    pub graph_calls: u32,
    pub store_calls: u32,
    /// Set when the database could not be reached: the pass stopped, leases expire, nothing lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The outcome of one job within a pass, for the final write and the log.
pub struct JobResult {
    pub job_id: String,
    pub workspace_id: String,
    pub changes: Vec<Value>,
    pub attempts: Vec<Attempt>,
    pub release: JobReleaseOf,
    pub bucket: Bucket,
    pub targets: Vec<(Target, Outcome)>,
}

pub async fn run(
    store: &Store,
    graph: &GraphClient,
    vault: &Vault,
    clock: &dyn Clock,
    limits: PassLimits,
) -> (PassSummary, Vec<JobResult>) {
    let mut summary = PassSummary::default();
    let Some(owner) = owner_name() else {
        summary.error = Some("random_source_failed: the pass could not name its leases".into());
        return (summary, Vec::new());
    };
    let ctx = PassContext::new(store, graph, clock, owner, limits.subrequest_budget);
    let started = ctx.now_ms();
    let mut results = Vec::new();
    loop {
        let left = limits.subrequest_budget.saturating_sub(ctx.subrequests() + SUBREQUESTS_PER_BATCH);
        let limit = (left / SUBREQUESTS_PER_JOB).min(limits.batch_size).min(100);
        if limit == 0 || ctx.now_ms() - started > limits.time_budget_ms {
            break;
        }
        ctx.count_store_call();
        let claimed_at = ctx.now_ms();
        ctx.set_send_deadline(claimed_at + f64::from(limits.lease_seconds) * 1000.0 - limits.graph_timeout_ms - WRITE_MARGIN_MS);
        let claimed = match store.claim_due_jobs(limit, limits.lease_seconds, &ctx.owner).await {
            Ok(claimed) => claimed,
            Err(err) => {
                summary.error = Some(database_error(&err));
                break;
            }
        };
        let count = claimed.len() as u32;
        summary.claimed += count;
        let plans: Vec<JobPlan> = claimed.iter().map(|job| plan::plan(job, vault, ctx.jitter())).collect();
        let workspaces: Vec<String> = claimed.iter().map(|job| job.workspace_id.clone()).collect();
        match run_batch(&ctx, plans, workspaces, limits).await {
            Ok(batch) => {
                for result in &batch {
                    match result.bucket {
                        Bucket::Published => summary.published += 1,
                        Bucket::InProgress => summary.in_progress += 1,
                        Bucket::RetryScheduled => summary.retry_scheduled += 1,
                        Bucket::Failed => summary.failed += 1,
                        Bucket::NeedsReview => summary.needs_review += 1,
                        Bucket::Deferred => summary.deferred += 1,
                    }
                }
                results.extend(batch);
            }
            Err(err) => {
                summary.error = Some(database_error(&err));
                break;
            }
        }
        if count < limit {
            break;
        }
    }
    for connection_id in ctx.dead_connections() {
        ctx.count_store_call();
        // Best-effort: the targets already say reconnect_required; the flag warns the workspace.
        let _ = store.set_connection_status(&connection_id, ConnectionStatus::NeedsReauth, Some("token_invalid")).await;
    }
    summary.graph_calls = ctx.graph_calls();
    summary.store_calls = ctx.store_calls();
    (summary, results)
}

async fn run_batch(
    ctx: &PassContext<'_>,
    plans: Vec<JobPlan>,
    workspaces: Vec<String>,
    limits: PassLimits,
) -> Result<Vec<JobResult>, StoreError> {
    let jobs = plans.into_iter().zip(workspaces).map(|(plan, workspace_id)| run_job(ctx, plan, workspace_id));
    let results: Vec<JobResult> = stream::iter(jobs).buffer_unordered(limits.max_in_flight.clamp(1, 6)).collect().await;

    let changes: Vec<Value> = results.iter().flat_map(|r| r.changes.iter().cloned()).collect();
    let attempts: Vec<Attempt> = results.iter().flat_map(|r| r.attempts.iter().cloned()).collect();
    let releases: Vec<JobReleaseOf> = results.iter().map(|r| r.release.clone()).collect();
    ctx.count_store_call();
    let written = match ctx.store.apply_publish_results(&ctx.owner, &changes, &attempts, &releases).await {
        Ok(written) => written,
        // One more try: a failed write leaves the jobs to their lease (safe, but slower).
        Err(StoreError::Unreachable) => {
            ctx.count_store_call();
            ctx.store.apply_publish_results(&ctx.owner, &changes, &attempts, &releases).await?
        }
        // The database refused something in the batch: write job by job, so one bad row
        // cannot hold back the others on every pass.
        Err(_) => {
            let mut written = Vec::new();
            for result in &results {
                ctx.count_store_call();
                let release = [result.release.clone()];
                if let Ok(mut one) =
                    ctx.store.apply_publish_results(&ctx.owner, &result.changes, &result.attempts, &release).await
                {
                    written.append(&mut one);
                }
            }
            written
        }
    };
    Ok(results.into_iter().filter(|result| written.contains(&result.job_id)).collect())
}

/// A target that came into the pass with an Instagram container may already be live (its
/// publish may have gone unanswered): only the container itself can say it failed. Anything
/// else that would fail it sends it to review instead.
fn settle_container(state: &ClaimedTargetState, outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Failed { reason, message }
            if state.status == TargetStatus::ContainerCreated && !matches!(reason, "container_error" | "container_expired") =>
        {
            Outcome::review(
                "container_unverified",
                format!(
                    "{message}. Its Instagram media container may already have been published; check the account before retrying"
                ),
            )
        }
        other => other,
    }
}

async fn run_job(ctx: &PassContext<'_>, plan: JobPlan, workspace_id: String) -> JobResult {
    let mut changes = Vec::new();
    let mut attempts = Vec::new();
    let mut outcomes = Vec::new();
    for target in &plan.targets {
        let mut record = TargetRecord::new(&plan.job_id, target.target, plan.attempt);
        let dead = plan.connection_id.as_deref().is_some_and(|id| ctx.is_dead(id));
        let outcome = match &target.action {
            Action::Decided { outcome, step } => {
                let outcome = &settle_container(&target.state, outcome.clone());
                if let Some(step) = step {
                    let now = ctx.now_ms();
                    let row = record.step(step, now, now, super::record::log_outcome(outcome));
                    if let Outcome::Failed { reason, message }
                    | Outcome::NeedsReview { reason, message }
                    | Outcome::Retry { reason, message, .. } = outcome
                    {
                        row.error_reason = Some(reason.to_string());
                        row.error_message = Some(message.clone());
                    }
                }
                outcome.clone()
            }
            _ if dead => {
                let outcome = settle_container(
                    &target.state,
                    Outcome::failed(
                        "reconnect_required",
                        "Meta rejected this connection's token earlier in this pass; reconnect Facebook",
                    ),
                );
                let now = ctx.now_ms();
                let row = record.step("resolve", now, now, super::record::log_outcome(&outcome));
                row.error_reason = Some("reconnect_required".into());
                outcome
            }
            Action::Facebook { page_id, token, post, image_url } => {
                facebook::publish(ctx, &mut record, &target.state, page_id, token, post, image_url.as_deref()).await
            }
            Action::Instagram { account_id, token, caption, image_url } => {
                let post = instagram::Post { account_id, token, caption, image_url };
                instagram::publish(ctx, &mut record, &target.state, &post).await
            }
        };
        if let (Outcome::Failed { reason: "reconnect_required", .. }, Some(id), false) = (&outcome, &plan.connection_id, dead) {
            if !matches!(target.action, Action::Decided { .. }) {
                ctx.mark_dead(id);
            }
        }
        let outcome = settle_container(&target.state, outcome);
        changes.extend(record.change(&outcome, &target.state, ctx.now_ms()));
        attempts.append(&mut record.take_attempts());
        outcomes.push((target.target, outcome));
    }
    let only_outcomes: Vec<Outcome> = outcomes.iter().map(|(_, outcome)| outcome.clone()).collect();
    let (job_release, bucket) = release(&only_outcomes, ctx.now_secs());
    JobResult {
        release: JobReleaseOf { job_id: plan.job_id.clone(), release: job_release },
        job_id: plan.job_id,
        workspace_id,
        changes,
        attempts,
        bucket,
        targets: outcomes,
    }
}

fn database_error(err: &StoreError) -> String {
    format!("database_unavailable: {err}")
}

/// A unique name for this pass's leases.
fn owner_name() -> Option<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).ok()?;
    Some(format!("pass-{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

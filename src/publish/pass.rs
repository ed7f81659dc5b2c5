//! One publish pass: claim due jobs in batches, publish each target, record outcomes, summarise.
//!
//! Per batch, PostgREST sees a constant number of round trips plus one per Instagram container
//! created: the claim; one write marking the Facebook sends about to go out (so a lost answer
//! can never lead to a second post); the containers, each persisted before it is used; and one
//! write with every outcome, attempt-log row and lease release. All writes go through
//! `apply_publish_results`, which ignores jobs whose lease the pass no longer holds.
//!
//! Jobs run concurrently, each making one call at a time, so at most `max_in_flight` (the
//! Workers limit of 6 open connections) requests are in flight. A new batch is claimed only
//! while the subrequest and time budgets allow; what is not claimed stays queued.

use super::context::PassContext;
use super::outcome::{release, Bucket, Outcome};
use super::plan::{self, Action, JobPlan};
use super::record::TargetRecord;
use super::{facebook, instagram};
use crate::clock::{rfc3339_millis, Clock};
use crate::graph::GraphClient;
use crate::store::connections::ConnectionStatus;
use crate::store::jobs::{Attempt, JobReleaseOf, Target};
use crate::store::{Store, StoreError};
use crate::vault::Vault;
use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};

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
    /// Long enough for a batch at Graph's slowest; a pass that dies frees its jobs after this.
    pub lease_seconds: u32,
}

impl Default for PassLimits {
    fn default() -> PassLimits {
        PassLimits { max_in_flight: 6, subrequest_budget: 1000, time_budget_ms: 20_000.0, batch_size: 50, lease_seconds: 300 }
    }
}

/// Subrequests one job may need at worst (Instagram: create, persist, status, quota, publish,
/// permalink), and per batch (claim, send marks, results, a connection flagged).
const SUBREQUESTS_PER_JOB: u32 = 6;
const SUBREQUESTS_PER_BATCH: u32 = 4;

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
    /// Claimed but left for the next pass untouched (Graph asked to slow down).
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
    let ctx = PassContext::new(store, graph, clock, owner_name());
    let started = ctx.now_ms();
    let mut summary = PassSummary::default();
    let mut results = Vec::new();
    loop {
        let left = limits.subrequest_budget.saturating_sub(ctx.subrequests() + SUBREQUESTS_PER_BATCH);
        let limit = (left / SUBREQUESTS_PER_JOB).min(limits.batch_size).min(100);
        if limit == 0 || ctx.now_ms() - started > limits.time_budget_ms {
            break;
        }
        ctx.count_store_call();
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
    // Mark every Facebook send before it goes out (see facebook.rs).
    let now = rfc3339_millis(ctx.now_ms());
    let marks: Vec<Value> = plans
        .iter()
        .flat_map(|plan| {
            plan.targets.iter().filter_map(|target| match &target.action {
                Action::Facebook { page_id, .. } => Some(json!({
                    "job_id": plan.job_id, "target": "facebook", "send_started_at": now, "destination_id": page_id,
                })),
                _ => None,
            })
        })
        .collect();
    let mut marked: Vec<String> = Vec::new();
    if !marks.is_empty() {
        ctx.count_store_call();
        marked = ctx.store.apply_publish_results(&ctx.owner, &marks, &[], &[]).await?;
    }
    let jobs = plans.into_iter().zip(workspaces).map(|(plan, workspace_id)| {
        let has_mark = marks.iter().any(|mark| mark["job_id"] == plan.job_id.as_str());
        // A job whose mark was not written (its lease is gone) sends nothing to Facebook.
        let lease_lost = has_mark && !marked.contains(&plan.job_id);
        run_job(ctx, plan, workspace_id, lease_lost)
    });
    let results: Vec<JobResult> = stream::iter(jobs).buffer_unordered(limits.max_in_flight.clamp(1, 6)).collect().await;

    let changes: Vec<Value> = results.iter().flat_map(|r| r.changes.iter().cloned()).collect();
    let attempts: Vec<Attempt> = results.iter().flat_map(|r| r.attempts.iter().cloned()).collect();
    let releases: Vec<JobReleaseOf> = results.iter().map(|r| r.release.clone()).collect();
    ctx.count_store_call();
    let written = match ctx.store.apply_publish_results(&ctx.owner, &changes, &attempts, &releases).await {
        Ok(written) => written,
        // One more try: a failed write leaves the jobs to their lease (safe, but slower).
        Err(_) => {
            ctx.count_store_call();
            ctx.store.apply_publish_results(&ctx.owner, &changes, &attempts, &releases).await?
        }
    };
    Ok(results.into_iter().filter(|result| written.contains(&result.job_id)).collect())
}

async fn run_job(ctx: &PassContext<'_>, plan: JobPlan, workspace_id: String, lease_lost: bool) -> JobResult {
    let mut changes = Vec::new();
    let mut attempts = Vec::new();
    let mut outcomes = Vec::new();
    for target in &plan.targets {
        let mut record = TargetRecord::new(&plan.job_id, target.target, plan.attempt);
        let dead = plan.connection_id.as_deref().is_some_and(|id| ctx.is_dead(id));
        let outcome = match &target.action {
            Action::Decided { outcome, step } => {
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
            _ if lease_lost => Outcome::NotReached,
            _ if dead => {
                let outcome = Outcome::failed(
                    "reconnect_required",
                    "Meta rejected this connection's token earlier in this pass; reconnect Facebook",
                );
                let now = ctx.now_ms();
                let row = record.step("resolve", now, now, "failed");
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
        changes.extend(record.change(&outcome, &target.state, ctx.now_ms()));
        attempts.append(&mut record.attempts);
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
fn owner_name() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    format!("pass-{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

//! publish_jobs and its companions against the real database: immutability, status
//! transitions, per-target rows, the append-only attempt log, idempotency and cancelling.

use meta_publisher::store::jobs::{Attempt, JobRelease, JobStatus, NewJob, Target, TargetStatus, TargetUpdate};
use meta_publisher::store::StoreError;
use reqwest::Method;
use serde_json::{json, Value};
use stack_tests::{new_id, Stack};

fn new_job(workspace_id: &str, targets: Vec<Target>, key: Option<&str>) -> NewJob {
    NewJob {
        workspace_id: workspace_id.into(),
        targets,
        payload_json: json!({"version": 1, "text": "hello"}),
        scheduled_at: "2030-01-01T10:00:00+02:00".into(),
        idempotency_key: key.map(str::to_owned),
        created_by: None,
    }
}

async fn patch_job(stack: &Stack, id: &str, body: Value) -> (u16, Value) {
    stack.rest(Method::PATCH, &format!("/publish_jobs?id=eq.{id}"), stack.service_role_key.expose(), Some(body)).await
}

#[tokio::test]
async fn a_queued_job_is_immutable() {
    let stack = Stack::from_env();
    let workspace = stack.workspace("growth", &[]).await;
    let other = stack.workspace("growth", &[]).await;
    let (job, created) = stack.service_store().insert_job(&new_job(&workspace, vec![Target::Facebook], None)).await.unwrap();
    assert!(created);
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.scheduled_at, "2030-01-01T08:00:00+00:00", "stored in UTC");

    let forbidden = [
        json!({"payload_json": {"version": 1, "text": "changed"}}),
        json!({"workspace_id": other}),
        json!({"targets": ["facebook", "instagram"]}),
        json!({"scheduled_at": "2031-01-01T00:00:00Z"}),
        json!({"created_at": "2020-01-01T00:00:00Z"}),
        json!({"idempotency_key": "later"}),
        json!({"id": new_id()}),
    ];
    for change in forbidden {
        let (status, body) = patch_job(&stack, &job.id, change.clone()).await;
        assert!((400..500).contains(&status), "{change}: {status} {body}");
        assert_eq!(body["code"], "MPJ01", "{change}: {body}");
    }
    let unchanged = stack.service_store().job(&job.id).await.unwrap().unwrap();
    assert_eq!(unchanged, job);
}

const STATUSES: [&str; 6] = ["queued", "running", "published", "failed", "needs_review", "cancelled"];
const ALLOWED: &[(&str, &str)] = &[
    ("queued", "running"), ("queued", "cancelled"),
    ("running", "queued"), ("running", "published"), ("running", "failed"), ("running", "needs_review"),
    ("failed", "queued"),
    ("needs_review", "queued"), ("needs_review", "published"), ("needs_review", "failed"),
];

/// Puts a job into `status` directly (the guard is bypassed for the setup only).
async fn force_status(stack: &Stack, id: &str, status: &str) {
    let db = stack.db().await;
    let lease = if status == "running" { "now() + interval '1 hour'" } else { "null" };
    db.batch_execute(&format!(
        "alter table public.publish_jobs disable trigger publish_jobs_guard;
         update public.publish_jobs set status = '{status}', lease_owner = {owner}, lease_expires_at = {lease} where id = '{id}';
         alter table public.publish_jobs enable trigger publish_jobs_guard;",
        owner = if status == "running" { "'test-pass-1'" } else { "null" },
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn status_moves_only_along_allowed_transitions() {
    let stack = Stack::from_env();
    let store = stack.service_store();
    let workspace = stack.workspace("growth", &[]).await;
    // Every one of the 30 moves between different statuses, through PostgREST as the Worker.
    for from in STATUSES {
        for to in STATUSES.iter().filter(|to| **to != from) {
            let (job, _) = store.insert_job(&new_job(&workspace, vec![Target::Facebook], None)).await.unwrap();
            force_status(&stack, &job.id, from).await;
            let mut change = json!({"status": to});
            if *to == "running" {
                change["lease_owner"] = json!("test-pass-2");
                change["lease_expires_at"] = json!("2099-01-01T00:00:00Z");
            } else if from == "running" {
                change["lease_owner"] = Value::Null;
                change["lease_expires_at"] = Value::Null;
            }
            let (status, body) = patch_job(&stack, &job.id, change).await;
            if ALLOWED.contains(&(from, to)) {
                assert_eq!(status, 200, "{from} -> {to} should be allowed: {body}");
            } else {
                assert_eq!(body["code"], "MPJ02", "{from} -> {to} should be refused: {status} {body}");
            }
        }
    }
    // Immutability holds in every status, not only while queued.
    for from in STATUSES {
        let (job, _) = store.insert_job(&new_job(&workspace, vec![Target::Facebook], None)).await.unwrap();
        force_status(&stack, &job.id, from).await;
        let (_, body) = patch_job(&stack, &job.id, json!({"created_by": new_id()})).await;
        assert_eq!(body["code"], "MPJ01", "{from}: {body}");
    }
    // A new job must start queued.
    let (status, body) = stack
        .rest(Method::POST, "/publish_jobs", stack.service_role_key.expose(), Some(json!({
            "workspace_id": workspace, "targets": ["facebook"], "payload_json": {"version": 1},
            "scheduled_at": "2030-01-01T00:00:00Z", "status": "published"})))
        .await;
    assert_eq!(body["code"], "MPJ02", "{status} {body}");
}

#[tokio::test]
async fn cancelling_cancels_what_has_not_gone_out() {
    let stack = Stack::from_env();
    let store = stack.service_store();
    let workspace = stack.workspace("growth", &[]).await;
    let (job, _) = store.insert_job(&new_job(&workspace, vec![Target::Facebook, Target::Instagram], None)).await.unwrap();
    let cancelled = store.cancel_job(&job.id).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    let targets = store.targets(&job.id).await.unwrap();
    assert!(targets.iter().all(|t| t.status == TargetStatus::Cancelled), "{targets:?}");
    assert!(matches!(store.cancel_job(&job.id).await, Err(StoreError::IllegalTransition { .. })));
    assert_eq!(store.cancel_job(&new_id()).await.unwrap_err(), StoreError::NotFound);
    // Running jobs cannot be cancelled: the pass may be posting right now.
    let (running, _) = store.insert_job(&new_job(&workspace, vec![Target::Facebook], None)).await.unwrap();
    force_status(&stack, &running.id, "running").await;
    assert!(matches!(store.cancel_job(&running.id).await, Err(StoreError::IllegalTransition { .. })));
}

#[tokio::test]
async fn release_only_works_for_the_lease_owner() {
    let stack = Stack::from_env();
    let store = stack.service_store();
    let workspace = stack.workspace("growth", &[]).await;
    let (job, _) = store.insert_job(&new_job(&workspace, vec![Target::Facebook], None)).await.unwrap();
    let lease = json!({"status": "running", "lease_owner": "pass-a", "lease_expires_at": "2099-01-01T00:00:00Z"});
    assert_eq!(patch_job(&stack, &job.id, lease).await.0, 200);
    let done = JobRelease { status: JobStatus::Published, next_attempt_at: None, last_error: None };
    assert!(!store.release_job(&job.id, "pass-b", &done).await.unwrap(), "another pass must not release it");
    assert!(store.release_job(&job.id, "pass-a", &done).await.unwrap());
    assert_eq!(store.job(&job.id).await.unwrap().unwrap().status, JobStatus::Published);
}

#[tokio::test]
async fn targets_get_a_row_each_and_a_published_target_is_final() {
    let stack = Stack::from_env();
    let store = stack.service_store();
    let workspace = stack.workspace("growth", &[]).await;
    let (job, _) = store.insert_job(&new_job(&workspace, vec![Target::Instagram, Target::Facebook], None)).await.unwrap();
    let targets = store.targets(&job.id).await.unwrap();
    assert_eq!(targets.iter().map(|t| (t.target, t.status)).collect::<Vec<_>>(), vec![
        (Target::Facebook, TargetStatus::Pending),
        (Target::Instagram, TargetStatus::Pending)
    ]);
    force_status(&stack, &job.id, "running").await;
    let owner = "test-pass-1";

    let published = TargetUpdate {
        status: Some(TargetStatus::Published),
        external_id: Some("111_222".into()),
        published_at: Some("2030-01-01T00:00:00Z".into()),
        ..Default::default()
    };
    assert!(!store.update_target(&job.id, Target::Facebook, "another-pass", &published).await.unwrap(), "not the lease owner");
    assert!(store.update_target(&job.id, Target::Facebook, owner, &published).await.unwrap());
    let permalink = TargetUpdate { permalink: Some("https://facebook.example/111_222".into()), ..Default::default() };
    assert!(store.update_target(&job.id, Target::Facebook, owner, &permalink).await.unwrap());
    let facebook = store.targets(&job.id).await.unwrap().into_iter().find(|t| t.target == Target::Facebook).unwrap();
    assert_eq!((facebook.external_id.as_deref(), facebook.permalink.is_some()), (Some("111_222"), true), "fields not named stay");

    let repost = TargetUpdate { status: Some(TargetStatus::Pending), ..Default::default() };
    assert!(matches!(store.update_target(&job.id, Target::Facebook, owner, &repost).await, Err(StoreError::Immutable { .. })));
    let other_id = TargetUpdate { external_id: Some("333".into()), ..Default::default() };
    assert!(matches!(store.update_target(&job.id, Target::Facebook, owner, &other_id).await, Err(StoreError::Immutable { .. })));
    // Published needs an external id: the database refuses a published target without one.
    let bare = TargetUpdate { status: Some(TargetStatus::Published), ..Default::default() };
    assert!(matches!(store.update_target(&job.id, Target::Instagram, owner, &bare).await, Err(StoreError::ConstraintViolation { .. })));

    // Once the lease is gone, the pass can no longer write.
    let done = JobRelease { status: JobStatus::Queued, next_attempt_at: None, last_error: None };
    assert!(store.release_job(&job.id, owner, &done).await.unwrap());
    let late = TargetUpdate { container_id: Some("999".into()), status: Some(TargetStatus::ContainerCreated), ..Default::default() };
    assert!(!store.update_target(&job.id, Target::Instagram, owner, &late).await.unwrap());
}

#[tokio::test]
async fn the_attempt_log_is_append_only() {
    let stack = Stack::from_env();
    let store = stack.service_store();
    let workspace = stack.workspace("growth", &[]).await;
    let (job, _) = store.insert_job(&new_job(&workspace, vec![Target::Facebook], None)).await.unwrap();
    let attempt = Attempt {
        job_id: job.id.clone(),
        target: Target::Facebook,
        attempt_number: 1,
        step: "feed".into(),
        started_at: "2030-01-01T00:00:00+00:00".into(),
        finished_at: "2030-01-01T00:00:01+00:00".into(),
        outcome: "retry_scheduled".into(),
        graph_http_status: Some(500),
        graph_error_code: Some(2),
        graph_error_subcode: None,
        fbtrace_id: Some("TRACE1".into()),
        error_reason: Some("transient".into()),
        error_message: Some("Service temporarily unavailable".into()),
        container_id: None,
        external_id: None,
        permalink: None,
    };
    store.append_attempt(&attempt).await.unwrap();
    assert_eq!(store.attempts(&job.id).await.unwrap(), vec![attempt]);

    let key = stack.service_role_key.expose();
    let (_, body) = stack.rest(Method::PATCH, &format!("/publish_attempts?job_id=eq.{}", job.id), key, Some(json!({"outcome": "published"}))).await;
    assert!(body["code"] == "MPJ03" || body["code"] == "42501", "update refused: {body}");
    let (_, body) = stack.rest(Method::DELETE, &format!("/publish_attempts?job_id=eq.{}", job.id), key, None).await;
    assert!(body["code"] == "MPJ03" || body["code"] == "42501", "delete refused: {body}");
    // Not even the table owner may rewrite history; deleting the job takes its log with it.
    let db = stack.db().await;
    for statement in [
        "update public.publish_attempts set outcome = 'published' where job_id = $1::text::uuid",
        "delete from public.publish_attempts where job_id = $1::text::uuid",
    ] {
        let err = db.execute(statement, &[&job.id]).await.unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some("MPJ03"), "{statement}");
    }
    let err = db.batch_execute("truncate public.publish_attempts").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("MPJ03"), "truncate");
    // The service role cannot delete jobs (and so their logs) through the API at all.
    let (status, _) = stack.rest(Method::DELETE, &format!("/publish_jobs?id=eq.{}", job.id), key, None).await;
    assert!(status == 401 || status == 403, "job delete: {status}");
    db.execute("delete from public.publish_jobs where id = $1::text::uuid", &[&job.id]).await.unwrap();
    let left: i64 = db.query_one("select count(*) from public.publish_attempts where job_id = $1::text::uuid", &[&job.id]).await.unwrap().get(0);
    assert_eq!(left, 0);
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_existing_job() {
    let stack = Stack::from_env();
    let store = stack.service_store();
    let workspace = stack.workspace("growth", &[]).await;
    let other = stack.workspace("growth", &[]).await;
    let (first, created) = store.insert_job(&new_job(&workspace, vec![Target::Facebook], Some("post-42"))).await.unwrap();
    assert!(created);
    let (again, created) = store.insert_job(&new_job(&workspace, vec![Target::Instagram], Some("post-42"))).await.unwrap();
    assert!(!created);
    assert_eq!(again.id, first.id);
    assert_eq!(again.targets, vec![Target::Facebook], "the first job stands");
    let (elsewhere, created) = store.insert_job(&new_job(&other, vec![Target::Facebook], Some("post-42"))).await.unwrap();
    assert!(created, "keys are unique per workspace only");
    assert_ne!(elsewhere.id, first.id);
}

#[tokio::test]
async fn malformed_jobs_are_refused_by_the_database() {
    let stack = Stack::from_env();
    let workspace = stack.workspace("growth", &[]).await;
    let key = stack.service_role_key.expose();
    for bad in [
        json!({"targets": []}),
        json!({"targets": ["facebook", "facebook"]}),
        json!({"targets": ["twitter"]}),
        json!({"payload_json": "text"}),
        json!({"payload_json": {"text": "no version"}}),
    ] {
        let mut row = json!({"workspace_id": workspace, "targets": ["facebook"], "payload_json": {"version": 1}, "scheduled_at": "2030-01-01T00:00:00Z"});
        for (k, v) in bad.as_object().unwrap() {
            row[k] = v.clone();
        }
        let (status, body) = stack.rest(Method::POST, "/publish_jobs", key, Some(row)).await;
        assert!((400..500).contains(&status), "{bad}: {status}");
        assert_eq!(body["code"], "23514", "{bad}: {body}");
    }
}

//! Claiming due jobs through claim_due_publish_jobs: concurrent passes never share a job,
//! expired leases are reclaimed, and jobs that are not due or were cancelled are never claimed.
//!
//! Claims are global, so the tests of this file take turns (CLAIMS) and count only the jobs of
//! their own workspaces.

use meta_publisher::store::jobs::{NewJob, Target};
use serde_json::json;
use stack_tests::Stack;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::Mutex;

static CLAIMS: Mutex<()> = Mutex::const_new(());

/// Inserts `count` jobs for `workspace` in one statement, `due_offset` from now.
async fn insert_jobs(stack: &Stack, workspace: &str, count: i32, due_offset: &str) -> Vec<String> {
    let db = stack.db().await;
    let rows = db
        .query(
            "insert into public.publish_jobs (workspace_id, targets, payload_json, scheduled_at)
             select $1::text::uuid, array['facebook'], jsonb_build_object('version', 1, 'n', n), now() + $3::text::interval
               from generate_series(1, $2) n
             returning id::text",
            &[&workspace, &count, &due_offset],
        )
        .await
        .expect("insert jobs");
    rows.iter().map(|row| row.get(0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_claimers_claim_every_due_job_exactly_once() {
    let _turn = CLAIMS.lock().await;
    let stack = Arc::new(Stack::from_env());
    let workspace = stack.workspace("growth", &[]).await;
    let due: HashSet<String> = insert_jobs(&stack, &workspace, 320, "-1 minute").await.into_iter().collect();
    let not_due: HashSet<String> = insert_jobs(&stack, &workspace, 20, "1 hour").await.into_iter().collect();
    let cancelled = insert_jobs(&stack, &workspace, 20, "-1 minute").await;
    let db = stack.db().await;
    db.execute("update public.publish_jobs set status = 'cancelled' where id = any($1::text[]::uuid[])", &[&cancelled]).await.unwrap();

    let claimers = (0..8).map(|n| {
        let stack = Arc::clone(&stack);
        tokio::spawn(async move {
            let store = stack.service_store();
            let owner = format!("claimer-{n}");
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_due_jobs(7, 300, &owner).await.expect("claim");
                if batch.is_empty() {
                    break;
                }
                mine.extend(batch.into_iter().map(|job| (job.job_id, job.workspace_id, job.attempts)));
            }
            mine
        })
    });
    let mut claimed_by: HashMap<String, usize> = HashMap::new();
    for (n, claimer) in claimers.enumerate() {
        for (job_id, job_workspace, attempts) in claimer.await.unwrap() {
            if job_workspace != workspace {
                continue; // another test's job
            }
            assert_eq!(attempts, 1, "claiming counts the attempt");
            if let Some(previous) = claimed_by.insert(job_id.clone(), n) {
                panic!("job {job_id} claimed by claimers {previous} and {n}");
            }
        }
    }
    let claimed: HashSet<String> = claimed_by.into_keys().collect();
    assert_eq!(claimed.len(), 320);
    assert_eq!(claimed, due, "exactly the due jobs were claimed");
    assert!(claimed.is_disjoint(&not_due));
    let statuses = db
        .query("select status, count(*) from public.publish_jobs where workspace_id = $1::text::uuid group by status order by status", &[&workspace])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1)))
        .collect::<Vec<_>>();
    assert_eq!(statuses, vec![("cancelled".into(), 20), ("queued".into(), 20), ("running".into(), 320)]);
}

#[tokio::test]
async fn an_expired_lease_is_claimed_again_and_a_live_one_is_not() {
    let _turn = CLAIMS.lock().await;
    let stack = Stack::from_env();
    let store = stack.service_store();
    let workspace = stack.workspace("growth", &[]).await;
    let (job, _) = store
        .insert_job(&NewJob {
            workspace_id: workspace.clone(),
            targets: vec![Target::Facebook],
            payload_json: json!({"version": 1}),
            scheduled_at: "2020-01-01T00:00:00Z".into(),
            idempotency_key: None,
            created_by: None,
        })
        .await
        .unwrap();
    let db = stack.db().await;
    let claim_mine = |owner: &'static str| {
        let store = stack.service_store();
        let workspace = workspace.clone();
        async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_due_jobs(50, 60, owner).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().filter(|job| job.workspace_id == workspace));
            }
        }
    };
    let first = claim_mine("lease-pass-1").await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].job_id, job.id);
    assert!(claim_mine("lease-pass-2").await.is_empty(), "a live lease keeps the job");

    // The pass died: its lease runs out.
    db.execute("update public.publish_jobs set lease_expires_at = now() - interval '1 second' where id = $1::text::uuid", &[&job.id])
        .await
        .unwrap();
    let second = claim_mine("lease-pass-3").await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempts, 2);
    let owner: String = db.query_one("select lease_owner from public.publish_jobs where id = $1::text::uuid", &[&job.id]).await.unwrap().get(0);
    assert_eq!(owner, "lease-pass-3");
}

#[tokio::test]
async fn claim_arguments_are_checked() {
    let stack = Stack::from_env();
    let store = stack.service_store();
    for (limit, lease, owner) in [(0, 60, "a-good-owner"), (101, 60, "a-good-owner"), (5, 1, "a-good-owner"), (5, 100000, "a-good-owner"), (5, 60, "short"), (5, 60, "")] {
        assert!(store.claim_due_jobs(limit, lease, owner).await.is_err(), "limit {limit}, lease {lease}, owner {owner:?}");
    }
}

#[tokio::test]
async fn results_are_written_only_for_jobs_the_pass_still_holds() {
    use meta_publisher::store::jobs::{Attempt, JobRelease, JobReleaseOf, JobStatus};
    let stack = Stack::from_env();
    let store = stack.service_store();
    let workspace = stack.workspace("growth", &[]).await;
    let job = insert_jobs(&stack, &workspace, 1, "1 hour").await.remove(0);
    let db = stack.db().await;
    // Leased to one pass, as a claim leaves it (set directly: claims are global).
    db.execute(
        "update public.publish_jobs set status = 'running', lease_owner = 'pass-holder1', lease_expires_at = now() + interval '5 minutes'
          where id = $1::text::uuid",
        &[&job],
    )
    .await
    .unwrap();
    let change = json!({"job_id": job, "target": "facebook", "status": "published", "external_id": "1_2",
                        "published_at": "2026-12-03T10:00:00Z", "destination_id": "1"});
    let attempt = Attempt {
        job_id: job.clone(),
        target: Target::Facebook,
        attempt_number: 1,
        step: "feed".into(),
        started_at: "2026-12-03T10:00:00Z".into(),
        finished_at: "2026-12-03T10:00:01Z".into(),
        outcome: "published".into(),
        graph_http_status: Some(200),
        graph_error_code: None,
        graph_error_subcode: None,
        fbtrace_id: None,
        error_reason: None,
        error_message: None,
        container_id: None,
        external_id: Some("1_2".into()),
        permalink: None,
    };
    let release = JobReleaseOf {
        job_id: job.clone(),
        release: JobRelease { status: JobStatus::Published, next_attempt_at: None, last_error: None },
    };
    let write = |owner: &'static str| {
        let (change, attempt, release) = (change.clone(), attempt.clone(), release.clone());
        let store = &store;
        async move { store.apply_publish_results(owner, &[change], &[attempt], &[release]).await.expect("apply") }
    };

    // Not even the holder writes once its lease has run out (another pass may claim it).
    db.execute("update public.publish_jobs set lease_expires_at = now() - interval '1 second' where id = $1::text::uuid", &[&job])
        .await
        .unwrap();
    assert!(write("pass-holder1").await.is_empty());
    db.execute("update public.publish_jobs set lease_expires_at = now() + interval '5 minutes' where id = $1::text::uuid", &[&job])
        .await
        .unwrap();

    // Another pass (whose lease was taken over) writes nothing at all.
    assert!(write("pass-latecomer").await.is_empty());
    assert_eq!(store.targets(&job).await.unwrap()[0].external_id, None);
    assert!(store.attempts(&job).await.unwrap().is_empty(), "not even the attempt log");
    assert_eq!(store.job(&job).await.unwrap().unwrap().status, JobStatus::Running);

    // The holder writes everything in one go, and its lease ends.
    assert_eq!(write("pass-holder1").await, vec![job.clone()]);
    assert_eq!(store.targets(&job).await.unwrap()[0].external_id.as_deref(), Some("1_2"));
    assert_eq!(store.attempts(&job).await.unwrap().len(), 1);
    let lease: (String, Option<String>) = {
        let row = db.query_one("select status, lease_owner from public.publish_jobs where id = $1::text::uuid", &[&job]).await.unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(lease, ("published".to_string(), None));
    // Once released, the same pass cannot write again.
    assert!(write("pass-holder1").await.is_empty());
    assert_eq!(store.attempts(&job).await.unwrap().len(), 1);
}

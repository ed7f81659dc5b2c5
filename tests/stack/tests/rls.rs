//! Row level security and grants through PostgREST: anon and authenticated (member or not) can
//! never read a token column; members read their own workspace's jobs; the service role works.

use reqwest::Method;
use serde_json::Value;
use stack_tests::{meta_id, new_id, Stack, TestPage};

const TOKEN_TABLES: &[(&str, &str)] = &[("meta_connections", "user_token_sealed"), ("meta_pages", "page_token_sealed")];
const PRIVATE_TABLES: &[&str] = &["meta_connections", "meta_pages", "meta_instagram_accounts", "meta_defaults", "meta_oauth_states"];

fn rows(body: &Value) -> usize {
    body.as_array().map(Vec::len).unwrap_or(0)
}

#[tokio::test]
async fn token_tables_are_closed_to_anon_and_users_even_members() {
    let stack = Stack::from_env();
    let (member, outsider) = (new_id(), new_id());
    let workspace = stack.workspace("growth", &[(&member, "owner")]).await;
    let page = meta_id();
    stack.connect(&workspace, &meta_id(), "u", &[TestPage { id: &page, token: Some("t"), tasks: &["CREATE_CONTENT"], instagram: Some(&meta_id()) }]).await;

    let anon = stack.anon_key.expose().to_string();
    for token in [anon, stack.user_jwt(&member), stack.user_jwt(&outsider)] {
        for table in PRIVATE_TABLES {
            let (status, body) = stack.rest(Method::GET, &format!("/{table}?select=*"), &token, None).await;
            assert!(status == 401 || status == 403, "{table}: {status} {body}");
            assert_eq!(body["code"], "42501", "{table}: {body}");
        }
        for (table, column) in TOKEN_TABLES {
            let (status, _) = stack.rest(Method::GET, &format!("/{table}?select={column}"), &token, None).await;
            assert!(status == 401 || status == 403, "{table}.{column}: {status}");
            let (status, _) = stack
                .rest(Method::PATCH, &format!("/{table}?workspace_id=eq.{workspace}"), &token, Some(serde_json::json!({ *column: null })))
                .await;
            assert!(status == 401 || status == 403, "write {table}: {status}");
        }
    }
    // The service role reads them (that is how the Worker works).
    let (status, body) = stack
        .rest(Method::GET, &format!("/meta_connections?select=user_token_sealed&workspace_id=eq.{workspace}"), stack.service_role_key.expose(), None)
        .await;
    assert_eq!((status, rows(&body)), (200, 1));
}

#[tokio::test]
async fn members_read_their_own_jobs_and_nothing_else() {
    let stack = Stack::from_env();
    let (member, outsider) = (new_id(), new_id());
    let workspace = stack.workspace("growth", &[(&member, "member")]).await;
    let db = stack.db().await;
    let job_id: String = db
        .query_one(
            "insert into public.publish_jobs (workspace_id, targets, payload_json, scheduled_at)
             values ($1::text::uuid, array['facebook'], '{\"version\":1}', now() + interval '1 day') returning id::text",
            &[&workspace],
        )
        .await
        .unwrap()
        .get(0);
    let path = format!("/publish_jobs?select=id,status&id=eq.{job_id}");
    let (status, body) = stack.rest(Method::GET, &path, &stack.user_jwt(&member), None).await;
    assert_eq!((status, rows(&body)), (200, 1), "member: {body}");
    let (_, body) = stack.rest(Method::GET, &format!("/publish_job_targets?job_id=eq.{job_id}"), &stack.user_jwt(&member), None).await;
    assert_eq!(rows(&body), 1, "member sees the targets: {body}");
    let (status, body) = stack.rest(Method::GET, &path, &stack.user_jwt(&outsider), None).await;
    assert_eq!((status, rows(&body)), (200, 0), "outsider: {body}");
    let (status, _) = stack.rest(Method::GET, &path, stack.anon_key.expose(), None).await;
    assert!(status == 401 || status == 403, "anon: {status}");
    for table in ["publish_job_targets", "publish_attempts"] {
        let (status, body) = stack.rest(Method::GET, &format!("/{table}?job_id=eq.{job_id}"), &stack.user_jwt(&outsider), None).await;
        assert_eq!((status, rows(&body)), (200, 0), "outsider reads {table}: {body}");
        let (status, _) = stack.rest(Method::GET, &format!("/{table}?job_id=eq.{job_id}"), stack.anon_key.expose(), None).await;
        assert!(status == 401 || status == 403, "anon reads {table}: {status}");
    }
    // Members see their own membership and workspace, outsiders neither.
    let (_, body) = stack.rest(Method::GET, &format!("/workspaces?id=eq.{workspace}"), &stack.user_jwt(&member), None).await;
    assert_eq!(rows(&body), 1, "member reads the workspace: {body}");
    let (_, body) = stack.rest(Method::GET, &format!("/workspaces?id=eq.{workspace}"), &stack.user_jwt(&outsider), None).await;
    assert_eq!(rows(&body), 0, "outsider: {body}");
    let (_, body) = stack.rest(Method::GET, &format!("/workspace_members?workspace_id=eq.{workspace}"), &stack.user_jwt(&outsider), None).await;
    assert_eq!(rows(&body), 0, "outsider reads memberships: {body}");
    // Members may not write jobs through the API; the Worker does.
    let (status, _) = stack
        .rest(Method::PATCH, &format!("/publish_jobs?id=eq.{job_id}"), &stack.user_jwt(&member), Some(serde_json::json!({"status": "cancelled"})))
        .await;
    assert!(status == 401 || status == 403, "member write: {status}");
    let status_now: String = db.query_one("select status from public.publish_jobs where id = $1::text::uuid", &[&job_id]).await.unwrap().get(0);
    assert_eq!(status_now, "queued");
}

#[tokio::test]
async fn api_roles_hold_no_sequence_or_trigger_function_privileges() {
    let stack = Stack::from_env();
    let db = stack.db().await;
    let leaks: Vec<String> = db
        .query(
            "select format('%s on %s.%s', r.rolname, n.nspname, c.relname)
               from pg_class c join pg_namespace n on n.oid = c.relnamespace
               cross join (values ('anon'), ('authenticated')) r (rolname)
              where n.nspname = 'public' and c.relkind = 'S'
                and has_sequence_privilege(r.rolname, c.oid, 'USAGE,SELECT,UPDATE')
             union all
             select format('%s may execute %s', r.rolname, p.proname)
               from pg_proc p join pg_namespace n on n.oid = p.pronamespace
               cross join (values ('anon'), ('authenticated')) r (rolname)
              where n.nspname = 'public' and p.proname <> 'meta_is_sealed_token'
                and not (p.proname = 'meta_workspace_access' and r.rolname = 'authenticated')
                and has_function_privilege(r.rolname, p.oid, 'EXECUTE')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(leaks.is_empty(), "{leaks:?}");
}

#[tokio::test]
async fn the_service_role_only_calls_the_service_functions() {
    let stack = Stack::from_env();
    let member = new_id();
    stack.workspace("growth", &[(&member, "owner")]).await;
    for function in ["claim_due_publish_jobs", "consume_meta_oauth_state", "save_meta_connection", "revoke_meta_connection", "update_publish_target"] {
        for token in [stack.anon_key.expose().to_string(), stack.user_jwt(&member)] {
            let body = match function {
                "claim_due_publish_jobs" => serde_json::json!({"p_limit": 5, "p_lease_seconds": 60, "p_owner": "x"}),
                "consume_meta_oauth_state" => serde_json::json!({"p_state_hash": "0".repeat(64)}),
                "revoke_meta_connection" => serde_json::json!({"p_connection_id": new_id(), "p_reason": "x"}),
                "update_publish_target" => serde_json::json!({"p_job_id": new_id(), "p_target": "facebook", "p_owner": "x", "p_changes": {}}),
                _ => serde_json::json!({"p": {}}),
            };
            let (status, body) = stack.rest(Method::POST, &format!("/rpc/{function}"), &token, Some(body)).await;
            assert!(status == 401 || status == 403, "{function}: {status} {body}");
        }
    }
}

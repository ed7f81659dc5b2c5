//! The store and the health capability against the real PostgREST + PostgreSQL.

use meta_publisher::config::Secret;
use meta_publisher::health::{self, DatabaseState};
use meta_publisher::store::{Store, StoreError};
use stack_tests::Stack;
use std::time::Duration;

#[tokio::test]
async fn service_role_reaches_the_database() {
    let stack = Stack::from_env();
    assert_eq!(stack.service_store().ping().await, Ok(()));
}

#[tokio::test]
async fn health_reports_ok_with_the_crate_version() {
    let stack = Stack::from_env();
    let report = health::check(&stack.service_store(), tokio::time::sleep(Duration::from_secs(5))).await;
    assert_eq!(report.database, DatabaseState::Ok);
    assert_eq!(report.http_status(), 200);
    assert_eq!(report.version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn a_forged_service_key_is_rejected() {
    let stack = Stack::from_env();
    // Well-formed HS256 JWT claiming service_role, signed with a key the stack does not use.
    let forged = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.\
                  3n9Xc1YgN9x6ZC0m5JgQ9q0wKQm0vV7gkq1xZrj4l9E";
    let store = Store::new(&stack.rest_url(), &Secret::new(forged));
    assert_eq!(store.ping().await, Err(StoreError::CredentialsRejected));
}

#[tokio::test]
async fn the_health_function_is_not_callable_by_anon() {
    let stack = Stack::from_env();
    let store = Store::new(&stack.rest_url(), &stack.anon_key);
    assert_eq!(store.ping().await, Err(StoreError::CredentialsRejected));
}

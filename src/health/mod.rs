//! `GET /api/health`: the service version and whether the database answers.
//!
//! The round trip goes through the real store (PostgREST -> PostgreSQL). The caller supplies
//! the deadline as a future, so the Worker can use its own timer and host tests theirs.

use crate::store::{Store, StoreError};
use futures::future::{select, Either};
use serde::Serialize;
use std::future::Future;
use std::pin::pin;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseState {
    Ok,
    Unreachable,
    CredentialsRejected,
    SchemaMissing,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    pub status: &'static str,
    pub version: &'static str,
    pub database: DatabaseState,
}

impl HealthReport {
    pub fn from_database(database: DatabaseState) -> HealthReport {
        let status = if database == DatabaseState::Ok { "ok" } else { "degraded" };
        HealthReport { status, version: VERSION, database }
    }

    /// 200 when everything answers, 503 otherwise (load balancers and uptime checks read it).
    pub fn http_status(&self) -> u16 {
        if self.database == DatabaseState::Ok {
            200
        } else {
            503
        }
    }
}

/// Pings the database; a ping still running when `deadline` completes counts as unreachable.
pub async fn check(store: &Store, deadline: impl Future<Output = ()>) -> HealthReport {
    let ping = pin!(store.ping());
    let deadline = pin!(deadline);
    let database = match select(ping, deadline).await {
        Either::Left((Ok(()), _)) => DatabaseState::Ok,
        Either::Left((Err(err), _)) => match err {
            StoreError::Unreachable => DatabaseState::Unreachable,
            StoreError::CredentialsRejected => DatabaseState::CredentialsRejected,
            StoreError::SchemaMissing => DatabaseState::SchemaMissing,
            _ => DatabaseState::Error,
        },
        Either::Right(((), _)) => DatabaseState::Unreachable,
    };
    HealthReport::from_database(database)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_shapes_match_the_documented_json() {
        let ok = HealthReport::from_database(DatabaseState::Ok);
        assert_eq!(ok.http_status(), 200);
        assert_eq!(serde_json::to_value(&ok).unwrap(), serde_json::json!({"status": "ok", "version": VERSION, "database": "ok"}));
        let down = HealthReport::from_database(DatabaseState::Unreachable);
        assert_eq!(down.http_status(), 503);
        assert_eq!(serde_json::to_value(&down).unwrap()["status"], "degraded");
        assert_eq!(serde_json::to_value(&down).unwrap()["database"], "unreachable");
    }

    #[tokio::test]
    async fn a_ping_that_outlives_the_deadline_is_unreachable() {
        // A listener that accepts and never answers: the ping hangs until the deadline.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/rest/v1", listener.local_addr().unwrap());
        let store = Store::new(&url, &crate::config::Secret::new("not-a-real-key"));
        let report = check(&store, tokio::time::sleep(std::time::Duration::from_millis(200))).await;
        assert_eq!(report.database, DatabaseState::Unreachable);
        drop(listener);
    }
}

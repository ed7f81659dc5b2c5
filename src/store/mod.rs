//! The store: Supabase tables reached through PostgREST (the `postgrest` crate) with the
//! service role key.
//!
//! The same code runs in the Worker (reqwest goes out through `fetch`) and on the host, where
//! `tests/stack` points it at the local PostgreSQL + postrust stack. Errors say what kind of
//! failure happened, never the key.

use crate::config::{Config, Secret};
use postgrest::Postgrest;

pub struct Store {
    rest: Postgrest,
}

/// Why a store call failed, in the terms health checks and operators need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// No answer, or the gateway in front of PostgREST could not reach it.
    Unreachable,
    /// PostgREST refused the service role key (wrong key or JWT secret).
    CredentialsRejected,
    /// The function or table is not there: migrations have not been applied.
    SchemaMissing,
    /// Any other non-success answer.
    Unexpected { status: u16 },
}

impl Store {
    pub fn new(rest_url: &str, service_role_key: &Secret) -> Store {
        let key = service_role_key.expose();
        let rest = Postgrest::new(rest_url)
            .insert_header("apikey", key)
            .insert_header("Authorization", format!("Bearer {key}"));
        Store { rest }
    }

    pub fn from_config(config: &Config) -> Store {
        Store::new(&config.rest_url(), &config.supabase_service_role_key)
    }

    /// One round trip through PostgREST into PostgreSQL and back.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let response = self
            .rest
            .rpc("meta_publisher_health", "{}")
            .execute()
            .await
            .map_err(|_| StoreError::Unreachable)?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            status => Err(classify(status)),
        }
    }
}

fn classify(status: u16) -> StoreError {
    match status {
        401 | 403 => StoreError::CredentialsRejected,
        404 => StoreError::SchemaMissing,
        502..=504 => StoreError::Unreachable,
        status => StoreError::Unexpected { status },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_failure_kinds() {
        assert_eq!(classify(401), StoreError::CredentialsRejected);
        assert_eq!(classify(404), StoreError::SchemaMissing);
        assert_eq!(classify(502), StoreError::Unreachable);
        assert_eq!(classify(500), StoreError::Unexpected { status: 500 });
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        // Port 9 (discard) on loopback has no listener on these machines: connect is refused.
        let store = Store::new("http://127.0.0.1:9/rest/v1", &Secret::new("not-a-real-key"));
        assert_eq!(store.ping().await, Err(StoreError::Unreachable));
    }
}

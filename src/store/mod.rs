//! The store: Supabase tables reached through PostgREST (the `postgrest` crate) with the
//! service role key. One file per group of tables; this file holds the client and the error
//! mapping.
//!
//! The same code runs in the Worker (reqwest goes out through `fetch`) and on the host, where
//! `tests/stack` points it at the local PostgreSQL + postrust stack. Errors keep PostgREST's
//! `code` and, for this service's own SQLSTATEs, its message; never `details`, which can quote
//! row values.

pub mod connections;
pub mod deletion;
pub mod jobs;
pub mod oauth_states;
pub mod tokens;
pub mod workspaces;

use crate::config::{Config, Secret};
use postgrest::{Builder, Postgrest};
use serde::de::DeserializeOwned;
use std::fmt;

pub struct Store {
    rest: Postgrest,
}

/// Why a store call failed, in terms callers can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// No answer, or the gateway in front of PostgREST could not reach it.
    Unreachable,
    /// PostgREST refused the key, or the role lacks a privilege (401/403, SQLSTATE 42501).
    CredentialsRejected,
    /// The function or table is not there: migrations have not been applied.
    SchemaMissing,
    /// A unique key already exists (23505), e.g. a second connection or a reused idempotency key.
    Conflict { constraint: Option<String> },
    /// A reference points at nothing (23503), e.g. a default Page of another connection.
    InvalidReference { constraint: Option<String> },
    /// A CHECK or NOT NULL constraint refused the row (23514, 23502).
    ConstraintViolation { constraint: Option<String> },
    /// A publish job's immutable field was changed (MPJ01).
    Immutable { message: String },
    /// A status transition the database does not allow (MPJ02).
    IllegalTransition { message: String },
    /// The attempt log is append-only (MPJ03).
    AppendOnly,
    /// The change may repeat something that already happened; it needs an explicit confirmation (MPJ04).
    ConfirmationRequired { message: String },
    /// The row asked for does not exist.
    NotFound,
    /// Any other non-success answer, or a body that could not be read.
    Unexpected { status: u16, code: Option<String> },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unreachable => f.write_str("the database did not answer"),
            StoreError::CredentialsRejected => f.write_str("the database refused the service credentials"),
            StoreError::SchemaMissing => f.write_str("the database schema is missing (apply the migrations)"),
            StoreError::Conflict { constraint } => {
                write!(f, "already exists ({})", constraint.as_deref().unwrap_or("unique key"))
            }
            StoreError::InvalidReference { constraint } => {
                write!(f, "refers to something that does not exist ({})", constraint.as_deref().unwrap_or("foreign key"))
            }
            StoreError::ConstraintViolation { constraint } => {
                write!(f, "refused by a database rule ({})", constraint.as_deref().unwrap_or("check"))
            }
            StoreError::Immutable { message }
            | StoreError::IllegalTransition { message }
            | StoreError::ConfirmationRequired { message } => f.write_str(message),
            StoreError::AppendOnly => f.write_str("the publish attempt log is append-only"),
            StoreError::NotFound => f.write_str("not found"),
            StoreError::Unexpected { status, code } => {
                write!(f, "unexpected database answer (HTTP {status}, code {})", code.as_deref().unwrap_or("none"))
            }
        }
    }
}

impl std::error::Error for StoreError {}

/// PostgREST's error body.
#[derive(serde::Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
}

impl Store {
    pub fn new(rest_url: &str, service_role_key: &Secret) -> Store {
        let key = service_role_key.expose();
        let rest = Postgrest::new(rest_url).insert_header("apikey", key).insert_header("Authorization", format!("Bearer {key}"));
        Store { rest }
    }

    pub fn from_config(config: &Config) -> Store {
        Store::new(&config.rest_url(), &config.supabase_service_role_key)
    }

    fn from(&self, table: &str) -> Builder {
        self.rest.from(table)
    }

    fn rpc(&self, function: &str, params: serde_json::Value) -> Builder {
        self.rest.rpc(function, params.to_string())
    }

    /// One round trip through PostgREST into PostgreSQL and back.
    pub async fn ping(&self) -> Result<(), StoreError> {
        send(self.rpc("meta_publisher_health", serde_json::json!({}))).await.map(|_| ())
    }
}

/// Sends a request; the body of a 2xx answer, or the typed error.
async fn send(builder: Builder) -> Result<String, StoreError> {
    let response = builder.execute().await.map_err(|_| StoreError::Unreachable)?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|_| StoreError::Unreachable)?;
    if (200..300).contains(&status) {
        Ok(text)
    } else {
        Err(classify(status, serde_json::from_str::<ErrorBody>(&text).ok()))
    }
}

/// Sends a request and decodes the JSON answer.
async fn fetch<T: DeserializeOwned>(builder: Builder) -> Result<T, StoreError> {
    let text = send(builder).await?;
    serde_json::from_str(&text).map_err(|_| StoreError::Unexpected { status: 200, code: Some("undecodable".into()) })
}

/// The first row of an answer, if any.
async fn fetch_first<T: DeserializeOwned>(builder: Builder) -> Result<Option<T>, StoreError> {
    Ok(fetch::<Vec<T>>(builder).await?.into_iter().next())
}

fn classify(status: u16, body: Option<ErrorBody>) -> StoreError {
    let (code, message) = match body {
        Some(body) => (body.code, body.message.unwrap_or_default()),
        None => (None, String::new()),
    };
    let constraint = || constraint_name(&message);
    match code.as_deref() {
        Some("23505") => StoreError::Conflict { constraint: constraint() },
        Some("23503") => StoreError::InvalidReference { constraint: constraint() },
        Some("23514" | "23502") => StoreError::ConstraintViolation { constraint: constraint() },
        Some("MPJ01") => StoreError::Immutable { message },
        Some("MPJ02") => StoreError::IllegalTransition { message },
        Some("MPJ03") => StoreError::AppendOnly,
        Some("MPJ04") => StoreError::ConfirmationRequired { message },
        Some("P0002") => StoreError::NotFound,
        Some("42501") => StoreError::CredentialsRejected,
        Some("PGRST116") => StoreError::NotFound,
        Some("PGRST202" | "PGRST205" | "42P01" | "42883") => StoreError::SchemaMissing,
        _ => match status {
            401 | 403 => StoreError::CredentialsRejected,
            404 => StoreError::SchemaMissing,
            502..=504 => StoreError::Unreachable,
            status => StoreError::Unexpected { status, code },
        },
    }
}

/// The constraint a PostgreSQL message names: `... constraint "name"`.
fn constraint_name(message: &str) -> Option<String> {
    let start = message.find("constraint \"")? + "constraint \"".len();
    let end = message[start..].find('"')? + start;
    Some(message[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str, message: &str) -> Option<ErrorBody> {
        Some(ErrorBody { code: Some(code.into()), message: Some(message.into()) })
    }

    #[test]
    fn postgrest_errors_map_to_typed_errors() {
        assert_eq!(
            classify(409, body("23505", "duplicate key value violates unique constraint \"meta_connections_workspace_id_key\"")),
            StoreError::Conflict { constraint: Some("meta_connections_workspace_id_key".into()) }
        );
        assert_eq!(
            classify(409, body("23503", "insert or update on table \"meta_defaults\" violates foreign key constraint \"fk\"")),
            StoreError::InvalidReference { constraint: Some("fk".into()) }
        );
        assert_eq!(
            classify(400, body("23514", "violates check constraint \"c\"")),
            StoreError::ConstraintViolation { constraint: Some("c".into()) }
        );
        assert_eq!(classify(400, body("MPJ01", "immutable")), StoreError::Immutable { message: "immutable".into() });
        assert_eq!(classify(400, body("MPJ02", "no")), StoreError::IllegalTransition { message: "no".into() });
        assert_eq!(classify(400, body("MPJ03", "x")), StoreError::AppendOnly);
        assert_eq!(classify(406, body("PGRST116", "x")), StoreError::NotFound);
        assert_eq!(classify(401, None), StoreError::CredentialsRejected);
        assert_eq!(classify(404, None), StoreError::SchemaMissing);
        assert_eq!(classify(502, None), StoreError::Unreachable);
        assert_eq!(classify(500, body("XX000", "boom")), StoreError::Unexpected { status: 500, code: Some("XX000".into()) });
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        // Port 9 (discard) on loopback has no listener on these machines: connect is refused.
        let store = Store::new("http://127.0.0.1:9/rest/v1", &Secret::new("not-a-real-key"));
        assert_eq!(store.ping().await, Err(StoreError::Unreachable));
    }
}

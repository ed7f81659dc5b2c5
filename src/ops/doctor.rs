//! The configuration self-check, `GET /api/ops/doctor`: which variables are present and
//! well-formed (by name, never by value), whether Supabase (through PostgREST) and the Graph
//! API answer with the configured credentials, and the Graph API version in use.

use crate::clock::Clock;
use crate::config::{check_variable, Config, EnvSource, VARIABLES};
use crate::graph::{ErrorClass, GraphClient};
use crate::store::{Store, StoreError};
use crate::vault::AccessToken;
use serde::Serialize;
use std::rc::Rc;
use std::time::Duration;

/// How long each service gets to answer.
const DEADLINE: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize)]
pub struct VariableCheck {
    pub name: &'static str,
    pub present: bool,
    pub well_formed: bool,
    /// What is wrong, in words that never include the value.
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ServiceCheck {
    /// `ok`, `unreachable`, `credentials_rejected`, `schema_missing`, `error` or `not_checked`.
    pub status: &'static str,
    pub detail: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DoctorReport {
    pub ok: bool,
    pub variables: Vec<VariableCheck>,
    pub supabase: ServiceCheck,
    pub graph: ServiceCheck,
    pub graph_api_version: Option<String>,
}

pub fn check_variables(env: &impl EnvSource) -> Vec<VariableCheck> {
    VARIABLES
        .iter()
        .map(|name| {
            let present = env.get(name).is_some_and(|value| !value.trim().is_empty());
            let result = check_variable(env, name);
            VariableCheck { name, present, well_formed: result.is_ok(), problem: result.err().map(|err| err.problem) }
        })
        .collect()
}

const NOT_CHECKED: ServiceCheck = ServiceCheck { status: "not_checked", detail: None };

pub async fn report(env: &impl EnvSource, clock: Rc<dyn Clock>) -> DoctorReport {
    let variables = check_variables(env);
    let Ok(config) = Config::from_env(env) else {
        return DoctorReport { ok: false, variables, supabase: NOT_CHECKED, graph: NOT_CHECKED, graph_api_version: None };
    };
    let store = Store::from_config(&config);
    let ping = store.ping();
    futures::pin_mut!(ping);
    let answered = match futures::future::select(ping, clock.sleep(DEADLINE)).await {
        futures::future::Either::Left((result, _)) => result,
        futures::future::Either::Right(_) => Err(StoreError::Unreachable),
    };
    let supabase = match answered {
        Ok(()) => ServiceCheck { status: "ok", detail: None },
        Err(err) => ServiceCheck {
            status: match err {
                StoreError::Unreachable => "unreachable",
                StoreError::CredentialsRejected => "credentials_rejected",
                StoreError::SchemaMissing => "schema_missing",
                _ => "error",
            },
            detail: Some(err.to_string()),
        },
    };
    // debug_token of the app's own token: answers only to the right app id and secret.
    let graph_client = GraphClient::from_config(&config).with_timeout(DEADLINE, clock);
    let app_token = AccessToken::new(format!("{}|{}", config.meta_app_id, config.meta_app_secret.expose()));
    let graph = match graph_client.debug_token(&app_token).await {
        Ok(_) => ServiceCheck { status: "ok", detail: None },
        Err(err) => ServiceCheck {
            status: match err.class() {
                ErrorClass::Network => "unreachable",
                ErrorClass::TokenInvalid | ErrorClass::PermissionMissing => "credentials_rejected",
                _ => "error",
            },
            // Codes and the trace id only: Graph's text can quote what it was sent.
            detail: Some(format!(
                "HTTP {}, code {}, fbtrace_id {}",
                err.http_status,
                err.code.map_or("none".into(), |c| c.to_string()),
                err.fbtrace_id.as_deref().unwrap_or("none")
            )),
        },
    };
    let ok = variables.iter().all(|v| v.well_formed) && supabase.status == "ok" && graph.status == "ok";
    DoctorReport { ok, variables, supabase, graph, graph_api_version: Some(config.graph_version.as_str().to_string()) }
}

//! The control API for publishing and network conditions (`/_sandbox/...`): latency and usage
//! headers on every Graph answer, how new Instagram containers behave, an existing container's
//! state, per-account publishing limits, and the ledger of posts that went live.

use crate::media::{ContainerScript, Status};
use crate::world::Shared;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

fn ok() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

fn refused(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

#[derive(Deserialize)]
pub struct Latency {
    ms: u64,
}

/// Every Graph call waits this long before answering; 0 turns it off.
pub async fn latency(State(state): State<Shared>, Json(latency): Json<Latency>) -> Response {
    state.lock().latency_ms = latency.ms;
    ok()
}

#[derive(Deserialize)]
pub struct UsageHeaders {
    headers: Map<String, Value>,
}

/// Headers added to every Graph answer until set to `{}`; a non-string value is sent as JSON.
pub async fn usage_headers(State(state): State<Shared>, Json(body): Json<UsageHeaders>) -> Response {
    match crate::faults::header_map(&body.headers) {
        Ok(headers) => {
            state.lock().usage_headers = headers;
            ok()
        }
        Err(message) => refused(StatusCode::BAD_REQUEST, &message),
    }
}

/// Every container, for tests that want to look without counting a status check.
pub async fn containers(State(state): State<Shared>) -> Response {
    let world = state.lock();
    let mut all: Vec<_> = world.media.containers.values().collect();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    Json(json!(all)).into_response()
}

/// How the next containers behave (see [`ContainerScript`]); scripts apply in the order given.
pub async fn script_containers(State(state): State<Shared>, Json(script): Json<ContainerScript>) -> Response {
    if !matches!(script.final_status, Status::Finished | Status::Error | Status::Expired) {
        return refused(StatusCode::BAD_REQUEST, "final must be FINISHED, ERROR or EXPIRED");
    }
    state.lock().media.scripts.push(script);
    ok()
}

#[derive(Deserialize)]
pub struct SetContainer {
    container_id: String,
    status_code: Status,
    /// The `status` text for ERROR.
    status: Option<String>,
}

/// Sets a container's state; IN_PROGRESS then stays until set again.
pub async fn set_container(State(state): State<Shared>, Json(set): Json<SetContainer>) -> Response {
    let mut world = state.lock();
    let Some(container) = world.media.containers.get_mut(&set.container_id) else {
        return refused(StatusCode::NOT_FOUND, "no such container");
    };
    container.status_code = set.status_code;
    container.then = set.status_code;
    container.checks_left = u32::MAX;
    if let Some(status) = set.status {
        container.error_status = status;
    }
    ok()
}

#[derive(Deserialize)]
pub struct Quota {
    ig_user_id: String,
    quota_total: u32,
}

/// The account's publishing limit per 24 hours.
pub async fn quota(State(state): State<Shared>, Json(quota): Json<Quota>) -> Response {
    state.lock().media.quotas.insert(quota.ig_user_id, quota.quota_total);
    ok()
}

/// Every post that went live, in order.
pub async fn ledger(State(state): State<Shared>) -> Response {
    Json(json!(state.lock().media.ledger)).into_response()
}

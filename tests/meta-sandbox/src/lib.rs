//! The Meta sandbox: speaks the subset of the Graph API and the OAuth dialog that the service
//! uses, so development and tests never reach Meta. It binds to loopback only.
//!
//! Today it answers `GET /health` and, like Graph, returns a Graph-shaped JSON error for any
//! path it does not know; the Graph and dialog endpoints are added with the capabilities that
//! call them.

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

pub fn app() -> Router {
    Router::new().route("/health", get(health)).fallback(unknown_path)
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "service": "meta-sandbox"}))
}

/// Graph answers an unknown path with OAuthException code 2500 and HTTP 400.
async fn unknown_path(uri: Uri) -> Response {
    graph_error(StatusCode::BAD_REQUEST, 2500, "OAuthException", &format!("Unknown path components: {}", uri.path()))
}

/// A Graph API error body: `{"error":{message,type,code,fbtrace_id}}`.
pub fn graph_error(status: StatusCode, code: u32, kind: &str, message: &str) -> Response {
    let body = json!({"error": {
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": next_trace_id(),
    }});
    (status, Json(body)).into_response()
}

/// Distinct, recognisable trace ids so tests can follow one call through the logs.
fn next_trace_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    format!("SANDBOX{:012}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

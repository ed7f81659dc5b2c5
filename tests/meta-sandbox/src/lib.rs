//! The Meta sandbox: speaks the subset of the Graph API and the OAuth dialog that the service
//! uses, so development and tests never reach Meta. It binds to loopback only.
//!
//! Today it answers `GET /health`, serves `GET /app` (a stand-in for the host app that
//! `APP_URL` points at locally: it shows the query the service sent the user back with) and,
//! like Graph, returns a Graph-shaped JSON error for any path it does not know. The Graph and
//! dialog endpoints are added with the capabilities that call them.

use axum::extract::Query;
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

pub fn app() -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/app", get(host_app))
        .fallback(unknown_path)
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "service": "meta-sandbox"}))
}

/// The host app's landing page, as far as local development needs one.
async fn host_app(Query(params): Query<Vec<(String, String)>>) -> Html<String> {
    let items: String = params
        .iter()
        .map(|(key, value)| format!("<li><code>{}</code> = <code>{}</code></li>", escape(key), escape(value)))
        .collect();
    Html(format!(
        "<!doctype html><meta charset=\"utf-8\"><title>Host app (local stand-in)</title>\
         <h1>Host app (local stand-in)</h1><p>The service sent you back with:</p><ul id=\"params\">{items}</ul>"
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
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

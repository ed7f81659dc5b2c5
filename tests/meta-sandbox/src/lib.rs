//! The Meta sandbox: speaks the subset of the Graph API and the OAuth dialog that the service
//! uses, so development and tests never reach Meta. It binds to loopback only.
//!
//! - `dialog`: the Facebook Login dialog.
//! - `graph`: token exchange, /me, /me/permissions, /me/accounts, /debug_token.
//! - `publish`: Page posts (`/{page}/feed`, `/{page}/photos`), the Instagram container flow
//!   (`/{ig}/media`, `GET /{container}`, `/{ig}/media_publish`), `/{ig}/content_publishing_limit`
//!   and reading posts and media back (`GET /{id}` for permalinks).
//! - `recorder`: every Graph call passes through it: recorded, delayed by the scripted latency,
//!   answered by an armed fault (`faults`: Graph error, HTML error, hang, dropped connection) or
//!   by the endpoint, with the scripted usage headers.
//! - `world` and `media`: the scriptable state, including the ledger of every post that went live.
//! - `control` and `scripting`: the `/_sandbox/...` API tests use to script the world and read
//!   the record of calls and the ledger.
//!
//! Calls with a user or Page token need a valid `appsecret_proof`, as for an app with "Require
//! App Secret". `GET /app` stands in for the host app that `APP_URL` points at locally, and like
//! Graph, unknown paths get a Graph-shaped JSON error.

// Handlers answer a refused call with the Graph error `Response` itself, carried as `Err`;
// its size does not matter in a test server.
#![allow(clippy::result_large_err)]

pub mod control;
pub mod dialog;
pub mod faults;
pub mod graph;
pub mod media;
pub mod publish;
pub mod recorder;
pub mod scripting;
pub mod world;

use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

/// The sandbox for an app with these credentials (the Worker's META_APP_ID and META_APP_SECRET).
pub fn app(app_id: &str, app_secret: &str) -> Router {
    let state = world::Shared::default();
    {
        let mut world = state.lock();
        world.app_id = app_id.into();
        world.app_secret = app_secret.into();
    }
    Router::new()
        .route("/health", get(health))
        .route("/app", get(host_app))
        .route("/app/connect", get(host_app_connect))
        .route("/{version}/dialog/oauth", get(dialog::dialog))
        .route("/{version}/oauth/access_token", get(graph::access_token))
        .route("/{version}/me", get(graph::me))
        .route("/{version}/me/permissions", get(graph::permissions))
        .route("/{version}/me/accounts", get(graph::accounts))
        .route("/{version}/debug_token", get(graph::debug_token))
        // Static segments (`me`, `debug_token`, ...) win over these parameters, whatever the order.
        .route("/{version}/{id}", any(publish::object))
        .route("/{version}/{id}/{edge}", any(publish::edge))
        .route("/_sandbox/dialog", post(dialog::submit))
        .route("/_sandbox/reset", post(control::reset))
        .route("/_sandbox/session", post(control::session))
        .route("/_sandbox/faults", post(control::add_fault))
        .route("/_sandbox/codes", post(control::issue_code))
        .route("/_sandbox/invalidate", post(control::invalidate))
        .route("/_sandbox/calls", get(control::calls))
        .route("/_sandbox/issued-tokens", get(control::issued_tokens))
        .route("/_sandbox/debug-token", post(control::script_debug_token))
        .route("/_sandbox/users", post(control::add_users))
        .route("/_sandbox/tokens", post(control::issue_token))
        .route("/_sandbox/latency", post(scripting::latency))
        .route("/_sandbox/usage-headers", post(scripting::usage_headers))
        .route("/_sandbox/containers", get(scripting::containers))
        .route("/_sandbox/containers/script", post(scripting::script_containers))
        .route("/_sandbox/containers/set", post(scripting::set_container))
        .route("/_sandbox/quota", post(scripting::quota))
        .route("/_sandbox/ledger", get(scripting::ledger))
        .fallback(unknown_path)
        .with_state(state)
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

/// The host app's "Connect Facebook" button, pressed: asks the Worker (another origin) for the
/// dialog URL with the user's Supabase token and goes there. Query: `worker` (the Worker's base
/// URL) and `workspace_id`; the token comes in the fragment (`#token=...`), which never leaves
/// the browser. For browser tests, and for trying the flow by hand with `npm run dev`.
async fn host_app_connect() -> Html<&'static str> {
    Html(
        r#"<!doctype html><meta charset="utf-8"><title>Host app: connect</title>
<h1>Host app (local stand-in)</h1><p id="status">Connecting…</p>
<script>
const query = new URLSearchParams(location.search);
const token = new URLSearchParams(location.hash.slice(1)).get("token");
fetch(query.get("worker") + "/api/meta/oauth/start", {
  method: "POST",
  headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
  body: JSON.stringify({ workspace_id: query.get("workspace_id"), return_to: query.get("return_to") || undefined }),
}).then((r) => r.json()).then((body) => {
  if (body.authorize_url) location.assign(body.authorize_url);
  else document.getElementById("status").textContent = JSON.stringify(body);
}).catch((e) => { document.getElementById("status").textContent = "failed: " + e; });
</script>"#,
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Graph answers an unknown path with OAuthException code 2500 and HTTP 400.
async fn unknown_path(State(state): State<world::Shared>, uri: Uri) -> Response {
    unknown(&state, uri.path())
}

/// The unknown-path answer, with the scripted usage headers like every Graph answer.
pub fn unknown(state: &world::Shared, path: &str) -> Response {
    let mut response = graph_error(StatusCode::BAD_REQUEST, 2500, "OAuthException", &format!("Unknown path components: {path}"));
    let usage = state.lock().usage_headers.clone();
    response.headers_mut().extend(usage);
    response
}

/// A Graph API error body: `{"error":{message,type,code,fbtrace_id}}`.
pub fn graph_error(status: StatusCode, code: u32, kind: &str, message: &str) -> Response {
    (status, Json(json!({ "error": error_object(code, kind, message) }))).into_response()
}

/// A Graph API error with an `error_subcode`.
pub fn graph_subcode_error(status: StatusCode, code: u32, subcode: u32, kind: &str, message: &str) -> Response {
    let mut error = error_object(code, kind, message);
    error["error_subcode"] = json!(subcode);
    (status, Json(json!({ "error": error }))).into_response()
}

/// The `error` object of a Graph error answer.
pub fn error_object(code: u32, kind: &str, message: &str) -> serde_json::Value {
    json!({"message": message, "type": kind, "code": code, "fbtrace_id": next_trace_id()})
}

/// Distinct, recognisable trace ids so tests can follow one call through the logs.
fn next_trace_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    format!("SANDBOX{:012}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

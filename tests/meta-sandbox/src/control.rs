//! The control API tests use to script the world (`/_sandbox/...`): reset it, set or add users
//! and their Pages, log a user into the dialog, arm Graph faults, issue codes and tokens without
//! a browser, invalidate tokens, and read the record of calls. Publishing and network
//! conditions are scripted in `scripting`.

use crate::world::{Fault, Grant, Shared, TokenKind, User, World, PERMISSIONS};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct Reset {
    users: Option<Vec<User>>,
    page_size: Option<usize>,
}

/// Back to a fresh world (the app's credentials stay), optionally with users and a page size.
/// Calls still waiting (latency, hangs) will not act on the new world.
pub async fn reset(State(state): State<Shared>, body: Option<Json<Reset>>) -> Response {
    let mut world = state.lock();
    let fresh = World {
        app_id: world.app_id.clone(),
        app_secret: world.app_secret.clone(),
        generation: world.generation + 1,
        token_history: std::mem::take(&mut world.token_history),
        ..World::default()
    };
    *world = fresh;
    if let Some(Json(reset)) = body {
        if let Some(users) = reset.users {
            world.users = users;
        }
        if let Some(size) = reset.page_size {
            world.page_size = size.max(1);
        }
    }
    Json(json!({"status": "ok"})).into_response()
}

#[derive(Deserialize)]
pub struct Session {
    user_id: String,
}

pub async fn session(State(state): State<Shared>, Json(session): Json<Session>) -> Response {
    let mut world = state.lock();
    if world.user(&session.user_id).is_none() {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "no such user"}))).into_response();
    }
    world.session_user = Some(session.user_id);
    Json(json!({"status": "ok"})).into_response()
}

#[derive(Deserialize)]
pub struct Users {
    users: Vec<User>,
}

/// Adds users, replacing any with the same id, and keeps the rest of the world.
pub async fn add_users(State(state): State<Shared>, Json(body): Json<Users>) -> Response {
    let mut world = state.lock();
    for user in body.users {
        match world.users.iter_mut().find(|existing| existing.id == user.id) {
            Some(existing) => *existing = user,
            None => world.users.push(user),
        }
    }
    Json(json!({"status": "ok", "users": world.users.len()})).into_response()
}

/// Arms a fault; its headers are checked now, so a bad one fails here, not in a Graph call.
pub async fn add_fault(State(state): State<Shared>, Json(fault): Json<Fault>) -> Response {
    if let Err(message) = crate::faults::header_map(&fault.headers) {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response();
    }
    state.lock().faults.push(fault);
    Json(json!({"status": "ok"})).into_response()
}

#[derive(Deserialize)]
pub struct CodeRequest {
    user_id: String,
    redirect_uri: String,
    /// Defaults to every permission the service asks for.
    granted: Option<Vec<String>>,
    /// Defaults to every Page of the user.
    pages: Option<Vec<String>>,
}

/// A code as if the user had clicked Continue, for API tests that do not drive a browser.
pub async fn issue_code(State(state): State<Shared>, Json(request): Json<CodeRequest>) -> Response {
    let mut world = state.lock();
    let Some(user) = world.user(&request.user_id).cloned() else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "no such user"}))).into_response();
    };
    let grant = Grant {
        user_id: user.id.clone(),
        granted: request.granted.unwrap_or_else(|| PERMISSIONS.map(String::from).to_vec()),
        pages: request.pages.unwrap_or_else(|| user.pages.iter().map(|p| p.id.clone()).collect()),
        redirect_uri: request.redirect_uri,
    };
    let code = world.issue_code(grant);
    Json(json!({"code": code})).into_response()
}

#[derive(Deserialize)]
pub struct TokenRequest {
    user_id: String,
    page_id: Option<String>,
}

/// A valid token without the login flow: the Page token of one of the user's Pages, or a
/// long-lived user token; every permission granted and every Page ticked. For tests that seal
/// tokens into the database themselves.
pub async fn issue_token(State(state): State<Shared>, Json(request): Json<TokenRequest>) -> Response {
    let mut world = state.lock();
    let Some(user) = world.user(&request.user_id).cloned() else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "no such user"}))).into_response();
    };
    let kind = match request.page_id {
        Some(page_id) if user.pages.iter().any(|p| p.id == page_id) => TokenKind::Page { page_id },
        Some(_) => return (StatusCode::NOT_FOUND, Json(json!({"error": "the user has no such Page"}))).into_response(),
        None => TokenKind::LongLivedUser,
    };
    let grant = Grant {
        user_id: user.id.clone(),
        granted: PERMISSIONS.map(String::from).to_vec(),
        pages: user.pages.iter().map(|p| p.id.clone()).collect(),
        redirect_uri: String::new(),
    };
    let token = world.issue_token(grant, kind);
    Json(json!({"token": token})).into_response()
}

/// Invalidates every token of a user (a password change, the app removed).
pub async fn invalidate(State(state): State<Shared>, Json(session): Json<Session>) -> Response {
    let mut world = state.lock();
    let mut count = 0;
    for info in world.tokens.values_mut().filter(|info| info.grant.user_id == session.user_id) {
        info.valid = false;
        count += 1;
    }
    Json(json!({"invalidated": count})).into_response()
}

pub async fn calls(State(state): State<Shared>) -> Response {
    Json(json!(state.lock().calls)).into_response()
}

/// Every token value the sandbox has issued, so tests can scan outputs for them.
#[derive(Deserialize)]
pub struct IssuedQuery {
    /// Every token since the sandbox started, not only the current world's.
    #[serde(default)]
    all: bool,
}

pub async fn issued_tokens(State(state): State<Shared>, axum::extract::Query(query): axum::extract::Query<IssuedQuery>) -> Response {
    let world = state.lock();
    if query.all {
        return Json(json!(world.token_history)).into_response();
    }
    Json(json!(world.tokens.keys().collect::<Vec<_>>())).into_response()
}

#[derive(Deserialize)]
pub struct DebugScript {
    user_id: String,
    #[serde(flatten)]
    script: crate::world::DebugOverride,
}

/// Scripts what `/debug_token` answers for a user's tokens (`{}` fields: as issued).
pub async fn script_debug_token(State(state): State<Shared>, Json(body): Json<DebugScript>) -> Response {
    state.lock().debug_overrides.insert(body.user_id, body.script);
    Json(json!({"status": "ok"})).into_response()
}

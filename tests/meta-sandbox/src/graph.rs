//! The Graph API subset the service calls: the OAuth token endpoints, `/me`,
//! `/me/permissions`, `/me/accounts` (paginated) and `/debug_token`. Calls made with a user or
//! Page token must carry a valid `appsecret_proof`, as for an app with "Require App Secret".

use crate::graph_error;
use crate::recorder::{handle, Params};
use crate::world::{Grant, Shared, TokenKind, World, PERMISSIONS};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

pub fn proof(app_secret: &str, token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(token.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn invalid_token() -> Response {
    graph_error(StatusCode::BAD_REQUEST, 190, "OAuthException", "Invalid OAuth access token - Cannot parse access token")
}

/// The grant behind a user token that came with a valid proof, or the Graph error to answer.
fn user_grant(world: &World, params: &Params) -> Result<Grant, Response> {
    let token = params.get("access_token").ok_or_else(|| {
        graph_error(
            StatusCode::BAD_REQUEST,
            2500,
            "OAuthException",
            "An active access token must be used to query information about the current user.",
        )
    })?;
    let info = world.tokens.get(token).filter(|info| info.valid).ok_or_else(invalid_token)?;
    check_proof(world, token, params)?;
    match info.kind {
        TokenKind::Page { .. } => {
            Err(graph_error(StatusCode::BAD_REQUEST, 100, "OAuthException", "This call needs a user access token"))
        }
        _ => Ok(info.grant.clone()),
    }
}

/// The call's `appsecret_proof` is present and right for `token`, or the Graph error to answer.
pub fn check_proof(world: &World, token: &str, params: &Params) -> Result<(), Response> {
    match params.get("appsecret_proof") {
        None => Err(graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "GraphMethodException",
            "API calls from the server require an appsecret_proof argument",
        )),
        Some(given) if *given != proof(&world.app_secret, token) => Err(graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "GraphMethodException",
            "Invalid appsecret_proof provided in the API argument",
        )),
        Some(_) => Ok(()),
    }
}

fn version_path(version: &str, rest: &str) -> String {
    format!("/{version}/{rest}")
}

pub async fn access_token(
    State(state): State<Shared>,
    method: Method,
    Path(version): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    handle(&state, &method, version_path(&version, "oauth/access_token"), params, |world, params| {
        if params.get("client_id") != Some(&world.app_id) || params.get("client_secret") != Some(&world.app_secret) {
            return graph_error(StatusCode::BAD_REQUEST, 1, "OAuthException", "Error validating client secret.");
        }
        if params.get("grant_type").map(String::as_str) == Some("fb_exchange_token") {
            let short = params.get("fb_exchange_token").and_then(|t| world.tokens.get(t)).filter(|info| info.valid).cloned();
            return match short {
                Some(info) if info.kind == TokenKind::ShortLivedUser => {
                    let token = world.issue_token(info.grant, TokenKind::LongLivedUser);
                    Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 5_184_000})).into_response()
                }
                _ => invalid_token(),
            };
        }
        let code = params.get("code").cloned().unwrap_or_default();
        match world.codes.remove(&code) {
            Some(grant) if params.get("redirect_uri") == Some(&grant.redirect_uri) => {
                let token = world.issue_token(grant, TokenKind::ShortLivedUser);
                Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 5_400})).into_response()
            }
            Some(_) => graph_error(StatusCode::BAD_REQUEST, 100, "OAuthException", "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request"),
            None => graph_error(StatusCode::BAD_REQUEST, 100, "OAuthException", "This authorization code has been used or has expired."),
        }
    })
    .await
}

pub async fn me(
    State(state): State<Shared>,
    method: Method,
    Path(version): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    handle(&state, &method, version_path(&version, "me"), params, |world, params| match user_grant(world, params) {
        Ok(grant) => {
            let name = world.user(&grant.user_id).map(|u| u.name.clone()).unwrap_or_default();
            Json(json!({"id": grant.user_id, "name": name})).into_response()
        }
        Err(response) => response,
    })
    .await
}

pub async fn permissions(
    State(state): State<Shared>,
    method: Method,
    Path(version): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    handle(&state, &method, version_path(&version, "me/permissions"), params, |world, params| match user_grant(world, params) {
        Ok(grant) => {
            let data: Vec<Value> = PERMISSIONS
                .iter()
                .map(|p| json!({"permission": p, "status": if grant.granted.iter().any(|g| g == p) { "granted" } else { "declined" }}))
                .collect();
            Json(json!({ "data": data })).into_response()
        }
        Err(response) => response,
    })
    .await
}

pub async fn accounts(
    State(state): State<Shared>,
    method: Method,
    headers: HeaderMap,
    Path(version): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string();
    handle(&state, &method, version_path(&version, "me/accounts"), params, |world, params| {
        let grant = match user_grant(world, params) {
            Ok(grant) => grant,
            Err(response) => return response,
        };
        let pages = world.user(&grant.user_id).map(|u| u.pages.clone()).unwrap_or_default();
        let limit = params.get("limit").and_then(|l| l.parse().ok()).unwrap_or(world.page_size).clamp(1, 100);
        let start: usize = params.get("after").and_then(|a| a.strip_prefix("idx")).and_then(|n| n.parse().ok()).unwrap_or(0);
        let mut data = Vec::new();
        for page in pages.iter().skip(start).take(limit) {
            let ticked = grant.pages.contains(&page.id);
            let mut entry = json!({"id": page.id, "name": page.name, "tasks": page.tasks,
                                   "picture": {"data": {"url": format!("https://sandbox.example/pictures/{}.jpg", page.id)}}});
            if ticked && page.has_token {
                let token = world.issue_token(grant.clone(), TokenKind::Page { page_id: page.id.clone() });
                entry["access_token"] = json!(token);
            }
            if let Some(ig) = &page.instagram {
                entry["instagram_business_account"] =
                    json!({"id": ig.id, "username": ig.username, "name": ig.name, "profile_picture_url": ig.profile_picture_url});
            }
            data.push(entry);
        }
        let mut paging = json!({"cursors": {"before": format!("idx{start}"), "after": format!("idx{}", start + data.len())}});
        if start + data.len() < pages.len() {
            let mut next = url::Url::parse(&format!("http://{host}/{version}/me/accounts")).expect("sandbox URL");
            for (key, value) in params.iter().filter(|(k, _)| *k != "after" && *k != "appsecret_proof") {
                next.query_pairs_mut().append_pair(key, value);
            }
            next.query_pairs_mut().append_pair("after", &format!("idx{}", start + data.len()));
            paging["next"] = json!(next.as_str());
        }
        Json(json!({"data": data, "paging": paging})).into_response()
    })
    .await
}

pub async fn debug_token(
    State(state): State<Shared>,
    method: Method,
    Path(version): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    handle(&state, &method, version_path(&version, "debug_token"), params, |world, params| {
        if params.get("access_token") != Some(&format!("{}|{}", world.app_id, world.app_secret)) {
            return graph_error(StatusCode::BAD_REQUEST, 190, "OAuthException", "Invalid OAuth access token signature.");
        }
        let input = params.get("input_token").and_then(|t| world.tokens.get(t)).cloned();
        let Some(info) = input else {
            return Json(json!({"data": {"is_valid": false, "error": {"code": 190, "message": "Invalid OAuth access token."}}}))
                .into_response();
        };
        let script = world.debug_overrides.get(&info.grant.user_id).cloned().unwrap_or_default();
        // Page scopes name the ticked Pages; Instagram scopes the accounts linked to them.
        let pages = &info.grant.pages;
        let accounts: Vec<String> = world
            .user(&info.grant.user_id)
            .map(|user| {
                user.pages.iter().filter(|p| pages.contains(&p.id)).filter_map(|p| p.instagram.as_ref().map(|ig| ig.id.clone())).collect()
            })
            .unwrap_or_default();
        let scopes: Vec<&String> = info.grant.granted.iter().filter(|scope| !script.remove_scopes.contains(scope)).collect();
        let granular: Vec<Value> = scopes
            .iter()
            .map(|scope| {
                let targets: Vec<&String> = if scope.starts_with("pages_") {
                    pages.iter().collect()
                } else if scope.starts_with("instagram_") {
                    accounts.iter().collect()
                } else {
                    Vec::new()
                };
                let removed = script.remove_targets.get(scope.as_str()).cloned().unwrap_or_default();
                let targets: Vec<&String> = targets.into_iter().filter(|id| !removed.contains(id)).collect();
                json!({"scope": scope, "target_ids": targets})
            })
            .collect();
        Json(json!({"data": {
            "app_id": world.app_id, "type": "USER", "is_valid": info.valid, "user_id": info.grant.user_id,
            "expires_at": script.expires_at.unwrap_or(0), "data_access_expires_at": script.data_access_expires_at.unwrap_or(0),
            "scopes": scopes, "granular_scopes": granular,
        }}))
        .into_response()
    })
    .await
}

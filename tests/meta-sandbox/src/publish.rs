//! The publishing endpoints: Page posts (`POST /{page}/feed`, `POST /{page}/photos`), the
//! Instagram container flow (`POST /{ig}/media`, `GET /{container}`, `POST /{ig}/media_publish`),
//! `GET /{ig}/content_publishing_limit`, and reading posts and media back (`GET /{id}`).
//!
//! Calls need a valid user or Page token with its appsecret_proof. A Page token acts only for
//! its own Page and that Page's Instagram account; a user token may act for the Instagram
//! account of a Page it ticked, but Page posts must come from the Page itself. Every post that
//! goes live is written to the ledger.

use crate::graph::check_proof;
use crate::media::{LedgerEntry, LedgerKind, Status};
use crate::recorder::{handle, merged_params, Params};
use crate::world::{Page, Shared, TokenInfo, TokenKind, World};
use crate::{graph_error, graph_subcode_error};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

type Outcome = Result<Value, Response>;

/// `/{version}/{id}`: reading an object back; other methods are refused as Graph does.
pub async fn object(
    State(state): State<Shared>,
    method: Method,
    Path((version, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_version(&version) {
        return crate::unknown(&state, uri.path());
    }
    let params = merged_params(&uri, &headers, &body);
    let verb = method.as_str().to_ascii_lowercase();
    handle(&state, &method, format!("/{version}/{id}"), params, move |world, params| {
        let outcome = match verb.as_str() {
            "get" => read_object(world, params, &id),
            _ => caller(world, params).and_then(|_| Err(unsupported(&verb, &id))),
        };
        answer(outcome)
    })
    .await
}

/// `/{version}/{id}/{edge}` for the publishing edges; anything else is an unknown path.
pub async fn edge(
    State(state): State<Shared>,
    method: Method,
    Path((version, id, edge)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let action: fn(&mut World, &Params, &str) -> Outcome = match (method.as_str(), edge.as_str()) {
        ("POST", "feed") => feed,
        ("POST", "photos") => photos,
        ("POST", "media") => create_container,
        ("POST", "media_publish") => media_publish,
        ("GET", "content_publishing_limit") => publishing_limit,
        _ => return crate::unknown(&state, uri.path()),
    };
    if !is_version(&version) {
        return crate::unknown(&state, uri.path());
    }
    let params = merged_params(&uri, &headers, &body);
    handle(&state, &method, format!("/{version}/{id}/{edge}"), params, move |world, params| answer(action(world, params, &id)))
        .await
}

fn answer(outcome: Outcome) -> Response {
    match outcome {
        Ok(body) => Json(body).into_response(),
        Err(response) => response,
    }
}

/// `v26.0` and the like; other first segments are not Graph paths.
fn is_version(text: &str) -> bool {
    text.strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| [major, minor].iter().all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())))
}

fn param(params: &Params, name: &str) -> Option<String> {
    params.get(name).filter(|value| !value.is_empty()).cloned()
}

/// The valid token behind the call, its proof checked. Page tokens are welcome here.
fn caller(world: &World, params: &Params) -> Result<TokenInfo, Response> {
    let Some(token) = params.get("access_token") else {
        return Err(graph_error(
            StatusCode::BAD_REQUEST,
            104,
            "OAuthException",
            "An access token is required to request this resource.",
        ));
    };
    let Some(info) = world.tokens.get(token).filter(|info| info.valid) else {
        return Err(graph_subcode_error(
            StatusCode::BAD_REQUEST,
            190,
            460,
            "OAuthException",
            "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
        ));
    };
    check_proof(world, token, params)?;
    Ok(info.clone())
}

fn forbidden(code: u32, message: &str) -> Response {
    graph_error(StatusCode::FORBIDDEN, code, "OAuthException", message)
}

fn permissions_error() -> Response {
    forbidden(200, "(#200) Permissions error")
}

/// Graph's answer for an id it does not know or will not show this token.
fn unsupported(verb: &str, id: &str) -> Response {
    graph_subcode_error(
        StatusCode::BAD_REQUEST,
        100,
        33,
        "GraphMethodException",
        &format!("Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."),
    )
}

/// The Page `caller` acts for as `page_id`, as its user sees it (tasks included): a Page token
/// of that very Page, or, where `user_tokens` allows, a user token whose grant ticked it. The
/// user must still have the Page.
fn acting_page(world: &World, caller: &TokenInfo, page_id: &str, user_tokens: bool) -> Result<Page, Response> {
    match &caller.kind {
        TokenKind::Page { page_id: own } if own == page_id => {}
        TokenKind::Page { .. } => return Err(permissions_error()),
        _ if !user_tokens => return Err(forbidden(200, "(#200) Unpublished posts must be posted to a page as the page itself.")),
        _ if !caller.grant.pages.iter().any(|id| id == page_id) => return Err(permissions_error()),
        _ => {}
    }
    world
        .user(&caller.grant.user_id)
        .and_then(|user| user.pages.iter().find(|page| page.id == page_id))
        .cloned()
        .ok_or_else(permissions_error)
}

fn granted(caller: &TokenInfo, permission: &str) -> bool {
    caller.grant.granted.iter().any(|p| p == permission)
}

fn can_create_content(page: &Page) -> Result<(), Response> {
    if page.tasks.iter().any(|task| task == "CREATE_CONTENT") {
        Ok(())
    } else {
        Err(forbidden(200, "(#200) The user does not have the CREATE_CONTENT task on this Page"))
    }
}

/// Checks for a Page post; the caller must be the Page itself.
fn may_post_to_page(world: &World, caller: &TokenInfo, page_id: &str) -> Result<(), Response> {
    if !world.page_exists(page_id) {
        return Err(unsupported("post", page_id));
    }
    let page = acting_page(world, caller, page_id, false)?;
    if !granted(caller, "pages_manage_posts") {
        return Err(forbidden(
            200,
            "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient administrative permission",
        ));
    }
    can_create_content(&page)
}

/// Checks for the Instagram account's edges; `publishing` adds the publishing permission and
/// the Page task.
fn may_use_instagram(world: &World, caller: &TokenInfo, ig_user_id: &str, verb: &str, publishing: bool) -> Result<(), Response> {
    let page_id = world.page_of_instagram(ig_user_id).ok_or_else(|| unsupported(verb, ig_user_id))?;
    let page = acting_page(world, caller, &page_id, true)?;
    if publishing {
        if !granted(caller, "instagram_content_publish") {
            return Err(forbidden(10, "(#10) Application does not have permission for this action"));
        }
        can_create_content(&page)?;
    }
    Ok(())
}

fn feed(world: &mut World, params: &Params, page_id: &str) -> Outcome {
    let caller = caller(world, params)?;
    may_post_to_page(world, &caller, page_id)?;
    let (message, link) = (param(params, "message"), param(params, "link"));
    if message.is_none() && link.is_none() {
        return Err(graph_error(StatusCode::BAD_REQUEST, 100, "OAuthException", "(#100) Missing message or attachment"));
    }
    let post_id = post_id(page_id);
    world.media.ledger.push(entry(LedgerKind::Feed, page_id, &post_id, |e| {
        e.message = message;
        e.link = link;
    }));
    Ok(json!({ "id": post_id }))
}

fn photos(world: &mut World, params: &Params, page_id: &str) -> Outcome {
    let caller = caller(world, params)?;
    may_post_to_page(world, &caller, page_id)?;
    let Some(url) = param(params, "url") else {
        return Err(graph_error(StatusCode::BAD_REQUEST, 324, "OAuthException", "(#324) Requires upload file"));
    };
    let post_id = post_id(page_id);
    let photo_id = (122_200_000_000_000_000 + crate::media::next_number()).to_string();
    world.media.ledger.push(entry(LedgerKind::Photo, page_id, &post_id, |e| {
        e.photo_id = Some(photo_id.clone());
        e.caption = param(params, "caption");
        e.image_url = Some(url);
    }));
    Ok(json!({ "id": photo_id, "post_id": post_id }))
}

fn create_container(world: &mut World, params: &Params, ig_user_id: &str) -> Outcome {
    let caller = caller(world, params)?;
    may_use_instagram(world, &caller, ig_user_id, "post", true)?;
    let Some(image_url) = param(params, "image_url") else {
        return Err(graph_error(StatusCode::BAD_REQUEST, 100, "OAuthException", "(#100) The parameter image_url is required"));
    };
    let id = world.media.create_container(ig_user_id, param(params, "caption"), Some(image_url));
    Ok(json!({ "id": id }))
}

fn media_publish(world: &mut World, params: &Params, ig_user_id: &str) -> Outcome {
    let caller = caller(world, params)?;
    may_use_instagram(world, &caller, ig_user_id, "post", true)?;
    let Some(creation_id) = param(params, "creation_id") else {
        return Err(graph_error(StatusCode::BAD_REQUEST, 100, "OAuthException", "(#100) The parameter creation_id is required"));
    };
    let Some(container) = world.media.containers.get(&creation_id).filter(|c| c.ig_user_id == ig_user_id).cloned() else {
        return Err(graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "OAuthException",
            "(#100) creation_id is not a media container of this Instagram account",
        ));
    };
    let ig_error =
        |code, subcode, message: &str| graph_subcode_error(StatusCode::BAD_REQUEST, code, subcode, "OAuthException", message);
    match container.status_code {
        Status::Finished => {}
        Status::InProgress => return Err(ig_error(9007, 2_207_027, "Media ID is not available")),
        Status::Published => return Err(ig_error(9, 2_207_008, "The media has already been published")),
        Status::Error | Status::Expired => return Err(ig_error(9, 2_207_008, "The media container has expired or failed")),
    }
    if world.media.quota_usage(ig_user_id) >= world.media.quota_total(ig_user_id) as usize {
        return Err(ig_error(
            9,
            2_207_042,
            "You reached the maximum number of posts that is allowed to be published by Content Publishing API",
        ));
    }
    let media_id = (18_000_000_000_000_000 + crate::media::next_number()).to_string();
    if let Some(stored) = world.media.containers.get_mut(&creation_id) {
        stored.status_code = Status::Published;
        stored.media_id = Some(media_id.clone());
    }
    world.media.ledger.push(entry(LedgerKind::Instagram, ig_user_id, &media_id, |e| {
        e.container_id = Some(creation_id.clone());
        e.caption = container.caption.clone();
        e.image_url = container.image_url.clone();
    }));
    Ok(json!({ "id": media_id }))
}

fn publishing_limit(world: &mut World, params: &Params, ig_user_id: &str) -> Outcome {
    let caller = caller(world, params)?;
    may_use_instagram(world, &caller, ig_user_id, "get", false)?;
    let usage = world.media.quota_usage(ig_user_id);
    let total = world.media.quota_total(ig_user_id);
    Ok(json!({"data": [{"quota_usage": usage, "config": {"quota_total": total, "quota_duration": 86_400}}]}))
}

/// A container (each read is one status check), an Instagram media, a Page post or a photo.
/// Objects of a Page the token may not act for are "not found", as Graph hides them.
fn read_object(world: &mut World, params: &Params, id: &str) -> Outcome {
    let caller = caller(world, params)?;
    let not_found = || unsupported("get", id);
    if let Some(container) = world.media.containers.get(id) {
        let page_id = world.page_of_instagram(&container.ig_user_id).ok_or_else(not_found)?;
        acting_page(world, &caller, &page_id, true).map_err(|_| not_found())?;
        let container = world.media.check(id).ok_or_else(not_found)?;
        let fields = [("status_code", json!(container.status_code.code())), ("status", json!(container.status_text()))];
        return select(id, "ShadowIGMediaBuilder", &fields, params);
    }
    let entry =
        world.media.ledger.iter().find(|e| e.external_id == id || e.photo_id.as_deref() == Some(id)).ok_or_else(not_found)?;
    let page_id = match entry.kind {
        LedgerKind::Instagram => world.page_of_instagram(&entry.destination_id).ok_or_else(not_found)?,
        _ => entry.destination_id.clone(),
    };
    acting_page(world, &caller, &page_id, true).map_err(|_| not_found())?;
    match entry.kind {
        LedgerKind::Instagram => {
            let permalink = format!("https://www.instagram.com/p/{}/", crate::media::shortcode(&entry.external_id));
            let fields = [("permalink", json!(permalink)), ("caption", json!(entry.caption)), ("media_type", json!("IMAGE"))];
            select(id, "ShadowIGMedia", &fields, params)
        }
        kind => {
            let number = entry.external_id.rsplit('_').next().unwrap_or_default();
            let permalink = format!("https://www.facebook.com/{}/posts/{number}", entry.destination_id);
            let node = if kind == LedgerKind::Photo && entry.photo_id.as_deref() == Some(id) { "Photo" } else { "Post" };
            select(id, node, &[("permalink_url", json!(permalink))], params)
        }
    }
}

/// The fields the sandbox models; asking one of them of a node without it is Graph's error
/// (the classic mix-up of `permalink` and `permalink_url`). Other unknown fields are left out.
const MODELED: [&str; 4] = ["permalink", "permalink_url", "status_code", "status"];

/// `id` plus the requested fields (all, without `fields`).
fn select(id: &str, node: &str, available: &[(&str, Value)], params: &Params) -> Outcome {
    let mut body = Map::new();
    body.insert("id".into(), json!(id));
    let requested: Vec<&str> = match params.get("fields") {
        Some(list) => list.split(',').map(str::trim).filter(|f| !f.is_empty() && *f != "id").collect(),
        None => available.iter().map(|(name, _)| *name).collect(),
    };
    for field in requested {
        match available.iter().find(|(name, _)| *name == field) {
            Some((name, value)) => {
                body.insert((*name).into(), value.clone());
            }
            None if MODELED.contains(&field) => {
                return Err(graph_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    "OAuthException",
                    &format!("(#100) Tried accessing nonexisting field ({field}) on node type ({node})"),
                ))
            }
            None => {}
        }
    }
    Ok(Value::Object(body))
}

fn post_id(page_id: &str) -> String {
    format!("{page_id}_{}", 122_100_000_000_000_000 + crate::media::next_number())
}

fn entry(kind: LedgerKind, destination_id: &str, external_id: &str, fill: impl FnOnce(&mut LedgerEntry)) -> LedgerEntry {
    let mut entry = LedgerEntry {
        kind,
        destination_id: destination_id.into(),
        external_id: external_id.into(),
        photo_id: None,
        container_id: None,
        message: None,
        caption: None,
        link: None,
        image_url: None,
        at_ms: crate::media::now_ms(),
    };
    fill(&mut entry);
    entry
}

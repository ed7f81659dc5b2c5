//! The Facebook Login dialog, as far as the flow needs it: the logged-in sandbox user, a
//! checkbox per requested permission and per Page, Continue and Cancel. It redirects to
//! `redirect_uri` with `code` and `state`, or with `error=access_denied`.

use crate::world::{Grant, Shared};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use std::collections::HashMap;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn error_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!("<!doctype html><title>Error</title><h1>Sandbox login error</h1><p id=\"error\">{}</p>", escape(message))),
    )
        .into_response()
}

pub async fn dialog(
    State(state): State<Shared>,
    Path(_version): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let world = state.lock();
    if params.get("client_id") != Some(&world.app_id) {
        return error_page("Invalid App ID: the client_id is not this sandbox app's id.");
    }
    if params.get("response_type").map(String::as_str) != Some("code") {
        return error_page("response_type must be code.");
    }
    let (Some(redirect_uri), Some(state_param)) = (params.get("redirect_uri"), params.get("state")) else {
        return error_page("redirect_uri and state are required.");
    };
    let user = world.session_user.as_deref().and_then(|id| world.user(id)).or_else(|| world.users.first());
    let Some(user) = user else {
        return error_page("No sandbox user is logged in.");
    };
    let scopes: Vec<&str> = params.get("scope").map(|s| s.split(',').filter(|p| !p.is_empty()).collect()).unwrap_or_default();
    let permissions: String = scopes
        .iter()
        .map(|p| {
            format!(
                "<label><input type=\"checkbox\" name=\"perm\" value=\"{0}\" id=\"perm-{0}\" checked> {0}</label><br>",
                escape(p)
            )
        })
        .collect();
    let pages: String = user
        .pages
        .iter()
        .map(|p| {
            format!(
                "<label><input type=\"checkbox\" name=\"page\" value=\"{0}\" id=\"page-{0}\" checked> {1}</label><br>",
                escape(&p.id),
                escape(&p.name)
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><meta charset=\"utf-8\"><title>Log in with Facebook (sandbox)</title>\
         <h1>Continue as <span id=\"user\">{name}</span>?</h1>\
         <form method=\"post\" action=\"/_sandbox/dialog\">\
         <input type=\"hidden\" name=\"user_id\" value=\"{user_id}\">\
         <input type=\"hidden\" name=\"redirect_uri\" value=\"{redirect}\">\
         <input type=\"hidden\" name=\"state\" value=\"{state}\">\
         <h2>Permissions</h2>{permissions}<h2>Pages</h2>{pages}\
         <button type=\"submit\" name=\"action\" value=\"continue\" id=\"continue\">Continue</button>\
         <button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button></form>",
        name = escape(&user.name),
        user_id = escape(&user.id),
        redirect = escape(redirect_uri),
        state = escape(state_param),
    ))
    .into_response()
}

/// The dialog's form: repeated `perm` and `page` fields, so it is read as pairs.
pub async fn submit(State(state): State<Shared>, Form(fields): Form<Vec<(String, String)>>) -> Response {
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let all = |name: &str| fields.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect::<Vec<_>>();
    let (Some(redirect_uri), Some(state_param), Some(user_id)) = (get("redirect_uri"), get("state"), get("user_id")) else {
        return error_page("The form is incomplete.");
    };
    let Ok(mut target) = url::Url::parse(&redirect_uri) else {
        return error_page("redirect_uri is not a URL.");
    };
    if get("action").as_deref() == Some("cancel") {
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_code", "200")
            .append_pair("error_description", "Permissions error")
            .append_pair("error_reason", "user_denied")
            .append_pair("state", &state_param);
    } else {
        let code = state.lock().issue_code(Grant {
            user_id,
            granted: all("perm"),
            pages: all("page"),
            redirect_uri: redirect_uri.clone(),
        });
        target.query_pairs_mut().append_pair("code", &code).append_pair("state", &state_param);
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

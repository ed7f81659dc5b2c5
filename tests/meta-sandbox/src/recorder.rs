//! Every Graph call passes through [`handle`]: it is recorded (token values never are), waits
//! out the scripted latency, and is answered by an armed fault or by the endpoint, with the
//! scripted usage headers. The world's lock is never held while waiting, so slow calls overlap
//! as they would against Graph.

use crate::faults;
use crate::graph::proof;
use crate::graph_error;
use crate::world::{Call, FaultKind, Shared, TokenKind, World};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use std::collections::HashMap;
use std::time::Duration;

pub type Params = HashMap<String, String>;

/// Records the call, then answers as the armed fault or `handler` says. `handler` is the real
/// action; it runs under the world's lock, after the latency, and not at all for `error` and
/// `http` faults.
pub async fn handle<H>(state: &Shared, method: &Method, path: String, params: Params, handler: H) -> Response
where
    H: FnOnce(&mut World, &Params) -> Response + Send,
{
    let (fault, latency_ms, usage, generation) = {
        let mut world = state.lock();
        record(&mut world, method, &path, &params);
        let fault = world.take_fault(method.as_str(), &path, &params);
        (fault, world.latency_ms, world.usage_headers.clone(), world.generation)
    };
    if latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }
    let mut response = match &fault {
        None => act(state, generation, &params, handler),
        Some(fault) => {
            let hang = Duration::from_millis(fault.hang_ms.unwrap_or(faults::DEFAULT_HANG_MS));
            match fault.kind {
                FaultKind::Error => faults::error_answer(fault, params.get("access_token").map(String::as_str)),
                FaultKind::Http => faults::http_answer(fault),
                FaultKind::Hang if fault.after_action => {
                    let response = act(state, generation, &params, handler);
                    tokio::time::sleep(hang).await;
                    response
                }
                FaultKind::Hang => {
                    tokio::time::sleep(hang).await;
                    act(state, generation, &params, handler)
                }
                FaultKind::Drop => {
                    // The action's own answer is lost with the connection.
                    let _ = act(state, generation, &params, handler);
                    faults::dropped_answer()
                }
            }
        }
    };
    response.headers_mut().extend(usage);
    if let Some(fault) = &fault {
        // Checked when the fault was armed.
        response.headers_mut().extend(faults::header_map(&fault.headers).unwrap_or_default());
    }
    response
}

/// Runs the real action, unless the world was reset while the call waited: a late call must
/// not post into the next test's world.
fn act<H>(state: &Shared, generation: u64, params: &Params, handler: H) -> Response
where
    H: FnOnce(&mut World, &Params) -> Response,
{
    let mut world = state.lock();
    if world.generation != generation {
        return graph_error(StatusCode::SERVICE_UNAVAILABLE, 2, "OAuthException", "Service temporarily unavailable");
    }
    handler(&mut world, params)
}

fn record(world: &mut World, method: &Method, path: &str, params: &Params) {
    let token = params.get("access_token");
    let token_owner = token.map(|token| owner_of(world, token));
    let appsecret_proof_valid = token
        .filter(|t| !t.contains('|'))
        .map(|token| params.get("appsecret_proof").is_some_and(|given| *given == proof(&world.app_secret, token)));
    let recorded = params
        .iter()
        .map(|(key, value)| {
            let shown = match key.as_str() {
                "access_token" | "fb_exchange_token" | "input_token" => {
                    format!("<token of {}>", owner_of(world, value))
                }
                "client_secret" => (if *value == world.app_secret { "<the app secret>" } else { "<wrong secret>" }).into(),
                "code" => "<code>".into(),
                _ => value.clone(),
            };
            (key.clone(), shown)
        })
        .collect();
    world.calls.push(Call {
        method: method.to_string(),
        path: path.into(),
        params: recorded,
        token_owner,
        appsecret_proof_valid,
    });
}

pub fn owner_of(world: &World, token: &str) -> String {
    if token == format!("{}|{}", world.app_id, world.app_secret) {
        return "app".into();
    }
    match world.tokens.get(token) {
        Some(info) => match &info.kind {
            TokenKind::Page { page_id } => format!("page:{page_id}"),
            _ => format!("user:{}", info.grant.user_id),
        },
        None => "unknown".into(),
    }
}

/// A call's parameters: the query, merged with a form (as reqwest's `.form` sends) or JSON
/// object body. The body wins over the query for a name given in both.
pub fn merged_params(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Params {
    let mut params: Params = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("application/json") {
        if let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(body) {
            for (key, value) in object {
                let text = match value {
                    serde_json::Value::String(text) => text,
                    other => other.to_string(),
                };
                params.insert(key, text);
            }
        }
    } else {
        params.extend(url::form_urlencoded::parse(body).into_owned());
    }
    params
}

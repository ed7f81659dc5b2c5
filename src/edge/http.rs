//! HTTP dispatch: resolve the route, load the config, call the capability, and write JSON.

use super::env::WorkerEnv;
use crate::api_error::ApiError;
use crate::config::Config;
use crate::vault::{reseal, Vault};
use crate::{bearer, health};
use crate::routes::{self, Route};
use crate::store::Store;
use serde::Serialize;
use std::time::Duration;
use worker::{Delay, Env, Request, Response};

/// How long a health check waits for PostgREST before calling it unreachable.
const HEALTH_DEADLINE: Duration = Duration::from_secs(5);

/// The request's method as sent. `Request::method()` maps methods it does not know (PROPFIND,
/// ...) to GET, which would let them reach GET handlers.
pub fn method(req: &Request) -> String {
    req.inner().method()
}

pub async fn handle(req: Request, env: &Env) -> Result<Response, ApiError> {
    let matched = routes::resolve(&method(&req), &req.path())?;
    let config = Config::from_env(&WorkerEnv(env))?;
    match matched.route {
        Route::Health => {
            let store = Store::from_config(&config);
            let report = health::check(&store, Delay::from(HEALTH_DEADLINE)).await;
            json_response(report.http_status(), &report)
        }
        Route::ResealTokens => {
            let authorization = req.headers().get("Authorization").ok().flatten();
            bearer::check(authorization.as_deref(), &config.operator_token)?;
            let after = req.url().ok().and_then(|url| url.query_pairs().find(|(k, _)| k == "after").map(|(_, v)| v.into_owned()));
            let cursor = match after {
                None => reseal::Cursor::START,
                Some(text) => reseal::Cursor::parse(&text)
                    .ok_or_else(|| ApiError::new(400, "invalid_request", "after must be the next_cursor of a previous answer"))?,
            };
            let report = reseal::reseal_batch(&Store::from_config(&config), &Vault::from_config(&config), cursor)
                .await
                .map_err(|err| ApiError::new(503, "database_unavailable", format!("Re-sealing stopped: {err}")))?;
            json_response(200, &report)
        }
    }
}

pub fn json_response(status: u16, body: &impl Serialize) -> Result<Response, ApiError> {
    let text = serde_json::to_string(body)
        .map_err(|_| ApiError::internal("The response could not be encoded"))?;
    respond(status, text).map_err(|_| ApiError::internal("The response could not be built"))
}

pub fn error_response(err: &ApiError) -> worker::Result<Response> {
    let mut response = respond(err.status, err.body())?;
    if let Some(allow) = &err.allow {
        response.headers_mut().set("Allow", allow)?;
    }
    Ok(response)
}

fn respond(status: u16, body: String) -> worker::Result<Response> {
    let mut response = Response::ok(body)?.with_status(status);
    let headers = response.headers_mut();
    headers.set("Content-Type", "application/json; charset=utf-8")?;
    headers.set("Cache-Control", "no-store")?;
    Ok(response)
}

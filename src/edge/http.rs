//! HTTP dispatch: resolve the route, load the config, call the capability, and write JSON
//! (or, for the OAuth callback, a redirect or a small HTML page).

use super::env::WorkerEnv;
use crate::api_error::ApiError;
use crate::config::Config;
use crate::config::EnvSource;
use crate::connect::access::{self, Need};
use crate::connect::manage::{self, Choice};
use crate::connect::oauth::{self, CallbackOutcome, CallbackQuery};
use crate::deletion;
use crate::graph::GraphClient;
use crate::ops;
use crate::publish::content::JobRequest;
use crate::publish::jobs;
use crate::routes::{self, Route};
use crate::store::Store;
use crate::vault::{reseal, Vault};
use crate::{bearer, cors, health};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use worker::{Delay, Env, Request, Response};

/// How long a health check waits for PostgREST before calling it unreachable.
const HEALTH_DEADLINE: Duration = Duration::from_secs(5);
/// Request bodies of the user endpoints are small JSON objects.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// The request's method as sent. `Request::method()` maps methods it does not know (PROPFIND,
/// ...) to GET, which would let them reach GET handlers.
pub fn method(req: &Request) -> String {
    req.inner().method()
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

fn query_param(req: &Request, name: &str) -> Option<String> {
    let url = req.url().ok()?;
    url.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

/// The body as text, refused with 413 past [`MAX_BODY_BYTES`] (declared or actual).
async fn text_body(req: &mut Request) -> Result<String, ApiError> {
    let too_large = || ApiError::new(413, "payload_too_large", "The request body is larger than 16 KiB");
    let declared: Option<usize> = header(req, "Content-Length").and_then(|length| length.parse().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let text = req.text().await.map_err(|_| ApiError::new(400, "invalid_request", "The request body could not be read"))?;
    if text.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(text)
}

async fn json_body(req: &mut Request) -> Result<Value, ApiError> {
    let text = text_body(req).await?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|_| ApiError::new(400, "invalid_request", "The request body must be a JSON object"))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::new(400, "invalid_request", "The request body must be a JSON object"))
    }
}

pub async fn handle(mut req: Request, env: &Env) -> Result<Response, ApiError> {
    let matched = routes::resolve(&method(&req), &req.path())?;
    if matched.route == Route::Doctor {
        // Before the configuration is loaded: reporting a broken one is the point.
        return doctor(&req, env).await;
    }
    let config = Config::from_env(&WorkerEnv(env))?;
    let origin = cors::granted_origin(&config, header(&req, "Origin").as_deref());
    let store = Store::from_config(&config);
    let authorization = header(&req, "Authorization");
    // An inner block, so that errors (`?`) still reach the CORS step below.
    let result: Result<Response, ApiError> = async { match matched.route {
        Route::Health => {
            let report = health::check(&store, Delay::from(HEALTH_DEADLINE)).await;
            json_response(report.http_status(), &report)
        }
        Route::ResealTokens => {
            bearer::check(authorization.as_deref(), &config.operator_token)?;
            let cursor = match query_param(&req, "after") {
                None => reseal::Cursor::START,
                Some(text) => reseal::Cursor::parse(&text)
                    .ok_or_else(|| ApiError::new(400, "invalid_request", "after must be the next_cursor of a previous answer"))?,
            };
            let report = reseal::reseal_batch(&store, &Vault::from_config(&config), cursor)
                .await
                .map_err(|err| ApiError::new(503, "database_unavailable", format!("Re-sealing stopped: {err}")))?;
            json_response(200, &report)
        }
        Route::Preflight => preflight(origin.as_deref()),
        Route::OAuthStart => {
            let body = json_body(&mut req).await?;
            let workspace_id = access::workspace_id(body.get("workspace_id").and_then(Value::as_str))?;
            let caller = access::authorize(&store, authorization.as_deref(), &workspace_id, Need::Admin).await?;
            let return_to = oauth::check_return_to(&config, body.get("return_to").and_then(Value::as_str))?;
            let url = oauth::start(&config, &store, &workspace_id, &caller.user_id, return_to).await?;
            json_response(200, &serde_json::json!({ "authorize_url": url }))
        }
        Route::OAuthCallback => {
            let query = CallbackQuery {
                code: query_param(&req, "code"),
                state: query_param(&req, "state"),
                error: query_param(&req, "error"),
            };
            let graph = GraphClient::from_config(&config);
            let now = (js_sys::Date::now() / 1000.0) as u64;
            let result = oauth::callback(&config, &store, &graph, &Vault::from_config(&config), query, now).await;
            worker::console_log!("{}", crate::log::line("oauth_callback", result.log));
            match result.outcome {
                CallbackOutcome::Redirect(location) => redirect(&location),
                CallbackOutcome::Page { status, message } => html_page(status, "Could not connect", message),
            }
        }
        Route::ConnectionGet => {
            let workspace_id = access::workspace_id(query_param(&req, "workspace_id").as_deref())?;
            access::authorize(&store, authorization.as_deref(), &workspace_id, Need::Member).await?;
            json_response(200, &manage::view(&store, &workspace_id).await?)
        }
        Route::ConnectionDelete => {
            let workspace_id = access::workspace_id(query_param(&req, "workspace_id").as_deref())?;
            // Any plan: a workspace that moved below Growth must still be able to remove its tokens.
            access::authorize(&store, authorization.as_deref(), &workspace_id, Need::AdminAnyPlan).await?;
            json_response(200, &manage::disconnect(&store, &workspace_id).await?)
        }
        Route::DefaultsPut => {
            let body = json_body(&mut req).await?;
            let workspace_id = access::workspace_id(body.get("workspace_id").and_then(Value::as_str))?;
            access::authorize(&store, authorization.as_deref(), &workspace_id, Need::Admin).await?;
            let page = Choice::from_json(&body, "facebook_page_id")?;
            let instagram = Choice::from_json(&body, "instagram_account_id")?;
            json_response(200, &manage::set_defaults(&store, &workspace_id, page, instagram).await?)
        }
        Route::PublishDue => {
            bearer::check(authorization.as_deref(), &config.cron_secret)?;
            let summary = super::publish::run(&config, &store, "http", None).await;
            match &summary.error {
                None => json_response(200, &summary),
                Some(problem) => json_response(
                    503,
                    &serde_json::json!({
                        "error": {"code": "database_unavailable", "message": format!("The pass stopped: {problem}. Claimed jobs return to the queue when their lease expires.")},
                        "summary": summary,
                    }),
                ),
            }
        }
        Route::JobCreate => {
            let body = json_body(&mut req).await?;
            let workspace_id = access::workspace_id(body.get("workspace_id").and_then(Value::as_str))?;
            let caller = access::authorize(&store, authorization.as_deref(), &workspace_id, Need::Member).await?;
            let request = JobRequest::parse(&body)?;
            let timeout = Duration::from_secs(config.graph_timeout_seconds.into());
            let (job, created) = jobs::create(&store, &reqwest::Client::new(), &super::clock::WorkerClock, timeout, &caller, request).await?;
            let view = jobs::view(&store, job).await?;
            json_response(if created { 201 } else { 200 }, &view)
        }
        Route::JobList => {
            let workspace_id = access::workspace_id(query_param(&req, "workspace_id").as_deref())?;
            access::authorize(&store, authorization.as_deref(), &workspace_id, Need::MemberAnyPlan).await?;
            let page = jobs::list(
                &store,
                Some(&workspace_id),
                query_param(&req, "status").as_deref(),
                query_param(&req, "offset").as_deref(),
                query_param(&req, "limit").as_deref(),
            )
            .await?;
            json_response(200, &page)
        }
        Route::JobGet => {
            let job = jobs::authorized_job(&store, authorization.as_deref(), matched.param("id").unwrap_or_default()).await?;
            json_response(200, &jobs::view(&store, job).await?)
        }
        Route::JobCancel => {
            let job = jobs::authorized_job(&store, authorization.as_deref(), matched.param("id").unwrap_or_default()).await?;
            let job = jobs::cancel(&store, job).await?;
            json_response(200, &jobs::view(&store, job).await?)
        }
        Route::DataDeletion => {
            let body = text_body(&mut req).await?;
            let request = deletion::verify(&config, &body)?;
            let (answer, report) = deletion::data_deletion(&config, &store, &request).await?;
            worker::console_log!(
                "{}",
                crate::log::line(
                    "meta_data_deletion",
                    serde_json::json!({
                        "connections": report.connections, "pages": report.pages,
                        "instagram_accounts": report.instagram_accounts, "targets_redacted": report.targets_redacted,
                        "outcome": "completed",
                    })
                )
            );
            json_response(200, &answer)
        }
        Route::Deauthorize => {
            let body = text_body(&mut req).await?;
            let request = deletion::verify(&config, &body)?;
            let revoked = deletion::deauthorize(&config, &store, &request).await?;
            worker::console_log!(
                "{}",
                crate::log::line("meta_deauthorize", serde_json::json!({ "connections_revoked": revoked, "outcome": "completed" }))
            );
            json_response(200, &serde_json::json!({ "status": "ok" }))
        }
        Route::DataDeletionStatus => {
            let wants_json = header(&req, "Accept").is_some_and(|accept| accept.contains("application/json"));
            let found = deletion::status(&store, query_param(&req, "code").as_deref()).await?;
            match (found, wants_json) {
                (Some(request), true) => json_response(200, &request),
                (None, true) => Err(ApiError::not_found("No data deletion request has this confirmation code")),
                (Some(request), false) => {
                    let when = request.completed_at.as_deref().unwrap_or(&request.received_at);
                    let text = if request.status == "completed" {
                        format!("Completed on {} (UTC). The Meta connection data of this request has been deleted.", readable_time(when))
                    } else {
                        format!("Received on {} (UTC); the deletion is in progress.", readable_time(when))
                    };
                    html_page(200, "Data deletion request", &text)
                }
                (None, false) => html_page(404, "Data deletion request", "No data deletion request has this confirmation code."),
            }
        }
        Route::Doctor => doctor(&req, env).await,
        Route::OpsJobs => {
            bearer::check(authorization.as_deref(), &config.operator_token)?;
            let workspace = query_param(&req, "workspace_id").map(|id| access::workspace_id(Some(&id))).transpose()?;
            let page = ops::jobs::list(
                &store,
                workspace.as_deref(),
                query_param(&req, "status").as_deref(),
                query_param(&req, "offset").as_deref(),
                query_param(&req, "limit").as_deref(),
            )
            .await?;
            json_response(200, &page)
        }
        Route::OpsConnections => {
            bearer::check(authorization.as_deref(), &config.operator_token)?;
            match query_param(&req, "workspace_id") {
                Some(id) => json_response(200, &manage::view(&store, &access::workspace_id(Some(&id))?).await?),
                None => json_response(200, &manage::overview(&store, query_param(&req, "status").as_deref()).await?),
            }
        }
        Route::JobRetry => {
            bearer::check(authorization.as_deref(), &config.operator_token)?;
            let body = match header(&req, "Content-Length").as_deref() {
                None | Some("0") => Value::Object(Default::default()),
                Some(_) => json_body(&mut req).await?,
            };
            let confirm = match body.get("confirm_needs_review") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(confirm)) => *confirm,
                Some(_) => return Err(ApiError::new(400, "invalid_request", "confirm_needs_review must be true or false")),
            };
            let job_id = matched.param("id").unwrap_or_default();
            if access::workspace_id(Some(job_id)).is_err() {
                return Err(ApiError::not_found("No such publish job"));
            }
            json_response(200, &ops::jobs::retry(&store, job_id, confirm).await?)
        }
    } }
    .await;
    // User endpoints answer the app's origin with a CORS grant, errors included.
    let mut response = match result {
        Ok(response) => response,
        Err(err) => error_response(&err).map_err(|_| ApiError::internal("The response could not be built"))?,
    };
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        let _ = headers.set("Access-Control-Allow-Origin", &origin);
        let _ = headers.set("Vary", "Origin");
    }
    Ok(response)
}

/// `2026-12-03T10:00:00.123+00:00` as `2026-12-03 10:00`.
fn readable_time(timestamp: &str) -> String {
    let date = timestamp.get(..10).unwrap_or(timestamp);
    let time = timestamp.get(11..16).unwrap_or("");
    format!("{date} {time}").trim().to_string()
}

/// `GET /api/ops/doctor`. The operator token is read on its own, so a broken variable elsewhere
/// does not lock the operator out of the report that names it.
async fn doctor(req: &Request, env: &Env) -> Result<Response, ApiError> {
    let env = WorkerEnv(env);
    crate::config::check_variable(&env, "OPERATOR_TOKEN").map_err(ApiError::from)?;
    let operator = crate::config::Secret::new(env.get("OPERATOR_TOKEN").unwrap_or_default().trim().to_string());
    bearer::check(header(req, "Authorization").as_deref(), &operator)?;
    let report = ops::doctor::report(&env, std::rc::Rc::new(super::clock::WorkerClock)).await;
    json_response(if report.ok { 200 } else { 503 }, &report)
}

fn preflight(origin: Option<&str>) -> Result<Response, ApiError> {
    let built = (|| -> worker::Result<Response> {
        let mut response = Response::empty()?.with_status(204);
        let headers = response.headers_mut();
        headers.set("Vary", "Origin")?;
        if origin.is_some() {
            headers.set("Access-Control-Allow-Methods", cors::ALLOW_METHODS)?;
            headers.set("Access-Control-Allow-Headers", cors::ALLOW_HEADERS)?;
            headers.set("Access-Control-Max-Age", cors::MAX_AGE_SECONDS)?;
        }
        Ok(response)
    })();
    built.map_err(|_| ApiError::internal("The response could not be built"))
}

fn redirect(location: &str) -> Result<Response, ApiError> {
    let built = (|| -> worker::Result<Response> {
        let mut response = Response::empty()?.with_status(302);
        response.headers_mut().set("Location", location)?;
        response.headers_mut().set("Cache-Control", "no-store")?;
        Ok(response)
    })();
    built.map_err(|_| ApiError::internal("The response could not be built"))
}

fn html_page(status: u16, title: &str, message: &str) -> Result<Response, ApiError> {
    let escape = |t: &str| t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let body = format!(
        "<!doctype html><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{0}</title><h1>{0}</h1><p id=\"message\">{1}</p>",
        escape(title),
        escape(message)
    );
    let built = (|| -> worker::Result<Response> {
        let mut response = Response::ok(body)?.with_status(status);
        response.headers_mut().set("Content-Type", "text/html; charset=utf-8")?;
        response.headers_mut().set("Cache-Control", "no-store")?;
        Ok(response)
    })();
    built.map_err(|_| ApiError::internal("The response could not be built"))
}

pub fn json_response(status: u16, body: &impl Serialize) -> Result<Response, ApiError> {
    let text = serde_json::to_string(body).map_err(|_| ApiError::internal("The response could not be encoded"))?;
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

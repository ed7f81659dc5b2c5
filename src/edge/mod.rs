//! The Worker's entry points, the only code that touches Worker types: the `fetch` handler
//! (HTTP) and the `scheduled` handler (Cron Trigger). Each reads the typed config, hands the
//! work to a capability, and turns the result into a response or a log line.

mod clock;
mod env;
mod http;
mod publish;
mod token_health;

use crate::config::Config;
use crate::store::Store;
use crate::{api_error::ApiError, log};
use serde_json::json;
use worker::{event, Context, Env, Request, Response, Result, ScheduleContext, ScheduledEvent};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let started = js_sys::Date::now();
    let method = http::method(&req);
    let path = req.path();
    // Cloudflare's ray id when there is one (it ties the line to the dashboard's request view).
    let request_id = req.headers().get("cf-ray").ok().flatten().unwrap_or_else(random_id);
    let response = match http::handle(req, &env).await {
        Ok(response) => response,
        Err(err) => http::error_response(&err)?,
    };
    worker::console_log!(
        "{}",
        log::line(
            "request",
            json!({
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": response.status_code(),
                "duration_ms": elapsed_ms(started),
            })
        )
    );
    Ok(response)
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let cron = event.cron();
    let config = match Config::from_env(&env::WorkerEnv(&env)) {
        Ok(config) => config,
        Err(err) => {
            let err = ApiError::from(err);
            worker::console_error!(
                "{}",
                log::line("publish_pass", json!({"trigger": "cron", "cron": cron, "outcome": err.code, "message": err.message}))
            );
            return;
        }
    };
    let store = Store::from_config(&config);
    let summary = publish::run(&config, &store, "cron", Some(cron)).await;
    // The health check gets what the pass left of the invocation's subrequests.
    let left = config.publish_subrequest_budget.saturating_sub(summary.graph_calls + summary.store_calls + 1);
    token_health::run(&config, &store, left / crate::token_health::SUBREQUESTS_PER_CHECK).await;
}

fn random_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn elapsed_ms(started: f64) -> u64 {
    (js_sys::Date::now() - started).max(0.0) as u64
}

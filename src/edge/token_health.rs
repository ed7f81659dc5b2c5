//! Runs the daily token health check's next batch from the Cron Trigger and logs one line per
//! connection checked and one summary line. Never a token.

use super::clock::WorkerClock;
use crate::config::Config;
use crate::graph::GraphClient;
use crate::log;
use crate::store::Store;
use crate::token_health;
use crate::vault::Vault;
use serde_json::json;
use std::rc::Rc;
use std::time::Duration;

/// Checks at most `limit` connections.
pub async fn run(config: &Config, store: &Store, limit: u32) {
    let clock = Rc::new(WorkerClock);
    let graph =
        GraphClient::from_config(config).with_timeout(Duration::from_secs(config.graph_timeout_seconds.into()), clock.clone());
    match token_health::run(store, &graph, &Vault::from_config(config), clock.as_ref(), limit).await {
        Ok(results) => {
            for result in &results {
                let outcome = match (&result.check_failed, &result.problem) {
                    (Some(_), _) => "check_failed",
                    (None, Some(_)) => "needs_reauth",
                    (None, None) => "ok",
                };
                let mut fields = serde_json::to_value(result).unwrap_or_default();
                if let Some(object) = fields.as_object_mut() {
                    object.insert("outcome".into(), outcome.into());
                }
                worker::console_log!("{}", log::line("token_health", fields));
            }
            // Nothing due (every connection checked today): no summary line every minute.
            if !results.is_empty() {
                let flagged = results.iter().filter(|r| r.problem.is_some()).count();
                let failed = results.iter().filter(|r| r.check_failed.is_some()).count();
                worker::console_log!(
                    "{}",
                    log::line(
                        "token_health_pass",
                        json!({ "checked": results.len(), "flagged": flagged, "check_failed": failed })
                    )
                );
            }
        }
        Err(err) => {
            worker::console_error!(
                "{}",
                log::line("token_health_pass", json!({ "outcome": "database_unavailable", "message": err }))
            )
        }
    }
}

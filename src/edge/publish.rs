//! Runs a publish pass for either trigger (Cron or `POST /api/publish/meta-due`) and writes its
//! log lines: one per job target outcome, then the pass summary. Lines carry ids, reasons and
//! Graph codes, never tokens or the text of posts.

use super::clock::WorkerClock;
use crate::config::Config;
use crate::graph::GraphClient;
use crate::log;
use crate::publish::outcome::Outcome;
use crate::publish::pass::{self, PassLimits, PassSummary};
use crate::store::Store;
use crate::vault::Vault;
use serde_json::json;
use std::rc::Rc;
use std::time::Duration;

pub async fn run(config: &Config, store: &Store, trigger: &str, cron: Option<String>) -> PassSummary {
    let started = js_sys::Date::now();
    let clock = Rc::new(WorkerClock);
    let graph =
        GraphClient::from_config(config).with_timeout(Duration::from_secs(config.graph_timeout_seconds.into()), clock.clone());
    let limits = PassLimits {
        max_in_flight: config.publish_max_in_flight as usize,
        subrequest_budget: config.publish_subrequest_budget,
        graph_timeout_ms: f64::from(config.graph_timeout_seconds) * 1000.0,
        ..PassLimits::default()
    };
    let (mut summary, results) = pass::run(store, &graph, &Vault::from_config(config), clock.as_ref(), limits).await;
    summary.duration_ms = (js_sys::Date::now() - started).max(0.0) as u64;
    for result in &results {
        for (target, outcome) in &result.targets {
            let (name, reason) = match outcome {
                Outcome::Published { .. } => ("published", None),
                Outcome::InProgress => ("in_progress", None),
                Outcome::Retry { reason, .. } => ("retry_scheduled", Some(*reason)),
                Outcome::Failed { reason, .. } => ("failed", Some(*reason)),
                Outcome::NeedsReview { reason, .. } => ("needs_review", Some(*reason)),
                Outcome::NotReached => ("deferred", None),
                Outcome::Settled(_) => continue,
            };
            // The last Graph step of this target, for its codes and trace id.
            let last = result.attempts.iter().rev().find(|a| a.target == *target);
            worker::console_log!(
                "{}",
                log::line(
                    "publish_target",
                    json!({
                        "trigger": trigger, "job_id": result.job_id, "workspace_id": result.workspace_id,
                        "target": target, "outcome": name, "reason": reason,
                        "step": last.map(|a| a.step.clone()),
                        "graph_http_status": last.and_then(|a| a.graph_http_status),
                        "graph_error_code": last.and_then(|a| a.graph_error_code),
                        "graph_error_subcode": last.and_then(|a| a.graph_error_subcode),
                        "fbtrace_id": last.and_then(|a| a.fbtrace_id.clone()),
                    })
                )
            );
        }
    }
    let mut fields = serde_json::to_value(&summary).unwrap_or_default();
    if let Some(object) = fields.as_object_mut() {
        object.insert("trigger".into(), trigger.into());
        if let Some(cron) = cron {
            object.insert("cron".into(), cron.into());
        }
        object.insert("outcome".into(), if summary.error.is_some() { "database_unavailable" } else { "ok" }.into());
    }
    if summary.error.is_some() {
        worker::console_error!("{}", log::line("publish_pass", fields));
    } else {
        worker::console_log!("{}", log::line("publish_pass", fields));
    }
    summary
}

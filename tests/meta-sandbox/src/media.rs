//! Publishing state: Instagram media containers and the scripts that decide how new ones
//! behave, the ledger of every post that went live, and per-account publishing limits.
//! Ids come from one process-wide counter, so they never repeat across resets and a test cannot
//! mistake an old post for a new one.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Instagram's posts-per-24-hours limit when a test sets none.
pub const DEFAULT_QUOTA: u32 = 50;
pub const QUOTA_WINDOW_MS: u64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    InProgress,
    Finished,
    Error,
    Expired,
    Published,
}

impl Status {
    pub fn code(self) -> &'static str {
        match self {
            Status::InProgress => "IN_PROGRESS",
            Status::Finished => "FINISHED",
            Status::Error => "ERROR",
            Status::Expired => "EXPIRED",
            Status::Published => "PUBLISHED",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Container {
    pub id: String,
    pub ig_user_id: String,
    pub caption: Option<String>,
    pub image_url: Option<String>,
    pub status_code: Status,
    /// Status checks still answered IN_PROGRESS before the container becomes `then`.
    pub checks_left: u32,
    pub then: Status,
    /// Graph's `status` text while in ERROR, e.g. `Error: 2207026`.
    pub error_status: String,
    /// The media id, once published.
    pub media_id: Option<String>,
}

impl Container {
    /// Graph's human-readable `status` next to `status_code`.
    pub fn status_text(&self) -> String {
        match self.status_code {
            Status::InProgress => "In Progress: Media is still being processed.".into(),
            Status::Finished => "Finished: Media has been uploaded and it is ready to be published.".into(),
            Status::Error => self.error_status.clone(),
            Status::Expired => "Expired: Media container has expired.".into(),
            Status::Published => "Published: Media has been published.".into(),
        }
    }
}

/// How the next containers behave: IN_PROGRESS for `in_progress_checks` status checks, then
/// `final`. Applies to `times` containers (all, if absent), optionally only to those whose
/// caption contains `match_caption`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerScript {
    #[serde(default)]
    pub in_progress_checks: u32,
    #[serde(rename = "final", default = "finished")]
    pub final_status: Status,
    /// The `status` text in ERROR: a subcode (`2207026`) or the whole text (`Error: 2207026`).
    #[serde(default)]
    pub error_status: Option<String>,
    #[serde(default)]
    pub times: Option<u32>,
    #[serde(default)]
    pub match_caption: Option<String>,
}

fn finished() -> Status {
    Status::Finished
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerKind {
    Feed,
    Photo,
    Instagram,
}

/// One post that went live.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerEntry {
    pub kind: LedgerKind,
    /// The Page id, or the Instagram account id.
    pub destination_id: String,
    /// The post id (`{page}_{n}`) or the Instagram media id.
    pub external_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    pub at_ms: u64,
}

#[derive(Debug, Default)]
pub struct Media {
    pub containers: HashMap<String, Container>,
    /// Consumed in insertion order, like faults.
    pub scripts: Vec<ContainerScript>,
    pub ledger: Vec<LedgerEntry>,
    /// Publishing limit per Instagram account, where a test set one.
    pub quotas: HashMap<String, u32>,
}

impl Media {
    /// A new container for the account, behaving as the first matching script says.
    pub fn create_container(&mut self, ig_user_id: &str, caption: Option<String>, image_url: Option<String>) -> String {
        let text = caption.as_deref().unwrap_or("");
        let script = self.scripts.iter_mut().find(|script| {
            script.times.is_none_or(|times| times > 0) && script.match_caption.as_deref().is_none_or(|m| text.contains(m))
        });
        let (checks, then, error_status) = match script {
            Some(script) => {
                if let Some(times) = script.times.as_mut() {
                    *times -= 1;
                }
                (script.in_progress_checks, script.final_status, script.error_status.clone())
            }
            None => (0, Status::Finished, None),
        };
        let error_status = match error_status {
            Some(text) if text.chars().all(|c| c.is_ascii_digit()) => format!("Error: {text}"),
            Some(text) => text,
            None => "Error: 2207026".into(),
        };
        let id = (17_900_000_000_000_000 + next_number()).to_string();
        let status_code = if checks == 0 { then } else { Status::InProgress };
        let container = Container {
            id: id.clone(),
            ig_user_id: ig_user_id.into(),
            caption,
            image_url,
            status_code,
            checks_left: checks,
            then,
            error_status,
            media_id: None,
        };
        self.containers.insert(id.clone(), container);
        id
    }

    /// One status check of the container: an IN_PROGRESS one moves towards its final state.
    pub fn check(&mut self, id: &str) -> Option<&Container> {
        let container = self.containers.get_mut(id)?;
        if container.status_code == Status::InProgress {
            if container.checks_left == 0 {
                container.status_code = container.then;
            } else {
                container.checks_left -= 1;
            }
        }
        Some(container)
    }

    pub fn quota_total(&self, ig_user_id: &str) -> u32 {
        self.quotas.get(ig_user_id).copied().unwrap_or(DEFAULT_QUOTA)
    }

    /// Posts the account published in the last 24 hours.
    pub fn quota_usage(&self, ig_user_id: &str) -> usize {
        let since = now_ms().saturating_sub(QUOTA_WINDOW_MS);
        self.ledger
            .iter()
            .filter(|entry| entry.kind == LedgerKind::Instagram && entry.destination_id == ig_user_id && entry.at_ms > since)
            .count()
    }
}

pub fn next_number() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Shaped like Instagram's shortcodes (`/p/<code>/`), and recognisably the sandbox's.
pub fn shortcode(media_id: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut n: u64 = media_id.parse().unwrap_or(0);
    let mut code = String::from("Sbx");
    while n > 0 {
        code.push(ALPHABET[(n % 64) as usize] as char);
        n /= 64;
    }
    code
}

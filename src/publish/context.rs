//! What the jobs of one pass share while they run concurrently: the Graph client and the store,
//! the clock, the count of subrequests made, which connections turned out dead, which Pages or
//! Instagram accounts Graph asked to slow down for, and each account's publishing quota (read
//! at most once per pass).

use super::outcome::Outcome;
use super::record::TargetRecord;
use crate::clock::Clock;
use crate::graph::{GraphClient, GraphError, GraphReply, Usage};
use crate::store::Store;
use crate::vault::AccessToken;
use futures::lock::Mutex;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

/// Minutes to keep away from an object whose usage neared the limit, when Graph gave no figure.
const SLOW_DOWN_MINUTES: u32 = 5;

pub struct PassContext<'a> {
    pub store: &'a Store,
    pub graph: &'a GraphClient,
    pub clock: &'a dyn Clock,
    /// Names this pass's leases.
    pub owner: String,
    /// Subrequests the pass may make; calls it would need beyond this are not started.
    budget: u32,
    /// No send starts after this (Unix ms): the batch's lease must outlast every send and the
    /// write of its results.
    send_deadline_ms: Cell<f64>,
    graph_calls: Cell<u32>,
    store_calls: Cell<u32>,
    dead_connections: RefCell<BTreeSet<String>>,
    /// Object id (Page or Instagram account) -> Unix ms until which it is left alone.
    throttled_until: RefCell<HashMap<String, f64>>,
    /// Instagram account -> posts it may still publish in the current window (`Some(None)`:
    /// could not be read). One lock per account, held while the first job reads it.
    quotas: RefCell<HashMap<String, QuotaSlot>>,
}

/// Not read yet (`None`), unreadable (`Some(None)`), or the posts left (`Some(Some(n))`).
type QuotaSlot = Rc<Mutex<Option<Option<i64>>>>;

/// Subrequests kept back for the end of a pass: the batch's result write (and its retry) and
/// flagging dead connections.
const RESERVED_SUBREQUESTS: u32 = 6;

/// A Graph call's result with its timings, for the attempt log.
pub struct Timed<T> {
    pub result: Result<T, GraphError>,
    pub started_ms: f64,
    pub finished_ms: f64,
}

impl<'a> PassContext<'a> {
    pub fn new(store: &'a Store, graph: &'a GraphClient, clock: &'a dyn Clock, owner: String, budget: u32) -> PassContext<'a> {
        PassContext {
            store,
            graph,
            clock,
            owner,
            budget,
            send_deadline_ms: Cell::new(f64::MAX),
            graph_calls: Cell::new(0),
            store_calls: Cell::new(0),
            dead_connections: RefCell::default(),
            throttled_until: RefCell::default(),
            quotas: RefCell::default(),
        }
    }

    pub fn now_ms(&self) -> f64 {
        self.clock.now_ms()
    }

    pub fn now_secs(&self) -> u64 {
        (self.clock.now_ms() / 1000.0).max(0.0) as u64
    }

    /// Subrequests made so far: Graph calls and PostgREST round trips.
    pub fn subrequests(&self) -> u32 {
        self.graph_calls.get() + self.store_calls.get()
    }

    pub fn graph_calls(&self) -> u32 {
        self.graph_calls.get()
    }

    pub fn store_calls(&self) -> u32 {
        self.store_calls.get()
    }

    /// Counts a PostgREST round trip (Graph calls count themselves).
    pub fn count_store_call(&self) {
        self.store_calls.set(self.store_calls.get() + 1);
    }

    pub fn set_send_deadline(&self, unix_ms: f64) {
        self.send_deadline_ms.set(unix_ms);
    }

    /// Whether a step that needs `calls` more subrequests may start now: within the lease's
    /// deadline and the subrequest budget (keeping what the end of the pass needs).
    pub fn may_send(&self, calls: u32) -> bool {
        self.now_ms() < self.send_deadline_ms.get() && self.subrequests() + calls + RESERVED_SUBREQUESTS <= self.budget
    }

    /// Writes one target change (and the record's attempt rows so far) at once, before the
    /// step it guards: a Facebook send's mark, an Instagram container. `Err` with the outcome
    /// for the target when it cannot be written (then nothing may be sent).
    pub async fn persist(&self, record: &mut TargetRecord, change: Value) -> Result<(), Outcome> {
        self.count_store_call();
        let attempts = record.take_attempts();
        match self.store.apply_publish_results(&self.owner, &[change], &attempts, &[]).await {
            Ok(held) if held.contains(&record.job_id) => Ok(()),
            // The lease is gone: another pass has the job.
            Ok(_) => Err(Outcome::NotReached),
            Err(err) => {
                record.attempts = attempts;
                Err(Outcome::Retry {
                    reason: "database_unavailable",
                    message: format!("The database could not record the step before it ({err}); nothing was sent"),
                    after_secs: 60,
                })
            }
        }
    }

    /// A number in 0..1 to spread retries.
    pub fn jitter(&self) -> f64 {
        let mut bytes = [0u8; 4];
        if getrandom::fill(&mut bytes).is_err() {
            return 0.5;
        }
        f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
    }

    pub fn mark_dead(&self, connection_id: &str) {
        self.dead_connections.borrow_mut().insert(connection_id.into());
    }

    pub fn is_dead(&self, connection_id: &str) -> bool {
        self.dead_connections.borrow().contains(connection_id)
    }

    pub fn dead_connections(&self) -> Vec<String> {
        self.dead_connections.borrow().iter().cloned().collect()
    }

    /// Seconds left before `object` may be called again, if Graph asked to slow down for it.
    pub fn throttled_for(&self, object: &str) -> Option<u64> {
        let until = *self.throttled_until.borrow().get(object)?;
        let left = until - self.now_ms();
        (left > 0.0).then(|| (left / 1000.0).ceil() as u64)
    }

    fn note_usage(&self, object: &str, usage: &Usage) {
        if !usage.near_limit() {
            return;
        }
        let minutes = usage.regain_access_minutes.unwrap_or(SLOW_DOWN_MINUTES).max(1);
        let until = self.now_ms() + f64::from(minutes) * 60_000.0;
        let mut throttled = self.throttled_until.borrow_mut();
        let entry = throttled.entry(object.into()).or_insert(until);
        *entry = entry.max(until);
    }

    /// Leaves `object` alone for `seconds` (Graph throttled a call to it).
    pub fn throttle(&self, object: &str, seconds: u64) {
        let until = self.now_ms() + seconds as f64 * 1000.0;
        let mut throttled = self.throttled_until.borrow_mut();
        let entry = throttled.entry(object.into()).or_insert(until);
        *entry = entry.max(until);
    }

    /// A Graph GET or POST on behalf of `object`, counted and timed; its usage headers are noted.
    pub async fn call(&self, post: bool, path: &str, token: &AccessToken, params: &[(&str, &str)], object: &str) -> Timed<Value> {
        self.graph_calls.set(self.graph_calls.get() + 1);
        let started_ms = self.now_ms();
        let result: Result<GraphReply<Value>, GraphError> = if post {
            self.graph.post_with_usage(path, token, params).await
        } else {
            self.graph.get_with_usage(path, token, params).await
        };
        let finished_ms = self.now_ms();
        match &result {
            Ok(reply) => self.note_usage(object, &reply.usage),
            Err(err) => self.note_usage(object, &err.usage),
        }
        Timed { result: result.map(|reply| reply.body), started_ms, finished_ms }
    }

    /// Takes one post from the account's Instagram publishing quota, read from Graph at most once
    /// per pass; `false` when it is used up. When it cannot be read, Graph decides at
    /// `media_publish`. The lock makes concurrent jobs of one account wait for the first read
    /// instead of repeating it, and reserving before publishing keeps them from overshooting.
    pub async fn reserve_quota(&self, account_id: &str, token: &AccessToken, read: impl FnOnce(&Timed<Value>)) -> bool {
        let slot = self.quotas.borrow_mut().entry(account_id.into()).or_insert_with(|| Rc::new(Mutex::new(None))).clone();
        let mut known = slot.lock().await;
        if known.is_none() {
            let path = format!("{account_id}/content_publishing_limit");
            let timed = self.call(false, &path, token, &[("fields", "quota_usage,config")], account_id).await;
            read(&timed);
            let left = timed.result.as_ref().ok().and_then(|body| {
                let entry = body.get("data")?.get(0)?;
                let used = entry.get("quota_usage")?.as_i64()?;
                let total = entry.get("config")?.get("quota_total")?.as_i64()?;
                Some(total - used)
            });
            *known = Some(left);
        }
        match known.as_mut() {
            Some(Some(left)) if *left <= 0 => false,
            Some(Some(left)) => {
                *left -= 1;
                true
            }
            _ => true,
        }
    }

    /// Returns a reserved post to the quota: Meta refused the publish, so it did not count.
    pub async fn return_quota(&self, account_id: &str) {
        let slot = self.quotas.borrow().get(account_id).cloned();
        if let Some(slot) = slot {
            if let Some(Some(left)) = slot.lock().await.as_mut() {
                *left += 1;
            }
        }
    }
}

//! What the jobs of one pass share while they run concurrently: the Graph client and the store,
//! the clock, the count of subrequests made, which connections turned out dead, which Pages or
//! Instagram accounts Graph asked to slow down for, and each account's publishing quota (read
//! at most once per pass).

use crate::clock::Clock;
use crate::graph::{GraphClient, GraphError, GraphReply, Usage};
use crate::store::Store;
use crate::vault::AccessToken;
use futures::lock::Mutex;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};

/// Minutes to keep away from an object whose usage neared the limit, when Graph gave no figure.
const SLOW_DOWN_MINUTES: u32 = 5;

pub struct PassContext<'a> {
    pub store: &'a Store,
    pub graph: &'a GraphClient,
    pub clock: &'a dyn Clock,
    /// Names this pass's leases.
    pub owner: String,
    graph_calls: Cell<u32>,
    store_calls: Cell<u32>,
    dead_connections: RefCell<BTreeSet<String>>,
    /// Object id (Page or Instagram account) -> Unix ms until which it is left alone.
    throttled_until: RefCell<HashMap<String, f64>>,
    /// Instagram account -> posts it may still publish in the current window.
    quotas: Mutex<HashMap<String, Option<i64>>>,
}

/// A Graph call's result with its timings, for the attempt log.
pub struct Timed<T> {
    pub result: Result<T, GraphError>,
    pub started_ms: f64,
    pub finished_ms: f64,
}

impl<'a> PassContext<'a> {
    pub fn new(store: &'a Store, graph: &'a GraphClient, clock: &'a dyn Clock, owner: String) -> PassContext<'a> {
        PassContext {
            store,
            graph,
            clock,
            owner,
            graph_calls: Cell::new(0),
            store_calls: Cell::new(0),
            dead_connections: RefCell::default(),
            throttled_until: RefCell::default(),
            quotas: Mutex::new(HashMap::new()),
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
        let mut quotas = self.quotas.lock().await;
        if !quotas.contains_key(account_id) {
            let path = format!("{account_id}/content_publishing_limit");
            let timed = self.call(false, &path, token, &[("fields", "quota_usage,config")], account_id).await;
            read(&timed);
            let left = timed.result.as_ref().ok().and_then(|body| {
                let entry = body.get("data")?.get(0)?;
                let used = entry.get("quota_usage")?.as_i64()?;
                let total = entry.get("config")?.get("quota_total")?.as_i64()?;
                Some(total - used)
            });
            quotas.insert(account_id.into(), left);
        }
        match quotas.get_mut(account_id) {
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
        if let Some(Some(left)) = self.quotas.lock().await.get_mut(account_id) {
            *left += 1;
        }
    }
}

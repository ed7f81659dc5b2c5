//! The Worker's clock for the core: `Date.now()` and `setTimeout` (through worker::Delay).

use crate::clock::Clock;
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use std::time::Duration;

pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }

    fn sleep(&self, duration: Duration) -> LocalBoxFuture<'static, ()> {
        worker::Delay::from(duration).boxed_local()
    }
}

//! Reads configuration from the Worker's vars and secrets (both are plain strings to `Env`).

use crate::config::EnvSource;
use worker::Env;

pub struct WorkerEnv<'a>(pub &'a Env);

impl EnvSource for WorkerEnv<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.0.var(name).ok().map(|value| value.to_string())
    }
}

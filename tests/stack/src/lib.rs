//! Where the local stack is. `npm test` starts PostgreSQL, postrust, the REST gateway and the
//! Meta sandbox on the test ports and passes their addresses in `STACK_*` variables.

use meta_publisher::config::Secret;
use meta_publisher::store::Store;

pub struct Stack {
    /// Like Supabase's project URL: PostgREST is under `/rest/v1`.
    pub supabase_url: String,
    pub service_role_key: Secret,
    pub anon_key: Secret,
    pub sandbox_url: String,
}

impl Stack {
    pub fn from_env() -> Stack {
        Stack {
            supabase_url: required("STACK_SUPABASE_URL"),
            service_role_key: Secret::new(required("STACK_SERVICE_ROLE_KEY")),
            anon_key: Secret::new(required("STACK_ANON_KEY")),
            sandbox_url: required("STACK_SANDBOX_URL"),
        }
    }

    pub fn rest_url(&self) -> String {
        format!("{}/rest/v1", self.supabase_url)
    }

    /// The store as the Worker uses it: service role key.
    pub fn service_store(&self) -> Store {
        Store::new(&self.rest_url(), &self.service_role_key)
    }
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run these tests through `npm test`, which starts the local stack")
    })
}

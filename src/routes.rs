//! The route table: which method and path reach which endpoint.
//!
//! Matching lives here, free of Worker types, so it is host-tested and so unknown paths and
//! wrong methods get the API's JSON error shape (404, and 405 with an `Allow` list) instead of
//! a framework's plain-text answer. The edge dispatches each [`Route`] to its handler.

use crate::api_error::ApiError;

/// Every endpoint the Worker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    /// Operator: re-seal every stored token under the current key.
    ResealTokens,
    /// A CORS preflight for one of the user endpoints.
    Preflight,
    OAuthStart,
    OAuthCallback,
    ConnectionGet,
    ConnectionDelete,
    DefaultsPut,
    /// Scheduler: run a publish pass now (`Bearer CRON_SECRET`).
    PublishDue,
    JobCreate,
    JobList,
    JobGet,
    JobCancel,
    /// Meta's callbacks (signed_request) and the deletion status page.
    DataDeletion,
    DataDeletionStatus,
    Deauthorize,
    /// Operators (`Bearer OPERATOR_TOKEN`).
    Doctor,
    OpsJobs,
    OpsConnections,
    JobRetry,
}

/// `(method, pattern, route)`; a `{name}` segment captures one path segment.
const TABLE: &[(&str, &str, Route)] = &[
    ("GET", "/api/health", Route::Health),
    ("POST", "/api/ops/tokens/reseal", Route::ResealTokens),
    ("POST", "/api/meta/oauth/start", Route::OAuthStart),
    ("OPTIONS", "/api/meta/oauth/start", Route::Preflight),
    ("GET", "/api/meta/oauth/callback", Route::OAuthCallback),
    ("GET", "/api/meta/connection", Route::ConnectionGet),
    ("DELETE", "/api/meta/connection", Route::ConnectionDelete),
    ("OPTIONS", "/api/meta/connection", Route::Preflight),
    ("PUT", "/api/meta/defaults", Route::DefaultsPut),
    ("OPTIONS", "/api/meta/defaults", Route::Preflight),
    ("POST", "/api/publish/meta-due", Route::PublishDue),
    ("POST", "/api/publish/jobs", Route::JobCreate),
    ("GET", "/api/publish/jobs", Route::JobList),
    ("OPTIONS", "/api/publish/jobs", Route::Preflight),
    ("GET", "/api/publish/jobs/{id}", Route::JobGet),
    ("OPTIONS", "/api/publish/jobs/{id}", Route::Preflight),
    ("POST", "/api/publish/jobs/{id}/cancel", Route::JobCancel),
    ("OPTIONS", "/api/publish/jobs/{id}/cancel", Route::Preflight),
    ("POST", "/api/meta/data-deletion", Route::DataDeletion),
    ("GET", "/api/meta/data-deletion/status", Route::DataDeletionStatus),
    ("POST", "/api/meta/deauthorize", Route::Deauthorize),
    ("GET", "/api/ops/doctor", Route::Doctor),
    ("GET", "/api/ops/jobs", Route::OpsJobs),
    ("GET", "/api/ops/connections", Route::OpsConnections),
    ("POST", "/api/publish/jobs/{id}/retry", Route::JobRetry),
];

#[derive(Debug, PartialEq, Eq)]
pub struct RouteMatch {
    pub route: Route,
    /// Captured `{name}` segments, in pattern order.
    pub params: Vec<(&'static str, String)>,
}

impl RouteMatch {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(key, _)| *key == name).map(|(_, value)| value.as_str())
    }
}

pub fn resolve(method: &str, path: &str) -> Result<RouteMatch, ApiError> {
    let path_trimmed = match path.strip_suffix('/') {
        Some(rest) if !rest.is_empty() => rest,
        _ => path,
    };
    let mut allowed: Vec<&str> = Vec::new();
    for (route_method, pattern, route) in TABLE {
        let Some(params) = match_pattern(pattern, path_trimmed) else {
            continue;
        };
        if route_method.eq_ignore_ascii_case(method) {
            return Ok(RouteMatch { route: *route, params });
        }
        if !allowed.contains(route_method) {
            allowed.push(route_method);
        }
    }
    if allowed.is_empty() {
        Err(ApiError::not_found(format!("No endpoint at {}", printable(path))))
    } else {
        Err(ApiError::method_not_allowed(method, &printable(path), &allowed))
    }
}

fn match_pattern(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut params = Vec::new();
    let mut wanted = pattern.split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) => {
                if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    if g.is_empty() {
                        return None;
                    }
                    params.push((name, g.to_string()));
                } else if w != g {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// The path as echoed in error messages: bounded, and without control characters.
fn printable(path: &str) -> String {
    let mut shown: String = path.chars().filter(|c| !c.is_control()).take(200).collect();
    if path.chars().count() > 200 {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_resolves_with_or_without_a_trailing_slash() {
        assert_eq!(resolve("GET", "/api/health").unwrap().route, Route::Health);
        assert_eq!(resolve("GET", "/api/health/").unwrap().route, Route::Health);
    }

    #[test]
    fn unknown_paths_are_404_in_the_api_shape() {
        for path in ["/", "/api", "/api/health/extra", "/api/healthz", "//"] {
            let err = resolve("GET", path).unwrap_err();
            assert_eq!((err.status, err.code), (404, "not_found"), "{path}");
        }
    }

    #[test]
    fn known_path_with_wrong_method_is_405_listing_allowed_methods() {
        let err = resolve("DELETE", "/api/health").unwrap_err();
        assert_eq!((err.status, err.code), (405, "method_not_allowed"));
        assert_eq!(err.allow.as_deref(), Some("GET"));
    }

    #[test]
    fn patterns_capture_segments() {
        let params = match_pattern("/api/jobs/{id}", "/api/jobs/42").unwrap();
        assert_eq!(params, vec![("id", "42".to_string())]);
        assert!(match_pattern("/api/jobs/{id}", "/api/jobs/").is_none());
        assert!(match_pattern("/api/jobs/{id}", "/api/jobs/1/2").is_none());
    }

    #[test]
    fn job_routes_capture_the_id() {
        let matched = resolve("POST", "/api/publish/jobs/6f1c/cancel").unwrap();
        assert_eq!((matched.route, matched.param("id")), (Route::JobCancel, Some("6f1c")));
        assert_eq!(resolve("GET", "/api/publish/jobs/6f1c").unwrap().route, Route::JobGet);
        assert_eq!(resolve("GET", "/api/publish/jobs").unwrap().route, Route::JobList);
        assert_eq!(resolve("GET", "/api/publish/meta-due").unwrap_err().allow.as_deref(), Some("POST"));
        assert_eq!(resolve("DELETE", "/api/publish/jobs/1").unwrap_err().allow.as_deref(), Some("GET, OPTIONS"));
    }

    #[test]
    fn echoed_paths_are_bounded_and_clean() {
        let long = format!("/{}\n", "a".repeat(5000));
        let err = resolve("GET", &long).unwrap_err();
        assert!(err.message.chars().count() < 260);
        assert!(!err.message.contains('\n'));
    }
}

//! CORS for the user endpoints: the app at APP_URL is another origin than the Worker. Only that
//! origin gets a grant; preflights name the methods and headers the endpoints use.

use crate::config::Config;

pub const ALLOW_METHODS: &str = "GET, POST, PUT, DELETE";
pub const ALLOW_HEADERS: &str = "Authorization, Content-Type";
pub const MAX_AGE_SECONDS: &str = "600";

/// The origin to grant, if the request's `Origin` is APP_URL's.
pub fn granted_origin(config: &Config, origin: Option<&str>) -> Option<String> {
    let app_origin = config.app_url.origin().ascii_serialization();
    (origin? == app_origin).then_some(app_origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_apps_origin_is_granted() {
        let config = crate::config::test_config("https://app.example.com/settings/integrations");
        assert_eq!(granted_origin(&config, Some("https://app.example.com")).as_deref(), Some("https://app.example.com"));
        for other in [
            None,
            Some("https://evil.example.com"),
            Some("http://app.example.com"),
            Some("https://app.example.com:444"),
            Some("null"),
        ] {
            assert_eq!(granted_origin(&config, other), None, "{other:?}");
        }
    }
}

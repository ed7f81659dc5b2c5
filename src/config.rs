//! Configuration in one place: every Worker variable and secret, parsed once per invocation
//! into a typed [`Config`].
//!
//! The edge hands us an [`EnvSource`] (the Worker's `Env` in production, a map in tests), so
//! parsing is host-testable. Errors name the variable and what is wrong with it, never its value.

use base64::Engine as _;
use std::fmt;
use url::Url;

/// The Graph API version used when `META_GRAPH_VERSION` is not set.
pub const DEFAULT_GRAPH_VERSION: &str = "v26.0";
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.facebook.com";
pub const DEFAULT_DIALOG_BASE_URL: &str = "https://www.facebook.com";
/// Supabase serves PostgREST under this path of the project URL.
pub const SUPABASE_REST_PATH: &str = "/rest/v1";
/// CRON_SECRET and OPERATOR_TOKEN guard endpoints on the open internet.
const MIN_BEARER_SECRET_LEN: usize = 32;

/// Where configuration values come from. Empty values count as absent.
pub trait EnvSource {
    fn get(&self, name: &str) -> Option<String>;
}

impl EnvSource for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

/// A secret string whose `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The 32-byte AES-256 key that seals Meta tokens at rest.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenEncryptionKey([u8; 32]);

impl TokenEncryptionKey {
    pub fn from_bytes(bytes: [u8; 32]) -> TokenEncryptionKey {
        TokenEncryptionKey(bytes)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for TokenEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenEncryptionKey(..)")
    }
}

/// A Graph API version such as `v26.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphVersion(String);

impl GraphVersion {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub meta_app_id: String,
    pub meta_app_secret: Secret,
    pub token_encryption_key: TokenEncryptionKey,
    /// Accepted for opening sealed tokens while they are re-sealed under the current key.
    pub previous_token_encryption_key: Option<TokenEncryptionKey>,
    pub graph_version: GraphVersion,
    pub graph_base_url: Url,
    pub dialog_base_url: Url,
    pub supabase_url: Url,
    pub supabase_service_role_key: Secret,
    pub cron_secret: Secret,
    /// Bearer token of the operator endpoints (`/api/ops/...`).
    pub operator_token: Secret,
    pub app_url: Url,
    pub public_base_url: Url,
    /// A Graph call without an answer after this long counts as unanswered.
    pub graph_timeout_seconds: u32,
    /// Requests a publish pass keeps in flight (Workers allow 6 open connections at once).
    pub publish_max_in_flight: u32,
    /// Subrequests a publish pass may make (Workers Paid allows 1,000 per invocation, Free 50).
    pub publish_subrequest_budget: u32,
}

/// A variable that is missing or malformed. `Display` is the message shown to operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// Every variable the Worker reads, in the order they are checked (and documented).
pub const VARIABLES: &[&str] = &[
    "META_APP_ID",
    "META_APP_SECRET",
    "META_TOKEN_ENCRYPTION_KEY",
    "META_TOKEN_ENCRYPTION_KEY_PREVIOUS",
    "META_GRAPH_VERSION",
    "META_GRAPH_BASE_URL",
    "META_DIALOG_BASE_URL",
    "SUPABASE_URL",
    "SUPABASE_SERVICE_ROLE_KEY",
    "CRON_SECRET",
    "OPERATOR_TOKEN",
    "APP_URL",
    "PUBLIC_BASE_URL",
    "META_GRAPH_TIMEOUT_SECONDS",
    "PUBLISH_MAX_IN_FLIGHT",
    "PUBLISH_SUBREQUEST_BUDGET",
];

impl Config {
    pub fn from_env(env: &impl EnvSource) -> Result<Config, ConfigError> {
        let read = |name: &'static str| env.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let required = |name: &'static str| read(name).ok_or(ConfigError { variable: name, problem: "is not set".into() });
        Ok(Config {
            meta_app_id: parse_app_id(required("META_APP_ID")?)?,
            meta_app_secret: parse_secret("META_APP_SECRET", required("META_APP_SECRET")?, 1)?,
            token_encryption_key: parse_key("META_TOKEN_ENCRYPTION_KEY", &required("META_TOKEN_ENCRYPTION_KEY")?)?,
            previous_token_encryption_key: read("META_TOKEN_ENCRYPTION_KEY_PREVIOUS")
                .map(|value| parse_key("META_TOKEN_ENCRYPTION_KEY_PREVIOUS", &value))
                .transpose()?,
            graph_version: parse_graph_version(read("META_GRAPH_VERSION").unwrap_or_else(|| DEFAULT_GRAPH_VERSION.into()))?,
            graph_base_url: parse_base_url(
                "META_GRAPH_BASE_URL",
                &read("META_GRAPH_BASE_URL").unwrap_or_else(|| DEFAULT_GRAPH_BASE_URL.into()),
            )?,
            dialog_base_url: parse_base_url(
                "META_DIALOG_BASE_URL",
                &read("META_DIALOG_BASE_URL").unwrap_or_else(|| DEFAULT_DIALOG_BASE_URL.into()),
            )?,
            supabase_url: parse_base_url("SUPABASE_URL", &required("SUPABASE_URL")?)?,
            supabase_service_role_key: parse_secret("SUPABASE_SERVICE_ROLE_KEY", required("SUPABASE_SERVICE_ROLE_KEY")?, 1)?,
            cron_secret: parse_secret("CRON_SECRET", required("CRON_SECRET")?, MIN_BEARER_SECRET_LEN)?,
            operator_token: parse_secret("OPERATOR_TOKEN", required("OPERATOR_TOKEN")?, MIN_BEARER_SECRET_LEN)?,
            app_url: parse_base_url("APP_URL", &required("APP_URL")?)?,
            public_base_url: parse_base_url("PUBLIC_BASE_URL", &required("PUBLIC_BASE_URL")?)?,
            graph_timeout_seconds: parse_number("META_GRAPH_TIMEOUT_SECONDS", read("META_GRAPH_TIMEOUT_SECONDS"), 15, 1, 60)?,
            publish_max_in_flight: parse_number("PUBLISH_MAX_IN_FLIGHT", read("PUBLISH_MAX_IN_FLIGHT"), 6, 1, 6)?,
            publish_subrequest_budget: parse_number(
                "PUBLISH_SUBREQUEST_BUDGET",
                read("PUBLISH_SUBREQUEST_BUDGET"),
                1000,
                20,
                100_000,
            )?,
        })
    }

    /// The PostgREST endpoint: `SUPABASE_URL` + `/rest/v1`.
    pub fn rest_url(&self) -> String {
        format!("{}{}", base(&self.supabase_url), SUPABASE_REST_PATH)
    }

    /// `{graph base}/{version}`, the prefix of every Graph API call.
    pub fn graph_url(&self) -> String {
        format!("{}/{}", base(&self.graph_base_url), self.graph_version.as_str())
    }
}

/// Well-formed stand-ins for every required variable, so one variable can be checked alone.
const PLACEHOLDERS: &[(&str, &str)] = &[
    ("META_APP_ID", "1"),
    ("META_APP_SECRET", "placeholder"),
    ("META_TOKEN_ENCRYPTION_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ("SUPABASE_URL", "https://placeholder.invalid"),
    ("SUPABASE_SERVICE_ROLE_KEY", "placeholder"),
    ("CRON_SECRET", "placeholder-placeholder-placeholder"),
    ("OPERATOR_TOKEN", "placeholder-placeholder-placeholder"),
    ("APP_URL", "https://placeholder.invalid"),
    ("PUBLIC_BASE_URL", "https://placeholder.invalid"),
];

/// Checks one variable exactly as [`Config::from_env`] does, whatever the others hold (the
/// operator self-check reports each variable on its own). The error names the variable only.
pub fn check_variable(env: &impl EnvSource, name: &str) -> Result<(), ConfigError> {
    let mut probe: std::collections::HashMap<String, String> =
        PLACEHOLDERS.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
    match env.get(name) {
        Some(value) => probe.insert(name.to_string(), value),
        None => probe.remove(name),
    };
    Config::from_env(&probe).map(|_| ())
}

/// A base URL without its trailing slash, ready for appending paths.
fn base(url: &Url) -> &str {
    url.as_str().trim_end_matches('/')
}

fn parse_app_id(value: String) -> Result<String, ConfigError> {
    if value.len() <= 32 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value)
    } else {
        Err(ConfigError { variable: "META_APP_ID", problem: "must be the numeric app id from the Meta App Dashboard".into() })
    }
}

fn parse_secret(variable: &'static str, value: String, min_len: usize) -> Result<Secret, ConfigError> {
    // Secrets travel in HTTP headers and query strings: printable ASCII only, no spaces.
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError { variable, problem: "must be printable ASCII without spaces".into() });
    }
    if value.chars().count() < min_len {
        return Err(ConfigError { variable, problem: format!("must be at least {min_len} characters long") });
    }
    Ok(Secret(value))
}

/// A whole number in `min..=max`, or `default` when unset.
fn parse_number(variable: &'static str, value: Option<String>, default: u32, min: u32, max: u32) -> Result<u32, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or(ConfigError { variable, problem: format!("must be a whole number from {min} to {max}") })
}

fn parse_key(variable: &'static str, value: &str) -> Result<TokenEncryptionKey, ConfigError> {
    let malformed = || ConfigError { variable, problem: "must be base64 of 32 bytes".into() };
    let bytes = base64::engine::general_purpose::STANDARD.decode(value).map_err(|_| malformed())?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| malformed())?;
    Ok(TokenEncryptionKey(key))
}

fn parse_graph_version(value: String) -> Result<GraphVersion, ConfigError> {
    let well_formed = value.strip_prefix('v').and_then(|rest| rest.split_once('.')).is_some_and(|(major, minor)| {
        [major, minor].iter().all(|part| !part.is_empty() && part.len() <= 3 && part.bytes().all(|b| b.is_ascii_digit()))
    });
    if well_formed {
        Ok(GraphVersion(value))
    } else {
        Err(ConfigError { variable: "META_GRAPH_VERSION", problem: "must look like v26.0".into() })
    }
}

/// An absolute https URL with no query or fragment; plain http is accepted only for loopback
/// hosts, which is what local development and the tests use.
fn parse_base_url(variable: &'static str, value: &str) -> Result<Url, ConfigError> {
    let problem = |text: &str| ConfigError { variable, problem: text.into() };
    let url = Url::parse(value).map_err(|_| problem("must be an absolute URL such as https://example.com"))?;
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(problem("must not carry credentials, a query or a fragment"));
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(problem("must use https (http is accepted only for localhost)")),
        _ => Err(problem("must be an absolute URL such as https://example.com")),
    }
}

/// A complete configuration for unit tests of other modules, with `APP_URL` as given.
#[cfg(test)]
pub(crate) fn test_config(app_url: &str) -> Config {
    let env: std::collections::HashMap<String, String> = [
        ("META_APP_ID", "1"),
        ("META_APP_SECRET", "s"),
        ("META_TOKEN_ENCRYPTION_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        ("SUPABASE_URL", "https://x.supabase.co"),
        ("SUPABASE_SERVICE_ROLE_KEY", "k"),
        ("CRON_SECRET", &"c".repeat(32)),
        ("OPERATOR_TOKEN", &"o".repeat(32)),
        ("APP_URL", app_url),
        ("PUBLIC_BASE_URL", "https://w.example.com/"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Config::from_env(&env).expect("a valid test configuration")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // bytes 0..32

    fn valid() -> HashMap<String, String> {
        [
            ("META_APP_ID", "1234567890"),
            ("META_APP_SECRET", "app-secret-for-tests"),
            ("META_TOKEN_ENCRYPTION_KEY", KEY_B64),
            ("SUPABASE_URL", "https://project.supabase.co/"),
            ("SUPABASE_SERVICE_ROLE_KEY", "service-role-jwt"),
            ("CRON_SECRET", "c".repeat(40).as_str()),
            ("OPERATOR_TOKEN", "o".repeat(40).as_str()),
            ("APP_URL", "https://app.example.com"),
            ("PUBLIC_BASE_URL", "https://publisher.example.workers.dev"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn error_for(change: impl FnOnce(&mut HashMap<String, String>)) -> ConfigError {
        let mut env = valid();
        change(&mut env);
        Config::from_env(&env).expect_err("config should be rejected")
    }

    #[test]
    fn parses_a_complete_environment_and_applies_defaults() {
        let config = Config::from_env(&valid()).unwrap();
        assert_eq!(config.token_encryption_key.bytes()[31], 31);
        assert_eq!(config.graph_version.as_str(), DEFAULT_GRAPH_VERSION);
        assert_eq!(config.graph_url(), format!("https://graph.facebook.com/{DEFAULT_GRAPH_VERSION}"));
        assert_eq!(config.dialog_base_url.as_str(), "https://www.facebook.com/");
        assert_eq!(config.rest_url(), "https://project.supabase.co/rest/v1");
        assert_eq!((config.graph_timeout_seconds, config.publish_max_in_flight, config.publish_subrequest_budget), (15, 6, 1000));
    }

    #[test]
    fn each_variable_is_checked_on_its_own() {
        let mut env = valid();
        env.remove("META_APP_SECRET");
        env.insert("APP_URL".into(), "http://insecure.example".into());
        assert_eq!(check_variable(&env, "META_APP_SECRET").unwrap_err().to_string(), "META_APP_SECRET is not set");
        assert_eq!(check_variable(&env, "APP_URL").unwrap_err().variable, "APP_URL");
        for name in VARIABLES.iter().filter(|n| !["META_APP_SECRET", "APP_URL"].contains(n)) {
            assert!(check_variable(&env, name).is_ok(), "{name}");
        }
        assert!(check_variable(&HashMap::new(), "META_GRAPH_VERSION").is_ok(), "optional");
    }

    #[test]
    fn pass_limits_are_bounded_numbers() {
        for (name, bad) in [
            ("PUBLISH_MAX_IN_FLIGHT", "7"),
            ("PUBLISH_MAX_IN_FLIGHT", "0"),
            ("META_GRAPH_TIMEOUT_SECONDS", "1.5"),
            ("PUBLISH_SUBREQUEST_BUDGET", "10"),
            ("PUBLISH_SUBREQUEST_BUDGET", "-1"),
        ] {
            let err = error_for(|env| {
                env.insert(name.into(), bad.into());
            });
            assert_eq!(err.variable, name);
            assert!(err.to_string().starts_with(&format!("{name} must be a whole number from")), "{err}");
        }
        let mut env = valid();
        env.insert("PUBLISH_MAX_IN_FLIGHT".into(), "1".into());
        env.insert("PUBLISH_SUBREQUEST_BUDGET".into(), "45".into());
        let config = Config::from_env(&env).unwrap();
        assert_eq!((config.publish_max_in_flight, config.publish_subrequest_budget), (1, 45));
    }

    #[test]
    fn every_required_variable_is_named_when_missing_or_empty() {
        let optional = [
            "META_TOKEN_ENCRYPTION_KEY_PREVIOUS",
            "META_GRAPH_VERSION",
            "META_GRAPH_BASE_URL",
            "META_DIALOG_BASE_URL",
            "META_GRAPH_TIMEOUT_SECONDS",
            "PUBLISH_MAX_IN_FLIGHT",
            "PUBLISH_SUBREQUEST_BUDGET",
        ];
        for name in VARIABLES.iter().filter(|name| !optional.contains(name)) {
            let removed = error_for(|env| {
                env.remove(*name);
            });
            let blank = error_for(|env| {
                env.insert(name.to_string(), "   ".into());
            });
            assert_eq!(removed.variable, *name);
            assert_eq!(removed.to_string(), format!("{name} is not set"));
            assert_eq!(blank, removed);
        }
    }

    #[test]
    fn malformed_key_is_named_with_the_expected_message_and_no_value() {
        for bad in ["not base64!", "AAECAwQ=", &format!("{KEY_B64}AA==")] {
            let err = error_for(|env| {
                env.insert("META_TOKEN_ENCRYPTION_KEY".into(), bad.into());
            });
            assert_eq!(err.to_string(), "META_TOKEN_ENCRYPTION_KEY must be base64 of 32 bytes");
        }
    }

    #[test]
    fn the_previous_key_is_optional_but_checked_when_set() {
        assert!(Config::from_env(&valid()).unwrap().previous_token_encryption_key.is_none());
        let err = error_for(|env| {
            env.insert("META_TOKEN_ENCRYPTION_KEY_PREVIOUS".into(), "short".into());
        });
        assert_eq!(err.to_string(), "META_TOKEN_ENCRYPTION_KEY_PREVIOUS must be base64 of 32 bytes");
        let mut env = valid();
        env.insert("META_TOKEN_ENCRYPTION_KEY_PREVIOUS".into(), KEY_B64.into());
        assert!(Config::from_env(&env).unwrap().previous_token_encryption_key.is_some());
    }

    #[test]
    fn urls_must_be_https_except_on_loopback() {
        let err = error_for(|env| {
            env.insert("APP_URL".into(), "http://app.example.com".into());
        });
        assert_eq!(err.variable, "APP_URL");
        let err = error_for(|env| {
            env.insert("SUPABASE_URL".into(), "project.supabase.co".into());
        });
        assert_eq!(err.variable, "SUPABASE_URL");
        let err = error_for(|env| {
            env.insert("PUBLIC_BASE_URL".into(), "https://user:pw@example.com".into());
        });
        assert!(!err.to_string().contains("pw"));
        let mut env = valid();
        env.insert("META_GRAPH_BASE_URL".into(), "http://127.0.0.1:54340".into());
        let config = Config::from_env(&env).unwrap();
        assert_eq!(config.graph_url(), format!("http://127.0.0.1:54340/{DEFAULT_GRAPH_VERSION}"));
    }

    #[test]
    fn graph_version_app_id_and_cron_secret_are_checked() {
        for bad in ["24.0", "v24", "v24.x", "v.0", "latest"] {
            let err = error_for(|env| {
                env.insert("META_GRAPH_VERSION".into(), bad.into());
            });
            assert_eq!(err.variable, "META_GRAPH_VERSION", "{bad}");
        }
        let err = error_for(|env| {
            env.insert("META_APP_ID".into(), "12ab".into());
        });
        assert_eq!(err.variable, "META_APP_ID");
        let err = error_for(|env| {
            env.insert("CRON_SECRET".into(), "short".into());
        });
        assert_eq!(err.to_string(), "CRON_SECRET must be at least 32 characters long");
    }

    #[test]
    fn secrets_with_control_characters_or_spaces_are_refused() {
        for bad in ["key\u{7f}value", "key value", "ключ-secret-value-long-enough-for-cron-x"] {
            let err = error_for(|env| {
                env.insert("SUPABASE_SERVICE_ROLE_KEY".into(), bad.into());
            });
            assert_eq!(err.to_string(), "SUPABASE_SERVICE_ROLE_KEY must be printable ASCII without spaces");
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let config = Config::from_env(&valid()).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("app-secret-for-tests"));
        assert!(!shown.contains("service-role-jwt"));
        assert!(!shown.contains(&"c".repeat(40)));
    }
}
